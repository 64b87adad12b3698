import type { Outbox } from '../../store/outbox';

/** A post must wait for its channel's next posting slot, `ms` from now. */
export class WaitForSlot extends Error {
  constructor(readonly ms: number) {
    super('waiting for the channel’s posting slot');
  }
}

/**
 * Slack's pace of about one message per second per channel. The slot itself lives in MongoDB
 * (shared by every replica); this process also hands the items it parks for a channel places in
 * a queue, so each slot wakes one item, not all of them.
 */
export class ChannelPacer {
  /** Per channel, the latest time this process gave an item waiting for a posting slot. */
  private readonly queuedUntil = new Map<string, number>();

  constructor(
    private readonly outbox: Outbox,
    readonly intervalMs: number,
  ) {}

  /** Takes the channel's posting slot, or throws WaitForSlot with how long until it is free. */
  async take(channel: string): Promise<void> {
    const wait = await this.outbox.slots.take(channel, this.intervalMs);
    if (wait > 0) throw new WaitForSlot(wait);
  }

  /** How long until the channel's slot is free, as last seen by this process (0: free, or not known). */
  freeIn(channel: string): number {
    return this.outbox.slots.freeIn(channel);
  }

  /**
   * The time this process gives the next item waiting for the channel: one interval after the
   * last it handed out, or the slot's own time if that is later. Other replicas keep their own
   * queues; the slot in MongoDB still lets one post through per interval, and an item that
   * loses its slot to another replica's just takes a new place at the end.
   */
  placeInQueue(channel: string, earliest: number): number {
    const at = Math.max(earliest, (this.queuedUntil.get(channel) ?? 0) + this.intervalMs);
    if (this.queuedUntil.size >= 10_000) for (const [c, until] of this.queuedUntil) if (until < Date.now()) this.queuedUntil.delete(c);
    this.queuedUntil.set(channel, at);
    return at;
  }
}
