import { UserError } from '../domain/errors';
import { findResource, isAdmin, isApprover } from '../policy/policy';
import type { OperationContext } from './ports';
import { requireRequest } from './constraints';

/** `/jit-access audit <id>`: every event of one request, in order; admins and the resource's approvers only. */
export async function auditTimeline(ctx: OperationContext, requestId: unknown, userId: string) {
  const request = await requireRequest(ctx, requestId);
  const resource = findResource(ctx.policy, request.resourceId);
  const allowed = isAdmin(ctx.policy, userId) || (resource ? await isApprover(resource, userId, ctx.directory) : false);
  if (!allowed)
    throw new UserError(`Only policy admins and approvers of ${request.resourceId} can read the audit timeline of ${request._id}.`);
  return { request, events: await ctx.store.audit.forRequest(request._id) };
}
