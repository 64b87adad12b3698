import type { AccessRequest } from '../domain/request';
import type { GrantSubject } from '../providers/provider';
import { ProviderError } from '../providers/provider';
import type { ResourceProvider } from '../providers/registry';
import type { OperationContext } from './ports';

/*
 * Standing access and overlapping grants (README “Standing access and overlapping grants”). The bookkeeping lives here, in the
 * operations layer, because it needs both halves: only the store knows every jit-access grant of
 * every replica that gives the same access (requests share an *access key*, e.g. the same role for
 * the same account in the same target), and only the provider can read what the target holds.
 * A provider contributes two small, declared pieces (OverlapRule: the key, and holds()); the rules
 * below are written once, instead of nine times, and cannot drift between providers.
 *
 * - Before a request's first grant attempt its access is inspected, and the result persisted
 *   (so a retry, or another worker taking over, never sees its own first attempt as standing):
 *   standing if another jit-access grant of the same key is standing, else, with no other grant of
 *   the key, if the provider says the account already holds it.
 * - A standing request grants nothing and revokes nothing.
 * - A revocation leaves the access in place while another grant of the same key is granting or
 *   active: the access ends with the last of them.
 * - Grant and revocation of one key are serialised by a lease lock in MongoDB, so that two grants
 *   cannot both inspect before either granted (and both take the other for standing access), and a
 *   revocation cannot look for other holders, find none, and land after a concurrent grant.
 */

/** Requests whose grant is (or may be, or is being taken) in the target. */
const HOLDING = ['granting', 'active', 'revoking'] as const;
/** Requests whose access must outlive a revocation of the same key. */
const KEEPING = ['granting', 'active'] as const;

function lockOptions(ctx: OperationContext) {
  // The lease covers one provider call and a few store operations; the wait, one holder's turn.
  return { leaseMs: 2 * ctx.settings.providerTimeoutMs + 10_000, waitMs: ctx.settings.providerTimeoutMs + 5_000 };
}

/** The request's access key: recorded before its first grant, else (requests filed before keys existed) computed now. */
export function accessKeyOf(request: AccessRequest, provider: ResourceProvider): string | undefined {
  return request.accessKey ?? provider.accessKey(request.account);
}

/** Runs `work` holding the lock on `key` (no lock for access that cannot overlap). */
export function underAccessLock<T>(ctx: OperationContext, key: string | undefined, work: () => Promise<T>): Promise<T> {
  return key === undefined ? work() : ctx.locks.withLock(`access:${key}`, lockOptions(ctx), work);
}

/**
 * Inside the access lock, before a request's first grant attempt: records its access key and
 * whether the access is standing. Returns the request as stored; unchanged when there is nothing to
 * record (no key) or it was recorded already.
 */
export async function recordStanding(
  ctx: OperationContext,
  request: AccessRequest,
  provider: ResourceProvider,
  subject: GrantSubject,
): Promise<AccessRequest> {
  const key = provider.accessKey(request.account);
  if (key === undefined || request.standing !== undefined) return request;
  // Only requests that were themselves inspected carry the key: one that is granting but has not
  // reached this point has given nothing yet, and must not hide standing access from us.
  const holders = await ctx.store.holdersOf(key, request._id, HOLDING);
  const standing = holders.some((h) => h.standing === true)
    ? true
    : holders.length === 0 && provider.inspectsStanding
      ? await provider.holds(subject, { deadline: new Date(Date.now() + ctx.settings.providerTimeoutMs) })
      : false;
  const recorded = await ctx.store.update(request._id, 'granting', {
    actor: 'system',
    action: 'access_inspected',
    set: { accessKey: key, standing },
    only: { absent: ['standing'] },
    details: { standing, ...(holders.length ? { alsoGrantedBy: holders.map((h) => h._id) } : {}) },
  });
  if (recorded) return recorded;
  const now = await ctx.store.get(request._id);
  if (now?.state === 'granting' && now.standing !== undefined) return now; // another worker recorded it first
  throw new ProviderError(`request ${request._id} changed while its access was inspected`);
}

export type RevocationOutcome = { outcome: 'revoked' } | { outcome: 'standing' } | { outcome: 'shared'; stillGrantedBy: string[] };

/**
 * Takes the request's access away, unless it was standing before the grant or another grant of the
 * same key still gives it. Holds the access lock throughout.
 */
export async function revokeUnlessKept(
  ctx: OperationContext,
  request: AccessRequest,
  provider: ResourceProvider,
  subject: GrantSubject,
): Promise<RevocationOutcome> {
  const key = accessKeyOf(request, provider);
  return underAccessLock(ctx, key, async () => {
    if (request.standing) return { outcome: 'standing' };
    if (key !== undefined) {
      const others = await ctx.store.holdersOf(key, request._id, KEEPING);
      if (others.length) return { outcome: 'shared', stillGrantedBy: others.map((o) => o._id) };
    }
    await provider.revoke(subject, { deadline: new Date(Date.now() + ctx.settings.providerTimeoutMs), details: request.providerDetails });
    return { outcome: 'revoked' };
  });
}

/** For audit details and logs: what a revocation did in the target. */
export function describeRevocation(result: RevocationOutcome): Record<string, unknown> {
  switch (result.outcome) {
    case 'revoked':
      return {};
    case 'standing':
      return { access: 'left in place: the account had it before this grant' };
    case 'shared':
      return { access: 'left in place: still granted by another request', stillGrantedBy: result.stillGrantedBy };
  }
}
