import { createHash } from 'node:crypto';

/**
 * The name of a login that exists only for one grant (a MySQL user, a Redis ACL user):
 * `jit_<account>_<8 hex of sha256(requestId)>`. Readable in process lists and logs, unique per
 * request, and deterministic, so a retried grant (or its revoke, when grant() never returned)
 * finds what the first attempt created. Anything but `[a-z0-9_]` in the account becomes `_`, and
 * the account part is cut so the whole fits `maxLength`.
 */
export function temporaryName(account: string, requestId: string, maxLength: number): string {
  const hash = requestHash(requestId);
  const room = Math.max(0, maxLength - 'jit__'.length - hash.length);
  const sanitized = account
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, room);
  return `jit_${sanitized}_${hash}`;
}

/**
 * Whether `name` is one temporaryName() gives for this request (whatever the account part):
 * revokes refuse to delete anything else, so a corrupted record cannot aim them at a real login.
 */
export function isTemporaryNameFor(name: string, requestId: string, maxLength: number): boolean {
  return name.length <= maxLength && /^jit_[a-z0-9_]*_[0-9a-f]{8}$/.test(name) && name.endsWith(`_${requestHash(requestId)}`);
}

function requestHash(requestId: string): string {
  return createHash('sha256').update(requestId).digest('hex').slice(0, 8);
}
