import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/*
 * The HTTP part every vendor fake shares: a real server on 127.0.0.1 that records each request,
 * answers through the vendor's routes, and lets a test inject one-off answers (a 429, a 502), make
 * matching requests hang (deadline tests), or run code just before one is handled (a concurrent
 * writer). The vendor's documented behaviour lives in the fakes built on it.
 */

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  raw: string;
  /** The JSON body, or undefined when there is none or it is not JSON. */
  body: unknown;
}

export interface FakeResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** A body sent as is (an HTML error page); `body` is JSON-encoded otherwise. */
  raw?: string;
}

export type Route = (req: FakeRequest) => FakeResponse | Promise<FakeResponse>;

interface Injection {
  match: (req: FakeRequest) => boolean;
  /** What to answer instead of the route; `hang` never answers; a function runs first, then the route answers. */
  then: FakeResponse | 'hang' | ((req: FakeRequest) => void | Promise<void>);
  times: number;
}

export class HttpFake {
  readonly log: FakeRequest[] = [];
  private readonly injections: Injection[] = [];
  private readonly sockets = new Set<Socket>();
  private hangAll = false;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(route: Route): Promise<HttpFake> {
    let fake: HttpFake | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void fake!.handle(req, Buffer.concat(chunks).toString('utf8'), res, route));
    });
    server.on('connection', (s) => {
      fake?.sockets.add(s);
      s.on('close', () => fake?.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fake = new HttpFake(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return fake;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** The next `times` requests matching `match` get `then` instead of the route's answer. */
  inject(match: (req: FakeRequest) => boolean, then: Injection['then'], times = 1): void {
    this.injections.push({ match, then, times });
  }

  /** Forgets injected answers and stops hanging (between tests). */
  clearInjections(): void {
    this.injections.length = 0;
    this.hangAll = false;
  }

  /** Every request from now on is accepted and never answered (until `hang(false)`). */
  hang(on = true): void {
    this.hangAll = on;
  }

  /** Requests seen with this method and a path matching `path`. */
  seen(method: string, path: RegExp | string): FakeRequest[] {
    return this.log.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, raw: string, res: http.ServerResponse, route: Route): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = undefined;
    }
    const request: FakeRequest = {
      method: req.method ?? 'GET',
      path: decodePath(url.pathname),
      query: url.searchParams,
      headers: req.headers,
      raw,
      body,
    };
    this.log.push(request);
    if (this.hangAll) return;
    let answer: FakeResponse | undefined;
    const injection = this.injections.find((i) => i.times > 0 && i.match(request));
    if (injection) {
      injection.times -= 1;
      if (injection.then === 'hang') return;
      if (typeof injection.then === 'function') await injection.then(request);
      else answer = injection.then;
    }
    try {
      answer ??= await route(request);
    } catch (err) {
      answer = { status: 500, body: { message: `fake: ${(err as Error).message}` } };
    }
    const headers: Record<string, string> = {
      ...(answer.raw === undefined && answer.status !== 204 ? { 'content-type': 'application/json' } : {}),
      ...answer.headers,
    };
    res.writeHead(answer.status, headers);
    res.end(answer.status === 204 ? undefined : (answer.raw ?? (answer.body === undefined ? '' : JSON.stringify(answer.body))));
  }
}

/** `%40` and friends decoded, so routes match what the client meant (Okta sends logins URL-encoded). */
function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

/**
 * What every vendor fake is: its documented routes over one HttpFake. `serve()` starts the server
 * and the fake together (the server's route needs the fake, the fake needs the server's URL).
 */
export abstract class VendorFake {
  protected constructor(readonly http: HttpFake) {}

  protected static async serve<F extends VendorFake>(make: (http: HttpFake) => F): Promise<F> {
    let fake: F | undefined;
    const http = await HttpFake.start((req) => fake!.route(req));
    fake = make(http);
    return fake;
  }

  get url(): string {
    return this.http.url;
  }

  stop(): Promise<void> {
    return this.http.stop();
  }

  /** Answers one request as the vendor's API would. */
  protected abstract route(req: FakeRequest): FakeResponse | Promise<FakeResponse>;
}
