import { createHash, randomBytes } from 'node:crypto';
import { DatabaseError, Pool, escapeIdentifier, escapeLiteral } from 'pg';
import type { PoolClient, QueryConfig, QueryResultRow } from 'pg';
import { z } from 'zod';
import type { ExtendOptions, FilingCheck, FilingSubject, GrantResult, GrantSubject, ProviderCallOptions, RevokeOptions, TargetProvider } from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { ACCOUNT_PATTERN, postgresAccessSchema, postgresTargetSchema } from './config';
import type { PostgresAccess, PostgresTargetConfig } from './config';
import { scramSha256Verifier } from './scram-verifier';

/*
 * Requirements on the target (check() reports what is missing):
 * - PostgreSQL 14+ (pg_terminate_backend with a timeout, so revoke returns only once sessions are gone).
 * - The connecting role has ADMIN OPTION on `role` (PostgreSQL 15 and older: CREATEROLE also suffices),
 *   CREATEROLE for `mode: ephemeral`, and membership in pg_signal_backend to end sessions.
 *
 * Standing access (grant mode): holds() reports a direct membership of the account in `role`, whoever
 * granted it; the operations layer asks before the first grant attempt and records the answer, so a
 * membership someone held before is neither granted again nor revoked. An indirect membership (through
 * another group) is not "standing" here: our direct GRANT and its REVOKE leave it untouched anyway.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
/** What ephemeralRoleName() produces; revoke refuses to drop anything else. */
const EPHEMERAL_ROLE_PATTERN = /^jit_[a-z0-9_]*_[0-9a-f]{8}$/;
const MAX_IDENTIFIER_BYTES = 63;
/** Longest pg_terminate_backend() wait; a backend normally exits within milliseconds. */
const MAX_TERMINATE_WAIT_MS = 5_000;
/**
 * SQLSTATE classes that retrying cannot fix: 28 authentication, 3D unknown database, 42 missing
 * objects / privileges / syntax, 0L/0P grantor and role specification, 2B dependent objects.
 */
const NON_RETRYABLE_SQLSTATE_CLASSES = new Set(['28', '3D', '42', '0L', '0P', '2B']);

/**
 * `jit_<account>_<8 hex of sha256(requestId)>`: readable in pg_stat_activity, unique per request, and
 * deterministic so a retried grant finds the role its first attempt created.
 */
export function ephemeralRoleName(account: string, requestId: string): string {
  const hash = createHash('sha256').update(requestId).digest('hex').slice(0, 8);
  const room = MAX_IDENTIFIER_BYTES - 'jit__'.length - hash.length;
  const sanitized = account.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, room);
  return `jit_${sanitized}_${hash}`;
}

/** One target: one admin connection pool, shared by every resource that names it. */
export class PostgresProvider implements TargetProvider<PostgresAccess> {
  private readonly pool: Pool;
  private readonly timeoutMs: number;
  /** Strings that must never appear in an error message or warning. */
  private readonly secrets: string[];

