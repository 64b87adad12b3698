import { randomBytes } from 'node:crypto';
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { GrantResult, GrantSubject } from '../provider';
import { ProviderError } from '../provider';
import { connectionTarget, type PostgresTarget, sqlState } from './connection';
import { ephemeralRoleName, MAX_IDENTIFIER_BYTES, terminateSessions } from './roles';
import { scramSha256Verifier } from './scram-verifier';

/* Ephemeral mode: a login role that exists only for the grant, `VALID UNTIL` its expiry, in `role`. */

/** What ephemeralRoleName() produces; revoke refuses to drop anything else. */
const EPHEMERAL_ROLE_PATTERN = /^jit_[a-z0-9_]*_[0-9a-f]{8}$/;

export async function grantEphemeral(target: PostgresTarget, role: string, subject: GrantSubject, deadline: Date): Promise<GrantResult> {
  const { label } = target;
  const roleName = ephemeralRoleName(subject.user.account ?? subject.user.slackId, subject.requestId);
  const password = randomBytes(24).toString('base64url');
  const expiry = subject.expiresAt.toISOString();
  const loginClause = `LOGIN PASSWORD ${escapeLiteral(scramSha256Verifier(password))} VALID UNTIL ${escapeLiteral(expiry)}`;

  await target.withSession(deadline, `create ephemeral role ${roleName}`, async (session) => {
    const { database, present } = await session.rolesPresent([role]);
    if (!present.has(role)) {
      throw new ProviderError(`${label}: role ${role} does not exist in database ${database}`, false);
    }
    try {
      await session.query(`CREATE ROLE ${escapeIdentifier(roleName)} ${loginClause} IN ROLE ${escapeIdentifier(role)}`);
    } catch (err) {
      if (sqlState(err) !== '42710') throw err; // 42710: the role exists
      // A retry of this grant: hand out fresh credentials, since the first ones were never delivered.
      await session.query(`ALTER ROLE ${escapeIdentifier(roleName)} ${loginClause}`);
      await session.query(`GRANT ${escapeIdentifier(role)} TO ${escapeIdentifier(roleName)}`);
    }
  });

  const where = connectionTarget(target.config);
  return {
    secretForRequester: {
      title: `PostgreSQL credentials for ${subject.resourceId}`,
      fields: [
        { label: 'Host', value: where.host },
        { label: 'Port', value: String(where.port) },
        { label: 'Database', value: where.database },
        { label: 'User', value: roleName },
        { label: 'Password', value: password },
        { label: 'Valid until', value: expiry },
      ],
    },
    details: { roleName },
  };
}

/** Moves the login's `VALID UNTIL` to the new expiry. */
export async function extendEphemeral(target: PostgresTarget, roleName: string, expiresAt: Date, deadline: Date): Promise<void> {
  await target.withSession(deadline, `extend ${roleName}`, async (session) => {
    try {
      await session.query(`ALTER ROLE ${escapeIdentifier(roleName)} VALID UNTIL ${escapeLiteral(expiresAt.toISOString())}`);
    } catch (err) {
      if (sqlState(err) === '42704') {
        throw new ProviderError(`${target.label}: cannot extend, role ${roleName} no longer exists (revoked outside jit-access?)`, false);
      }
      throw err;
    }
  });
}

export async function revokeEphemeral(target: PostgresTarget, roleName: string, deadline: Date): Promise<void> {
  const { label } = target;
  await target.withSession(deadline, `drop ephemeral role ${roleName}`, async (session) => {
    const role = escapeIdentifier(roleName);
    const { present, database } = await session.rolesPresent([roleName]);
    if (!present.has(roleName)) return;

    // First make access stop, so a failure to clean up below still leaves the role unusable.
    await session.query(`ALTER ROLE ${role} NOLOGIN`);
    await terminateSessions(session, roleName, label, target.timeoutMs);

    // pg_shdepend is cluster-wide, so this also sees what the role owns in other databases.
    const { rows } = await session.query<{ here: boolean; elsewhere: boolean }>(
      `SELECT coalesce(bool_or(d.dbid = db.oid), false) AS here,
              coalesce(bool_or(d.dbid NOT IN (0, db.oid)), false) AS elsewhere
         FROM pg_shdepend d
         JOIN pg_roles r ON r.oid = d.refobjid
         CROSS JOIN (SELECT oid FROM pg_database WHERE datname = current_database()) db
        WHERE d.refclassid = 'pg_authid'::regclass AND r.rolname = $1`,
      [roleName],
    );
    if (rows[0]?.here) {
      // REASSIGN/DROP OWNED need the privileges of the role being cleaned up, which CREATEROLE alone
      // does not give; becoming a member is allowed for roles we may administer, and ends with the DROP.
      await session.query(`GRANT ${role} TO CURRENT_USER`);
      await session.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER`);
      await session.query(`DROP OWNED BY ${role}`);
    }
    try {
      await session.query(`DROP ROLE IF EXISTS ${role}`);
    } catch (err) {
      if (sqlState(err) !== '2BP01') throw err;
      // Only the connected database is cleaned; objects elsewhere need a DBA.
      throw new ProviderError(
        `${label}: role ${roleName} can no longer log in and its sessions are ended, but it could not be dropped: ` +
          `it still owns objects or holds privileges${rows[0]?.elsewhere ? ' in databases other than ' + database : ''}`,
        false,
      );
    }
  });
}

/** The ephemeral role of a grant: what grant() recorded, so a changed identity mapping cannot orphan the role. */
export function ephemeralRoleFor(label: string, subject: GrantSubject, details: Record<string, string> | undefined): string {
  const recorded = details?.roleName;
  if (recorded === undefined) return ephemeralRoleName(subject.user.account ?? subject.user.slackId, subject.requestId);
  if (!EPHEMERAL_ROLE_PATTERN.test(recorded) || recorded.length > MAX_IDENTIFIER_BYTES) {
    throw new ProviderError(`${label}: refusing to touch role ${JSON.stringify(recorded)}, which jit-access did not name`, false);
  }
  return recorded;
}
