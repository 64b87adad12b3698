import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GrantSubject } from '../../src/providers/provider';
import { ProviderError } from '../../src/providers/provider';
import { WebhookProvider, signWebhookBody, verifyWebhookSignature } from '../../src/providers/webhook/webhook-provider';
import { bound } from './bound';

const SECRET = 'a-shared-secret-of-32-characters';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  verification: ReturnType<typeof verifyWebhookSignature>;
}

/** How the fake receiver answers the next request. */
type Responder = (res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let received: Received[];
let respond: Responder;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawBody,
        verification: verifyWebhookSignature(SECRET, req.headers, rawBody),
      });
      respond(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  received = [];
  respond = (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
});

const subject: GrantSubject = {
  requestId: 'req-123',
  resourceId: 'deploy-hook',
  user: { slackId: 'U0ALICE', email: 'alice@example.com', account: 'alice' },
  reason: 'incident INC-42',
  expiresAt: new Date('2026-01-01T12:00:00.000Z'),
};

function provider(path = '/hook', timeoutMs?: number) {
  return bound(new WebhookProvider({ url: `${baseUrl}${path}`, secret: SECRET, timeoutMs }), {});
}

const soon = (ms = 5_000) => ({ deadline: new Date(Date.now() + ms) });

describe('WebhookProvider', () => {
  it.each(['grant', 'extend', 'revoke'] as const)('sends a signed %s with the documented body and headers', async (action) => {
    const before = Math.floor(Date.now() / 1000);
    const result = await provider()[action](subject, soon());
    const after = Math.floor(Date.now() / 1000);

    if (action === 'grant') expect(result).toEqual({});
    expect(received).toHaveLength(1);
    const call = received[0]!;
    expect(call.method).toBe('POST');
    expect(call.url).toBe('/hook');
    expect(JSON.parse(call.rawBody)).toStrictEqual({
      action,
      requestId: 'req-123',
      resource: { id: 'deploy-hook' },
      user: { slackId: 'U0ALICE', email: 'alice@example.com', account: 'alice' },
      reason: 'incident INC-42',
      expiresAt: '2026-01-01T12:00:00.000Z',
    });
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.headers['idempotency-key']).toBe(action === 'extend' ? 'req-123:extend:ext1' : `req-123:${action}`);
    const timestamp = Number(call.headers['x-jit-timestamp']);
    expect(timestamp).toBeGreaterThanOrEqual(before);
    expect(timestamp).toBeLessThanOrEqual(after);
    expect(call.headers['x-jit-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(call.headers['x-jit-signature']).toBe(signWebhookBody(SECRET, timestamp, call.rawBody));
    expect(call.verification).toEqual({ valid: true });
  });

  it('sends the new expiry on extend', async () => {
    await provider().extend({ ...subject, expiresAt: new Date('2026-01-01T13:30:00.000Z') }, soon());
    expect(JSON.parse(received[0]!.rawBody).expiresAt).toBe('2026-01-01T13:30:00.000Z');
  });

  it('keeps the user shape fixed when e-mail and account are unknown', async () => {
    await provider().grant({ ...subject, user: { slackId: 'U0BOB' } }, soon());
    expect(JSON.parse(received[0]!.rawBody).user).toStrictEqual({ slackId: 'U0BOB', email: null, account: null });
  });

  it.each([200, 201, 202, 204])('treats HTTP %i as success', async (status) => {
    respond = (res) => res.writeHead(status).end();
    await expect(provider().grant(subject, soon())).resolves.toEqual({});
  });

  it('fails with the status and a short body excerpt on HTTP 500, without the secret', async () => {
    respond = (res) => res.writeHead(500).end(`database on fire ${'x'.repeat(1000)}`);
    const err = await provider()
      .revoke(subject, soon())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    const message = (err as ProviderError).message;
    expect((err as ProviderError).retryable).toBe(true);
    expect(message).toContain('HTTP 500');
    expect(message).toContain('database on fire');
    expect(message).toContain('deploy-hook');
    expect(message.length).toBeLessThan(400);
    expect(message).not.toContain(SECRET);
  });

  it('fails on a redirect instead of following it', async () => {
    respond = (res) => res.writeHead(302, { location: `${baseUrl}/elsewhere` }).end();
    await expect(provider().grant(subject, soon())).rejects.toThrow(/HTTP 302/);
    expect(received.map((r) => r.url)).toEqual(['/hook']);
  });

  it('fails within the deadline when the receiver never answers', async () => {
    respond = () => undefined; // hold the request open
    const started = Date.now();
    const err = await provider()
      .grant(subject, soon(500))
      .catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).message).toMatch(/no answer within/);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(500 + 300);
  });

  it('honours config.timeoutMs when it is sooner than the deadline', async () => {
    respond = () => undefined;
    const started = Date.now();
    await expect(provider('/hook', 300).grant(subject, soon(10_000))).rejects.toThrow(ProviderError);
    expect(Date.now() - started).toBeLessThan(300 + 300);
  });

  it('fails within the deadline when an error body never finishes', async () => {
    respond = (res) => {
      res.writeHead(503);
      res.write('partial');
    };
    const started = Date.now();
    await expect(provider().grant(subject, soon(500))).rejects.toThrow(/HTTP 503/);
    expect(Date.now() - started).toBeLessThan(500 + 300);
  });

  it('fails when nothing listens', async () => {
    // A port that was just free; (fetch refuses well-known "bad" ports such as 1 outright).
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const p = bound(new WebhookProvider({ url: `http://127.0.0.1:${port}/hook`, secret: SECRET }), {});
    const err = await p.grant(subject, soon()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).retryable).toBe(true);
    expect((err as ProviderError).message).toMatch(/ECONNREFUSED/);
  });

  it('fails immediately when the deadline has already passed', async () => {
    await expect(provider().grant(subject, { deadline: new Date(Date.now() - 1) })).rejects.toThrow(/deadline passed/);
    expect(received).toHaveLength(0);
  });

  it('keeps the URL path and query out of error messages', async () => {
    respond = (res) => res.writeHead(404).end();
    const p = bound(new WebhookProvider({ url: `${baseUrl}/hook/tok3n-in-path?key=tok3n-in-query`, secret: SECRET }), {});
    const err = (await p.grant(subject, soon()).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/HTTP 404/);
    expect(err.message).not.toContain('tok3n');
  });

  it('gives each extension its own Idempotency-Key, so a receiver that de-duplicates keeps both', async () => {
    await provider().extend(subject, { ...soon(), extensionId: 'a1b2c3d4' });
    await provider().extend({ ...subject, expiresAt: new Date('2026-01-01T14:00:00.000Z') }, { ...soon(), extensionId: 'e5f6a7b8' });
    expect(received.map((r) => r.headers['idempotency-key'])).toEqual(['req-123:extend:a1b2c3d4', 'req-123:extend:e5f6a7b8']);
  });
});

