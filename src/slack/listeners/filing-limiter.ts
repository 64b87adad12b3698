import { formatDuration } from '../../domain/duration';

export interface FilingRate {
  /** Filings a person may make within `windowMs`. */
  count: number;
  windowMs: number;
}

/**
 * A per-person limit on filing requests and extensions (JIT_REQUEST_RATE_LIMIT), a sliding
 * window kept in this process: a script or a stuck key cannot flood the approval channels. It is
 * per replica (N replicas let through up to N times the rate), and answers before anything is
 * stored or anyone is told.
 */
export class FilingRateLimiter {
  private readonly recent = new Map<string, number[]>();

  constructor(
    readonly rate: FilingRate,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one filing by `userId`; undefined when allowed, else what to tell them (nothing counted). */
  take(userId: string): string | undefined {
    const now = this.now();
    const since = now - this.rate.windowMs;
    const times = (this.recent.get(userId) ?? []).filter((t) => t > since);
    if (times.length >= this.rate.count) {
      const waitMs = (times[0] ?? now) + this.rate.windowMs - now;
      this.recent.set(userId, times);
      return (
        `Slow down: you filed ${times.length} requests or extensions in the last ${formatDuration(this.rate.windowMs)}, the most this bot takes. ` +
        `Nothing was filed; try again in ${formatDuration(Math.max(1000, Math.ceil(waitMs / 1000) * 1000))}.`
      );
    }
    times.push(now);
    this.recent.set(userId, times);
    if (this.recent.size > 10_000) this.forgetIdle(since);
    return undefined;
  }

  private forgetIdle(since: number): void {
    for (const [user, times] of this.recent) if (!times.some((t) => t > since)) this.recent.delete(user);
  }
}
