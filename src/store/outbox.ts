import { randomBytes } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { translatingDriverErrors } from './store-unavailable';
import { HomeRefreshes } from './home-refreshes';
import { ChannelSlots } from './channel-slots';

/**
 * Durable outbox for Slack notifications. An item is delivered by one worker at a
 * time (a lease), retried until Slack takes it, and never sent twice: DMs and
 * notices are keyed per request and notice, approval-message syncs coalesce.
 */
export interface OutboxItem {
  _id: string;
  /** `delete`: a credential DM to delete (`details.channel`, `details.ts`). */
  kind: 'sync' | 'dm' | 'thread' | 'home' | 'delete';
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

/**
 * The queue of notifications owed to Slack. Beside it: the App Home refreshes, debounced into the
 * same collection (home-refreshes.ts), and the channels' posting slots (channel-slots.ts).
 */
export class Outbox {
  readonly items: Collection<OutboxItem>;
  /** App Home refreshes: items of this outbox, debounced. */
  readonly homes: HomeRefreshes;
  /** Each channel's posting slot, shared by every replica. */
  readonly slots: ChannelSlots;

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.items = db.collection<OutboxItem>('outbox');
    this.homes = new HomeRefreshes(this.items, now);
    this.slots = new ChannelSlots(db, now);
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
  dueCandidates(
    limit: number,
    filter: Partial<Pick<OutboxItem, 'kind' | 'channel' | 'notice'>> = {},
    evenIfWaitingForSlot = false,
  ): Promise<OutboxItem[]> {
    const now = this.now();
    // Items parked for a channel slot may be taken early by whoever holds that channel's slot now.
    const timing = evenIfWaitingForSlot ? { $or: [{ dueAt: { $lte: now } }, { slotWait: true }] } : { dueAt: { $lte: now } };
    const claimable = {
      ...filter,
      due: true,
      $and: [timing, { $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: { $lte: now } }] }],
    };
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
      {
        _id: candidate._id,
        dueAt: candidate.dueAt,
        seq: candidate.seq,
        ...(candidate.leaseUntil ? { leaseUntil: candidate.leaseUntil } : { leaseUntil: { $exists: false } }),
      },
      { $set: { leaseUntil, leaseToken: token } },
    );
    // The conditional update proves ownership; the lease fields are applied to the copy we hold.
    return result.modifiedCount === 1 ? { ...candidate, leaseUntil, leaseToken: token } : null;
  }

  /** Claims up to `limit` due items: one query, then all candidates at once. */
  async claimMany(
    leaseMs: number,
    limit: number,
    filter: Partial<Pick<OutboxItem, 'kind' | 'channel' | 'notice'>> = {},
    evenIfWaitingForSlot = false,
  ): Promise<OutboxItem[]> {
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
      {
        $set: { dueAt: at, lastError: error, ...(awaitingSlack ? { awaitingSlack: true } : {}) },
        $unset: { leaseUntil: '' },
        ...(countAttempt ? { $inc: { attempts: 1 } } : {}),
      },
    );
  }

  /** Slack did not answer: due again at once (deliveries pause meanwhile), not counted as an attempt. */
  async retryWhenSlackAnswers(item: OutboxItem, error: string): Promise<void> {
    await this.items.updateOne(
      { _id: item._id },
      { $set: { dueAt: this.now(), lastError: error, awaitingSlack: true }, $inc: { away: 1 }, $unset: { leaseUntil: '' } },
    );
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
    await this.items.updateOne(
      { _id: item._id },
      { $set: { 'details.plain': '1', dueAt: this.now(), lastError: error }, $unset: { leaseUntil: '' } },
    );
  }

  async giveUp(item: OutboxItem, error: string): Promise<void> {
    await this.items.updateOne(
      { _id: item._id },
      { $set: { due: false, dead: true, lastError: error }, $unset: { leaseUntil: '' }, $inc: { attempts: 1 } },
    );
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
