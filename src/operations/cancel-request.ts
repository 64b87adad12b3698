import { UserError } from '../domain/errors';
import type { AccessRequest } from '../domain/request';
import { OperationContext, requestLogger } from './ports';
import { requireRequest, requireState } from './constraints';

/** The requester withdraws their own pending request. */
export async function cancelRequest(ctx: OperationContext, requestId: unknown, userId: string): Promise<AccessRequest> {
  const request = await requireRequest(ctx, requestId);
  if (request.requesterId !== userId) throw new UserError(`Only the requester can cancel request ${request._id}.`);
  requireState(request, 'pending', 'cancelled');
  const cancelled = await ctx.store.transition(request._id, 'pending', 'cancelled', { actor: userId, action: 'cancelled' });
  if (!cancelled) throw new UserError(`Request ${request._id} was decided in the meantime; see \`/jit-access list\`.`);
  requestLogger(ctx, cancelled).info('request cancelled');
  await ctx.notifier.requestChanged(cancelled);
  return cancelled;
}
