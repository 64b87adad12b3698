import { UserError } from '../domain/errors';
import { parseDuration, formatDuration, DurationError } from '../domain/duration';
import { newRequestId, openKeyOf, AccessRequest } from '../domain/request';
import { durationProblem, findResource, Policy, Resource } from '../policy/policy';
import { OpenRequestExistsError } from '../store/request-store';
import { OperationContext, requestLogger } from './ports';
import { startGrant } from './grant-access';
import { fileUnlessAccountTaken, identifyRequester } from './identify-requester';
import { alreadyOpen, requireApprovable, requireMayRequest } from './constraints';
import { decideFiling, decisionDetails, requireUnderGrantLimit } from './approval-rules';
import type { Decision } from '../policy/decide';

export const MAX_REASON_LENGTH = 1000;
export const MAX_TICKET_LENGTH = 200;

export interface RequestInput {
  resourceId: string;
  duration: string;
  reason: string;
  ticket?: string;
  breakGlass?: boolean;
}

export interface ValidRequest {
  resource: Resource;
  durationMs: number;
  reason: string;
  ticket?: string;
  breakGlass: boolean;
}

export type FieldErrors = Partial<Record<'resource' | 'duration' | 'reason' | 'ticket', string>>;

/** Pure checks of what the user typed; the modal shows these on its fields, the command in one message. */
export function validateRequestInput(
  policy: Policy,
  input: RequestInput,
): { ok: true; value: ValidRequest } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const resource = findResource(policy, input.resourceId);
  if (!resource) errors.resource = `Unknown resource "${input.resourceId.slice(0, 40)}". See \`/jit-access resources\`.`;
  let durationMs = 0;
  const breakGlass = input.breakGlass === true;
  try {
    durationMs = parseDuration(input.duration);
    if (resource && breakGlass) {
      if (durationMs > resource.breakGlassMaxDuration) {
        errors.duration = `Break-glass access to ${resource.id} is capped at ${formatDuration(resource.breakGlassMaxDuration)}.`;
      }
    } else if (resource) {
      const problem = durationProblem(resource, durationMs);
      if (problem) errors.duration = problem;
    }
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
    errors.duration = `Duration: ${err.message}.`;
  }
  const reason = input.reason.trim();
  if (!reason) errors.reason = 'A reason is required: say why you need access (an incident, a ticket, a task).';
  else if (reason.length > MAX_REASON_LENGTH) errors.reason = `The reason is too long: at most ${MAX_REASON_LENGTH} characters.`;
  const ticket = input.ticket?.trim() || undefined;
  if (ticket && ticket.length > MAX_TICKET_LENGTH) errors.ticket = `The ticket is too long: at most ${MAX_TICKET_LENGTH} characters.`;
  if (resource && breakGlass && !resource.breakGlass) {
    errors.resource = `${resource.id} does not allow --break-glass. Request it normally, or ask an admin to set breakGlass: true for it.`;
  }
  if (Object.keys(errors).length || !resource) return { ok: false, errors };
  return { ok: true, value: { resource, durationMs, reason, ticket, breakGlass } };
}

/**
 * The checks a filing passes before anything is written, for `requestAccess` and for the form's
 * `precheckRequest` alike: the requester may ask, is under the grant limit, no rule denies it, and
 * someone could approve it. Throws the UserError the requester sees; a deny has thrown in
 * decideFiling, so what comes back is auto_approve, break_glass or approval.
 */
export async function checkFiling(ctx: OperationContext, requesterId: string, filing: ValidRequest): Promise<Decision> {
  const { resource, durationMs, reason, ticket, breakGlass } = filing;
  await requireMayRequest(ctx, resource, requesterId);
  await requireUnderGrantLimit(ctx, requesterId);
  // The resource's rules decide how it is approved (PRODUCT.md section 3.2); a deny throws here.
  const decision = await decideFiling(ctx, resource, {
    requesterId,
    resourceId: resource.id,
    durationMs,
    reason,
    ticket: ticket ?? '',
    breakGlass,
    extension: false,
  });
  if (decision.action === 'approval') await requireApprovable(ctx, resource, requesterId, decision.requiredApprovals);
  return decision;
}

