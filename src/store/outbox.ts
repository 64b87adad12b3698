import { randomBytes } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { translatingDriverErrors } from './store-unavailable';

/**
 * Durable outbox for Slack notifications. An item is delivered by one worker at a
 * time (a lease), retried until Slack takes it, and never sent twice: DMs and
 * notices are keyed per request and notice, approval-message syncs coalesce.
 */
export interface OutboxItem {
  _id: string;
  kind: 'sync' | 'dm' | 'thread' | 'home';
  requestId: string;
  notice?: string;
  details?: Record<string, string>;
  /** The channel the item posts in (approval channel), for per-channel pacing and coalescing. */
  channel?: string;
  due: boolean;
  dueAt: Date;
  /** Bumped by every enqueue of a coalescing item; delivery only completes the version it rendered. */
  seq: number;
  leaseUntil?: Date;
  /** Who holds the lease (a random token per claim). */
  leaseToken?: string;
  /** Set while the item waits for its channel's posting slot. */
  slotWait?: boolean;
  /** Its last attempt found Slack away: it is due again as soon as Slack answers after an outage. */
  awaitingSlack?: boolean;
  /** Attempts in a row that found Slack not answering at all (not counted as attempts). */
  away?: number;
  attempts: number;
  lastError?: string;
  dead?: boolean;
  createdAt: Date;
  sentAt?: Date;
}

/** A debounced App Home item is not written again until this close to its due time (clock skew between replicas). */
const HOME_CLAIM_MARGIN_MS = 250;

export class Outbox {
  readonly items: Collection<OutboxItem>;
  private readonly gates: Collection<{ _id: string; nextAt: Date }>;
  /**
   * Debounced App Home items this process inserted, by user: when each becomes due. Until then no
   * worker anywhere can claim it, so a further change before that needs no write: the render
   * that will happen reads it anyway.
   */
  private readonly homeDueAt = new Map<string, number>();
  /** Each channel's posting slot as last seen; while it lies ahead, nobody can have a slot sooner. */
  private readonly gateNextAt = new Map<string, number>();

  constructor(db: Db, private readonly now: () => Date = () => new Date()) {
    this.items = db.collection<OutboxItem>('outbox');
    this.gates = db.collection('channel_gates');
    // biome-ignore lint/correctness/noConstructorReturn: every caller gets the error-translating view of the store
    return translatingDriverErrors(this);
  }

  async ensureIndexes(): Promise<void> {
    await this.items.createIndex({ due: 1, dueAt: 1 }, { name: 'due' });
    await this.items.createIndex({ due: 1, channel: 1, kind: 1, notice: 1 }, { name: 'due_by_channel' });
  }

  /** The approval message must be (re)rendered; repeated calls before delivery collapse into one. */
  async enqueueSync(requestId: string, channel: string): Promise<void> {
    const now = this.now();
    await this.items.updateOne(
      { _id: `sync:${requestId}` },
      {
        $set: { due: true, dueAt: now },
        $inc: { seq: 1 },
        $setOnInsert: { kind: 'sync', requestId, channel, attempts: 0, createdAt: now },
      },
      { upsert: true },
    );
  }

