import type { AccessRequest } from '../domain/request';
import { OperationContext, requestLogger } from './ports';

/** A pending request nobody decided on before its `pendingTimeout`. Safe to race: one winner. */
export async function timeOutRequest(ctx: OperationContext, request: AccessRequest): Promise<AccessRequest | null> {
  const timedOut = await ctx.store.transition(request._id, 'pending', 'timed_out', {
    actor: 'system',
    action: 'timed_out',
    only: { due: { field: 'pendingUntil', at: ctx.now() } },
  });
  if (!timedOut) return null;
  requestLogger(ctx, timedOut).info('request timed out');
  await ctx.notifier.notifyRequester(timedOut, 'timed_out');
  await ctx.notifier.requestChanged(timedOut);
  return timedOut;
}