/**
 * Files a request. Nothing is stored and nobody is told unless every check passes.
 * Auto-approved and break-glass requests go straight to granting.
 */
export async function requestAccess(ctx: OperationContext, requesterId: string, input: RequestInput): Promise<AccessRequest> {
  const checked = validateRequestInput(ctx.policy, input);
  if (!checked.ok) throw new UserError(Object.values(checked.errors).join('\n'));
  const { resource, durationMs, reason, ticket, breakGlass } = checked.value;
  const decision = await checkFiling(ctx, requesterId, checked.value);
  const autoApproved = decision.action === 'auto_approve';
  const immediate = autoApproved || decision.action === 'break_glass';
  const required = immediate ? 0 : decision.requiredApprovals;
  // Who gets the access is settled now, before anyone is asked to approve, and never re-derived.
  const identity = await identifyRequester(ctx, resource, requesterId);
  const now = ctx.now();
  const request: AccessRequest = {
    _id: newRequestId(),
    requesterId,
    resourceId: resource.id,
    durationMs,
    reason,
    ...(ticket ? { ticket } : {}),
    state: 'pending',
    openKey: openKeyOf(requesterId, resource.id),
    approvals: [],
    requiredApprovals: required,
    ...(autoApproved ? { autoApproved: true } : {}),
    ...(decision.rule && decision.action !== 'break_glass' ? { approvalRule: decision.rule } : {}),
    ...(breakGlass ? { breakGlass: true } : {}),
    createdAt: now,
    updatedAt: now,
    pendingUntil: new Date(now.getTime() + resource.pendingTimeout),
    // Pending requests remind approvers to decide; break-glass grants remind them to acknowledge.
    ...(!immediate || breakGlass ? { remindAt: new Date(now.getTime() + resource.remindAfter) } : {}),
    approvalChannel: resource.approvalChannel,
    ...identity,
    version: 0,
  };
  // The decision first: the audit timeline in Slack shows the start of the details.
  const { facts: ruleFacts, ...decided } = decisionDetails(decision);
  const details = {
    ...decided,
    durationMs,
    reason,
    ...(ticket ? { ticket } : {}),
    ...(breakGlass ? { breakGlass } : {}),
    target: identity.target,
    ...(identity.account ? { account: identity.account, accountSource: identity.accountSource } : {}),
    ...(identity.sshKeyFingerprint ? { sshKeyFingerprint: identity.sshKeyFingerprint } : {}),
    ...(ruleFacts ? { facts: ruleFacts } : {}),
  };
  try {
    await fileUnlessAccountTaken(ctx, requesterId, identity, () => ctx.store.create(request, requesterId, details));
  } catch (err) {
    if (err instanceof OpenRequestExistsError) {
      throw alreadyOpen(
        (await ctx.store.openRequestsOf(requesterId)).find((r) => r.resourceId === resource.id),
        resource.id,
      );
    }
    throw err;
  }
  const log = requestLogger(ctx, request);
  log.info({ durationMs, breakGlass, decision: decision.action, ...(decision.rule ? { rule: decision.rule } : {}) }, 'request filed');
  ctx.metrics?.requestOutcome(resource.id, 'filed');
  ctx.schedule?.scheduleChanged(request.remindAt && request.remindAt < request.pendingUntil ? request.remindAt : request.pendingUntil);
  if (!immediate) {
    await ctx.notifier.requestChanged(request);
    return request;
  }
  const claimed = await ctx.store.transition(request._id, 'pending', 'granting', {
    actor: breakGlass ? requesterId : 'system',
    action: breakGlass ? 'break_glass' : 'auto_approved',
    ...(decision.rule && autoApproved ? { details: { rule: decision.rule } } : {}),
    set: { leaseUntil: new Date(ctx.now().getTime() + ctx.settings.leaseMs), attempts: 0 },
  });
  if (!claimed) return request;
  ctx.metrics?.requestOutcome(resource.id, breakGlass ? 'break_glass' : 'auto_approved');
  await ctx.notifier.requestChanged(claimed);
  return startGrant(ctx, claimed);
}
