import type { Logger } from 'pino';

/** One line per source per this long, at most. */
const WINDOW_MS = 60_000;
/** Sources remembered at once; past it every other source shares one line. */
const MAX_SOURCES = 10_000;

/**
 * Logs refused requests (unsigned, forged, malformed) at most once a minute per source, with how
 * many more that source sent meanwhile: a flood of forged requests must not become a flood of log
 * lines (or fill a disk), yet every source and every count still shows.
 */
export class RefusalLog {
  private readonly sources = new Map<string, { since: number; suppressed: number; last: Record<string, unknown> }>();
  private readonly flusher: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.flusher = setInterval(() => this.flush(), WINDOW_MS);
    this.flusher.unref();
  }

  refused(source: string | undefined, details: Record<string, unknown>, message: string): void {
    const now = this.now();
    const key = this.sources.has(source ?? '') || this.sources.size < MAX_SOURCES ? (source ?? 'unknown') : 'other sources';
    const seen = this.sources.get(key);
    if (seen && now - seen.since < WINDOW_MS) {
      seen.suppressed += 1;
      seen.last = details;
      return;
    }
    if (seen?.suppressed) this.summarise(key, seen.suppressed, seen.last);
    this.sources.set(key, { since: now, suppressed: 0, last: details });
    this.log.warn({ source: key, ...details }, message);
  }

  /** Says how many were left unlogged, for each source whose minute is over. */
  flush(): void {
    const now = this.now();
    for (const [key, seen] of this.sources) {
      if (now - seen.since < WINDOW_MS) continue;
      if (seen.suppressed) this.summarise(key, seen.suppressed, seen.last);
      this.sources.delete(key);
    }
  }

  stop(): void {
    clearInterval(this.flusher);
    this.flush();
  }

  private summarise(source: string, suppressed: number, last: Record<string, unknown>): void {
    this.log.warn(
      { source, suppressed, ...last },
      `refused ${suppressed} more request${suppressed === 1 ? '' : 's'} to /slack/events from this source in the last minute (not logged one by one)`,
    );
  }
}
