import { escapeIdentifier } from 'pg';
import type { FilingCheck, FilingSubject, GrantResult, GrantSubject } from '../provider';
import { ProviderError } from '../provider';
import { ACCOUNT_PATTERN } from './config';
import type { PostgresTarget } from './connection';
import { accountStanding, refusalFor, terminateSessions } from './roles';

/*
 * Grant mode: `GRANT role TO account`, `REVOKE role FROM account`.
 *
 * Standing access: holdsMembership() reports a direct membership of the account in `role`, whoever
 * granted it; the operations layer asks before the first grant attempt and records the answer, so a
 * membership someone held before is neither granted again nor revoked. An indirect membership (through
 * another group) is not "standing" here: our direct GRANT and its REVOKE leave it untouched anyway.
 */

/**
 * At filing: the account must be an existing role that can log in and that jit-access may touch. A
 * NOLOGIN role is a group: granting to it would give the access to all its members.
 */
export function validateAccount(
  target: PostgresTarget,
  role: string,
  subject: FilingSubject,
  deadline: Date,
): Promise<FilingCheck> | FilingCheck {
  const account = subject.user.account;
  if (account === undefined || !ACCOUNT_PATTERN.test(account)) {
    return { ok: false, reason: `There is no valid database account for you in ${target.targetName}.` };
  }
  return target.withSession(deadline, `check account ${account}`, async (session) => {
    const { database, present } = await session.rolesPresent([role, account]);
    if (!present.has(role)) {
      return {
        ok: false,
        reason: `${target.targetName} has no role ${role} (database ${database}): the policy is out of date. Tell a policy admin.`,
      };
    }
    if (!present.has(account)) {
      return {
        ok: false,
        reason: `There is no database account \`${account}\` in ${target.targetName} (database ${database}). Ask a DBA for your own login role, or a policy admin to map you to it in \`identities\`.`,
      };
    }
    const standing = await accountStanding(session, account, role);
    const problem = refusalFor(standing, role, true);
    if (problem === undefined) return { ok: true };
    return {
      ok: false,
      reason: `The database account \`${account}\` in ${target.targetName} ${problem}, so jit-access does not grant to it. Ask a policy admin to map you to your own login role in \`identities\`.`,
    };
  });
}

export function holdsMembership(target: PostgresTarget, role: string, subject: FilingSubject, deadline: Date): Promise<boolean> {
  const account = subject.user.account;
  if (account === undefined || !ACCOUNT_PATTERN.test(account)) return Promise.resolve(false);
  return target.withSession(deadline, `read ${account}'s membership of ${role}`, async (session) => {
    const { rows } = await session.query(
      `SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE r.rolname = $1 AND u.rolname = $2`,
      [role, account],
    );
    return rows.length > 0;
  });
}

export async function grantMembership(target: PostgresTarget, role: string, subject: GrantSubject, deadline: Date): Promise<GrantResult> {
  const { label } = target;
  const account = requireAccount(label, subject);
  await target.withSession(deadline, `grant ${role} to ${account}`, async (session) => {
    const { database, present } = await session.rolesPresent([role, account]);
    if (!present.has(role)) {
      throw new ProviderError(`${label}: role ${role} does not exist in database ${database}`, false);
    }
    if (!present.has(account)) {
      throw new ProviderError(`${label}: database account ${account} does not exist in database ${database}`, false);
    }
    // Checked at filing too; checked again because roles change while a request waits for approval.
    const problem = refusalFor(await accountStanding(session, account, role), role, true);
    if (problem !== undefined) {
      throw new ProviderError(`${label}: database account ${account} ${problem}; jit-access does not grant to it`, false);
    }
    // Granting an existing membership only raises a NOTICE, which keeps retries harmless.
    await session.query(`GRANT ${escapeIdentifier(role)} TO ${escapeIdentifier(account)}`);
  });
  return {};
}

export async function revokeMembership(target: PostgresTarget, role: string, subject: GrantSubject, deadline: Date): Promise<void> {
  const { label } = target;
  const account = subject.user.account;
  // grant() refuses such accounts, so nothing can have been granted to them.
  if (account === undefined || !ACCOUNT_PATTERN.test(account)) return;

  await target.withSession(deadline, `revoke ${role} from ${account}`, async (session) => {
    const { present } = await session.rolesPresent([role, account]);
    if (!present.has(account)) return; // no account, no membership, no sessions
    // grant() refuses these accounts, so no membership of ours is there; revoking would strip a standing one.
    // (An account that stopped being able to log in since the grant is still revoked: its membership is ours.)
    if (refusalFor(await accountStanding(session, account, role), role, false) !== undefined) return;
    if (present.has(role)) {
      // Revoking a membership that does not exist is only a WARNING.
      await session.query(`REVOKE ${escapeIdentifier(role)} FROM ${escapeIdentifier(account)}`);
      // Since PostgreSQL 16 REVOKE only removes our own grant; one by another grantor would survive.
      const { rows } = await session.query(
        `SELECT 1 FROM pg_auth_members m
           JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
          WHERE r.rolname = $1 AND u.rolname = $2`,
        [role, account],
      );
      if (rows.length > 0) {
        throw new ProviderError(`${label}: ${account} is still a member of ${role} after REVOKE (granted by another role?)`, false);
      }
    }
    // Sessions that already did SET ROLE keep the role's privileges until they end.
    await terminateSessions(session, account, label, target.timeoutMs);
  });
}

function requireAccount(label: string, subject: GrantSubject): string {
  const account = subject.user.account;
  if (account === undefined || account === '') {
    throw new ProviderError(`${label}: no database account known for ${subject.user.slackId}`, false);
  }
  if (!ACCOUNT_PATTERN.test(account)) {
    // The offending value is left out: it is attacker-influenced and ends up in Slack and logs.
    throw new ProviderError(`${label}: database account for ${subject.user.slackId} is not a valid role name`, false);
  }
  return account;
}
