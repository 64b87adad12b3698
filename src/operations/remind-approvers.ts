import type { AccessRequest } from '../domain/request';
import { findResource } from '../policy/policy';
import { OperationContext, requestLogger } from './ports';

/**
 * Re-pings approvers every `remindAfter`: of a request still pending (until it is decided
 * or times out), and of a break-glass grant nobody has acknowledged yet. Whoever moves
 * `remindAt` sends the reminder, so replicas never double it; none after a decision.
 */
export async function remindApprovers(ctx: OperationContext, request: AccessRequest): Promise<boolean> {
  const resource = findResource(ctx.policy, request.resourceId);
  const now = ctx.now();
  const wanted = request.state === 'pending' || (request.breakGlass === true && !request.breakGlassAck);
  const next = resource ? new Date(now.getTime() + resource.remindAfter) : undefined;
  const keepGoing = wanted && next && (request.state !== 'pending' || next < request.pendingUntil);
  const reminded = await ctx.store.update(request._id, request.state, {
    actor: 'system',
    action: wanted ? 'approvers_reminded' : 'reminder_dropped',
    ...(keepGoing ? { set: { remindAt: next } } : { unset: ['remindAt'] }),
    only: { due: { field: 'remindAt', at: now } },
  });
  if (!reminded || !resource || !wanted) return false;
  const acted = request.state === 'pending' ? reminded.approvals : [];
  const waitingOn = resource.approvers.users.filter((u) => u !== request.requesterId && !acted.includes(u));
  requestLogger(ctx, reminded).info({ waitingOn }, 'approvers reminded');
  await ctx.notifier.notifyChannel(reminded, 'reminder', {
    users: waitingOn.join(','),
    usergroups: resource.approvers.usergroups.join(','),
    n: String(reminded.version),
  });
  return true;
}
