import { UserError } from '../domain/errors';
import type { AccessRequest } from '../domain/request';
import { mayApprove } from '../policy/policy';
import { OperationContext, requestLogger } from './ports';
import { requireRequest, requireResource } from './constraints';

/** An approver reviews a break-glass grant after the fact; until then it stays flagged and reminded. */
export async function acknowledgeBreakGlass(ctx: OperationContext, requestId: unknown, approverId: string): Promise<AccessRequest> {
  const request = await requireRequest(ctx, requestId);
  const resource = requireResource(ctx, request.resourceId);
  if (!request.breakGlass) throw new UserError(`Request ${request._id} is not a break-glass grant.`);
  if (request.breakGlassAck) throw new UserError(`Already acknowledged by <@${request.breakGlassAck.by}>.`);
  if (!(await mayApprove(resource, approverId, request.requesterId, ctx.directory))) {
    throw new UserError(`Only approvers of ${resource.id} (other than the requester) can acknowledge this break-glass access.`);
  }
  const acked = await ctx.store.update(request._id, request.state, {
    actor: approverId,
    action: 'break_glass_acknowledged',
    set: { breakGlassAck: { by: approverId, at: ctx.now() } },
    unset: ['remindAt'],
    only: { absent: ['breakGlassAck'] },
  });
  if (!acked) throw new UserError(`Request ${request._id} changed in the meantime; try again.`);
  requestLogger(ctx, acked).info({ approver: approverId }, 'break-glass acknowledged');
  await ctx.notifier.requestChanged(acked);
  return acked;
}
