import type { AccessRequest } from '../domain/request';
import { findResource, mayApprove } from '../policy/policy';
import type { OperationContext } from './context';

/** What one person's App Home shows: their grants and requests, and what waits for their decision. */
export interface HomeData {
  userId: string;
  active: AccessRequest[];
  pending: AccessRequest[];
  toDecide: AccessRequest[];
  ended: AccessRequest[];
}

const MAX_PER_SECTION = 10;

export async function loadHomeData(ctx: OperationContext, userId: string): Promise<HomeData> {
  const [open, ended, candidates] = await Promise.all([
    ctx.store.openRequestsOf(userId),
    ctx.store.recentlyEndedOf(userId, 5),
    ctx.store.requests
      .find({ requesterId: { $ne: userId }, $or: [{ state: 'pending' }, { state: 'active', extension: { $exists: true } }, { breakGlass: true, breakGlassAck: { $exists: false }, state: { $in: ['active', 'revoking', 'expired', 'revoked'] } }] })
      .sort({ createdAt: 1 })
      .limit(100)
      .toArray(),
  ]);
  const toDecide: AccessRequest[] = [];
  for (const request of candidates) {
    const resource = findResource(ctx.policy, request.resourceId);
    if (!resource) continue;
    if (request.state === 'pending' && request.approvals.includes(userId)) continue;
    if (request.extension?.approvals.includes(userId)) continue;
    if (await mayApprove(resource, userId, request.requesterId, ctx.directory).catch(() => false)) toDecide.push(request);
    if (toDecide.length >= MAX_PER_SECTION) break;
  }
  return {
    userId,
    active: open.filter((r) => r.state === 'active' || r.state === 'revoking' || r.state === 'granting').slice(0, MAX_PER_SECTION),
    pending: open.filter((r) => r.state === 'pending').slice(0, MAX_PER_SECTION),
    toDecide,
    ended,
  };
}

/** Everyone whose Home shows this request: the requester and the approvers listed by user ID. */
export function peopleConcerned(ctx: OperationContext, request: AccessRequest): string[] {
  const resource = findResource(ctx.policy, request.resourceId);
  return [...new Set([request.requesterId, ...(resource?.approvers.users ?? [])])];
}
