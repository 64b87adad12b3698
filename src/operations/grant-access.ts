import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessRequest } from '../domain/request';
import { accountFor, findResource } from '../policy/policy';
import type { GrantResult, GrantSubject } from '../providers/provider';
import { ProviderError } from '../providers/provider';
import { backoffMs, expiryWarningAt, OperationContext, requestLogger } from './context';

/** The provider's view of a request: who, what, until when. */
export async function subjectOf(ctx: OperationContext, request: AccessRequest, expiresAt: Date): Promise<GrantSubject> {
  const email =
    request.email ??
    (await ctx.directory.emailOf(request.requesterId).catch((err) => {
      requestLogger(ctx, request).warn({ err: errorText(err) }, 'could not read the requester’s e-mail from Slack; going on without it');
      return undefined;
    }));
  const account = request.account ?? accountFor(ctx.policy, request.requesterId, email);
  return {
    requestId: request._id,
    resourceId: request.resourceId,
    user: { slackId: request.requesterId, ...(email ? { email } : {}), ...(account ? { account } : {}) },
    reason: request.reason,
    expiresAt,
  };
}

export function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 500);
}

/**
 * Grants a request that this worker has claimed (`granting`, lease held): calls the
 * provider with retries and backoff, then `active` with its expiry, or `failed`
 * after a compensating revoke so nothing is left half-granted.
 */
export async function startGrant(ctx: OperationContext, claimed: AccessRequest): Promise<AccessRequest> {
  const log = requestLogger(ctx, claimed);
  const resource = findResource(ctx.policy, claimed.resourceId);
  let request = claimed;
  let lastError = resource ? '' : `resource ${claimed.resourceId} is no longer in the policy`;
  let attempt = request.attempts ?? 0;
  const duration = request.breakGlass && resource ? Math.min(request.durationMs, resource.breakGlassMaxDuration) : request.durationMs;
  while (resource && attempt < ctx.settings.grantAttempts) {
    attempt += 1;
    const grantedAt = ctx.now();
    const expiresAt = new Date(grantedAt.getTime() + duration);
    const subject = await subjectOf(ctx, request, expiresAt);
    // Only the provider call is an "attempt": a database error after it propagates (the lease
    // lapses and the scheduler finishes the grant), rather than being counted as a failed grant.
    let result: GrantResult;
    try {
      const provider = ctx.providers.forResource(request.resourceId);
      result = await provider.grant(subject, { deadline: new Date(Date.now() + ctx.settings.providerTimeoutMs) });
    } catch (err) {
      lastError = errorText(err);
      const retryable = !(err instanceof ProviderError) || err.retryable;
      log.warn({ attempt, err: lastError, retryable }, 'grant attempt failed');
      const renewed = await ctx.store.update(request._id, 'granting', {
        actor: 'system',
        action: 'grant_attempt_failed',
        set: { attempts: attempt, lastError, leaseUntil: new Date(ctx.now().getTime() + ctx.settings.leaseMs) },
        details: { attempt, error: lastError },
      });
      if (!renewed) return (await ctx.store.get(request._id)) ?? request;
      request = renewed;
      if (!retryable) break;
      if (attempt < ctx.settings.grantAttempts) await sleep(backoffMs(ctx.settings, attempt));
      continue;
    }
    const active = await ctx.store.transition(request._id, 'granting', 'active', {
      actor: 'system',
      action: 'granted',
      set: {
        grantedAt,
        expiresAt,
        ...expiryWarningAt(ctx.settings, grantedAt, expiresAt),
        attempts: 0,
        ...(subject.user.account ? { account: subject.user.account } : {}),
        ...(subject.user.email ? { email: subject.user.email } : {}),
        ...(result.details ? { providerDetails: result.details } : {}),
      },
      unset: ['leaseUntil', 'lastError', 'nextAttemptAt'],
      details: { expiresAt: expiresAt.toISOString(), attempt, ...(result.details ?? {}) },
    });
    if (!active) {
      // Someone else finished this grant (a lease takeover); our idempotent call changed nothing new.
      log.warn('grant finished by another worker');
      return (await ctx.store.get(request._id)) ?? request;
    }
    log.info({ expiresAt, attempt }, 'access granted');
    ctx.schedule?.scheduleChanged(active.warnAt ?? expiresAt);
    if (result.secretForRequester) {
      await ctx.notifier
        .sendSecret(active.requesterId, result.secretForRequester.title, result.secretForRequester.fields)
        .catch((err) => log.error({ err: errorText(err) }, 'could not deliver credentials by DM'));
    }
    await ctx.notifier.notifyRequester(active, 'approved');
    await ctx.notifier.requestChanged(active);
    return active;
  }
  return failGrant(ctx, request, lastError);
}

async function failGrant(ctx: OperationContext, request: AccessRequest, lastError: string): Promise<AccessRequest> {
  const log = requestLogger(ctx, request);
  // A timed-out call may still have granted on the far side: take it back before saying "failed".
  let cleanup = 'not needed';
  if (findResource(ctx.policy, request.resourceId)) {
    try {
      const provider = ctx.providers.forResource(request.resourceId);
      await provider.revoke(await subjectOf(ctx, request, ctx.now()), {
        deadline: new Date(Date.now() + ctx.settings.providerTimeoutMs),
        details: request.providerDetails,
      });
      cleanup = 'revoked';
    } catch (err) {
      cleanup = `compensating revoke failed: ${errorText(err)}`;
      log.error({ err: errorText(err) }, 'compensating revoke after a failed grant also failed: check the target system');
    }
  }
  const failed = await ctx.store.transition(request._id, 'granting', 'failed', {
    actor: 'system',
    action: 'grant_failed',
    set: { lastError },
    details: { error: lastError, cleanup },
  });
  if (!failed) return (await ctx.store.get(request._id)) ?? request;
  log.error({ err: lastError, cleanup }, 'grant failed');
  await ctx.notifier.notifyRequester(failed, 'failed', { error: lastError });
  await ctx.notifier.notifyChannel(failed, 'grant_failed', { error: lastError, cleanup });
  await ctx.notifier.requestChanged(failed);
  return failed;
}

/**
 * Takes over a grant whose worker died between the provider call and the state
 * update (its lease lapsed). Grants are idempotent, so finishing it is safe; if it
 * cannot be finished, the compensating revoke leaves no access behind.
 */
export async function resumeGrant(ctx: OperationContext, request: AccessRequest): Promise<AccessRequest | null> {
  const now = ctx.now();
  const claimed = await ctx.store.update(request._id, 'granting', {
    actor: 'system',
    action: 'grant_resumed',
    set: { leaseUntil: new Date(now.getTime() + ctx.settings.leaseMs) },
    where: { $or: [{ leaseUntil: { $exists: false } }, { leaseUntil: { $lte: now } }] },
  });
  if (!claimed) return null;
  return startGrant(ctx, claimed);
}
