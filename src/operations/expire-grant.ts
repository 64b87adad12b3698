import type { AccessRequest } from '../domain/request';
import { OperationContext } from './ports';
import { completeRevocation } from './revoke-access';

/**
 * Claims a due grant (`active` -> `revoking`, only if still active and due) and revokes it.
 * The claim is the exactly-once point: of N replicas, one wins, the others get null.
 */
export async function expireGrant(ctx: OperationContext, request: AccessRequest): Promise<AccessRequest | null> {
  const now = ctx.now();
  const claimed = await ctx.store.claimDueExpiry(request._id, now, {
    actor: 'system',
    action: 'expiring',
    set: { endReason: 'expiry', leaseUntil: new Date(now.getTime() + ctx.settings.leaseMs), attempts: 0 },
    // A pending extension does not keep access alive: it lapses with the grant.
    unset: ['extension'],
    details: {
      expiresAt: request.expiresAt?.toISOString(),
      lateMs: request.expiresAt ? now.getTime() - request.expiresAt.getTime() : undefined,
      ...(request.extension ? { extensionLapsed: request.extension.id } : {}),
    },
  });
  if (!claimed) return null;
  return completeRevocation(ctx, claimed);
}

/** Takes over a revocation whose worker died or whose retry is due (its lease lapsed). */
export async function retryRevocation(ctx: OperationContext, request: AccessRequest): Promise<AccessRequest | null> {
  const now = ctx.now();
  const claimed = await ctx.store.claimLapsedLease(request._id, 'revoking', now, new Date(now.getTime() + ctx.settings.leaseMs));
  if (!claimed) return null;
  return completeRevocation(ctx, claimed);
}
