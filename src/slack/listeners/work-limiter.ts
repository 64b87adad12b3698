/**
 * Bounds the work listeners start after `ack()`. Acks are cheap, so Slack can hand us far more
 * than MongoDB and the providers can finish; past the bound people are told to try again rather
 * than the backlog piling up in memory.
 */
export class WorkLimiter {
  private inFlight = 0;

  constructor(readonly max: number) {}

  /** Runs `work` if there is room; false (and nothing run) when the bot is saturated. */
  async run(work: () => Promise<void>): Promise<boolean> {
    if (this.inFlight >= this.max) return false;
    this.inFlight++;
    try {
      await work();
    } finally {
      this.inFlight--;
    }
    return true;
  }
}

export const BUSY = 'The bot is very busy right now and did not take this up; nothing was changed. Please try again in a moment.';
