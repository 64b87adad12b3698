import type { Collection, Db } from 'mongodb';
import { translatingDriverErrors } from './store-unavailable';

/**
 * Slack's pace of about one post per second per channel, kept for every replica: the `channel_gates`
 * collection holds each channel's next free slot.
 */
export class ChannelSlots {
  private readonly gates: Collection<{ _id: string; nextAt: Date }>;
  /** Each channel's posting slot as last seen; while it lies ahead, nobody can have a slot sooner. */
  private readonly gateNextAt = new Map<string, number>();

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.gates = db.collection('channel_gates');
    // biome-ignore lint/correctness/noConstructorReturn: every caller gets the error-translating view of the store
    return translatingDriverErrors(this);
  }

  /**
   * Takes the channel's next posting slot, shared by every replica through MongoDB.
   * Returns 0 when the caller may post now, else how long to wait.
   */
  async take(channel: string, intervalMs: number): Promise<number> {
    const now = this.now();
    // Slots only move forward: one we saw taken is still taken, no need to ask MongoDB.
    const wait = this.freeIn(channel);
    if (wait > 0) return wait;
    const known = this.gateNextAt.get(channel);
    const next = new Date(now.getTime() + intervalMs);
    const taken = await this.gates.updateOne({ _id: channel, nextAt: { $lte: now } }, { $set: { nextAt: next } });
    if (taken.modifiedCount === 1) {
      this.gateNextAt.set(channel, next.getTime());
      return 0;
    }
    let gate = known === undefined ? null : await this.gates.findOne({ _id: channel });
    if (!gate) {
      try {
        await this.gates.insertOne({ _id: channel, nextAt: next });
        this.gateNextAt.set(channel, next.getTime());
        return 0;
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
      }
      gate = await this.gates.findOne({ _id: channel });
    }
    if (gate) this.gateNextAt.set(channel, gate.nextAt.getTime());
    return gate ? Math.max(1, gate.nextAt.getTime() - now.getTime()) : 1;
  }

  /** How long until the channel's next slot as this process last saw it (0: free, or not known to be taken). */
  freeIn(channel: string): number {
    return Math.max(0, (this.gateNextAt.get(channel) ?? 0) - this.now().getTime());
  }
}
