import type { PostgresAccess } from './config';
import type { PostgresTarget } from './connection';
import { messageOf } from '../deadline';

/*
 * Requirements on the target (checkTarget() reports what is missing):
 * - PostgreSQL 14+ (pg_terminate_backend with a timeout, so revoke returns only once sessions are gone).
 * - The connecting role has ADMIN OPTION on `role` (PostgreSQL 15 and older: CREATEROLE also suffices),
 *   CREATEROLE for `mode: ephemeral`, and membership in pg_signal_backend to end sessions.
 */

/** What stops this target from granting and revoking `access`, one line each; empty when nothing does. */
export async function checkTarget(target: PostgresTarget, access: PostgresAccess, deadline: Date): Promise<string[]> {
  const { label } = target;
  try {
    return await target.withSession(deadline, 'check', async (session) => {
      const { rows } = await session.query<{
        database: string;
        version: number;
        superuser: boolean;
        createrole: boolean;
        role_exists: boolean;
        role_superuser: boolean;
        admin_option: boolean;
        can_signal: boolean;
      }>(
        `SELECT current_database() AS database,
                current_setting('server_version_num')::int AS version,
                me.rolsuper AS superuser,
                me.rolcreaterole AS createrole,
                t.oid IS NOT NULL AS role_exists,
                coalesce(t.rolsuper, false) AS role_superuser,
                CASE WHEN t.oid IS NULL THEN false
                     ELSE pg_has_role(current_user, t.oid, 'MEMBER WITH ADMIN OPTION') END AS admin_option,
                pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') AS can_signal
           FROM pg_roles me LEFT JOIN pg_roles t ON t.rolname = $1
          WHERE me.rolname = current_user`,
        [access.role],
      );
      const r = rows[0];
      if (!r) return [`${label}: cannot read the connected role from pg_roles`];
      const warnings: string[] = [];
      const legacyCreateRole = r.version < 160000; // PostgreSQL 16 took "grant any role" away from CREATEROLE
      if (r.version < 140000) {
        warnings.push(`${label}: PostgreSQL ${r.version} is too old; revoke needs 14 or later to wait for sessions to end`);
      }
      if (!r.role_exists) {
        warnings.push(`${label}: role ${access.role} does not exist in database ${r.database}`);
      } else if (!(r.superuser || r.admin_option || (legacyCreateRole && r.createrole && !r.role_superuser))) {
        warnings.push(
          `${label}: the connected role cannot grant role ${access.role} (it needs ADMIN OPTION on it${legacyCreateRole ? ' or CREATEROLE' : ''})`,
        );
      }
      if (access.mode === 'ephemeral' && !(r.superuser || r.createrole)) {
        warnings.push(`${label}: mode ephemeral needs CREATEROLE on the connected role`);
      }
      if (!(r.superuser || r.can_signal)) {
        warnings.push(`${label}: the connected role cannot end sessions on revoke (grant it pg_signal_backend)`);
      }
      return warnings;
    });
  } catch (err) {
    return [messageOf(err)];
  }
}