  /**
   * A person's App Home must be republished; repeated calls collapse into one.
   *
   * With `debounceMs` (a request changed) the first call sets the time and later ones join it, so
   * constant change cannot starve it. Until that time no worker anywhere can claim the item, so a
   * process that inserted it skips writing it again: the one render will read every change.
   * Without (the person opened the tab) a separate item is due at once, and the debounced item's
   * time is left alone: that is what keeps the skip safe across replicas.
   */
  async enqueueHome(userId: string, debounceMs = 0): Promise<void> {
    const now = this.now();
    if (debounceMs <= 0) {
      await this.items.updateOne(
        { _id: `home-now:${userId}` },
        { $set: { due: true, dueAt: now }, $inc: { seq: 1 }, $setOnInsert: { kind: 'home', requestId: userId, attempts: 0, createdAt: now } },
        { upsert: true },
      );
      return;
    }
    const due = this.homeDueAt.get(userId);
    if (due !== undefined && now.getTime() < due - HOME_CLAIM_MARGIN_MS) return;
    const at = new Date(now.getTime() + debounceMs);
    const result = await this.items.updateOne(
      { _id: `home:${userId}` },
      { $set: { due: true }, $inc: { seq: 1 }, $setOnInsert: { kind: 'home', requestId: userId, attempts: 0, createdAt: now, dueAt: at } },
      { upsert: true },
    );
    if (result.upsertedCount === 1) {
      if (this.homeDueAt.size >= 10_000) for (const [user, until] of this.homeDueAt) if (until < now.getTime()) this.homeDueAt.delete(user);
      this.homeDueAt.set(userId, at.getTime());
    }
  }

  /** A notice that must go out exactly once: the key makes a second enqueue a no-op. */
  async enqueueOnce(key: string, item: Pick<OutboxItem, 'kind' | 'requestId' | 'notice' | 'details' | 'channel'>): Promise<void> {
    const now = this.now();
    await this.items.updateOne(
      { _id: key },
      { $setOnInsert: { ...item, due: true, dueAt: now, seq: 1, attempts: 0, createdAt: now } },
      { upsert: true },
    );
  }

