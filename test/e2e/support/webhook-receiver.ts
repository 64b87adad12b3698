/**
 * The target of the `webhook` provider: records each signed POST, verifies its
 * X-JIT-Signature, and answers as configured (status codes, sequences, hangs).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Recorder, brief, readBody } from './recorder';

export interface WebhookCall {
  /** Date.now() when the request body was fully received. */
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  /** Parsed JSON body (undefined when not JSON). */
  body: WebhookBody | undefined;
  /** X-JIT-Signature matches HMAC-SHA256(secret, "v1:" + X-JIT-Timestamp + ":" + rawBody). */
  signatureValid: boolean;
  /** Status this call was answered with (or will be, once a hang ends). */
  status: number;
}

interface WebhookBody {
  action?: string;
  requestId?: string;
  resource?: { id?: string; [k: string]: unknown };
  user?: { slackId?: string; email?: string; account?: string; [k: string]: unknown };
  reason?: string;
  expiresAt?: string;
  [k: string]: unknown;
}

export interface WebhookReceiverOptions {
  /** Shared secret used to verify X-JIT-Signature. */
  secret: string;
}

/** v1=<hex HMAC-SHA256(secret, `v1:${timestamp}:${rawBody}`)> */
export function signWebhook(secret: string, timestamp: string | number, rawBody: string): string {
  return `v1=${createHmac('sha256', secret).update(`v1:${timestamp}:${rawBody}`).digest('hex')}`;
}

export class WebhookReceiver {
  /** Base URL, e.g. http://127.0.0.1:port/hook (any path is accepted). */
  readonly url: string;
  readonly secret: string;
  private readonly log = new Recorder<WebhookCall>();
  private defaultStatus = 200;
  private sequence: number[] = [];
  private hangMs = 0;
  private hangTimes = Number.POSITIVE_INFINITY;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: http.Server,
    opts: WebhookReceiverOptions,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/hook`;
    this.secret = opts.secret;
  }

  static async start(opts: WebhookReceiverOptions): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = http.createServer((req, res) => {
      if (!receiver) {
        res.writeHead(503).end();
        return;
      }
      receiver.onRequest(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    receiver = new WebhookReceiver(server, opts);
    return receiver;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.log.abortAll('WebhookReceiver stopped');
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---------------------------------------------------------------- behaviour

  /** Answer every request with `status` (after any pending sequence). Clears the sequence. */
  respondWith(status: number): void {
    this.defaultStatus = status;
    this.sequence = [];
  }

  /** Answer the next requests with these statuses in order, then fall back to respondWith's status (default 200). */
  respondSequence(statuses: number[]): void {
    this.sequence = [...statuses];
  }

  /** Delay answers by `ms` (0 stops hanging); `times` limits it to the next N requests (default: all). */
  hang(ms: number, times?: number): void {
    this.hangMs = ms;
    this.hangTimes = times ?? Number.POSITIVE_INFINITY;
  }

  /** Back to: 200 always, no hang. */
  reset(): void {
    this.defaultStatus = 200;
    this.sequence = [];
    this.hangMs = 0;
    this.hangTimes = Number.POSITIVE_INFINITY;
  }

  // ---------------------------------------------------------------- records

  /** All calls, or only those whose body.action equals `action`. */
  calls(action?: string): WebhookCall[] {
    return this.log.records.filter((c) => action === undefined || c.body?.action === action);
  }

  clear(): void {
    this.log.clear();
  }

  /** First call (past or future) with body.action === action (any action when undefined) matching predicate. */
  waitFor(action: string | undefined, predicate?: (c: WebhookCall) => boolean, timeoutMs = 5000): Promise<WebhookCall> {
    return this.log.waitFor(this.matcher(action, predicate), timeoutMs, () => this.describe(action));
  }

  /** First n calls with that action. */
  waitForCount(action: string | undefined, n: number, timeoutMs = 5000, predicate?: (c: WebhookCall) => boolean): Promise<WebhookCall[]> {
    return this.log.waitForCount(this.matcher(action, predicate), n, timeoutMs, () => this.describe(action));
  }

  /** Is `signature` valid for timestamp/rawBody with this receiver's secret? (timing-safe) */
  verify(timestamp: string | undefined, rawBody: string, signature: string | undefined): boolean {
    if (!timestamp || !signature) return false;
    const expected = Buffer.from(signWebhook(this.secret, timestamp, rawBody));
    const got = Buffer.from(signature);
    return got.length === expected.length && timingSafeEqual(got, expected);
  }

  private matcher(action: string | undefined, predicate?: (c: WebhookCall) => boolean): (c: WebhookCall) => boolean {
    return (c) => (action === undefined || c.body?.action === action) && (!predicate || predicate(c));
  }

  private describe(action: string | undefined): string {
    const seen = this.log.records.map((c) => `${c.status} ${brief(c.body, 160)}`);
    return `webhook ${action ?? '(any action)'}; calls so far: ${seen.length ? seen.join(' | ') : 'none'}`;
  }

  // ---------------------------------------------------------------- HTTP

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = (await readBody(req)).toString('utf8');
    const at = Date.now();
    let body: WebhookBody | undefined;
    try {
      const parsed = JSON.parse(raw) as unknown;
      body = typeof parsed === 'object' && parsed !== null ? (parsed as WebhookBody) : undefined;
    } catch {
      body = undefined;
    }
    const header = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const status = this.sequence.length > 0 ? (this.sequence.shift() as number) : this.defaultStatus;
    let delay = 0;
    if (this.hangMs > 0 && this.hangTimes > 0) {
      delay = this.hangMs;
      this.hangTimes -= 1;
    }
    this.log.push({
      at,
      method: req.method ?? 'POST',
      path: new URL(req.url ?? '/', 'http://x').pathname,
      headers: req.headers,
      rawBody: raw,
      body,
      signatureValid: this.verify(header('x-jit-timestamp'), raw, header('x-jit-signature')),
      status,
    });
    if (delay > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          resolve();
        }, delay);
        this.timers.add(t);
      });
    }
    if (res.destroyed || res.writableEnded) return;
    const text = JSON.stringify(status >= 200 && status < 300 ? { ok: true } : { ok: false, error: `status ${status}` });
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}
