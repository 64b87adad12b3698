import { randomBytes } from 'node:crypto';
import { UserError } from '../domain/errors';
import { DurationError, formatDuration, parseDuration } from '../domain/duration';
import type { AccessRequest } from '../domain/request';
import type { GrantResult } from '../providers/provider';
import { expiryWarningAt, OperationContext, requestLogger } from './ports';
import { requireApprovable, requireApprover, requireRequest, requireResource } from './constraints';
import { errorText, providerFor, subjectOf } from './grant-access';
import { accessKeyOf, underAccessLock } from './access-bookkeeping';
import { deliverCredentials } from './credential-messages';
import { MAX_REASON_LENGTH } from './request-access';
import { decideFiling, decisionDetails } from './approval-rules';
import type { Decision } from '../policy/decide';

/** An extension that passed every check `requestExtension` makes before writing. */
export interface CheckedExtension {
  request: AccessRequest;
  durationMs: number;
  reason: string;
  requiredApprovals: number;
  /** What the resource's rules decided for it (section 3.2). */
  decision: Decision;
}

/**
 * Every check of an extension that needs no write, so the extend form can show problems on its
 * fields before it closes. Throws a UserError naming the field (`duration` or `reason`) it is about.
 */
export async function checkExtension(
  ctx: OperationContext,
  requestId: unknown,
  userId: string,
  durationText: string,
  reasonText: string,
): Promise<CheckedExtension> {
  const request = await requireRequest(ctx, requestId);
  const resource = requireResource(ctx, request.resourceId);
  if (request.requesterId !== userId) throw new UserError(`Only the requester can extend ${request._id}.`);
  if (request.state !== 'active')
    throw new UserError(
      `Request ${request._id} is ${request.state.replace('_', ' ')}, not an active grant: only active grants can be extended.`,
    );
  if (request.extension) throw new UserError(`Request ${request._id} already has an extension waiting for approval.`);
  if (ctx.providers.forResource(request.resourceId).extension === 'refuse') {
    throw new UserError(
      `${resource.id} grants cannot be extended (its provider cannot move an expiry). Request it again when this grant ends.`,
    );
  }
  // Both fields are judged, so a form shows every problem at once.
  const problems: Record<string, string> = {};
  let durationMs = 0;
  try {
    durationMs = parseDuration(durationText);
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
    problems.duration = `Duration: ${err.message}.`;
  }
  const reason = reasonText.trim();
  if (!reason) problems.reason = 'Say why you need more time.';
  else if (reason.length > MAX_REASON_LENGTH) problems.reason = `The reason is too long: at most ${MAX_REASON_LENGTH} characters.`;
  if (Object.keys(problems).length) throw new UserError(Object.values(problems).join('\n'), problems);
  const newExpiry = request.expiresAt!.getTime() + durationMs;
  const total = newExpiry - request.grantedAt!.getTime();
  if (total > resource.maxTotalDuration) {
    const left = resource.maxTotalDuration - (request.expiresAt!.getTime() - request.grantedAt!.getTime());
    throw new UserError(
      `${resource.id} grants may last at most ${formatDuration(resource.maxTotalDuration)} in total, extensions included; ` +
        (left > 0
          ? `you can extend by at most ${formatDuration(left)}.`
          : 'this grant cannot be extended further. Request it again when it ends.'),
      'duration',
    );
  }
  // Rules see the extension's own duration and `request.extension == true`; a deny throws here.
  const decision = await decideFiling(ctx, resource, {
    requesterId: userId,
    resourceId: resource.id,
    durationMs,
    reason,
    ticket: request.ticket ?? '',
    breakGlass: false,
    extension: true,
  });
  const required = decision.action === 'approval' ? decision.requiredApprovals : 0;
  await requireApprovable(ctx, resource, userId, required, 'extension');
  return { request, durationMs, reason, requiredApprovals: required, decision };
}

/**
 * `/jit-access extend <id> <duration> <reason>`: asks for more time on an active grant,
 * approved like a request (or per the resource's `extension` settings), never past
 * `maxTotalDuration`. A pending extension dies with the grant: expiry ignores it.
 */
