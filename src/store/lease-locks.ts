import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Collection, Db } from 'mongodb';
import { translate } from './store-unavailable';

interface LockDocument {
  _id: string;
  holder: string;
  until: Date;
}

export interface LockOptions {
  /** The lock lapses after this long, so a holder that died (a crashed replica) cannot block forever. */
  leaseMs: number;
  /** How long to wait for a lock someone else holds before giving up with LockBusyError. */
  waitMs: number;
}

/** The lock stayed taken for the whole wait: someone else is working on the same thing. */
class LockBusyError extends Error {
  constructor(
    readonly key: string,
    waitedMs: number,
  ) {
    super(`another replica or worker held the lock on this access for more than ${waitedMs} ms; will retry`);
    this.name = 'LockBusyError';
  }
}

/**
 * Short lease locks in MongoDB, for work that must not interleave across replicas: the grant and
 * revocation of one access key (two grants of one role to one account must not both conclude the
 * other one is the standing access, nor a revocation land after a concurrent grant), and the filing
 * of a derived account (two people must not both find it free). A lock is one document: insertOne
 * takes a free key (the unique _id decides between contenders), a compare-and-set updateOne takes
 * over a lapsed one (not findOneAndUpdate, which jongodb does not make atomic), and release deletes
 * it only while still ours.
 */
export class LeaseLocks {
  readonly locks: Collection<LockDocument>;

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.locks = db.collection<LockDocument>('locks');
  }

  async withLock<T>(key: string, opts: LockOptions, work: () => Promise<T>): Promise<T> {
    const holder = await this.acquire(key, opts).catch(translate);
    try {
      return await work();
    } finally {
      await this.locks.deleteOne({ _id: key, holder }).catch(() => undefined); // a lapsed lease frees it anyway
    }
  }

  private async acquire(key: string, opts: LockOptions): Promise<string> {
    const holder = randomBytes(8).toString('hex');
    const started = Date.now();
    let delayMs = 10;
    for (;;) {
      const now = this.now();
      const until = new Date(now.getTime() + opts.leaseMs);
      try {
        await this.locks.insertOne({ _id: key, holder, until });
        return holder;
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
      }
      const lapsed = await this.locks.updateOne({ _id: key, until: { $lte: now } }, { $set: { holder, until } });
      if (lapsed.modifiedCount === 1) return holder;
      if (Date.now() - started >= opts.waitMs) throw new LockBusyError(key, Date.now() - started);
      await sleep(delayMs);
      delayMs = Math.min(200, delayMs * 2);
    }
  }
}
