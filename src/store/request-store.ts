import { randomBytes } from 'node:crypto';
import type { Db, Filter, UpdateFilter } from 'mongodb';
import type { AuditAction } from '../domain/audit';
import type { AccessRequest } from '../domain/request';
import { assertTransition, OPEN_STATES, RequestState } from '../domain/lifecycle';
import type { ChangeCondition, ChangeOptions, RequestRepository } from '../operations/ports';
import { AuditLog } from './audit-log';
import { SshKeyStore } from './ssh-keys';
import { lapsedLease, RequestQueries, requireText } from './request-queries';
import { repairUnrecordedChanges, REPAIR_SETTLE_MS } from './request-repair';
import { translatingDriverErrors } from './store-unavailable';

export { REPAIR_SETTLE_MS };

export class OpenRequestExistsError extends Error {
  constructor(
    readonly requesterId: string,
    readonly resourceId: string,
  ) {
    super(`an open request for ${resourceId} by ${requesterId} already exists`);
    this.name = 'OpenRequestExistsError';
  }
}

/**
 * The audit event of a request's latest audited change, written by the same atomic update as the
 * change itself. A change MongoDB applied but whose answer was lost (a timeout, a dropped
 * connection, the bot dying before its audit append) is therefore never silently unrecorded:
 * repairUnrecordedChanges() appends what is missing from here.
 */
export interface PendingEvent {
  changeId: string;
  at: Date;
  actor: string;
  action: AuditAction;
  from?: string;
  to: string;
  details?: Record<string, unknown>;
}

export type StoredRequest = AccessRequest & { lastEvent?: PendingEvent };

/**
 * Requests in MongoDB: the writes (the queries are in RequestQueries, the repair of unrecorded
 * changes in request-repair.ts). Every change is one conditional `updateOne` whose filter
 * holds the expected current state, so concurrent clicks, replicas and retries
 * cannot both win; the winner then reads its result back. (`updateOne`, not
 * `findOneAndUpdate`: both are atomic on MongoDB, but on jongodb, which the tests
 * use, only `updateOne` is atomic across connections.) Uses only operators jongodb supports.
 * Driver errors come out as StoreUnavailable.
 */
export class RequestStore extends RequestQueries implements RequestRepository {
  readonly audit: AuditLog;
  /** People's SSH public keys, copied onto their requests for `ssh` resources when filed. */
  readonly sshKeys: SshKeyStore;

  constructor(
    db: Db,
    private readonly now: () => Date = () => new Date(),
  ) {
    super(db.collection<AccessRequest>('requests'));
    this.audit = new AuditLog(db);
    this.sshKeys = new SshKeyStore(db);
    // biome-ignore lint/correctness/noConstructorReturn: every caller gets the error-translating view of the store
    return translatingDriverErrors(this);
  }

  /** Idempotent: safe on every start, from every replica. */
  async ensureIndexes(): Promise<void> {
    await this.requests.createIndex(
      { openKey: 1 },
      { name: 'one_open_request_per_user_and_resource', unique: true, partialFilterExpression: { openKey: { $exists: true } } },
    );
    await this.requests.createIndex({ state: 1, expiresAt: 1 }, { name: 'by_state_expiry' });
    await this.requests.createIndex({ state: 1, pendingUntil: 1 }, { name: 'by_state_pending_timeout' });
    await this.requests.createIndex({ state: 1, leaseUntil: 1 }, { name: 'by_state_lease' });
    await this.requests.createIndex({ state: 1, warnAt: 1 }, { name: 'by_state_warning' });
    await this.requests.createIndex({ remindAt: 1 }, { name: 'by_reminder' });
    await this.requests.createIndex({ requesterId: 1, state: 1 }, { name: 'by_requester' });
    // The App Home's "waiting for your approval": open requests of the resources someone approves.
    await this.requests.createIndex({ resourceId: 1, state: 1, createdAt: 1 }, { name: 'by_resource_state' });
    await this.requests.createIndex({ endedAt: 1 }, { name: 'by_end' });
    await this.requests.createIndex({ 'lastEvent.at': 1 }, { name: 'by_last_event' });
    await this.requests.createIndex(
      { accessKey: 1, state: 1 },
      { name: 'by_access_key', partialFilterExpression: { accessKey: { $exists: true } } },
    );
    await this.requests.createIndex(
      { accountKey: 1, state: 1 },
      { name: 'by_account_key', partialFilterExpression: { accountKey: { $exists: true } } },
    );
    await this.audit.ensureIndexes();
    await this.sshKeys.ensureIndexes();
  }

