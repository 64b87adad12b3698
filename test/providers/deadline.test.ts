import { boundedCall, deadlineSignal, resetInMs, retryAfterMs, retryWithin, withoutRetries } from '../../src/providers/deadline';
import { ProviderError } from '../../src/providers/provider';
import { rejection } from './bound';

/** The deadline-bounded, vendor-guided retry loop the cloud providers share (src/providers/deadline.ts). */
describe('boundedCall', () => {
  const soon = (ms: number) => new Date(Date.now() + ms);

  it('retries what the vendor says is retryable, after the wait it names, and returns the result', async () => {
    let attempts = 0;
    const started = Date.now();
    const result = await boundedCall({
      what: 'test',
      deadline: soon(2000),
      attempt: async () => {
        if (++attempts < 3) throw new Error('busy');
        return 'done';
      },
      classify: () => ({ retryable: true, message: 'busy', retryAfterMs: 150 }),
    });
    expect([result, attempts]).toEqual(['done', 3]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('stops at once on a non-retryable failure, and when the named wait would pass the deadline', async () => {
    const final = await rejection(
      boundedCall({
        what: 'test',
        deadline: soon(2000),
        attempt: async () => Promise.reject(new Error('no')),
        classify: () => ({ retryable: false, message: 'HTTP 403: no' }),
      }),
    );
    expect([final.retryable, final.message]).toEqual([false, 'test: HTTP 403: no']);
    const started = Date.now();
    const later = await rejection(
      boundedCall({
        what: 'test',
        deadline: soon(2000),
        attempt: async () => Promise.reject(new Error('slow down')),
        classify: () => ({ retryable: true, message: 'HTTP 429', retryAfterMs: 60_000 }),
      }),
    );
    expect(Date.now() - started).toBeLessThan(200);
    expect([later.retryable, later.message]).toEqual([true, "test: HTTP 429 (the service asks to wait 60s, past this call's deadline)"]);
  });

  it('aborts the attempt at the deadline through its signal (also visible to client hooks), even if the attempt ignores it', async () => {
    let seen: AbortSignal | undefined;
    const started = Date.now();
    const err = await rejection(
      boundedCall({
        what: 'test',
        deadline: soon(300),
        attempt: () => {
          seen = deadlineSignal();
          return new Promise(() => undefined); // never settles, ignores the signal
        },
        classify: () => ({ retryable: true, message: 'x' }),
      }),
    );
    expect(Date.now() - started).toBeLessThan(600);
    expect([err.retryable, err.message]).toEqual([true, expect.stringMatching(/^test: no answer within \d+ms$/)]);
    expect(seen?.aborted).toBe(true);
    expect(deadlineSignal()).toBeUndefined();
  });

  it('passes a ProviderError from the attempt through unchanged; a synchronous throw is a failure like any other', async () => {
    const own = await rejection(
      boundedCall({
        what: 'test',
        deadline: soon(1000),
        attempt: async () => Promise.reject(new ProviderError('refused here', false)),
        classify: () => ({ retryable: true, message: 'x' }),
      }),
    );
    expect([own.message, own.retryable]).toEqual(['refused here', false]);
    const sync = await rejection(
      boundedCall({
        what: 'test',
        deadline: soon(1000),
        attempt: () => {
          throw new Error('bad argument');
        },
        classify: (e) => ({ retryable: false, message: (e as Error).message }),
      }),
    );
    expect(sync.message).toBe('test: bad argument');
  });
});

describe('withoutRetries (probes)', () => {
  const soon = () => new Date(Date.now() + 5000);

  it('makes one attempt of a retryable failure, at once and still retryable; a wait the vendor asks for is still honoured', async () => {
    let attempts = 0;
    const refused = () =>
      boundedCall({
        what: 'probe',
        deadline: soon(),
        attempt: async () => {
          attempts++;
          throw new Error('ECONNREFUSED');
        },
        classify: () => ({ retryable: true, message: 'connect ECONNREFUSED' }),
      });
    const started = Date.now();
    const err = await rejection(withoutRetries(refused));
    expect([attempts, err.message, err.retryable]).toEqual([1, 'probe: connect ECONNREFUSED', true]);
    expect(Date.now() - started).toBeLessThan(100);

    let limited = 0;
    const rateLimited = () =>
      boundedCall({
        what: 'probe',
        deadline: soon(),
        attempt: async () => (++limited === 1 ? Promise.reject(new Error('429')) : 'ok'),
        classify: () => ({ retryable: true, retryAfterMs: 30, message: 'HTTP 429' }),
      });
    expect(await withoutRetries(rateLimited)).toBe('ok');

    let tries = 0;
    await expect(
      withoutRetries(() =>
        retryWithin(
          soon(),
          async () => {
            tries++;
            throw new Error('reset');
          },
          () => 10,
        ),
      ),
    ).rejects.toThrow('reset');
    expect(tries).toBe(1);
    // Outside it, the same calls retry as before.
    attempts = 0;
    await rejection(
      boundedCall({
        what: 'call',
        deadline: new Date(Date.now() + 400),
        attempt: async () => {
          attempts++;
          throw new Error('x');
        },
        classify: () => ({ retryable: true, message: 'x' }),
      }),
    );
    expect(attempts).toBeGreaterThan(1);
  });
});

describe('rate limit headers', () => {
  it('Retry-After in seconds or as an HTTP date; a reset in epoch seconds', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7000);
    expect(retryAfterMs('Tue, 01 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect([retryAfterMs(undefined), retryAfterMs(''), retryAfterMs('soon')]).toEqual([undefined, undefined, undefined]);
    expect(resetInMs(String(now / 1000 + 5), now)).toBe(5000);
    expect(resetInMs(String(now / 1000 - 5), now)).toBe(0);
    expect(resetInMs('x', now)).toBeUndefined();
  });
});
