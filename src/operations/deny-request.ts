import { UserError } from '../domain/errors';
import type { AccessRequest } from '../domain/request';
import { OperationContext, requestLogger } from './ports';
import { requireApprover, requireRequest, requireResource, requireState } from './constraints';

export const MAX_DENY_REASON_LENGTH = 1000;

/** Checks that may run before the deny-reason modal opens, and again on submission. */
export async function checkMayDeny(ctx: OperationContext, requestId: unknown, approverId: string): Promise<AccessRequest> {
  const request = await requireRequest(ctx, requestId);
  const resource = requireResource(ctx, request.resourceId);
  if (approverId === request.requesterId) {
    throw new UserError('You cannot decide on your own request. To withdraw it, use `/jit-access cancel ' + request._id + '`.');
  }
  await requireApprover(ctx, resource, request, approverId, 'deny this request');
  requireState(request, 'pending', 'denied');
  return request;
}

export async function denyRequest(ctx: OperationContext, requestId: unknown, approverId: string, reason: string): Promise<AccessRequest> {
  const text = reason.trim();
  if (!text) throw new UserError('Say why you deny the request; the requester will see it.');
  if (text.length > MAX_DENY_REASON_LENGTH) throw new UserError(`The reason is too long: at most ${MAX_DENY_REASON_LENGTH} characters.`);
  const request = await checkMayDeny(ctx, requestId, approverId);
  const denied = await ctx.store.transition(request._id, 'pending', 'denied', {
    actor: approverId,
    action: 'denied',
    set: { decidedBy: approverId, denyReason: text },
    details: { reason: text },
  });
  if (!denied) {
    const now = await ctx.store.get(request._id);
    throw new UserError(`Request ${request._id} is already ${now?.state.replace('_', ' ') ?? 'gone'}.`);
  }
  requestLogger(ctx, denied).info({ approver: approverId }, 'request denied');
  await ctx.notifier.notifyRequester(denied, 'denied');
  await ctx.notifier.requestChanged(denied);
  return denied;
}
