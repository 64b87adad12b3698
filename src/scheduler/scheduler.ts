import cron, { ScheduledTask } from 'node-cron';
import type { AccessRequest } from '../domain/request';
import type { OperationContext, ScheduleListener, WorkKind } from '../operations/ports';
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

const KINDS: WorkKind[] = ['expiry', 'revoking', 'granting', 'timeout', 'warning', 'reminder'];

interface KindOfWork {
  run(ctx: OperationContext, request: AccessRequest): Promise<unknown>;
  /** Kinds whose next deadline this work may bring forward (besides itself), so they are read again after it. */
  alsoMoves?: WorkKind[];
}

const WORK: Record<WorkKind, KindOfWork> = {
  // An expiry claim takes a lease: the revoking work's next deadline may now be that lease.
  expiry: { run: expireGrant, alsoMoves: ['revoking'] },
  revoking: { run: retryRevocation },
  granting: { run: resumeGrant, alsoMoves: ['expiry', 'warning'] },
  timeout: { run: timeOutRequest },
  warning: { run: warnExpiring },
  reminder: { run: remindApprovers },
};

/**
 * Ends access on time. An in-process timer sleeps until the soonest deadline
 * (expiry, retry, timeout, warning); a node-cron loop reconciles as a safety net and
 * after restarts. Both run the same pass, and every piece of work is claimed with a
 * conditional update first, so replicas sharing one MongoDB never do it twice.
 *
 * The scheduler remembers each kind of work's next deadline. A pass woken by the timer
 * queries only the kinds that are due, and afterwards re-reads only the deadlines that
 * work can have moved; the cron pass, start-up and any new deadline announced through
 * `scheduleChanged` query everything. Under a stream of expiries that is three queries
 * per pass instead of eleven.
 */
export class Scheduler implements ScheduleListener {
  private task?: ScheduledTask;
  private timer?: NodeJS.Timeout;
  private running = false;
  private pass?: Promise<void>;
  private again = false;
  private armedFor?: number;
  private passStartedAt = 0;
  /** Each kind's soonest deadline as last read (absent: none). */
  private readonly nextAt = new Map<WorkKind, number>();
  /** A deadline may exist that `nextAt` does not know of: the next pass and arm read everything. */
  private dirty = true;
  /** A full pass was asked for while another pass ran. */
  private wantFull = false;

  /** The operations' context, with this scheduler as the listener of the deadlines they make. */
  readonly ctx: OperationContext;

  constructor(
    ctx: Omit<OperationContext, 'schedule'>,
    private readonly opts: SchedulerOptions = DEFAULT_SCHEDULER_OPTIONS,
  ) {
    this.ctx = { ...ctx, schedule: this };
  }

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
   * No database read: the caller knows the time, and the pass after it re-reads every deadline.
   */
  scheduleChanged(at: Date): void {
    if (!this.running) return;
    this.dirty = true;
    const when = at.getTime();
    if (this.timer && this.armedFor !== undefined && this.armedFor <= when) return;
    this.setTimer(when);
  }

  /**
   * One pass over everything due; runs alone, and again at once if something changed meanwhile.
   * `full` (the default: cron, start-up, callers) queries every kind of work; the timer passes
   * `false` to query only the kinds whose remembered deadline has come.
   */
  async reconcile(full = true): Promise<void> {
    if (!this.running) return;
    if (full) this.wantFull = true;
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
    const ran = new Set<WorkKind>();
    this.pass = (async () => {
      do {
        this.again = false;
        const kinds = this.kindsDue();
        for (const kind of kinds) ran.add(kind);
        try {
          await this.runDue(kinds);
        } catch (err) {
          this.ctx.logger.error({ err: (err as Error).message }, 'reconcile pass failed; the next one retries');
        }
      } while (this.again && this.running);
    })();
    const mine = this.pass;
    await mine;
    if (this.pass === mine) this.pass = undefined;
    await this.arm(ran);
  }

  /** The kinds this pass must query: all of them, unless the remembered deadlines say which. */
  private kindsDue(): WorkKind[] {
    if (this.wantFull || this.dirty) {
      this.wantFull = false;
      return KINDS;
    }
    const now = this.ctx.now().getTime();
    const due = KINDS.filter((kind) => (this.nextAt.get(kind) ?? Infinity) <= now);
    // Woken with nothing known to be due (the maximum sleep, a deadline that went away): look at everything.
    return due.length ? due : KINDS;
  }

  private async runDue(kinds: WorkKind[]): Promise<void> {
    const { store } = this.ctx;
    const n = this.opts.batchSize;
    let todo = kinds;
    while (todo.length) {
      const now = this.ctx.now();
      const batches = await Promise.all(todo.map((kind) => store.dueWork(kind, now, n)));
      for (const [i, kind] of todo.entries()) await this.each(batches[i] ?? [], (r) => WORK[kind].run(this.ctx, r));
      if (!this.running) return;
      // A full batch means more may be due: that kind goes again.
      todo = todo.filter((_, i) => batches[i]?.length === n);
    }
  }

  /** Bounded concurrency; one failure is logged and never stops the others. */
  private async each(items: AccessRequest[], work: (r: AccessRequest) => Promise<unknown>): Promise<void> {
    let next = 0;
    const worker = async () => {
      // Once stopping, only the grants already in flight are finished.
      for (let item = items[next++]; this.running && item; item = items[next++]) {
        try {
          await work(item);
        } catch (err) {
          this.ctx.logger.error(
            { requestId: item._id, resource: item.resourceId, user: item.requesterId, err: (err as Error).message },
            'scheduled work failed; will retry',
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, items.length) }, worker));
  }

  /** Re-reads the deadlines the pass's work can have moved (all of them when unsure), then sets the timer. */
  private async arm(ran: Set<WorkKind>): Promise<void> {
    if (!this.running) return;
    let soonest = Date.now() + this.opts.maxSleepMs;
    try {
      const stale = new Set<WorkKind>();
      if (this.dirty || ran.size === KINDS.length) {
        this.dirty = false;
        for (const kind of KINDS) stale.add(kind);
      } else {
        for (const kind of ran) for (const moved of [kind, ...(WORK[kind].alsoMoves ?? [])]) stale.add(moved);
      }
      await this.readDeadlines([...stale]);
      // The timer runs on the wall clock, deadlines on the context's clock (the same in production).
      const offset = Date.now() - this.ctx.now().getTime();
      for (const at of this.nextAt.values()) soonest = Math.min(soonest, at + offset);
    } catch (err) {
      this.dirty = true;
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
      void this.reconcile(false);
    }, delay);
    this.timer.unref?.();
  }

  /** Each kind's soonest deadline, one small query per kind. */
  private async readDeadlines(kinds: WorkKind[]): Promise<void> {
    const found = await Promise.all(kinds.map(async (kind) => [kind, await this.ctx.store.nextDeadline(kind)] as const));
    for (const [kind, at] of found) {
      if (at) this.nextAt.set(kind, at.getTime());
      else this.nextAt.delete(kind);
    }
  }
}
