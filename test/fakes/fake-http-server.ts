import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The HTTP(S) server under each vendor fake (test/fakes/*.ts): on 127.0.0.1, a fresh port, reading
 * whole request bodies, answering what the fake's handler returns. `hanging` makes it read every
 * request and never answer (deadline tests); `stop()` also drops open connections, hung ones
 * included, so no test waits for a client's keep-alive to end.
 */
export interface FakeRequest {
  method: string;
  /** The path without the query. */
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON (with `Content-Type: application/json` unless headers say otherwise). */
  body?: unknown;
}

export type FakeHandler = (req: FakeRequest) => FakeResponse | Promise<FakeResponse>;

export class FakeHttpServer {
  /** While true, requests are read and never answered. */
  hanging = false;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    // TLS connections are tracked on the secure socket too.
    server.on('secureConnection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(handler: FakeHandler, tls?: { key: string; cert: string }): Promise<FakeHttpServer> {
    let self: FakeHttpServer | undefined;
    const listener: http.RequestListener = (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (self?.hanging) return; // read, never answered
        const url = new URL(req.url ?? '/', 'http://fake');
        const request: FakeRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        Promise.resolve()
          .then(() => handler(request))
          .catch((err: unknown) => ({ status: 500, body: { message: `fake failed: ${(err as Error).message}` } }))
          .then((answer) => send(res, answer));
      });
    };
    const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, listener) : http.createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new FakeHttpServer(server, `${tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    return self;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function send(res: http.ServerResponse, answer: FakeResponse): void {
  if (res.destroyed) return;
  const headers: Record<string, string> = { ...(answer.headers ?? {}) };
  let payload: string | Buffer = '';
  if (typeof answer.body === 'string' || Buffer.isBuffer(answer.body)) {
    payload = answer.body;
  } else if (answer.body !== undefined) {
    payload = JSON.stringify(answer.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  }
  res.writeHead(answer.status, { ...headers, 'Content-Length': String(Buffer.byteLength(payload)) });
  res.end(payload);
}

/** What every vendor fake offers on top of its server: where it listens, hanging, stopping. */
export abstract class FakeOnServer {
  protected constructor(protected readonly server: FakeHttpServer) {}

  /** The base URL clients are pointed at. */
  get url(): string {
    return this.server.url;
  }

  /** While true, every request is read and never answered. */
  set hanging(on: boolean) {
    this.server.hanging = on;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }
}
