import type { AccessRequest } from '../domain/request';
import { OperationContext } from './ports';

/** The "expiring soon" DM, once per grant: whoever unsets `warnAt` first sends it. */
export async function warnExpiring(ctx: OperationContext, request: AccessRequest): Promise<boolean> {
  const now = ctx.now();
  const claimed = await ctx.store.update(request._id, 'active', {
    actor: 'system',
    action: 'expiry_warning_sent',
    unset: ['warnAt'],
    only: { due: { field: 'warnAt', at: now } },
    details: { expiresAt: request.expiresAt?.toISOString() },
  });
  if (!claimed) return false;
  await ctx.notifier.notifyRequester(claimed, 'expiring');
  return true;
}
