import { UserError } from '../domain/errors';
import { REQUEST_ID_PATTERN, AccessRequest } from '../domain/request';
import { findResource, mayApprove, mayRequest, Resource } from '../policy/policy';
import type { OperationContext } from './ports';

/** Small named checks the use cases share; each throws a UserError that says what to do. */

/** A request ID as people type or paste it: any case, perhaps in the backticks `list` shows it in. */
function normalizeRequestId(requestId: unknown): unknown {
  return typeof requestId === 'string'
    ? requestId
        .trim()
        .replace(/^`(.*)`$/, '$1')
        .toLowerCase()
    : requestId;
}

export async function requireRequest(ctx: OperationContext, requestId: unknown): Promise<AccessRequest> {
  const id = normalizeRequestId(requestId);
  if (typeof id !== 'string' || !REQUEST_ID_PATTERN.test(id)) {
    throw new UserError(
      `"${String(requestId).slice(0, 40)}" is not a request ID. Request IDs look like r7k2m9qxa; see \`/jit-access list\`.`,
    );
  }
  const request = await ctx.store.get(id);
  if (!request) throw new UserError(`There is no request ${id}. See \`/jit-access list\` for yours.`);
  return request;
}

/**
 * Refuses a request (or extension) that could only time out: one needing `required` approvals
 * from people other than the requester, when the resource's approvers minus the requester are
 * fewer (the sole listed approver asking for access, say). User groups are resolved now; one Slack
 * cannot resolve counts as "maybe enough", so an outage never refuses anyone.
 */
export async function requireApprovable(
  ctx: OperationContext,
  resource: Resource,
  requesterId: string,
  required: number,
  what = 'request',
): Promise<void> {
  if (required <= 0) return;
  const others = new Set(resource.approvers.users.filter((u) => u !== requesterId));
  for (const group of resource.approvers.usergroups) {
    if (others.size >= required) return;
    try {
      for (const member of await ctx.directory.usergroupMembers(group)) if (member !== requesterId) others.add(member);
    } catch {
      return;
    }
  }
  if (others.size >= required) return;
  const nobody = others.size === 0;
  throw new UserError(
    (nobody
      ? `Nobody but you can approve ${resource.id}, so your ${what} could only time out.`
      : `${resource.id} needs ${required} approvals from people other than you, and only ${others.size} of its approvers ${others.size === 1 ? 'is' : 'are'} someone else, so your ${what} could only time out.`) +
      ' Nothing was filed. Ask a policy admin to add approvers to it.',
    'resource',
  );
}

/** Throws unless `approverId` may decide on `request` by the policy (checked on every click): "Only approvers of … can `doing`". */
export async function requireApprover(
  ctx: OperationContext,
  resource: Resource,
  request: AccessRequest,
  approverId: string,
  doing: string,
): Promise<void> {
  if (!(await mayApprove(resource, approverId, request.requesterId, ctx.directory))) {
    throw new UserError(`Only approvers of ${resource.id} can ${doing}; you are not one of them.`);
  }
}

export function requireResource(ctx: OperationContext, resourceId: string): Resource {
  const resource = findResource(ctx.policy, resourceId);
  if (!resource) {
    throw new UserError(`Unknown resource "${resourceId.slice(0, 40)}". See \`/jit-access resources\` for what you can request.`);
  }
  return resource;
}

export function requireState(request: AccessRequest, state: AccessRequest['state'], doing: string): void {
  if (request.state !== state) {
    throw new UserError(`Request ${request._id} is ${request.state.replace('_', ' ')}, so it cannot be ${doing}.`);
  }
}

export async function requireMayRequest(ctx: OperationContext, resource: Resource, requesterId: string): Promise<void> {
  if (!(await mayRequest(resource, requesterId, ctx.directory))) {
    throw new UserError(`You are not allowed to request ${resource.id}. Ask a policy admin if you need it.`, 'resource');
  }
}

/** The refusal of a second open request for the same resource (`open`: the one there is, if found). */
export function alreadyOpen(open: AccessRequest | undefined, resourceId: string): UserError {
  return new UserError(
    `You already have ${open ? `request ${open._id} (${open.state})` : 'an open request'} for ${resourceId}. ` +
      'Use `/jit-access list` to see it, `cancel` a pending one, or `extend` an active grant.',
    'resource',
  );
}
