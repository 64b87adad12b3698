import { randomBytes } from 'node:crypto';
import type { Collection, Db, Filter, UpdateFilter } from 'mongodb';
import type { AccessRequest } from '../domain/request';
import { assertTransition, OPEN_STATES, RequestState } from '../domain/lifecycle';
import { AuditLog } from './audit-log';
import { SshKeyStore } from './ssh-keys';

export class OpenRequestExistsError extends Error {
  constructor(readonly requesterId: string, readonly resourceId: string) {
    super(`an open request for ${resourceId} by ${requesterId} already exists`);
    this.name = 'OpenRequestExistsError';
  }
}

/**
 * IDs and user IDs reach queries as values: a non-string (an object like `{"$ne": null}` from a
 * forged payload) would be read as a query operator. The Slack layer refuses those first; this
 * is the last line, so a write never matches or stores what it was not meant to.
 */
function requireText(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${what} must be a non-empty string, not ${value === '' ? 'empty' : typeof value}`);
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
  action: string;
  from?: string;
  to: string;
  details?: Record<string, unknown>;
}

export type StoredRequest = AccessRequest & { lastEvent?: PendingEvent };

/** Unrecorded changes younger than this may just be mid-flight (their own append is coming). */
export const REPAIR_SETTLE_MS = 2000;
/** How far back a repair looks. */
const REPAIR_WINDOW_MS = 24 * 3_600_000;

export interface ChangeOptions {
  /** Slack user ID or `system`. */
  actor: string;
  /** Audit action name, e.g. `approved`, `revocation_failed`. */
  action: string;
  set?: Partial<AccessRequest>;
  unset?: Array<keyof AccessRequest>;
  /** Values added to array fields (dotted paths allowed), each once. */
  addToSet?: Record<string, string>;
  /** Extra conditions that must still hold for the update to win (e.g. an expired lease). */
  where?: Filter<AccessRequest>;
  details?: Record<string, unknown>;
}

/**
 * Requests in MongoDB. Every change is one conditional `updateOne` whose filter
 * holds the expected current state, so concurrent clicks, replicas and retries
 * cannot both win; the winner then reads its result back. (`updateOne`, not
 * `findOneAndUpdate`: both are atomic on MongoDB, but on jongodb, which the tests
 * use, only `updateOne` is atomic across connections.) Uses only operators jongodb supports.
 */
export class RequestStore {
  readonly requests: Collection<AccessRequest>;
  readonly audit: AuditLog;
  /** People's SSH public keys, copied onto their requests for `ssh` resources when filed. */
  readonly sshKeys: SshKeyStore;

  constructor(db: Db, private readonly now: () => Date = () => new Date()) {
    this.requests = db.collection<AccessRequest>('requests');
    this.audit = new AuditLog(db);
    this.sshKeys = new SshKeyStore(db);
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
    await this.requests.createIndex({ accessKey: 1, state: 1 }, { name: 'by_access_key', partialFilterExpression: { accessKey: { $exists: true } } });
    await this.requests.createIndex({ accountKey: 1, state: 1 }, { name: 'by_account_key', partialFilterExpression: { accountKey: { $exists: true } } });
    await this.audit.ensureIndexes();
    await this.sshKeys.ensureIndexes();
  }

  /** Inserts a new request; the unique index refuses a second open one for the same user and resource. */
  async create(request: AccessRequest, actor: string, details?: Record<string, unknown>): Promise<AccessRequest> {
    for (const [field, value] of Object.entries({ _id: request._id, requesterId: request.requesterId, resourceId: request.resourceId, actor })) {
      requireText(value, field);
    }
    const event: PendingEvent = { changeId: 'created', at: this.now(), actor, action: 'requested', to: request.state, ...(details ? { details } : {}) };
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

  get(id: string): Promise<AccessRequest | null> {
    // An object here (`{"$ne": null}`) would be a query operator, not an ID: it matches nothing.
    if (typeof id !== 'string') return Promise.resolve(null);
    return this.requests.findOne({ _id: id });
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
  async touch(id: string, state: RequestState, set: Partial<AccessRequest>, unset: Array<keyof AccessRequest> = [], where: Filter<AccessRequest> = {}): Promise<AccessRequest | null> {
    requireText(id, 'request ID');
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
  async addApproval(id: string, approverId: string): Promise<AccessRequest | null> {
    requireText(id, 'request ID');
    requireText(approverId, 'approver');
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.requests.findOne({ _id: id });
      if (!current || current.state !== 'pending' || current.requesterId === approverId || current.approvals.includes(approverId)) return null;
      const approvals = [...current.approvals, approverId];
      const won = await this.compareAndSet(
        { _id: id, state: 'pending', version: current.version, requesterId: { $ne: approverId }, approvals: { $ne: approverId } },
        { $set: { approvals, updatedAt: this.now() }, $inc: { version: 1 } },
        { actor: approverId, action: 'approval_recorded', from: 'pending', to: 'pending', details: { approvals: approvals.length, required: current.requiredApprovals } },
      );
      if (!won) continue;
      await this.recordEvent(won.doc, won.event!);
      return won.doc;
    }
    return null;
  }

  private async change(id: string, from: RequestState, opts: ChangeOptions, to?: RequestState): Promise<AccessRequest | null> {
    requireText(id, 'request ID');
    requireText(opts.actor, 'actor');
    const update: UpdateFilter<AccessRequest> = {
      $set: { ...opts.set, updatedAt: this.now() },
      $inc: { version: 1 },
    };
    if (opts.unset?.length) update.$unset = Object.fromEntries(opts.unset.map((k) => [k, ''])) as never;
    if (opts.addToSet) update.$addToSet = opts.addToSet as never;
    const filter = { ...opts.where, _id: id, state: from } as Filter<AccessRequest>;
    const won = await this.compareAndSet(filter, update, { actor: opts.actor, action: opts.action, from, to: to ?? from, ...(opts.details ? { details: opts.details } : {}) });
    if (!won) return null;
    await this.recordEvent(won.doc, won.event!);
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
    const stamped = { ...update, $set: { ...(update.$set ?? {}), changeId, ...(lastEvent ? { lastEvent } : {}) } } as UpdateFilter<AccessRequest>;
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
   * Appends the audit events of changes that MongoDB applied but that were never recorded (their
   * answer was lost, or the bot stopped before recording them), from the event each change wrote
   * with itself. Returns the requests whose event this call recorded (on several replicas at once,
   * each event is returned by exactly one), with that event as `lastEvent`, so people can be shown
   * their current state and told what the interrupted operation had not told them yet. Run at
   * start-up and whenever MongoDB answers again after an outage.
   */
  async repairUnrecordedChanges(now: Date = this.now()): Promise<StoredRequest[]> {
    const candidates = (await this.requests
      .find({ 'lastEvent.at': { $gte: new Date(now.getTime() - REPAIR_WINDOW_MS), $lte: new Date(now.getTime() - REPAIR_SETTLE_MS) } } as Filter<AccessRequest>)
      .limit(5000)
      .toArray()) as StoredRequest[];
    if (!candidates.length) return [];
    const eventId = (r: StoredRequest) => `${r._id}:${r.lastEvent!.changeId}`;
    const recorded = new Set(
      (await this.audit.events.find({ _id: { $in: candidates.map(eventId) } }).project<{ _id: string }>({ _id: 1 }).toArray()).map((e) => e._id),
    );
    const repaired: StoredRequest[] = [];
    for (const request of candidates) {
      if (recorded.has(eventId(request))) continue;
      if (await this.recordEvent(request, request.lastEvent!)) repaired.push(request);
    }
    return repaired;
  }

  // --- what the scheduler and the slash commands ask ---------------------------------

  /** Active grants whose expiry has passed, soonest first. */
  dueExpiries(now: Date, limit = 100): Promise<AccessRequest[]> {
    return this.requests.find({ state: 'active', expiresAt: { $lte: now } }).sort({ expiresAt: 1 }).limit(limit).toArray();
  }

  /** The soonest upcoming expiry, to arm the in-process timer. */
  async nextExpiry(): Promise<Date | undefined> {
    const next = await this.requests.find({ state: 'active' }).sort({ expiresAt: 1 }).limit(1).project<{ expiresAt?: Date }>({ expiresAt: 1 }).toArray();
    return next[0]?.expiresAt;
  }

  pendingPastTimeout(now: Date, limit = 100): Promise<AccessRequest[]> {
    return this.requests.find({ state: 'pending', pendingUntil: { $lte: now } }).sort({ pendingUntil: 1 }).limit(limit).toArray();
  }

  /** Granting or revoking work whose claim lapsed (its worker died) or whose retry is due. */
  stuck(state: 'granting' | 'revoking', now: Date, limit = 100): Promise<AccessRequest[]> {
    return this.requests
      .find({ state, $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: { $lte: now } }] })
      .sort({ leaseUntil: 1 })
      .limit(limit)
      .toArray();
  }

  dueWarnings(now: Date, limit = 100): Promise<AccessRequest[]> {
    return this.requests.find({ state: 'active', warnAt: { $lte: now } }).sort({ warnAt: 1 }).limit(limit).toArray();
  }

  dueReminders(now: Date, limit = 100): Promise<AccessRequest[]> {
    return this.requests.find({ remindAt: { $lte: now } }).sort({ remindAt: 1 }).limit(limit).toArray();
  }

  /**
   * Other requests in `states` whose grant gives the same access (the same access key): what
   * decides whether access found before a grant is standing, and whether a revocation may take
   * the access away (PRODUCT.md §4).
   */
  holdersOf(accessKey: string, exceptId: string, states: readonly RequestState[]): Promise<Array<Pick<AccessRequest, '_id' | 'state' | 'standing'>>> {
    requireText(accessKey, 'access key');
    return this.requests
      .find({ accessKey, state: { $in: [...states] }, _id: { $ne: exceptId } })
      .project<Pick<AccessRequest, '_id' | 'state' | 'standing'>>({ _id: 1, state: 1, standing: 1 })
      .toArray();
  }

  /** Another person's open request or grant that uses this derived account on this target, if any. */
  accountInUse(accountKey: string, exceptRequester: string): Promise<AccessRequest | null> {
    requireText(accountKey, 'account key');
    return this.requests.findOne({ accountKey, state: { $in: [...OPEN_STATES] }, requesterId: { $ne: exceptRequester } });
  }

  openRequestsOf(userId: string): Promise<AccessRequest[]> {
    if (typeof userId !== 'string') return Promise.resolve([]);
    return this.requests.find({ requesterId: userId, state: { $in: [...OPEN_STATES] } }).sort({ createdAt: 1 }).toArray();
  }

  /** Requests that wait for `userId`'s decision if they approve the resource: never their own, never one they already approved. */
  private waitingFilter(userId: string): Filter<AccessRequest> {
    requireText(userId, 'user');
    return {
      requesterId: { $ne: userId },
      $or: [
        { state: 'pending', approvals: { $ne: userId } },
        { state: 'active', extension: { $exists: true }, 'extension.approvals': { $ne: userId } },
        { breakGlass: true, breakGlassAck: { $exists: false }, state: { $in: ['active', 'revoking', 'expired', 'revoked'] } },
      ],
    } as Filter<AccessRequest>;
  }

  /** The resources with requests that would wait for `userId`, were they an approver (so only those are checked). */
  resourcesAwaitingDecision(userId: string): Promise<string[]> {
    return this.requests.distinct('resourceId', this.waitingFilter(userId)) as Promise<string[]>;
  }

  /**
   * Requests of `resourceIds` that wait for `userId`: a decision, an extension, or a break-glass
   * acknowledgement, oldest first (they time out first), at most `limit`, with the total.
   */
  async waitingForDecision(userId: string, resourceIds: string[], limit: number): Promise<{ items: AccessRequest[]; total: number }> {
    const filter = { ...this.waitingFilter(userId), resourceId: { $in: resourceIds } } as Filter<AccessRequest>;
    const [items, total] = await Promise.all([this.requests.find(filter).sort({ createdAt: 1 }).limit(limit).toArray(), this.requests.countDocuments(filter)]);
    return { items, total };
  }

  recentlyEndedOf(userId: string, limit = 5): Promise<AccessRequest[]> {
    if (typeof userId !== 'string') return Promise.resolve([]);
    return this.requests
      .find({ requesterId: userId, state: { $in: ['expired', 'revoked'] } })
      .sort({ endedAt: -1 })
      .limit(limit)
      .toArray();
  }

}
