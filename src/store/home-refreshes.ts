import type { Collection } from 'mongodb';
import type { OutboxItem } from './outbox';
import { translatingDriverErrors } from './store-unavailable';

/** A debounced App Home item is not written again until this close to its due time (clock skew between replicas). */
const HOME_CLAIM_MARGIN_MS = 250;

/** App Home refreshes: outbox items of kind `home`, one per person, debounced across changes. */
export class HomeRefreshes {
  /**
   * Debounced App Home items this process inserted, by user: when each becomes due. Until then no
   * worker anywhere can claim it, so a further change before that needs no write: the render
   * that will happen reads it anyway.
   */
  private readonly homeDueAt = new Map<string, number>();

  constructor(
    readonly items: Collection<OutboxItem>,
    private readonly now: () => Date = () => new Date(),
  ) {
    // biome-ignore lint/correctness/noConstructorReturn: every caller gets the error-translating view of the store
    return translatingDriverErrors(this);
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
  async enqueue(userId: string, debounceMs = 0): Promise<void> {
    const now = this.now();
    if (debounceMs <= 0) {
      await this.items.updateOne(
        { _id: `home-now:${userId}` },
        {
          $set: { due: true, dueAt: now },
          $inc: { seq: 1 },
          $setOnInsert: { kind: 'home', requestId: userId, attempts: 0, createdAt: now },
        },
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
}