  /** Items that are due and not leased, soonest first: candidates to claim with `tryClaim`. */
  dueCandidates(limit: number, filter: Partial<Pick<OutboxItem, 'kind' | 'channel' | 'notice'>> = {}, evenIfWaitingForSlot = false): Promise<OutboxItem[]> {
    const now = this.now();
    // Items parked for a channel slot may be taken early by whoever holds that channel's slot now.
    const timing = evenIfWaitingForSlot ? { $or: [{ dueAt: { $lte: now } }, { slotWait: true }] } : { dueAt: { $lte: now } };
    const claimable = { ...filter, due: true, $and: [timing, { $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: { $lte: now } }] }] };
    return this.items.find(claimable).sort({ dueAt: 1 }).limit(limit).toArray();
  }

  /**
   * Claims a candidate: an atomic conditional update that stamps our lease token; whoever
   * stamps it owns it. Null if another worker took it first, or it changed since it was read.
   */
  async tryClaim(candidate: OutboxItem, leaseMs: number): Promise<OutboxItem | null> {
    const leaseUntil = new Date(this.now().getTime() + leaseMs);
    const token = randomBytes(6).toString('hex');
    const result = await this.items.updateOne(
      // The same incarnation we read: a retry (new dueAt) or a new enqueue (new seq) since then
      // would otherwise be claimed with the stale copy, not yet due, its attempts miscounted.
      { _id: candidate._id, dueAt: candidate.dueAt, seq: candidate.seq, ...(candidate.leaseUntil ? { leaseUntil: candidate.leaseUntil } : { leaseUntil: { $exists: false } }) },
      { $set: { leaseUntil, leaseToken: token } },
    );
    // The conditional update proves ownership; the lease fields are applied to the copy we hold.
    return result.modifiedCount === 1 ? { ...candidate, leaseUntil, leaseToken: token } : null;
  }

  /** Claims up to `limit` due items: one query, then all candidates at once. */
  async claimMany(leaseMs: number, limit: number, filter: Partial<Pick<OutboxItem, 'kind' | 'channel' | 'notice'>> = {}, evenIfWaitingForSlot = false): Promise<OutboxItem[]> {
    const candidates = await this.dueCandidates(limit, filter, evenIfWaitingForSlot);
    const won = await Promise.all(candidates.map((candidate) => this.tryClaim(candidate, leaseMs)));
    return won.filter((item): item is OutboxItem => item !== null);
  }

  /** Gives a claimed item back undelivered: due again at once for any worker. */
  async release(item: OutboxItem): Promise<void> {
    await this.items.updateOne({ _id: item._id, leaseToken: item.leaseToken }, { $unset: { leaseUntil: '' } });
  }

  /**
   * Done: the item is removed, unless it was enqueued again meanwhile (then it stays due and is
   * rendered anew). Delivered items are not kept: the outbox holds only what is still owed, so it
   * stays small however long the bot runs. Each notice is enqueued by the one operation that won
   * its state change, so removal cannot lead to a second delivery.
   */
  async complete(item: OutboxItem): Promise<void> {
    const done = await this.items.deleteOne({ _id: item._id, seq: item.seq });
    if (done.deletedCount === 0) await this.items.updateOne({ _id: item._id }, { $unset: { leaseUntil: '' } });
  }

  async retryLater(item: OutboxItem, at: Date, error: string, countAttempt = true, awaitingSlack = false): Promise<void> {
    await this.items.updateOne(
      { _id: item._id },
      { $set: { dueAt: at, lastError: error, ...(awaitingSlack ? { awaitingSlack: true } : {}) }, $unset: { leaseUntil: '' }, ...(countAttempt ? { $inc: { attempts: 1 } } : {}) },
    );
  }

  /** Slack did not answer: due again at once (deliveries pause meanwhile), not counted as an attempt. */
  async retryWhenSlackAnswers(item: OutboxItem, error: string): Promise<void> {
    await this.items.updateOne({ _id: item._id }, { $set: { dueAt: this.now(), lastError: error, awaitingSlack: true }, $inc: { away: 1 }, $unset: { leaseUntil: '' } });
  }

  /** Slack answers again after an outage: whatever waited for it is due now, not at the end of its backoff. */
  async dueAfterOutage(): Promise<void> {
    await this.items.updateMany({ due: true, awaitingSlack: true }, { $set: { dueAt: this.now() }, $unset: { awaitingSlack: '' } });
  }

  /**
   * An approval message whose content Slack refused: from now on it is rendered in the bot's own
   * plain words (`details.plain`), due again at once; the refusal does not count as an attempt.
   */
  async renderPlain(item: OutboxItem, error: string): Promise<void> {
    await this.items.updateOne({ _id: item._id }, { $set: { 'details.plain': '1', dueAt: this.now(), lastError: error }, $unset: { leaseUntil: '' } });
  }

  async giveUp(item: OutboxItem, error: string): Promise<void> {
    await this.items.updateOne(
      { _id: item._id },
      { $set: { due: false, dead: true, lastError: error }, $unset: { leaseUntil: '' }, $inc: { attempts: 1 } },
    );
  }

  /**
   * Takes the channel's next posting slot, shared by every replica through MongoDB.
   * Returns 0 when the caller may post now, else how long to wait.
   */
  async takeChannelSlot(channel: string, intervalMs: number): Promise<number> {
    const now = this.now();
    // Slots only move forward: one we saw taken is still taken, no need to ask MongoDB.
    const wait = this.slotFreeIn(channel);
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
  slotFreeIn(channel: string): number {
    return Math.max(0, (this.gateNextAt.get(channel) ?? 0) - this.now().getTime());
  }

  /** Parks an item that must post in a busy channel until `at`, marked as queued for a slot. */
  async waitForSlot(item: OutboxItem, at: Date): Promise<void> {
    await this.items.updateOne({ _id: item._id }, { $set: { dueAt: at, slotWait: true }, $unset: { leaseUntil: '' } });
  }

  /** Whether the request's approval message is still to be posted (a sync item waits that has not been given up). */
  async syncOwed(requestId: string): Promise<boolean> {
    return (await this.items.countDocuments({ _id: `sync:${requestId}`, due: true }, { limit: 1 })) > 0;
  }

  /** When the next item becomes due, to sleep exactly that long. */
  async nextDueAt(): Promise<Date | undefined> {
    const [next] = await this.items.find({ due: true }).sort({ dueAt: 1 }).limit(1).toArray();
    return next?.dueAt;
  }

}
