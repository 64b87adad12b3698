import { UserError } from '../domain/errors';
import type { OperationContext } from './ports';
import { alreadyOpen } from './constraints';
import { checkFiling, FieldErrors, RequestInput, validateRequestInput } from './request-access';

/**
 * What `requestAccess` would refuse, found without writing anything, so the request form can show
 * it on its fields while it is still open (the filing itself, after the form closes, checks again:
 * this is for the person's benefit, not a guarantee).
 */
export async function precheckRequest(ctx: OperationContext, requesterId: string, input: RequestInput): Promise<FieldErrors> {
  const checked = validateRequestInput(ctx.policy, input);
  if (!checked.ok) return checked.errors;
  const { resource } = checked.value;
  try {
    // A deny rule shows on the form; facts read here are cached for the filing that follows.
    await checkFiling(ctx, requesterId, checked.value);
    const open = (await ctx.store.openRequestsOf(requesterId)).find((r) => r.resourceId === resource.id);
    if (open) throw alreadyOpen(open, resource.id);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    return Object.keys(err.fields).length ? err.fields : { resource: err.message };
  }
  return {};
}