  /** Inserts a new request; the unique index refuses a second open one for the same user and resource. */
  async create(request: AccessRequest, actor: string, details?: Record<string, unknown>): Promise<AccessRequest> {
    for (const [field, value] of Object.entries({
      _id: request._id,
      requesterId: request.requesterId,
      resourceId: request.resourceId,
      actor,
    })) {
      requireText(value, field);
    }
    const event: PendingEvent = {
      changeId: 'created',
      at: this.now(),
      actor,
      action: 'requested',
      to: request.state,
      ...(details ? { details } : {}),
    };
    try {
      await this.requests.insertOne({ ...request, lastEvent: event } as StoredRequest);
    } catch (err) {
      if ((err as { code?: number }).code === 11000 && /openKey|one_open/.test(String((err as Error).message))) {
        throw new OpenRequestExistsError(request.requesterId, request.resourceId);
      }
      throw err;
    }
    await this.recordEvent(request, event);
    return request;
  }

  /**
   * Moves a request from `from` to `to` if and only if it is still in `from`.
   * Returns the updated request, or null when another actor won (or the state moved on).
   */
  async transition(id: string, from: RequestState, to: RequestState, opts: ChangeOptions): Promise<AccessRequest | null> {
    assertTransition(from, to);
    const set: Partial<AccessRequest> = { ...opts.set, state: to };
    const unset = [...(opts.unset ?? [])];
    if (!OPEN_STATES.includes(to)) {
      unset.push('openKey', 'leaseUntil', 'nextAttemptAt', 'warnAt');
      // Break-glass grants keep reminding until acknowledged, even after they end.
      if (from === 'pending') unset.push('remindAt');
      set.endedAt ??= this.now();
    }
    return this.change(id, from, { ...opts, set, unset }, to);
  }

  /** A conditional update that keeps the state (lease renewals, attempt counters, message refs). */
  update(id: string, state: RequestState, opts: ChangeOptions): Promise<AccessRequest | null> {
    return this.change(id, state, opts);
  }

  /** Same as update, but not audited: bookkeeping that is not an event (message refs, leases). */
  async touch(
    id: string,
    state: RequestState,
    set: Partial<AccessRequest>,
    unset: Array<keyof AccessRequest> = [],
    only: ChangeCondition = {},
  ): Promise<AccessRequest | null> {
    requireText(id, 'request ID');
    return this.touchWhere(id, state, set, unset, conditionFilter(only));
  }

  private async touchWhere(
    id: string,
    state: RequestState,
    set: Partial<AccessRequest>,
    unset: Array<keyof AccessRequest>,
    where: Filter<AccessRequest>,
  ): Promise<AccessRequest | null> {
    const update: UpdateFilter<AccessRequest> = { $set: { ...set, updatedAt: this.now() } };
    if (unset.length) update.$unset = Object.fromEntries(unset.map((k) => [k, ''])) as never;
    const won = await this.compareAndSet({ ...where, _id: id, state } as Filter<AccessRequest>, update);
    return won?.doc ?? null;
  }

