import { UserError } from '../domain/errors';
import type { AccessRequest } from '../domain/request';
import { OperationContext, requestLogger, StoreUnavailable } from './ports';
import { requireApprover, requireRequest, requireResource, requireState } from './constraints';
import { startGrant } from './grant-access';

export type ApproveOutcome = { request: AccessRequest; granted: boolean };

/**
 * Records one approval; the approval that reaches `requiredApprovals` claims the
 * request for granting. The approver is checked against policy on every click.
 */
export async function approveRequest(ctx: OperationContext, requestId: unknown, approverId: string): Promise<ApproveOutcome> {
  const request = await requireRequest(ctx, requestId);
  const resource = requireResource(ctx, request.resourceId);
  if (approverId === request.requesterId) throw new UserError('You cannot approve your own request: another approver has to.');
  await requireApprover(ctx, resource, request, approverId, 'approve this request');
  requireState(request, 'pending', 'approved');
  const log = requestLogger(ctx, request);
  let approved = await ctx.store.recordApproval(request._id, approverId);
  if (!approved) {
    const now = await ctx.store.get(request._id);
    if (now && now.state !== 'pending') throw new UserError(`Request ${request._id} is already ${now.state.replace('_', ' ')}.`);
    // Enough approvals but still pending: an earlier click was cut off before the grant started; finish it.
    if (now?.approvals.includes(approverId) && now.approvals.length >= now.requiredApprovals) approved = now;
    else throw new UserError(`You have already approved request ${request._id}; it needs another approver.`);
  }
  try {
    log.info({ approver: approverId, approvals: approved.approvals.length, required: approved.requiredApprovals }, 'approval recorded');
    if (approved.approvals.length < approved.requiredApprovals) {
      await ctx.notifier.requestChanged(approved);
      return { request: approved, granted: false };
    }
    const claimed = await ctx.store.transition(request._id, 'pending', 'granting', {
      actor: approverId,
      action: 'approved',
      set: { decidedBy: approverId, leaseUntil: new Date(ctx.now().getTime() + ctx.settings.leaseMs), attempts: 0 },
      details: { approvals: approved.approvals },
    });
    // Another approver's click (or a Slack retry) already moved it on: nothing more to do here.
    if (!claimed) return { request: (await ctx.store.get(request._id)) ?? approved, granted: false };
    await ctx.notifier.requestChanged(claimed);
    return { request: await startGrant(ctx, claimed), granted: true };
  } catch (err) {
    // The approval is stored; what follows (the grant) is finished by the scheduler once
    // the database answers again. Say so, rather than "nothing was changed".
    if (!(err instanceof StoreUnavailable)) throw err;
    log.error({ err: (err as Error).message }, 'database failed after the approval was recorded');
    throw new UserError(
      'Your approval is recorded, but the database stopped answering part-way. A grant already under way finishes by itself; ' +
        'if the request still shows as pending once the database is back, click Approve again.',
    );
  }
}
