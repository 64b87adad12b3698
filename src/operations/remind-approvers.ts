import type { AccessRequest } from '../domain/request';
import { findResource } from '../policy/policy';
import { OperationContext, requestLogger } from './context';

/**
 * Re-pings the approvers of a request still pending after `remindAfter`, then again
 * every `remindAfter` until it is decided or times out. Whoever moves `remindAt` sends it.
 */
export async function remindApprovers(ctx: OperationContext, request: AccessRequest): Promise<boolean> {
  const resource = findResource(ctx.policy, request.resourceId);
  const now = ctx.now();
  const next = resource ? new Date(now.getTime() + resource.remindAfter) : undefined;
  const reminded = await ctx.store.update(request._id, 'pending', {
    actor: 'system',
    action: 'approvers_reminded',
    ...(next && next < request.pendingUntil ? { set: { remindAt: next } } : { unset: ['remindAt'] }),
    where: { remindAt: { $lte: now } },
  });
  if (!reminded || !resource) return false;
  const waitingOn = resource.approvers.users.filter((u) => u !== request.requesterId && !reminded.approvals.includes(u));
  requestLogger(ctx, reminded).info({ waitingOn }, 'approvers reminded');
  await ctx.notifier.notifyChannel(reminded, 'reminder', {
    users: waitingOn.join(','),
    usergroups: resource.approvers.usergroups.join(','),
    n: String(reminded.version),
  });
  return true;
}
