import type { WebClient } from '@slack/web-api';
import type { AccessRequest } from '../domain/request';
import type { AuditAction } from '../domain/audit';
import type { OutboxItem } from '../store/outbox';
import type { RequestRepository } from '../operations/ports';

/*
 * Deleting a credential DM when its grant ends (PRODUCT.md §5): one outbox item per message
 * (`delete:<requestId>:<ts>`), delivered with `chat.delete`, retried by the outbox like any
 * notification, and recorded in the audit log: `credentials_deleted`, or
 * `credentials_delete_failed` when Slack refuses it for good.
 */

function deletionKey(requestId: string, ts: string): string {
  return `delete:${requestId}:${ts}`;
}

/** The outbox items that delete a request's credential DMs. */
export function deletionItems(request: AccessRequest): Array<{ key: string; item: Pick<OutboxItem, 'kind' | 'requestId' | 'details'> }> {
  return (request.credentialMessages ?? []).map((m) => ({
    key: deletionKey(request._id, m.ts),
    item: { kind: 'delete', requestId: request._id, details: { channel: m.channel, ts: m.ts } },
  }));
}

/** `chat.delete` of the item's message; a message already gone (`message_not_found`) counts as deleted. */
export async function deleteCredentialMessage(
  client: WebClient,
  store: RequestRepository,
  request: AccessRequest,
  item: OutboxItem,
): Promise<void> {
  const channel = item.details?.channel;
  const ts = item.details?.ts;
  if (!channel || !ts) throw new TypeError('a credential deletion without channel and ts');
  let alreadyGone = false;
  try {
    await client.chat.delete({ channel, ts });
  } catch (err) {
    if ((err as { data?: { error?: string } }).data?.error !== 'message_not_found') throw err;
    alreadyGone = true;
  }
  await auditDeletion(store, request, 'credentials_deleted', {
    channel,
    ts,
    ...(alreadyGone ? { note: 'the message was already gone' } : {}),
  });
}

/** Slack refused the deletion for good: said in the audit log, so nobody believes the DM is gone. */
export function auditDeletionFailed(store: RequestRepository, request: AccessRequest, item: OutboxItem, error: string): Promise<void> {
  return auditDeletion(store, request, 'credentials_delete_failed', { channel: item.details?.channel, ts: item.details?.ts, error });
}

async function auditDeletion(
  store: RequestRepository,
  request: AccessRequest,
  action: AuditAction,
  details: Record<string, unknown>,
): Promise<void> {
  // Audited in the request's current state; a concurrent change of that state just means reading it again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = attempt === 0 ? request : await store.get(request._id);
    if (!current) return;
    if (await store.update(current._id, current.state, { actor: 'system', action, details })) return;
  }
}
