import type { Collection, Filter } from 'mongodb';
import type { AccessRequest } from '../domain/request';
import { OPEN_STATES, RequestState } from '../domain/lifecycle';
import type { WorkKind } from '../operations/ports';

/**
 * IDs and user IDs reach queries as values: a non-string (an object like `{"$ne": null}` from a
 * forged payload) would be read as a query operator. The Slack layer refuses those first; this
 * is the last line, so a write never matches or stores what it was not meant to.
 */
export function requireText(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '')
    throw new TypeError(`${what} must be a non-empty string, not ${value === '' ? 'empty' : typeof value}`);
}

/** Where each kind of scheduled work is found: what is due by `now`, and the field holding its deadline. */
const WORK: Record<WorkKind, { due(now: Date): Filter<AccessRequest>; next: Filter<AccessRequest>; field: keyof AccessRequest }> = {
  expiry: { due: (now) => ({ state: 'active', expiresAt: { $lte: now } }), next: { state: 'active' }, field: 'expiresAt' },
  // Granting or revoking work whose claim lapsed (its worker died) or whose retry is due.
  revoking: { due: (now) => lapsedLease('revoking', now), next: { state: 'revoking', leaseUntil: { $exists: true } }, field: 'leaseUntil' },
  granting: { due: (now) => lapsedLease('granting', now), next: { state: 'granting', leaseUntil: { $exists: true } }, field: 'leaseUntil' },
  timeout: { due: (now) => ({ state: 'pending', pendingUntil: { $lte: now } }), next: { state: 'pending' }, field: 'pendingUntil' },
  warning: {
    due: (now) => ({ state: 'active', warnAt: { $lte: now } }),
    next: { state: 'active', warnAt: { $exists: true } },
    field: 'warnAt',
  },
  reminder: { due: (now) => ({ remindAt: { $lte: now } }), next: { remindAt: { $exists: true } }, field: 'remindAt' },
};

export function lapsedLease(state: RequestState, now: Date): Filter<AccessRequest> {
  return { state, $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: { $lte: now } }] };
}

/** What the scheduler, the slash commands and the App Home ask of the requests. */
export class RequestQueries {
  constructor(protected readonly requests: Collection<AccessRequest>) {}

  get(id: string): Promise<AccessRequest | null> {
    // An object here (`{"$ne": null}`) would be a query operator, not an ID: it matches nothing.
    if (typeof id !== 'string') return Promise.resolve(null);
    return this.requests.findOne({ _id: id });
  }

  dueWork(kind: WorkKind, now: Date, limit = 100): Promise<AccessRequest[]> {
    const { due, field } = WORK[kind];
    return this.requests
      .find(due(now))
      .sort({ [field]: 1 })
      .limit(limit)
      .toArray();
  }

  async nextDeadline(kind: WorkKind): Promise<Date | undefined> {
    const { next, field } = WORK[kind];
    const [doc] = await this.requests
      .find(next)
      .sort({ [field]: 1 })
      .limit(1)
      .project<Partial<AccessRequest>>({ [field]: 1 })
      .toArray();
    const at = doc?.[field];
    return at instanceof Date ? at : undefined;
  }

  /**
   * Other requests in `states` whose grant gives the same access (the same access key): what
   * decides whether access found before a grant is standing, and whether a revocation may take
   * the access away.
   */
  holdersOf(
    accessKey: string,
    exceptId: string,
    states: readonly RequestState[],
  ): Promise<Array<Pick<AccessRequest, '_id' | 'state' | 'standing'>>> {
    requireText(accessKey, 'access key');
    return this.requests
      .find({ accessKey, state: { $in: [...states] }, _id: { $ne: exceptId } })
      .project<Pick<AccessRequest, '_id' | 'state' | 'standing'>>({ _id: 1, state: 1, standing: 1 })
      .toArray();
  }

  /** The resources with open requests (pending, granting, active, revoking), whoever filed them: what a policy reload must keep serving. */
  async openResourceIds(): Promise<Set<string>> {
    return new Set((await this.requests.distinct('resourceId', { state: { $in: [...OPEN_STATES] } })) as string[]);
  }

  /** Another person's open request or grant that uses this derived account on this target, if any. */
  accountInUse(accountKey: string, exceptRequester: string): Promise<AccessRequest | null> {
    requireText(accountKey, 'account key');
    return this.requests.findOne({ accountKey, state: { $in: [...OPEN_STATES] }, requesterId: { $ne: exceptRequester } });
  }

  openRequestsOf(userId: string): Promise<AccessRequest[]> {
    if (typeof userId !== 'string') return Promise.resolve([]);
    return this.requests
      .find({ requesterId: userId, state: { $in: [...OPEN_STATES] } })
      .sort({ createdAt: 1 })
      .toArray();
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
    const [items, total] = await Promise.all([
      this.requests.find(filter).sort({ createdAt: 1 }).limit(limit).toArray(),
      this.requests.countDocuments(filter),
    ]);
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