  /**
   * Records an approval. Counted only while pending, once per approver, and never for the
   * requester: all three are in the filter, so the check and the write are one step. The filter
   * also holds the version read, so the audit event's count is the count this approval made, even
   * when approvers click at the same moment (a lost race reads again and retries).
   */
  async recordApproval(id: string, approverId: string): Promise<AccessRequest | null> {
    requireText(id, 'request ID');
    requireText(approverId, 'approver');
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.requests.findOne({ _id: id });
      if (current?.state !== 'pending' || current.requesterId === approverId || current.approvals.includes(approverId)) return null;
      const approvals = [...current.approvals, approverId];
      const won = await this.compareAndSet(
        { _id: id, state: 'pending', version: current.version, requesterId: { $ne: approverId }, approvals: { $ne: approverId } },
        { $set: { approvals, updatedAt: this.now() }, $inc: { version: 1 } },
        {
          actor: approverId,
          action: 'approval_recorded',
          from: 'pending',
          to: 'pending',
          details: { approvals: approvals.length, required: current.requiredApprovals },
        },
      );
      if (!won?.event) continue;
      await this.recordEvent(won.doc, won.event);
      return won.doc;
    }
    return null;
  }

  claimDueExpiry(id: string, now: Date, opts: Omit<ChangeOptions, 'only'>): Promise<AccessRequest | null> {
    return this.transition(id, 'active', 'revoking', { ...opts, only: { due: { field: 'expiresAt', at: now } } });
  }

  claimLapsedLease(
    id: string,
    state: 'granting' | 'revoking',
    now: Date,
    leaseUntil: Date,
    audit?: { actor: string; action: AuditAction },
  ): Promise<AccessRequest | null> {
    requireText(id, 'request ID');
    const { state: _state, ...lapsed } = lapsedLease(state, now);
    if (audit) return this.change(id, state, { ...audit, set: { leaseUntil } }, undefined, lapsed);
    return this.touchWhere(id, state, { leaseUntil }, [], lapsed);
  }

  async recordApprovalMessage(id: string, ref: { channel: string; ts: string }): Promise<void> {
    requireText(id, 'request ID');
    await this.requests.updateOne({ _id: id, approvalMessage: { $exists: false } }, { $set: { approvalMessage: ref } });
  }

  private async change(
    id: string,
    from: RequestState,
    opts: ChangeOptions,
    to?: RequestState,
    where: Filter<AccessRequest> = conditionFilter(opts.only),
  ): Promise<AccessRequest | null> {
    requireText(id, 'request ID');
    requireText(opts.actor, 'actor');
    const update: UpdateFilter<AccessRequest> = {
      $set: { ...opts.set, updatedAt: this.now() },
      $inc: { version: 1 },
    };
    if (opts.unset?.length) update.$unset = Object.fromEntries(opts.unset.map((k) => [k, ''])) as never;
    if (opts.addToSet) update.$addToSet = opts.addToSet as never;
    const filter = { ...where, _id: id, state: from } as Filter<AccessRequest>;
    const won = await this.compareAndSet(filter, update, {
      actor: opts.actor,
      action: opts.action,
      from,
      to: to ?? from,
      ...(opts.details ? { details: opts.details } : {}),
    });
    if (!won?.event) return null;
    await this.recordEvent(won.doc, won.event);
    return won.doc;
  }

  /**
   * The one way requests change: an atomic conditional update that stamps a fresh
   * change ID (and, for audited changes, the change's audit event), then a read of the
   * result. Null when the filter no longer matched.
   */
  private async compareAndSet(
    filter: Filter<AccessRequest>,
    update: UpdateFilter<AccessRequest>,
    event?: Omit<PendingEvent, 'changeId' | 'at'>,
  ): Promise<{ doc: AccessRequest; changeId: string; event?: PendingEvent } | null> {
    const changeId = randomBytes(6).toString('hex');
    const lastEvent: PendingEvent | undefined = event ? { ...event, changeId, at: this.now() } : undefined;
    const stamped = {
      ...update,
      $set: { ...(update.$set ?? {}), changeId, ...(lastEvent ? { lastEvent } : {}) },
    } as UpdateFilter<AccessRequest>;
    const result = await this.requests.updateOne(filter, stamped);
    if (result.modifiedCount === 0) return null;
    const doc = await this.requests.findOne({ _id: filter._id as string });
    return doc ? { doc, changeId, ...(lastEvent ? { event: lastEvent } : {}) } : null;
  }

  /** Appends a change's audit event; its ID is derived from the change, so appending it twice is a no-op. */
  private recordEvent(request: AccessRequest, event: PendingEvent): Promise<boolean> {
    const details = event.details;
    return this.audit.append({
      _id: `${request._id}:${event.changeId}`,
      at: event.at,
      requestId: request._id,
      resourceId: request.resourceId,
      requesterId: request.requesterId,
      version: request.version,
      actor: event.actor,
      action: event.action,
      ...(event.from !== undefined ? { from: event.from } : {}),
      to: event.to,
      ...(details ? { details } : {}),
    });
  }

  /**
   * Appends the audit events of changes that MongoDB applied but that were never recorded (see
   * request-repair.ts), so people can be shown their current state and told what the interrupted
   * operation had not told them yet. Run at start-up and whenever MongoDB answers again after an outage.
   */
  repairUnrecordedChanges(now: Date = this.now()): Promise<StoredRequest[]> {
    return repairUnrecordedChanges(this.requests, this.audit, (request, event) => this.recordEvent(request, event), now);
  }
}

/** A change's extra conditions as a MongoDB filter. */
function conditionFilter(only: ChangeCondition = {}): Filter<AccessRequest> {
  const filter: Record<string, unknown> = {};
  if (only.due) filter[only.due.field] = { $lte: only.due.at };
  for (const field of only.absent ?? []) filter[field] = { $exists: false };
  if (only.extensionId !== undefined) filter['extension.id'] = only.extensionId;
  if (only.extensionNotApprovedBy !== undefined) filter['extension.approvals'] = { $ne: only.extensionNotApprovedBy };
  if (only.expiresAt) filter.expiresAt = only.expiresAt;
  if (only.unexpiredAt) filter.expiresAt = { $gt: only.unexpiredAt };
  return filter as Filter<AccessRequest>;
}
