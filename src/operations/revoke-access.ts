import { UserError } from '../domain/errors';
import type { AccessRequest } from '../domain/request';
import { mayRevoke } from '../policy/policy';
import { backoffMs } from '../domain/backoff';
import { OperationContext, requestLogger } from './ports';
import { requireRequest } from './constraints';
import { errorText, providerFor, subjectOf } from './grant-access';
import { describeRevocation, RevocationOutcome, revokeUnlessKept } from './access-bookkeeping';

/** `/jit-access revoke <id>` and the Revoke button: the requester ends their grant, or an admin ends anyone's. */
export async function revokeRequest(ctx: OperationContext, requestId: unknown, userId: string): Promise<AccessRequest> {
  const request = await requireRequest(ctx, requestId);
  if (!mayRevoke(ctx.policy, request, userId)) {
    throw new UserError(`Only the requester or a policy admin can revoke request ${request._id}.`);
  }
  if (request.state === 'revoking') throw new UserError(`Request ${request._id} is already being revoked.`);
  if (request.state !== 'active') {
    throw new UserError(
      `Request ${request._id} is ${request.state.replace('_', ' ')}, not an active grant.` +
        (request.state === 'pending' ? ' Use `cancel` to withdraw it.' : ''),
    );
  }
  const claimed = await ctx.store.transition(request._id, 'active', 'revoking', {
    actor: userId,
    action: 'revoke_requested',
    set: { endReason: 'revoke', endedBy: userId, leaseUntil: new Date(ctx.now().getTime() + ctx.settings.leaseMs), attempts: 0 },
    unset: ['extension'],
  });
  if (!claimed) throw new UserError(`Request ${request._id} changed in the meantime (it may have just expired).`);
  return completeRevocation(ctx, claimed);
}

/**
 * Calls the provider for a request this worker has claimed (`revoking`, lease held).
 * Success: `expired` or `revoked`, people told. Failure: the grant stays `revoking`,
 * the next attempt is scheduled with backoff, and the channel is alerted; never dropped.
 */
export async function completeRevocation(ctx: OperationContext, claimed: AccessRequest): Promise<AccessRequest> {
  const log = requestLogger(ctx, claimed);
  let done: RevocationOutcome;
  try {
    // The account stored on the request (at filing, or at grant time for older requests), never re-derived.
    done = await revokeUnlessKept(ctx, claimed, providerFor(ctx, claimed), subjectOf(claimed, claimed.expiresAt ?? ctx.now()));
  } catch (err) {
    const attempts = (claimed.attempts ?? 0) + 1;
    const lastError = errorText(err);
    const retryAt = new Date(ctx.now().getTime() + backoffMs(attempts, ctx.settings.retryBaseMs, ctx.settings.retryMaxMs, true));
    log.error({ attempt: attempts, err: lastError, retryAt }, 'revocation failed; will retry');
    ctx.metrics?.revocation(claimed.resourceId, 'failed');
    const pending = await ctx.store.update(claimed._id, 'revoking', {
      actor: 'system',
      action: 'revocation_failed',
      // The lease doubles as the retry time: the scheduler picks the grant up when it lapses.
      set: { attempts, lastError, leaseUntil: retryAt, nextAttemptAt: retryAt },
      details: { attempt: attempts, error: lastError, retryAt: retryAt.toISOString() },
    });
    ctx.schedule?.scheduleChanged(retryAt);
    if (pending && attempts % ctx.settings.alertAfterAttempts === 0) {
      await ctx.notifier.notifyChannel(pending, 'revoke_failing', { error: lastError, attempts: String(attempts) });
    }
    return pending ?? claimed;
  }
  const to = claimed.endReason === 'revoke' ? 'revoked' : 'expired';
  const ended = await ctx.store.transition(claimed._id, 'revoking', to, {
    actor: 'system',
    action: to,
    set: { endedAt: ctx.now() },
    unset: ['lastError'],
    details: {
      attempts: (claimed.attempts ?? 0) + 1,
      ...(claimed.endedBy ? { endedBy: claimed.endedBy } : {}),
      ...describeRevocation(done),
    },
  });
  if (!ended) return (await ctx.store.get(claimed._id)) ?? claimed;
  log.info({ state: to, ...describeRevocation(done) }, 'access ended');
  // Lateness is confirmed time minus expiry, for grants that ended at their expiry (not revoked early).
  const latenessMs = to === 'expired' && claimed.expiresAt ? ended.endedAt!.getTime() - claimed.expiresAt.getTime() : undefined;
  ctx.metrics?.revocation(claimed.resourceId, 'succeeded', latenessMs);
  // Independent outbox writes: in parallel, so the worker moves on to the next grant sooner.
  await Promise.all([
    ctx.notifier.notifyRequester(ended, 'ended'),
    ctx.notifier.notifyChannel(ended, 'ended'),
    ctx.notifier.requestChanged(ended),
    // The DMs that carried this grant's credentials go too (PRODUCT.md §5).
    ...(ended.credentialMessages?.length ? [ctx.notifier.deleteCredentials(ended)] : []),
  ]);
  return ended;
}
