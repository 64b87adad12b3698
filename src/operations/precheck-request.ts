import { UserError } from '../domain/errors';
import type { OperationContext } from './ports';
import { alreadyOpen, requireApprovable, requireMayRequest } from './constraints';
import { FieldErrors, RequestInput, validateRequestInput } from './request-access';
import { decideFiling, requireUnderGrantLimit } from './approval-rules';

/**
 * What `requestAccess` would refuse, found without writing anything, so the request form can show
 * it on its fields while it is still open (the filing itself, after the form closes, checks again:
 * this is for the person's benefit, not a guarantee).
 */
export async function precheckRequest(ctx: OperationContext, requesterId: string, input: RequestInput): Promise<FieldErrors> {
  const checked = validateRequestInput(ctx.policy, input);
  if (!checked.ok) return checked.errors;
  const { resource, breakGlass, durationMs, reason, ticket } = checked.value;
  try {
    await requireMayRequest(ctx, resource, requesterId);
    await requireUnderGrantLimit(ctx, requesterId);
    // A deny rule shows on the form; facts read here are cached for the filing that follows.
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
    const open = (await ctx.store.openRequestsOf(requesterId)).find((r) => r.resourceId === resource.id);
    if (open) throw alreadyOpen(open, resource.id);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    return Object.keys(err.fields).length ? err.fields : { resource: err.message };
  }
  return {};
}