  constructor(
    private readonly config: PostgresTargetConfig,
    private readonly targetName: string,
  ) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.secrets = secretVariants(config.url);
    this.pool = new Pool({
      connectionString: config.url,
      max: 4,
      connectionTimeoutMillis: this.timeoutMs,
      statement_timeout: this.timeoutMs,
      idleTimeoutMillis: 30_000,
      // Idle admin connections must not keep a shutting-down bot alive.
      allowExitOnIdle: true,
      application_name: 'jit-access',
    });
    // An idle client dying (server restart, terminated by a DBA) is emitted here; without a listener
    // it would crash the process. The pool discards the client and the next call reconnects.
    this.pool.on('error', () => undefined);
  }

  /**
   * Grant mode, at filing: the account must be an existing role that can log in and that jit-access
   * may touch. A NOLOGIN role is a group: granting to it would give the access to all its members.
   */
  async validate(access: PostgresAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck> {
    if (access.mode === 'ephemeral') return { ok: true }; // the login is created for the grant
    const account = subject.user.account;
    if (account === undefined || !ACCOUNT_PATTERN.test(account)) {
      return { ok: false, reason: `There is no valid database account for you in ${this.targetName}.` };
    }
    return this.withSession(opts.deadline, `check account ${account}`, async (session) => {
      const { database, present } = await session.rolesPresent([access.role, account]);
      if (!present.has(access.role)) {
        return { ok: false, reason: `${this.targetName} has no role ${access.role} (database ${database}): the policy is out of date. Tell a policy admin.` };
      }
      if (!present.has(account)) {
        return {
          ok: false,
          reason: `There is no database account \`${account}\` in ${this.targetName} (database ${database}). Ask a DBA for your own login role, or a policy admin to map you to it in \`identities\`.`,
        };
      }
      const standing = await this.accountStanding(session, account, access.role);
      const problem = refusalFor(standing, access.role, true);
      if (problem === undefined) return { ok: true };
      return {
        ok: false,
        reason: `The database account \`${account}\` in ${this.targetName} ${problem}, so jit-access does not grant to it. Ask a policy admin to map you to your own login role in \`identities\`.`,
      };
    });
  }

  async holds(access: PostgresAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    const account = subject.user.account;
    if (access.mode === 'ephemeral' || account === undefined || !ACCOUNT_PATTERN.test(account)) return false;
    return this.withSession(opts.deadline, `read ${account}'s membership of ${access.role}`, async (session) => {
      const { rows } = await session.query(
        `SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
          WHERE r.rolname = $1 AND u.rolname = $2`,
        [access.role, account],
      );
      return rows.length > 0;
    });
  }

  async grant(access: PostgresAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    return access.mode === 'ephemeral' ? this.grantEphemeral(access, subject, opts.deadline) : this.grantMembership(access.role, subject, opts.deadline);
  }

  async extend(access: PostgresAccess, subject: GrantSubject, opts: ExtendOptions): Promise<void> {
    // A membership has no expiry in the database: there is nothing to tell it, the bot's own timer revokes it.
    if (access.mode !== 'ephemeral') return;
    const roleName = this.ephemeralRoleFor(subject, opts.details);
    await this.withSession(opts.deadline, `extend ${roleName}`, async (session) => {
      try {
        await session.query(`ALTER ROLE ${escapeIdentifier(roleName)} VALID UNTIL ${escapeLiteral(subject.expiresAt.toISOString())}`);
      } catch (err) {
        if (sqlState(err) === '42704') {
          throw new ProviderError(`${this.label}: cannot extend, role ${roleName} no longer exists (revoked outside jit-access?)`, false);
        }
        throw err;
      }
    });
  }

  async revoke(access: PostgresAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    if (access.mode === 'ephemeral') {
      await this.revokeEphemeral(this.ephemeralRoleFor(subject, opts.details), opts.deadline);
    } else {
      await this.revokeMembership(access.role, subject, opts.deadline);
    }
  }

  async check(access: PostgresAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    try {
      return await this.withSession(deadline, 'check', async (session) => {
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
        if (!r) return [`${this.label}: cannot read the connected role from pg_roles`];
        const warnings: string[] = [];
        const legacyCreateRole = r.version < 160000; // PostgreSQL 16 took "grant any role" away from CREATEROLE
        if (r.version < 140000) {
          warnings.push(`${this.label}: PostgreSQL ${r.version} is too old; revoke needs 14 or later to wait for sessions to end`);
        }
        if (!r.role_exists) {
          warnings.push(`${this.label}: role ${access.role} does not exist in database ${r.database}`);
        } else if (!(r.superuser || r.admin_option || (legacyCreateRole && r.createrole && !r.role_superuser))) {
          warnings.push(
            `${this.label}: the connected role cannot grant role ${access.role} (it needs ADMIN OPTION on it${legacyCreateRole ? ' or CREATEROLE' : ''})`,
          );
        }
        if (access.mode === 'ephemeral' && !(r.superuser || r.createrole)) {
          warnings.push(`${this.label}: mode ephemeral needs CREATEROLE on the connected role`);
        }
        if (!(r.superuser || r.can_signal)) {
          warnings.push(`${this.label}: the connected role cannot end sessions on revoke (grant it pg_signal_backend)`);
        }
        return warnings;
      });
    } catch (err) {
      return [messageOf(err)];
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private get label(): string {
    return `postgres target ${this.targetName}`;
  }

  private async grantMembership(role: string, subject: GrantSubject, deadline: Date): Promise<GrantResult> {
    const account = this.requireAccount(subject);
    await this.withSession(deadline, `grant ${role} to ${account}`, async (session) => {
      const { database, present } = await session.rolesPresent([role, account]);
      if (!present.has(role)) {
        throw new ProviderError(`${this.label}: role ${role} does not exist in database ${database}`, false);
      }
      if (!present.has(account)) {
        throw new ProviderError(`${this.label}: database account ${account} does not exist in database ${database}`, false);
      }
      // Checked at filing too; checked again because roles change while a request waits for approval.
      const problem = refusalFor(await this.accountStanding(session, account, role), role, true);
      if (problem !== undefined) {
        throw new ProviderError(`${this.label}: database account ${account} ${problem}; jit-access does not grant to it`, false);
      }
      // Granting an existing membership only raises a NOTICE, which keeps retries harmless.
      await session.query(`GRANT ${escapeIdentifier(role)} TO ${escapeIdentifier(account)}`);
    });
    return {};
  }

  private async revokeMembership(role: string, subject: GrantSubject, deadline: Date): Promise<void> {
    const account = subject.user.account;
    // grant() refuses such accounts, so nothing can have been granted to them.
    if (account === undefined || !ACCOUNT_PATTERN.test(account)) return;

    await this.withSession(deadline, `revoke ${role} from ${account}`, async (session) => {
      const { present } = await session.rolesPresent([role, account]);
      if (!present.has(account)) return; // no account, no membership, no sessions
      // grant() refuses these accounts, so no membership of ours is there; revoking would strip a standing one.
      // (An account that stopped being able to log in since the grant is still revoked: its membership is ours.)
      if (refusalFor(await this.accountStanding(session, account, role), role, false) !== undefined) return;
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
          throw new ProviderError(`${this.label}: ${account} is still a member of ${role} after REVOKE (granted by another role?)`, false);
        }
      }
      // Sessions that already did SET ROLE keep the role's privileges until they end.
      await this.terminateSessions(session, account);
    });
  }

  private async grantEphemeral(access: PostgresAccess, subject: GrantSubject, deadline: Date): Promise<GrantResult> {
    const roleName = ephemeralRoleName(subject.user.account ?? subject.user.slackId, subject.requestId);
    const password = randomBytes(24).toString('base64url');
    const expiry = subject.expiresAt.toISOString();
    const loginClause = `LOGIN PASSWORD ${escapeLiteral(scramSha256Verifier(password))} VALID UNTIL ${escapeLiteral(expiry)}`;

    await this.withSession(deadline, `create ephemeral role ${roleName}`, async (session) => {
      const { database, present } = await session.rolesPresent([access.role]);
      if (!present.has(access.role)) {
        throw new ProviderError(`${this.label}: role ${access.role} does not exist in database ${database}`, false);
      }
      try {
        await session.query(`CREATE ROLE ${escapeIdentifier(roleName)} ${loginClause} IN ROLE ${escapeIdentifier(access.role)}`);
      } catch (err) {
        if (sqlState(err) !== '42710') throw err; // 42710: the role exists
        // A retry of this grant: hand out fresh credentials, since the first ones were never delivered.
        await session.query(`ALTER ROLE ${escapeIdentifier(roleName)} ${loginClause}`);
        await session.query(`GRANT ${escapeIdentifier(access.role)} TO ${escapeIdentifier(roleName)}`);
      }
    });

    const target = connectionTarget(this.config);
    return {
      secretForRequester: {
        title: `PostgreSQL credentials for ${subject.resourceId}`,
        fields: [
          { label: 'Host', value: target.host },
          { label: 'Port', value: String(target.port) },
          { label: 'Database', value: target.database },
          { label: 'User', value: roleName },
          { label: 'Password', value: password },
          { label: 'Valid until', value: expiry },
        ],
      },
      details: { roleName },
    };
  }

  private async revokeEphemeral(roleName: string, deadline: Date): Promise<void> {
    await this.withSession(deadline, `drop ephemeral role ${roleName}`, async (session) => {
      const role = escapeIdentifier(roleName);
      const { present, database } = await session.rolesPresent([roleName]);
      if (!present.has(roleName)) return;

      // First make access stop, so a failure to clean up below still leaves the role unusable.
      await session.query(`ALTER ROLE ${role} NOLOGIN`);
      await this.terminateSessions(session, roleName);

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
          `${this.label}: role ${roleName} can no longer log in and its sessions are ended, but it could not be dropped: ` +
            `it still owns objects or holds privileges${rows[0]?.elsewhere ? ' in databases other than ' + database : ''}`,
          false,
        );
      }
    });
  }

  private async terminateSessions(session: Session, roleName: string): Promise<void> {
    const waitMs = Math.max(1, Math.min(MAX_TERMINATE_WAIT_MS, session.remainingMs() - 250, this.timeoutMs - 250));
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
        throw new ProviderError(
          `${this.label}: not allowed to end ${roleName}'s sessions (grant pg_signal_backend to the connected role)`,
          false,
        );
      }
      throw err;
    }
    if (survivors > 0) {
      throw new ProviderError(`${this.label}: ${survivors} session(s) of ${roleName} did not end within ${waitMs}ms`);
    }
  }

  /** What the account is, as far as granting to it is concerned (null: no such role). */
  private async accountStanding(session: Session, account: string, role: string): Promise<AccountStanding | null> {
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

  private requireAccount(subject: GrantSubject): string {
    const account = subject.user.account;
    if (account === undefined || account === '') {
      throw new ProviderError(`${this.label}: no database account known for ${subject.user.slackId}`, false);
    }
    if (!ACCOUNT_PATTERN.test(account)) {
      // The offending value is left out: it is attacker-influenced and ends up in Slack and logs.
      throw new ProviderError(`${this.label}: database account for ${subject.user.slackId} is not a valid role name`, false);
    }
    return account;
  }

  /** Prefer what grant() recorded, so a changed identity mapping cannot orphan the role. */
  private ephemeralRoleFor(subject: GrantSubject, details: Record<string, string> | undefined): string {
    const recorded = details?.roleName;
    if (recorded === undefined) return ephemeralRoleName(subject.user.account ?? subject.user.slackId, subject.requestId);
    if (!EPHEMERAL_ROLE_PATTERN.test(recorded) || recorded.length > MAX_IDENTIFIER_BYTES) {
      throw new ProviderError(`${this.label}: refusing to touch role ${JSON.stringify(recorded)}, which jit-access did not name`, false);
    }
    return recorded;
  }

  private async withSession<T>(deadline: Date, what: string, work: (session: Session) => Promise<T>): Promise<T> {
    let client: PoolClient | undefined;
    let reusable = true;
    try {
      client = await connectBefore(this.pool, deadline);
      return await work(new Session(client, deadline));
    } catch (err) {
      // After a client-side timeout or a network error the connection's protocol state is unknown;
      // server errors and our own refusals leave it clean.
      if (!(err instanceof DatabaseError || err instanceof ProviderError)) reusable = false;
      throw err instanceof ProviderError ? err : this.toProviderError(err, what);
    } finally {
      client?.release(!reusable);
    }
  }

  private toProviderError(err: unknown, what: string): ProviderError {
    const code = sqlState(err) ?? (err as { code?: unknown } | null)?.code;
    const message = messageOf(err);
    const retryable = err instanceof DatabaseError ? !NON_RETRYABLE_SQLSTATE_CLASSES.has(err.code?.slice(0, 2) ?? '') : true;
    const text = `${this.label}: ${what} failed: ${message}${typeof code === 'string' ? ` (${code})` : ''}`;
    return new ProviderError(scrubSecrets(text, this.secrets), retryable);
  }
}

