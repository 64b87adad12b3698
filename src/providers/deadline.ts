import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderError } from './provider';

/*
 * Calls to a vendor's API under one deadline (a provider call's `opts.deadline`): each try gets an
 * AbortSignal that fires at the deadline, and a failure worth retrying is retried after a delay
 * only while the delay still ends before the deadline. The vendors' own retry loops are turned
 * off where this is used: they would wait past the deadline.
 */

/** Milliseconds left before `deadline` (negative once it passed). */
export function remainingMs(deadline: Date): number {
  return deadline.getTime() - Date.now();
}

/** Thrown when the deadline passed before a try could even start. */
export class DeadlinePassedError extends Error {
  constructor() {
    super('deadline passed');
    this.name = 'DeadlinePassedError';
  }
}

/**
 * How long to wait before the next try after `err` (the `tries`-th failure), or undefined when
 * retrying cannot help.
 */
export type RetryPolicy = (err: unknown, tries: number) => number | undefined;

/** Backoff with jitter: 100 ms, 200 ms, 400 ms, … capped at 2 s; a server's hint wins when longer. */
export function backoff(tries: number, hintMs = 0): number {
  const base = Math.min(2000, 100 * 2 ** Math.max(0, tries - 1));
  return Math.max(hintMs, Math.round(base / 2 + Math.random() * (base / 2)));
}

/**
 * Runs `call` until it succeeds, fails in a way `retry` gives up on, or the deadline is too close.
 * A ProviderError thrown by `call` is the provider's own verdict and is never retried here.
 */
export async function retryWithin<T>(deadline: Date, call: (signal: AbortSignal) => Promise<T>, retry: RetryPolicy): Promise<T> {
  for (let tries = 1; ; tries++) {
    const left = remainingMs(deadline);
    if (left <= 0) throw new DeadlinePassedError();
    try {
      return await call(AbortSignal.timeout(left));
    } catch (err) {
      const delay = err instanceof ProviderError ? undefined : retry(err, tries);
      if (delay === undefined || remainingMs(deadline) <= delay) throw err;
      await sleep(delay);
    }
  }
}

/**
 * Asks `probe` until it returns a value, waiting 150 ms, 300 ms, 600 ms, then 1 s between asks
 * (an asynchronous operation's status). Returns undefined if the deadline passes first.
 */
export async function pollWithin<T>(deadline: Date, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  for (let asks = 0; ; asks++) {
    const found = await probe();
    if (found !== undefined) return found;
    const wait = Math.min(1000, 150 * 2 ** asks);
    if (remainingMs(deadline) <= wait) return undefined;
    await sleep(wait);
  }
}
/**
 * Bounds for one provider call: every call carries an absolute deadline (ProviderCallOptions), and
 * drivers only know relative timeouts, or none at all while they wait for a connection.
 */


/**
 * `work`, or a rejection naming `what` once `deadline` passes, whichever comes first. The work is
 * not cancelled (drivers offer no way to); `onLate` receives its result if it arrives after we gave
 * up, so a connection obtained too late can be handed back rather than leaked.
 */
export async function withinDeadline<T>(work: Promise<T>, deadline: Date, what: string, onLate?: (late: T) => void): Promise<T> {
  const remaining = remainingMs(deadline);
  if (remaining <= 0) {
    work.then(onLate, () => undefined);
    throw new Error(`deadline passed before ${what}`);
  }
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new Error(`no answer within ${remaining}ms (${what})`));
    }, remaining);
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (err) {
    if (expired) work.then(onLate, () => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** An error's message, duck-typed: errors from another realm (jest's sandbox, a driver's socket) defeat instanceof. */
export function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