export async function requestExtension(
  ctx: OperationContext,
  requestId: unknown,
  userId: string,
  durationText: string,
  reasonText: string,
): Promise<AccessRequest> {
  const {
    request,
    durationMs,
    reason,
    requiredApprovals: required,
    decision,
  } = await checkExtension(ctx, requestId, userId, durationText, reasonText);
  const extension = {
    id: randomBytes(4).toString('hex'),
    durationMs,
    reason,
    requestedAt: ctx.now(),
    approvals: [],
    requiredApprovals: required,
    ...(decision.rule ? { rule: decision.rule } : {}),
  };
  const filed = await ctx.store.update(request._id, 'active', {
    actor: userId,
    action: 'extension_requested',
    set: { extension },
    only: { absent: ['extension'] },
    details: { ...decisionDetails(decision), extensionId: extension.id, durationMs, reason },
  });
  if (!filed) throw new UserError(`Request ${request._id} changed in the meantime; see \`/jit-access list\`.`);
  requestLogger(ctx, filed).info({ durationMs }, 'extension requested');
  // Applied at once: the requester's answer to this call says so; no DM on top of it.
  if (required === 0) return applyExtension(ctx, filed, 'system', false);
  await ctx.notifier.notifyChannel(filed, 'extension_requested', { n: extension.id, durationMs: String(durationMs), reason });
  await ctx.notifier.requestChanged(filed);
  return filed;
}

export async function approveExtension(ctx: OperationContext, requestId: unknown, approverId: string): Promise<AccessRequest> {
  const request = await requireRequest(ctx, requestId);
  const resource = requireResource(ctx, request.resourceId);
  if (approverId === request.requesterId) throw new UserError('You cannot approve your own extension: another approver has to.');
  await requireApprover(ctx, resource, request, approverId, 'approve this extension');
  const extension = request.extension;
  if (request.state !== 'active' || !extension) throw new UserError(`Request ${request._id} has no extension waiting for approval.`);
  const approved = await ctx.store.update(request._id, 'active', {
    actor: approverId,
    action: 'extension_approval_recorded',
    addToSet: { 'extension.approvals': approverId },
    // The same extension, and an approver counts once: both in the filter of one atomic update.
    only: { extensionId: extension.id, extensionNotApprovedBy: approverId },
    details: { extensionId: extension.id },
  });
  if (!approved) {
    const now = await ctx.store.get(request._id);
    if (now?.extension?.approvals.includes(approverId)) throw new UserError('You have already approved this extension.');
    throw new UserError(`The extension of ${request._id} was decided or lapsed in the meantime.`);
  }
  if (approved.extension!.approvals.length < approved.extension!.requiredApprovals) {
    await ctx.notifier.requestChanged(approved);
    return approved;
  }
  return applyExtension(ctx, approved, approverId);
}

export async function denyExtension(ctx: OperationContext, requestId: unknown, approverId: string): Promise<AccessRequest> {
  const request = await requireRequest(ctx, requestId);
  const resource = requireResource(ctx, request.resourceId);
  await requireApprover(ctx, resource, request, approverId, 'deny this extension');
  if (request.state !== 'active' || !request.extension)
    throw new UserError(`Request ${request._id} has no extension waiting for approval.`);
  const denied = await ctx.store.update(request._id, 'active', {
    actor: approverId,
    action: 'extension_denied',
    unset: ['extension'],
    only: { extensionId: request.extension.id },
    details: { extensionId: request.extension.id },
  });
  if (!denied) throw new UserError(`The extension of ${request._id} was decided or lapsed in the meantime.`);
  await ctx.notifier.notifyRequester(denied, 'extension_denied', { n: request.extension.id, by: approverId });
  await ctx.notifier.requestChanged(denied);
  return denied;
}

