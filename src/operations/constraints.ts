import { UserError } from '../domain/errors';
import { REQUEST_ID_PATTERN, AccessRequest } from '../domain/request';
import { findResource, Resource } from '../policy/policy';
import type { OperationContext } from './context';

/** Small named checks the use cases share; each throws a UserError that says what to do. */

export async function requireRequest(ctx: OperationContext, requestId: unknown): Promise<AccessRequest> {
  if (typeof requestId !== 'string' || !REQUEST_ID_PATTERN.test(requestId)) {
    throw new UserError(`"${String(requestId).slice(0, 40)}" is not a request ID. Request IDs look like r7k2m9qxa; see \`/jit-access list\`.`);
  }
  const request = await ctx.store.get(requestId);
  if (!request) throw new UserError(`There is no request ${requestId}. See \`/jit-access list\` for yours.`);
  return request;
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
