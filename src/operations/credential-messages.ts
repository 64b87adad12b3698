import type { AccessRequest, MessageRef } from '../domain/request';
import { FINAL_STATES } from '../domain/lifecycle';
import type { GrantResult } from '../providers/provider';
import { OperationContext, requestLogger } from './ports';

/*
 * Credentials sent by DM are deleted from the DM when the grant ends (PRODUCT.md §5). The secret
 * itself is never stored; where its message is (channel and ts) is recorded on the request, and
 * the end of the grant queues a `chat.delete` of each, through the outbox (retried, audited).
 */

type Secret = NonNullable<GrantResult['secretForRequester']>;

/**
 * DMs the credentials and records where the message is. Never throws: the grant stands whether or
 * not the DM could be sent (the failure is logged). A grant that ended while the DM was going out
 * has its message deleted at once.
 */
export async function deliverCredentials(
  ctx: OperationContext,
  request: AccessRequest,
  secret: Secret,
  what = 'credentials',
): Promise<void> {
  const log = requestLogger(ctx, request);
  let ref: MessageRef | undefined;
  try {
    ref = await ctx.notifier.sendSecret(request.requesterId, secret.title, secret.fields);
  } catch (err) {
    log.error({ err: (err as Error).message?.slice(0, 300) }, `could not deliver the ${what} by DM`);
    return;
  }
  if (!ref) return;
  try {
    const recorded = await recordCredentialMessage(ctx, request._id, ref);
    if (recorded && FINAL_STATES.includes(recorded.state)) await ctx.notifier.deleteCredentials(recorded);
    if (!recorded) log.error({ dm: ref }, `could not record the ${what} DM; it will not be deleted when the grant ends`);
  } catch (err) {
    log.error(
      { err: (err as Error).message?.slice(0, 300), dm: ref },
      `could not record the ${what} DM; it will not be deleted when the grant ends`,
    );
  }
}

/** Appends the ref, whatever state the request is in by now (read, then a write conditional on that state). */
async function recordCredentialMessage(ctx: OperationContext, requestId: string, ref: MessageRef): Promise<AccessRequest | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await ctx.store.get(requestId);
    if (!current) return null;
    const known = current.credentialMessages ?? [];
    if (known.some((m) => m.channel === ref.channel && m.ts === ref.ts)) return current;
    const updated = await ctx.store.touch(requestId, current.state, { credentialMessages: [...known, ref] });
    if (updated) return updated;
  }
  return null;
}