/** A pooled connection whose every statement is bounded by the caller's deadline. */
class Session {
  constructor(
    private readonly client: PoolClient,
    private readonly deadline: Date,
  ) {}

  remainingMs(): number {
    return this.deadline.getTime() - Date.now();
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[] = []) {
    const remaining = this.remainingMs();
    if (remaining <= 0) throw new Error('deadline passed');
    // query_timeout is supported by pg at runtime but missing from @types/pg's QueryConfig.
    const config: QueryConfig & { query_timeout: number } = { text, values, query_timeout: remaining };
    return this.client.query<R>(config);
  }

  async rolesPresent(names: string[]): Promise<{ database: string; present: Set<string> }> {
    const { rows } = await this.query<{ database: string; present: string[] }>(
      `SELECT current_database() AS database,
              array(SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1::text[])) AS present`,
      [names],
    );
    return { database: rows[0]?.database ?? '?', present: new Set(rows[0]?.present ?? []) };
  }
}

async function connectBefore(pool: Pool, deadline: Date): Promise<PoolClient> {
  const remaining = deadline.getTime() - Date.now();
  if (remaining <= 0) throw new Error('deadline passed before connecting');
  const connecting = pool.connect();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no connection within ${remaining}ms`)), remaining);
  });
  try {
    return await Promise.race([connecting, expired]);
  } catch (err) {
    // If the connection arrives after we gave up, hand it straight back (destroyed: nobody will use it).
    connecting.then((late) => late.release(true), () => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Duck-typed: Node's socket errors can come from another realm (e.g. under jest), defeating instanceof. */
function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}

function sqlState(err: unknown): string | undefined {
  return err instanceof DatabaseError ? err.code : undefined;
}

/** Where requesters connect: explicit config, else what the admin URL points at. */
function connectionTarget(config: PostgresTargetConfig): { host: string; port: number; database: string } {
  let parsed: URL | undefined;
  try {
    parsed = new URL(config.url);
  } catch {
    parsed = undefined;
  }
  const urlHost = parsed?.hostname ? decodeURIComponent(parsed.hostname).replace(/^\[|\]$/g, '') : parsed?.searchParams.get('host');
  const urlDatabase = parsed && parsed.pathname.length > 1 ? decodeURIComponent(parsed.pathname.slice(1)) : undefined;
  return {
    host: config.host ?? urlHost ?? 'localhost',
    port: config.port ?? (parsed?.port ? Number(parsed.port) : 5432),
    database: config.database ?? urlDatabase ?? (parsed?.username ? decodeURIComponent(parsed.username) : 'postgres'),
  };
}

interface AccountStanding {
  self: boolean;
  superuser: boolean;
  canLogin: boolean;
  admin: boolean;
}

/**
 * Why `account` must never be granted `role` (or, with `forGrant` false, have it revoked): the bot's own
 * role (revoking would take away its ADMIN OPTION and with it every later grant and revoke), a superuser
 * (nothing to grant, and its sessions cannot be ended), a standing administrator of `role` (revoke would
 * remove that standing membership), and, for grants only, a role that cannot log in: a group, whose
 * members would all inherit the grant.
 */
function refusalFor(standing: AccountStanding | null, role: string, forGrant: boolean): string | undefined {
  if (!standing) return undefined;
  if (standing.self) return 'is the role jit-access connects as';
  if (standing.superuser) return 'is a superuser';
  if (standing.admin) return `administers ${role} (holds it WITH ADMIN OPTION)`;
  if (forGrant && !standing.canLogin) return 'cannot log in (NOLOGIN: a group role, whose members would all get the access)';
  return undefined;
}

/**
 * The postgres provider: grant mode (`GRANT role TO account`) or ephemeral mode (a login role that
 * exists only for the grant, `VALID UNTIL` its expiry).
 */
export const postgresProvider = defineProvider({
  type: 'postgres',
  target: postgresTargetSchema,
  access: postgresAccessSchema,
  account: {
    derive: 'local-part',
    // Ephemeral mode creates the login; the account, when there is one, only names it.
    need: (access) => (access.mode === 'ephemeral' ? 'optional' : 'required'),
    format: z.string().regex(ACCOUNT_PATTERN, 'expected a PostgreSQL role name: a letter or _, then letters, digits, _ . or -, at most 63 characters'),
  },
  extension: 'native',
  overlap: {
    // Two resources on one role give the same access; every ephemeral login is its own.
    key: (access) => (access.mode === 'ephemeral' ? undefined : `role:${access.role}`),
    standing: 'inspected',
  },
  create: (target, env) => new PostgresProvider(target, env.targetName),
});
