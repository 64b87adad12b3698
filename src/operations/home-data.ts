import type { AccessRequest } from '../domain/request';
import { findResource, isApprover } from '../policy/policy';
import type { Policy } from '../policy/policy';
import type { OperationContext } from './ports';

/** What an App Home render reads: the policy, the requests, and user groups through Slack. */
type HomeContext = Pick<OperationContext, 'policy' | 'store' | 'directory'>;

/** A part of someone's App Home: the items shown, and how many there are in all. */
export interface HomeList {
  items: AccessRequest[];
  total: number;
}

/** What one person's App Home shows: their grants and requests, and what waits for their decision. */
export interface HomeData {
  userId: string;
  active: HomeList;
  pending: HomeList;
  toDecide: HomeList;
  ended: AccessRequest[];
}

/**
 * Items shown per section. Chosen so the whole tab stays within Slack's 100 blocks per view
 * (two blocks per row, one per ended grant, plus each section's header, divider and "N more"):
 * 2 + 4 × 3 + 2 × 10 + 2 × 10 + 2 × 20 + 5 = 99.
 */
export const HOME_LIMITS = { active: 10, pending: 10, toDecide: 20, ended: 5 } as const;

/**
 * The resources `userId` may approve, by the policy: those listing them, and those whose user
 * groups include them (resolved through Slack, and only for resources with something waiting, so a
 * Home render costs no Slack look-ups for the rest).
 */
async function resourcesApprovedBy(ctx: HomeContext, userId: string): Promise<string[]> {
  const ids = ctx.policy.resources.filter((r) => r.approvers.users.includes(userId)).map((r) => r.id);
  const viaGroups = ctx.policy.resources.filter((r) => !ids.includes(r.id) && r.approvers.usergroups.length);
  if (!viaGroups.length) return ids;
  const waiting = new Set(await ctx.store.resourcesAwaitingDecision(userId));
  for (const resource of viaGroups) {
    if (!waiting.has(resource.id)) continue;
    // A group Slack cannot resolve right now hides that resource's requests, rather than the whole tab.
    if (await isApprover(resource, userId, ctx.directory).catch(() => false)) ids.push(resource.id);
  }
  return ids;
}

/** Requests waiting for `userId`, oldest first (those time out first), at most `limit`, and their total. */
export async function waitingForDecision(ctx: HomeContext, userId: string, limit: number): Promise<HomeList> {
  const resourceIds = await resourcesApprovedBy(ctx, userId);
  if (!resourceIds.length) return { items: [], total: 0 };
  const { items, total } = await ctx.store.waitingForDecision(userId, resourceIds, limit);
  return { items, total: Math.max(total, items.length) };
}

export async function loadHomeData(ctx: HomeContext, userId: string): Promise<HomeData> {
  const [open, ended, toDecide] = await Promise.all([
    ctx.store.openRequestsOf(userId),
    ctx.store.recentlyEndedOf(userId, HOME_LIMITS.ended),
    waitingForDecision(ctx, userId, HOME_LIMITS.toDecide),
  ]);
  const list = (rows: AccessRequest[], limit: number): HomeList => ({ items: rows.slice(0, limit), total: rows.length });
  return {
    userId,
    active: list(
      open.filter((r) => r.state === 'active' || r.state === 'revoking' || r.state === 'granting'),
      HOME_LIMITS.active,
    ),
    pending: list(
      open.filter((r) => r.state === 'pending'),
      HOME_LIMITS.pending,
    ),
    toDecide,
    ended,
  };
}

/** Everyone whose Home shows this request: the requester and the approvers listed by user ID. */
export function peopleConcerned(policy: Policy, request: AccessRequest): string[] {
  const resource = findResource(policy, request.resourceId);
  return [...new Set([request.requesterId, ...(resource?.approvers.users ?? [])])];
}
