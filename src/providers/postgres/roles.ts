import { createHash } from 'node:crypto';
import { ProviderError } from '../provider';
import { type Session, sqlState } from './connection';

/** Longest pg_terminate_backend() wait; a backend normally exits within milliseconds. */
const MAX_TERMINATE_WAIT_MS = 5_000;
export const MAX_IDENTIFIER_BYTES = 63;

/**
 * `jit_<account>_<8 hex of sha256(requestId)>`: readable in pg_stat_activity, unique per request, and
 * deterministic so a retried grant finds the role its first attempt created.
 */
export function ephemeralRoleName(account: string, requestId: string): string {
  const hash = createHash('sha256').update(requestId).digest('hex').slice(0, 8);
  const room = MAX_IDENTIFIER_BYTES - 'jit__'.length - hash.length;
  const sanitized = account
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, room);
  return `jit_${sanitized}_${hash}`;
}

export interface AccountStanding {
  self: boolean;
  superuser: boolean;
  canLogin: boolean;
  admin: boolean;
}

/** What the account is, as far as granting to it is concerned (null: no such role). */
export async function accountStanding(session: Session, account: string, role: string): Promise<AccountStanding | null> {
  const { rows } = await session.query<AccountStanding>(
    `SELECT u.rolname = current_user AS self,
            u.rolsuper AS superuser,
            u.rolcanlogin AS "canLogin",
            EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
                     WHERE m.member = u.oid AND r.rolname = $2 AND m.admin_option) AS admin
       FROM pg_roles u WHERE u.rolname = $1`,
    [account, role],
  );
  return rows[0] ?? null;
}

/**
 * Why `account` must never be granted `role` (or, with `forGrant` false, have it revoked): the bot's own
 * role (revoking would take away its ADMIN OPTION and with it every later grant and revoke), a superuser
 * (nothing to grant, and its sessions cannot be ended), a standing administrator of `role` (revoke would
 * remove that standing membership), and, for grants only, a role that cannot log in: a group, whose
 * members would all inherit the grant.
 */
export function refusalFor(standing: AccountStanding | null, role: string, forGrant: boolean): string | undefined {
  if (!standing) return undefined;
  if (standing.self) return 'is the role jit-access connects as';
  if (standing.superuser) return 'is a superuser';
  if (standing.admin) return `administers ${role} (holds it WITH ADMIN OPTION)`;
  if (forGrant && !standing.canLogin) return 'cannot log in (NOLOGIN: a group role, whose members would all get the access)';
  return undefined;
}

/** Ends every session of `roleName` (waiting for them to go), so privileges held by SET ROLE end too. */
export async function terminateSessions(session: Session, roleName: string, label: string, timeoutMs: number): Promise<void> {
  const waitMs = Math.max(1, Math.min(MAX_TERMINATE_WAIT_MS, session.remainingMs() - 250, timeoutMs - 250));
  let survivors: number;
  try {
    const { rows } = await session.query<{ survivors: number }>(
      `SELECT count(*) FILTER (WHERE NOT pg_terminate_backend(pid, $2::bigint))::int AS survivors
         FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()`,
      [roleName, waitMs],
    );
    survivors = rows[0]?.survivors ?? 0;
  } catch (err) {
    if (sqlState(err) === '42501') {
      throw new ProviderError(`${label}: not allowed to end ${roleName}'s sessions (grant pg_signal_backend to the connected role)`, false);
    }
    throw err;
  }
  if (survivors > 0) {
    throw new ProviderError(`${label}: ${survivors} session(s) of ${roleName} did not end within ${waitMs}ms`);
  }
}
