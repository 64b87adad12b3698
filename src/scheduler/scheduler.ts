import cron, { ScheduledTask } from 'node-cron';
import type { AccessRequest } from '../domain/request';
import type { OperationContext, ScheduleListener } from '../operations/context';
import { expireGrant, retryRevocation } from '../operations/expire-grant';
import { resumeGrant } from '../operations/grant-access';
import { timeOutRequest } from '../operations/time-out-request';
import { warnExpiring } from '../operations/warn-expiring';
import { remindApprovers } from '../operations/remind-approvers';

export interface SchedulerOptions {
  /** node-cron expression of the safety-net reconcile loop. */
  cron: string;
  /** Provider calls in flight at once, so a backlog cannot flood a target system. */
  concurrency: number;
  batchSize: number;
  /** The timer never sleeps longer than this (grants created by other replicas). */
  maxSleepMs: number;
}

/** A pass running longer than this is considered stuck (a MongoDB or provider call that never returned). */
const STUCK_PASS_MS = 120_000;

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = { cron: '*/15 * * * * *', concurrency: 16, batchSize: 200, maxSleepMs: 60_000 };

/**
 * Ends access on time. An in-process timer sleeps until the soonest deadline
 * (expiry, retry, timeout, warning); a node-cron loop reconciles as a safety net and
 * after restarts. Both run the same pass, and every piece of work is claimed with a
 * conditional update first, so replicas sharing one MongoDB never do it twice.
 */
export class Scheduler implements ScheduleListener {
  private task?: ScheduledTask;
  private timer?: NodeJS.Timeout;
  private running = false;
  private pass?: Promise<void>;
  private again = false;
  private armedFor?: number;
  private passStartedAt = 0;

  constructor(private readonly ctx: OperationContext, private readonly opts: SchedulerOptions = DEFAULT_SCHEDULER_OPTIONS) {}

  async start(): Promise<void> {
    this.running = true;
    this.task = cron.schedule(this.opts.cron, () => void this.reconcile(), { noOverlap: true, name: 'jit-reconcile' });
    // Grants that expired while the bot was down are revoked now, not at the next tick; start-up
    // does not wait for a large backlog (so readiness and SIGTERM are not held up by it).
    void this.reconcile();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.task?.stop();
    await this.task?.destroy();
    if (this.timer) clearTimeout(this.timer);
    while (this.pass) await this.pass;
  }

  /**
   * A new deadline exists (a grant, a retry time): wake for it if it is sooner than the timer.
   * No database read: the caller knows the time, and the pass after it re-arms from MongoDB.
   */
  scheduleChanged(at: Date): void {
    if (!this.running) return;
    const when = at.getTime();
    if (this.timer && this.armedFor !== undefined && this.armedFor <= when) return;
    this.setTimer(when);
  }

  /** One pass over everything due; runs alone, and again at once if something changed meanwhile. */
  async reconcile(): Promise<void> {
    if (!this.running) return;
    if (this.pass && Date.now() - this.passStartedAt > STUCK_PASS_MS) {
      // A pass stuck on a dependency that never answers must not stop expiry for good:
      // start another (claims keep the two from doing anything twice).
      this.ctx.logger.error({ runningForMs: Date.now() - this.passStartedAt }, 'reconcile pass is stuck; starting a new one');
      this.pass = undefined;
    }
    if (this.pass) {
      this.again = true;
      return this.pass;
    }
    this.passStartedAt = Date.now();
    this.pass = (async () => {
      do {
        this.again = false;
        try {
          await this.runDue();
        } catch (err) {
          this.ctx.logger.error({ err: (err as Error).message }, 'reconcile pass failed; the next one retries');
        }
      } while (this.again && this.running);
    })();
    const mine = this.pass;
    await mine;
    if (this.pass === mine) this.pass = undefined;
    await this.arm();
  }

  private async runDue(): Promise<void> {
    const { store } = this.ctx;
    const n = this.opts.batchSize;
    for (;;) {
      const now = this.ctx.now();
      const [due, revoking, granting, timedOut, warnings, reminders] = await Promise.all([
        store.dueExpiries(now, n),
        store.stuck('revoking', now, n),
        store.stuck('granting', now, n),
        store.pendingPastTimeout(now, n),
        store.dueWarnings(now, n),
        store.dueReminders(now, n),
      ]);
      await this.each(due, (r) => expireGrant(this.ctx, r));
      await this.each(revoking, (r) => retryRevocation(this.ctx, r));
      await this.each(granting, (r) => resumeGrant(this.ctx, r));
      await this.each(timedOut, (r) => timeOutRequest(this.ctx, r));
      await this.each(warnings, (r) => warnExpiring(this.ctx, r));
      await this.each(reminders, (r) => remindApprovers(this.ctx, r));
      const full = [due, revoking, granting, timedOut, warnings, reminders].some((batch) => batch.length === n);
      if (!full || !this.running) return;
    }
  }

  /** Bounded concurrency; one failure is logged and never stops the others. */
  private async each(items: AccessRequest[], work: (r: AccessRequest) => Promise<unknown>): Promise<void> {
    let next = 0;
    const worker = async () => {
      // Once stopping, only the grants already in flight are finished.
      while (this.running && next < items.length) {
        const item = items[next++];
        try {
          await work(item);
        } catch (err) {
          this.ctx.logger.error({ requestId: item._id, resource: item.resourceId, user: item.requesterId, err: (err as Error).message }, 'scheduled work failed; will retry');
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, items.length) }, worker));
  }

  private async arm(): Promise<void> {
    if (!this.running) return;
    let soonest = Date.now() + this.opts.maxSleepMs;
    try {
      soonest = Math.min(soonest, ...(await this.nextDeadlines()).map((d) => d.getTime()));
    } catch (err) {
      this.ctx.logger.warn({ err: (err as Error).message }, 'could not read the next deadline; polling');
      soonest = Math.min(soonest, Date.now() + 1000);
    }
    if (this.timer && this.armedFor !== undefined && this.armedFor <= soonest) return;
    this.setTimer(soonest);
  }

  private setTimer(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = at;
    // A few ms late rather than early, so the grant is certainly due when the pass reads it.
    const delay = Math.min(Math.max(0, at - Date.now()) + 5, this.opts.maxSleepMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedFor = undefined;
      void this.reconcile();
    }, delay);
    this.timer.unref?.();
  }

  private async nextDeadlines(): Promise<Date[]> {
    const { requests } = this.ctx.store;
    const first = async (filter: object, field: string) => {
      const [doc] = await requests.find(filter).sort({ [field]: 1 }).limit(1).project({ [field]: 1 }).toArray();
      return doc?.[field] as Date | undefined;
    };
    const found = await Promise.all([
      first({ state: 'active' }, 'expiresAt'),
      first({ state: 'active', warnAt: { $exists: true } }, 'warnAt'),
      first({ state: { $in: ['revoking', 'granting'] } }, 'leaseUntil'),
      first({ state: 'pending' }, 'pendingUntil'),
      first({ remindAt: { $exists: true } }, 'remindAt'),
    ]);
    return found.filter((d): d is Date => d instanceof Date);
  }
}
