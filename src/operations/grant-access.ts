import { setTimeout as sleep } from 'node:timers/promises';
import type { AccessRequest } from '../domain/request';
import { findResource } from '../policy/policy';
import type { GrantResult, GrantSubject } from '../providers/provider';
import { ProviderError } from '../providers/provider';
import type { ResourceProvider } from '../providers/registry';
import { backoffMs } from '../domain/backoff';
import { expiryWarningAt, OperationContext, requestLogger } from './ports';
import { deliverCredentials } from './credential-messages';
import { describeRevocation, recordStanding, revokeUnlessKept, underAccessLock } from './access-bookkeeping';

/** The provider's view of a request: who (as resolved and stored when it was filed), what, until when. */
export function subjectOf(request: AccessRequest, expiresAt: Date): GrantSubject {
  const { email, account, principal, sshPublicKey } = request;
  return {
    requestId: request._id,
    resourceId: request.resourceId,
    user: {
      slackId: request.requesterId,
      ...(email ? { email } : {}),
      ...(account ? { account } : {}),
      ...(principal ? { principal } : {}),
      ...(sshPublicKey ? { sshPublicKey } : {}),
    },
    reason: request.reason,
    expiresAt,
  };
}

/**
 * The provider a request's calls go to: its resource's, as long as that still grants in the target
 * the request was filed (and approved) for. A resource moved to another target meanwhile must not
 * send this grant's calls there: the error says so, and revocations keep retrying until it is fixed.
 */
export function providerFor(ctx: OperationContext, request: AccessRequest): ResourceProvider {
  const provider = ctx.providers.forResource(request.resourceId);
  if (request.target !== undefined && request.target !== provider.target) {
    throw new ProviderError(
      `resource ${request.resourceId} now grants in target ${provider.target}, but request ${request._id} was filed for target ${request.target}: ` +
        `point the resource back at ${request.target} until this grant has ended, or end it there by hand`,
      false,
    );
  }
  return provider;
}

/** Why a claimed request cannot be granted as it was approved, or undefined when it can. */
function ungrantable(request: AccessRequest, provider: ResourceProvider): string | undefined {
  if (request.target === undefined) {
    // Before this version the account was worked out at grant time, and nobody approved a particular one.
    return `request ${request._id} was filed before jit-access recorded the account when a request is filed, so nobody approved a particular account: request it again`;
  }
  if (provider.account.need === 'required' && !request.account) {
    return `${provider.target} now needs an account, and request ${request._id} was filed without one: request it again`;
  }
  if (provider.needs.includes('sshPublicKey') && !request.sshPublicKey) {
    return `${provider.target} certifies SSH keys, and request ${request._id} was filed without one: register yours with \`/jit-access ssh-key\` and request it again`;
  }
  return undefined;
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
  let provider: ResourceProvider | undefined;
  if (resource) {
    try {
      provider = providerFor(ctx, request);
      const problem = ungrantable(request, provider);
      if (problem !== undefined) return failGrant(ctx, request, problem, 'not attempted: nothing was granted by this version');
    } catch (err) {
      return failGrant(ctx, request, errorText(err), 'not attempted: the resource grants elsewhere now');
    }
  }
  let attempt = request.attempts ?? 0;
  const duration = request.breakGlass && resource ? Math.min(request.durationMs, resource.breakGlassMaxDuration) : request.durationMs;
  while (provider && attempt < ctx.settings.grantAttempts) {
    attempt += 1;
    const grantedAt = ctx.now();
    const expiresAt = new Date(grantedAt.getTime() + duration);
    const subject = subjectOf(request, expiresAt);
    // Only the provider call is an "attempt": a database error after it propagates (the lease
    // lapses and the scheduler finishes the grant), rather than being counted as a failed grant.
    let result: GrantResult;
    try {
      const granting = request;
      ({ request, result } = await underAccessLock(ctx, provider.accessKey(granting.account), async () => {
        const inspected = await recordStanding(ctx, granting, provider!, subject);
        // The account already has it, not through jit-access: nothing to grant (nor, later, to revoke).
        if (inspected.standing) return { request: inspected, result: {} };
        return {
          request: inspected,
          result: await provider!.grant(subject, { deadline: new Date(Date.now() + ctx.settings.providerTimeoutMs) }),
        };
      }));
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
      if (attempt < ctx.settings.grantAttempts) await sleep(backoffMs(attempt, ctx.settings.retryBaseMs, ctx.settings.retryMaxMs, true));
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
        ...(result.details ? { providerDetails: result.details } : {}),
        ...(result.notice ? { grantNotice: result.notice.slice(0, 500) } : {}),
      },
      unset: ['leaseUntil', 'lastError', 'nextAttemptAt'],
      details: { expiresAt: expiresAt.toISOString(), attempt, ...(request.standing ? { standing: true } : {}), ...(result.details ?? {}) },
    });
    if (!active) {
      // Someone else finished this grant (a lease takeover); our idempotent call changed nothing new.
      log.warn('grant finished by another worker');
      return (await ctx.store.get(request._id)) ?? request;
    }
    log.info(
      { expiresAt, attempt, standing: active.standing },
      active.standing ? 'account already had this access; nothing granted' : 'access granted',
    );
    ctx.schedule?.scheduleChanged(active.warnAt ?? expiresAt);
    if (result.secretForRequester) await deliverCredentials(ctx, active, result.secretForRequester);
    await ctx.notifier.notifyRequester(active, 'approved');
    await ctx.notifier.requestChanged(active);
    return active;
  }
  return failGrant(ctx, request, lastError);
}

async function failGrant(ctx: OperationContext, request: AccessRequest, lastError: string, skipCleanup?: string): Promise<AccessRequest> {
  const log = requestLogger(ctx, request);
  // A timed-out call may still have granted on the far side: take it back before saying "failed"
  // (unless the access was standing, or another grant still gives it).
  let cleanup = skipCleanup ?? 'not needed';
  if (skipCleanup === undefined && findResource(ctx.policy, request.resourceId)) {
    try {
      const done = await revokeUnlessKept(ctx, request, providerFor(ctx, request), subjectOf(request, ctx.now()));
      cleanup = done.outcome === 'revoked' ? 'revoked' : String(describeRevocation(done).access);
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
  ctx.metrics?.requestOutcome(failed.resourceId, 'failed');
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
  const leaseUntil = new Date(now.getTime() + ctx.settings.leaseMs);
  const claimed = await ctx.store.claimLapsedLease(request._id, 'granting', now, leaseUntil, { actor: 'system', action: 'grant_resumed' });
  if (!claimed) return null;
  return startGrant(ctx, claimed);
}
