import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { backoffMs } from '../domain/backoff';
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
  return Math.max(hintMs, backoffMs(tries, 100, 2000, true));
}

/**
 * Runs `call` until it succeeds, fails in a way `retry` gives up on, or the deadline is too close.
 * A ProviderError thrown by `call` is the provider's own verdict and is never retried here.
 */
/**
 * Probes (a provider's check()) report what they find instead of waiting for it to get better:
 * inside `withoutRetries`, a failure is not retried, except after a wait the vendor asked for (a
 * rate limit). So a target that refuses connections is named at once, not at the deadline.
 */
const NO_RETRIES = new AsyncLocalStorage<true>();

export function withoutRetries<T>(work: () => Promise<T>): Promise<T> {
  return NO_RETRIES.run(true, work);
}

export async function retryWithin<T>(deadline: Date, call: (signal: AbortSignal) => Promise<T>, retry: RetryPolicy): Promise<T> {
  for (let tries = 1; ; tries++) {
    const left = remainingMs(deadline);
    if (left <= 0) throw new DeadlinePassedError();
    try {
      return await call(AbortSignal.timeout(left));
    } catch (err) {
      const delay = err instanceof ProviderError ? undefined : retry(err, tries);
      if (delay === undefined || remainingMs(deadline) <= delay || NO_RETRIES.getStore()) throw err;
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
/*
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

// --- vendor APIs through their official clients ---------------------------------------------

/*
 * Calls to a vendor's API through its official client, bounded by the provider call's deadline and
 * retried only where the vendor says a retry helps (rate limits with their wait, conflicts, 5xx).
 * The clients' own retries are switched off: they wait as long as they like (Okta until the rate
 * limit resets, plus a second), which would blow the deadline the operations layer gave the call.
 *
 * The deadline reaches the HTTP request as an AbortSignal, passed by the provider where the client
 * takes one (Octokit's `request.signal`) or read from `deadlineSignal()` by a hook the provider
 * installs where it does not (a gaxios interceptor, an Okta request executor). A timer backs it up,
 * so a request the signal never reaches (a token exchange inside an auth plugin) cannot hang the call.
 */

const SIGNALS = new AsyncLocalStorage<AbortSignal>();

/** The signal of the bounded call this code runs in, for client hooks that cannot be handed one. */
export function deadlineSignal(): AbortSignal | undefined {
  return SIGNALS.getStore();
}

/** How a failed attempt is to be treated: given up with `message`, or retried (after `retryAfterMs` when the vendor says). */
export interface AttemptFailure {
  retryable: boolean;
  message: string;
  /** The vendor's own wait (Retry-After, X-Rate-Limit-Reset); without it, a short backoff. */
  retryAfterMs?: number;
}

export interface BoundedCallOptions<T> {
  /** `gcp-iam target prod: set the IAM policy of projects/p`: prefixes every error. */
  what: string;
  deadline: Date;
  attempt(signal: AbortSignal): Promise<T>;
  /** Classifies an error thrown by `attempt` (never an abort: that is the deadline's). */
  classify(err: unknown): AttemptFailure;
  /** First backoff when the vendor names no wait (doubles per attempt, with jitter). Default 100 ms. */
  backoffMs?: number;
}

/** Time left for another attempt must cover at least this, or the call gives up rather than start one it cannot finish. */
const MIN_ATTEMPT_MS = 50;

export async function boundedCall<T>(opts: BoundedCallOptions<T>): Promise<T> {
  const base = opts.backoffMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    const remaining = opts.deadline.getTime() - Date.now();
    if (remaining <= 0) throw new ProviderError(`${opts.what}: the deadline passed before the call was made`);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new DeadlinePassed(remaining));
      }, remaining);
    });
    // async: a synchronous throw in `attempt` becomes a rejection like any other failure.
    const running = SIGNALS.run(controller.signal, async () => opts.attempt(controller.signal));
    running.catch(() => undefined); // after the deadline, its late rejection is nobody's business
    let failure: AttemptFailure;
    try {
      return await Promise.race([running, expired]);
    } catch (err) {
      if (err instanceof DeadlinePassed || controller.signal.aborted) {
        throw new ProviderError(`${opts.what}: no answer within ${remaining}ms`);
      }
      if (err instanceof ProviderError) throw err;
      failure = opts.classify(err);
    } finally {
      clearTimeout(timer);
    }
    const wait = failure.retryAfterMs ?? backoffMs(attempt, base, Number.POSITIVE_INFINITY, true);
    const left = opts.deadline.getTime() - Date.now();
    if (!failure.retryable) throw new ProviderError(`${opts.what}: ${failure.message}`, false);
    if (NO_RETRIES.getStore() && failure.retryAfterMs === undefined) throw new ProviderError(`${opts.what}: ${failure.message}`);
    if (wait + MIN_ATTEMPT_MS > left) {
      const when =
        failure.retryAfterMs !== undefined
          ? ` (the service asks to wait ${Math.ceil(failure.retryAfterMs / 1000)}s, past this call's deadline)`
          : '';
      throw new ProviderError(`${opts.what}: ${failure.message}${when}`);
    }
    await sleep(wait);
  }
}

class DeadlinePassed extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms}ms`);
  }
}

/** `Retry-After` in seconds or as an HTTP date, in milliseconds from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A reset time in epoch seconds (X-RateLimit-Reset, X-Rate-Limit-Reset), in milliseconds from now. */
export function resetInMs(epochSeconds: string | null | undefined, now = Date.now()): number | undefined {
  if (epochSeconds === undefined || epochSeconds === null || !/^\d+$/.test(epochSeconds.trim())) return undefined;
  return Math.max(0, Number(epochSeconds) * 1000 - now);
}

/**
 * A network failure's message with what it hides in `cause` (`fetch failed (ECONNREFUSED)`);
 * duck-typed, as undici's and node-fetch's errors come from other realms under jest.
 */
export function networkErrorText(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown; cause?: { code?: unknown } } } | null)?.cause;
  const code = (err as { code?: unknown } | null)?.code ?? cause?.code ?? cause?.cause?.code;
  const text = messageOf(err);
  if (typeof code === 'string' && !text.includes(code)) return `${text} (${code})`;
  if (typeof cause?.message === 'string' && !text.includes(cause.message)) return `${text} (${cause.message})`;
  return text;
}
