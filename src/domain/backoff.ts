/**
 * The delay before retry number `attempt` (1: the first): `baseMs`, doubling with each attempt,
 * capped at `maxMs`. With `jitter`, a random point in [delay/2, delay], so that many retries
 * failing together do not come back together.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, jitter = false): number {
  const delay = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return jitter ? Math.round(delay / 2 + Math.random() * (delay / 2)) : delay;
}