describe('verifyWebhookSignature', () => {
  const body = '{"action":"grant"}';
  const now = new Date('2026-01-01T12:00:00.000Z');
  const ts = Math.floor(now.getTime() / 1000);
  const headersFor = (timestamp: number, rawBody = body, secret = SECRET) => ({
    'X-JIT-Timestamp': String(timestamp),
    'X-JIT-Signature': signWebhookBody(secret, timestamp, rawBody),
  });

  it('accepts a fresh, correctly signed body (any header casing, Buffer body, fetch Headers)', () => {
    expect(verifyWebhookSignature(SECRET, headersFor(ts), body, 300, now)).toEqual({ valid: true });
    expect(verifyWebhookSignature(SECRET, headersFor(ts), Buffer.from(body), 300, now)).toEqual({ valid: true });
    expect(verifyWebhookSignature(SECRET, new Headers(headersFor(ts)), body, 300, now)).toEqual({ valid: true });
  });

  it('matches the documented construction', () => {
    const expected = createHmac('sha256', SECRET).update(`v1:${ts}:${body}`).digest('hex');
    expect(signWebhookBody(SECRET, ts, body)).toBe(`v1=${expected}`);
  });

  it('detects a tampered body', () => {
    const result = verifyWebhookSignature(SECRET, headersFor(ts), body.replace('grant', 'revoke'), 300, now);
    expect(result).toEqual({ valid: false, reason: 'signature mismatch' });
  });

  it('detects a tampered timestamp', () => {
    const headers = { ...headersFor(ts), 'X-JIT-Timestamp': String(ts + 1) };
    expect(verifyWebhookSignature(SECRET, headers, body, 300, now)).toEqual({ valid: false, reason: 'signature mismatch' });
  });

  it('detects a tampered or truncated signature and a wrong secret', () => {
    const good = headersFor(ts)['X-JIT-Signature'];
    const flipped = good.slice(0, -1) + (good.endsWith('0') ? '1' : '0');
    for (const signature of [flipped, good.slice(0, -2), 'v1=', 'garbage']) {
      const headers = { 'X-JIT-Timestamp': String(ts), 'X-JIT-Signature': signature };
      expect(verifyWebhookSignature(SECRET, headers, body, 300, now).valid).toBe(false);
    }
    expect(verifyWebhookSignature(SECRET, headersFor(ts, body, 'another-secret-of-enough-length'), body, 300, now).valid).toBe(false);
  });

  it('rejects a stale or future timestamp even when correctly signed', () => {
    const stale = verifyWebhookSignature(SECRET, headersFor(ts - 301), body, 300, now);
    expect(stale.valid).toBe(false);
    expect(stale.valid ? '' : stale.reason).toMatch(/timestamp/);
    expect(verifyWebhookSignature(SECRET, headersFor(ts + 301), body, 300, now).valid).toBe(false);
    expect(verifyWebhookSignature(SECRET, headersFor(ts - 299), body, 300, now).valid).toBe(true);
  });

  it('rejects missing or malformed headers', () => {
    expect(verifyWebhookSignature(SECRET, {}, body, 300, now).valid).toBe(false);
    expect(verifyWebhookSignature(SECRET, { 'x-jit-timestamp': String(ts) }, body, 300, now).valid).toBe(false);
    const malformed = { 'x-jit-timestamp': '12abc', 'x-jit-signature': signWebhookBody(SECRET, '12abc', body) };
    expect(verifyWebhookSignature(SECRET, malformed, body, 300, now).valid).toBe(false);
  });

  it('accepts any one of several signatures, for secret rotation', () => {
    const headers = {
      'x-jit-timestamp': String(ts),
      'x-jit-signature': `${signWebhookBody('an-old-secret-no-longer-used', ts, body)}, ${signWebhookBody(SECRET, ts, body)}`,
    };
    expect(verifyWebhookSignature(SECRET, headers, body, 300, now)).toEqual({ valid: true });
  });
});
