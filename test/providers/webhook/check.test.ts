import net from 'node:net';
import { WebhookReceiver } from '../../e2e/support';
import { WebhookProvider } from '../../../src/providers/webhook/webhook-provider';
import { bound } from '../bound';

/** `npm run check`'s webhook probe, against a real HTTP receiver that verifies signatures. */
const SECRET = 'check-webhook-secret-0123456789';
let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await WebhookReceiver.start({ secret: SECRET });
});
afterAll(() => receiver.stop());
beforeEach(() => {
  receiver.reset();
  receiver.clear();
});

const probe = (url = receiver.url, secret = SECRET) => bound(new WebhookProvider({ url, secret }, 'hooks'), {});
const within = (ms: number) => ({ deadline: new Date(Date.now() + ms) });

describe('webhook check()', () => {
  it('sends one {"action":"check"} POST, signed as grants are, and is content with any ordinary answer', async () => {
    expect(await probe().check(within(2000))).toEqual([]);
    const [call] = receiver.calls();
    expect(call).toMatchObject({ method: 'POST', rawBody: '{"action":"check"}', signatureValid: true });
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers['idempotency-key']).toMatch(/^check:[0-9a-f]{16}$/);
    // A receiver that knows no "check" and says so is still there, and grants would reach it.
    for (const status of [202, 400, 422]) {
      receiver.respondWith(status);
      expect(await probe().check(within(2000))).toEqual([]);
    }
  });

  it("at start-up (every start of every replica) it calls nobody: only an operator's npm run check does", async () => {
    expect(await probe().check({ ...within(2000), occasion: 'start-up' })).toEqual([]);
    expect(receiver.calls()).toHaveLength(0);
  });

  it('names what a grant would run into: a refused signature, no receiver, a redirect, a failing receiver', async () => {
    const cases: Array<[number, RegExp]> = [
      [401, /refused the signed check call \(HTTP 401.*same secret/],
      [403, /refused the signed check call \(HTTP 403/],
      [404, /nothing receives POSTs at that URL \(HTTP 404/],
      [302, /redirects \(HTTP 302/],
      [503, /the receiver is failing \(HTTP 503/],
    ];
    for (const [status, expected] of cases) {
      receiver.respondWith(status);
      const problems = await probe().check(within(2000));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^webhook target hooks: POST to 127\.0\.0\.1:\d+: /);
      expect(problems[0]).toMatch(expected);
    }
  });

  it('a wrong secret shows as a refused signature at a receiver that verifies (the secret itself is never printed)', async () => {
    // The receiver here records rather than refuses; its verdict is what a real one would answer on.
    expect(await probe(receiver.url, 'some-other-secret-0123456789').check(within(2000))).toEqual([]);
    expect(receiver.calls()[0]!.signatureValid).toBe(false);
  });

  it('fails fast and clearly on an unreachable target, and within the deadline on one that never answers', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    let started = Date.now();
    const refused = await probe(`http://127.0.0.1:${port}/hooks/token-in-the-path-0123`).check(within(5000));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(refused).toEqual([
      expect.stringMatching(new RegExp(`^webhook target hooks: POST to 127\\.0\\.0\\.1:${port}: unreachable: .*ECONNREFUSED`)),
    ]);
    expect(refused.join('\n')).not.toContain('token-in-the-path');

    receiver.hang(3000);
    started = Date.now();
    const hung = await probe().check(within(400));
    expect(Date.now() - started).toBeLessThan(400 + 300);
    expect(hung).toEqual([expect.stringMatching(/no answer within \d+ms/)]);
  });
});
