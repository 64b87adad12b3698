import { remainingMs } from '../deadline';
import type { WebhookTargetConfig } from './config';
import { describeFetchError } from './response';
import { signWebhookBody } from './signature';

const DEFAULT_TIMEOUT_MS = 10_000;

/** Why a signed POST has no answer to read: no time left to make it, none left to wait, or no connection. */
export type NoAnswer = { kind: 'deadline' } | { kind: 'timeout'; budgetMs: number } | { kind: 'unreachable'; detail: string };

/**
 * One signed POST of `rawBody` to the receiver, as every call (grant, extend, revoke and the check
 * probe) is sent: JSON, `X-JIT-Timestamp` and `X-JIT-Signature` over the raw body, the
 * `Idempotency-Key`, no redirect followed (one would re-send, or for 301/302 silently drop, the
 * signed body elsewhere), within the target's timeout and the deadline. `answer` reads the response
 * while that budget still runs; `noAnswer` says what became of a call that got none.
 */
export async function postSigned<T>(
  config: WebhookTargetConfig,
  rawBody: string,
  idempotencyKey: string,
  deadline: Date,
  on: { answer: (response: Response) => Promise<T>; noAnswer: (why: NoAnswer) => T },
): Promise<T> {
  const budgetMs = Math.min(config.timeoutMs ?? DEFAULT_TIMEOUT_MS, remainingMs(deadline));
  if (budgetMs <= 0) return on.noAnswer({ kind: 'deadline' });
  const timestamp = Math.floor(Date.now() / 1000);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), budgetMs);
  try {
    let response: Response;
    try {
      response = await fetch(config.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-JIT-Timestamp': String(timestamp),
          'X-JIT-Signature': signWebhookBody(config.secret, timestamp, rawBody),
          'Idempotency-Key': idempotencyKey,
        },
        body: rawBody,
        redirect: 'manual',
        signal: abort.signal,
      });
    } catch (err) {
      return on.noAnswer(abort.signal.aborted ? { kind: 'timeout', budgetMs } : { kind: 'unreachable', detail: describeFetchError(err) });
    }
    return await on.answer(response);
  } finally {
    clearTimeout(timer);
  }
}