/** Tells the provider first, then moves the expiry: access never outlives what the target was told. */
async function applyExtension(ctx: OperationContext, request: AccessRequest, actor: string, tellRequester = true): Promise<AccessRequest> {
  const extension = request.extension!;
  const log = requestLogger(ctx, request);
  const newExpiry = new Date(request.expiresAt!.getTime() + extension.durationMs);
  // One worker applies it, even when two approvals land at the same moment.
  const claimed = await ctx.store.touch(request._id, 'active', { 'extension.applying': true } as never, [], {
    extensionId: extension.id,
    absent: ['extension.applying'],
    unexpiredAt: ctx.now(),
  });
  if (!claimed) return (await ctx.store.get(request._id)) ?? request;
  let newCredentials: GrantResult['secretForRequester'];
  try {
    newCredentials = await extendInTarget(ctx, request, newExpiry, extension.id);
  } catch (err) {
    log.error({ err: errorText(err) }, 'provider refused the extension');
    await ctx.store.update(request._id, 'active', {
      actor: 'system',
      action: 'extension_failed',
      unset: ['extension'],
      only: { extensionId: extension.id },
      details: { extensionId: extension.id, error: errorText(err) },
    });
    throw new UserError(
      `The extension was approved, but ${request.resourceId} refused it: ${errorText(err)}. The grant still ends at its original time.`,
    );
  }
  const warning = expiryWarningAt(ctx.settings, ctx.now(), newExpiry);
  const extended = await ctx.store.update(request._id, 'active', {
    actor,
    action: 'extended',
    set: {
      expiresAt: newExpiry,
      extendedMs: (request.extendedMs ?? 0) + extension.durationMs,
      ...warning,
    },
    // A warning already sent, or one for access now too short to need it, is not due again.
    unset: warning.warnAt ? ['extension'] : ['extension', 'warnAt'],
    only: { extensionId: extension.id, ...(request.expiresAt ? { expiresAt: request.expiresAt } : {}) },
    details: { extensionId: extension.id, expiresAt: newExpiry.toISOString(), durationMs: extension.durationMs },
  });
  if (!extended) {
    // The grant expired (claimed for revocation) before we could move its expiry: it stays ended.
    log.warn('grant ended before its extension could be applied');
    throw new UserError(`Request ${request._id} ended before the extension took effect; request access again.`);
  }
  log.info({ expiresAt: newExpiry }, 'grant extended');
  ctx.schedule?.scheduleChanged(extended.warnAt ?? newExpiry);
  // Only now that the new expiry is recorded (and the revocation will cover it) may they go out.
  if (newCredentials) await deliverCredentials(ctx, extended, newCredentials, 'new credentials');
  if (tellRequester) await ctx.notifier.notifyRequester(extended, 'extended', { n: extension.id });
  await ctx.notifier.requestChanged(extended);
  return extended;
}

/**
 * Tells the target about the new expiry, as the provider declares: `native` extends, `regrant`
 * grants again with the new expiry and returns the new credentials, which the caller sends only
 * once the new expiry is recorded: a certificate valid to an expiry the store never took would
 * outlive the revocation of a grant that ended meanwhile. A grant over standing access gave
 * nothing, so there is nothing to extend.
 */
async function extendInTarget(
  ctx: OperationContext,
  request: AccessRequest,
  newExpiry: Date,
  extensionId: string,
): Promise<GrantResult['secretForRequester']> {
  if (request.standing) return undefined;
  const provider = providerFor(ctx, request);
  const subject = subjectOf(request, newExpiry);
  const deadline = new Date(Date.now() + ctx.settings.providerTimeoutMs);
  switch (provider.extension) {
    case 'native':
      await provider.extend(subject, { deadline, details: request.providerDetails, extensionId });
      return undefined;
    case 'refuse':
      throw new UserError(`${request.resourceId} grants cannot be extended`);
    case 'regrant': {
      // Under the access lock, like every grant, so a concurrent revocation of the same access cannot interleave.
      const result = await underAccessLock(ctx, accessKeyOf(request, provider), () => provider.grant(subject, { deadline }));
      if (result.details) await ctx.store.touch(request._id, 'active', { providerDetails: result.details });
      return result.secretForRequester;
    }
  }
}
