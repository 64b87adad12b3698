import { randomBytes } from 'node:crypto';
import type * as Mysql2 from 'mysql2/promise';
import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import { z } from 'zod';
import { messageOf, remainingMs, withinDeadline } from '../deadline';
import type {
  ExtendOptions,
  FilingCheck,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../provider';
import { defineProvider, grantOrEphemeralAccount, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { isTemporaryNameFor, temporaryName } from '../temporary-name';
import { ACCOUNT_PATTERN, MYSQL_USER_NAME_MAX, mysqlAccessSchema, mysqlTargetSchema } from './config';
import type { MysqlAccess, MysqlTargetConfig } from './config';
import {
  DEFAULT_ROLE_PROCEDURE,
  accountName,
  callDefaultRoleProcedure,
  createExpiryEvent,
  dialectFor,
  dropExpiryEvent,
  moveExpiryEvent,
  nativePasswordHash,
  serverVersion,
  unsupportedVersion,
} from './dialect';
import type { Dialect, Read, ServerVersion } from './dialect';

/*
 * MySQL 8.0.30+ and MariaDB 10.5+ (mysql2). What the bot's account needs is in the README ("MySQL
 * and MariaDB provider"); check() reports what is missing.
 *
 * Why revoke is more than REVOKE: a revoked role stays usable in sessions that already activated it
 * (MariaDB keeps it until they reconnect), and DROP USER leaves the dropped user's sessions open. So
 * every revoke ends the account's sessions and waits until the process list shows none.
 *
 * Standing access (grant mode): holds() reports a direct grant of the role to the account, whoever
 * made it; the operations layer asks before the first grant and records the answer, so a role the
 * account held before is neither granted again nor revoked.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
/** Longest wait for killed sessions to leave the process list; they normally go within milliseconds. */
const MAX_SESSION_WAIT_MS = 5_000;
/** Leaves a fresh MariaDB 10.11 user name's 128 (and MySQL's 32) well alone, and fits an event name. */
const EVENT_PREFIX = 'jit_expire_';
/**
 * Server errors retrying cannot fix: access denied (1044, 1045, 1142, 1143, 1227, 1370, 1698), unknown
 * database (1049), syntax (1064), no such account (1133, 1396), name too long (1470), invalid role
 * (1959; MySQL 3523, 3530).
 */
const PERMANENT_ERRNOS = new Set([1044, 1045, 1049, 1064, 1133, 1142, 1143, 1227, 1370, 1396, 1470, 1698, 1959, 3523, 3530]);
const ER_CANNOT_USER = 1396; // CREATE USER of an existing user, among others
const ER_NO_SUCH_THREAD = 1094;
/** "You are not owner of thread …", "Operation KILL USER failed …": no CONNECTION ADMIN. */
const ER_KILL_DENIED = 1095;
const ER_DBACCESS_DENIED = 1044;
/** mysql_native_password hashes appear in the text of some server errors ("… near 'IDENTIFIED BY PASSWORD '*AB…'"). */
const PASSWORD_HASH = /\*[0-9A-F]{40}/g;

type Row = RowDataPacket & Record<string, unknown>;

/**
 * The driver, loaded when the first mysql target is created rather than when the catalog is: a bot
 * with no mysql target does not pay for it at start-up (about 0.3 s on a busy 2-core machine).
 */
function mysql2(): typeof Mysql2 {
  return require('mysql2/promise') as typeof Mysql2;
}

/** What the ephemeral user of a grant is, as grant() records it (`details`) for extend and revoke. */
interface EphemeralUser {
  user: string;
  host: string;
}

/** One target: one admin connection pool, shared by every resource that names it. */
export class MysqlProvider implements TargetProvider<MysqlAccess> {
  private readonly pool: Pool;
  private readonly timeoutMs: number;
  /** Strings that must never appear in an error message or warning. */
  private readonly secrets: string[];
  /** The bot's own schema (the database of `url`): expiry events and the default-role helper live there. */
  private readonly botSchema: string | undefined;
  private version: ServerVersion | undefined;
  private me: CurrentUser | undefined;

  constructor(
    private readonly config: MysqlTargetConfig,
    private readonly targetName: string,
  ) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.secrets = secretVariants(config.url);
    this.botSchema = schemaOf(config.url);
    this.pool = mysql2().createPool({
      uri: config.url,
      connectionLimit: 4,
      connectTimeout: this.timeoutMs,
      enableKeepAlive: true,
      maxIdle: 2,
      idleTimeout: 30_000,
      timezone: 'Z',
      multipleStatements: false,
      // MariaDB's mysql.user is a view of computed columns in utf8mb4_general_ci; literals and
      // parameters in mysql2's default utf8mb4_unicode_ci cannot be compared with them.
      charset: 'UTF8MB4_GENERAL_CI',
    });
  }

  /**
   * Grant mode, at filing: the account `'<account>'@'<accountHost>'` must exist, be a login rather than
   * a role (granting to a role would give the access to everyone who holds it), and not be the
   * account jit-access connects as (revoking would take away its own ADMIN OPTION).
   */
  async validate(access: MysqlAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck> {
    if (access.mode === 'ephemeral') return { ok: true }; // the user is created for the grant
    const user = subject.user.account;
    if (user === undefined || !ACCOUNT_PATTERN.test(user)) {
      return { ok: false, reason: `There is no valid database account for you in ${this.targetName}.` };
    }
    return this.withSession(opts.deadline, `check account ${user}`, async (session) => {
      const d = await this.dialect(session);
      if (d.flavor === 'mysql' && user.length > MYSQL_USER_NAME_MAX) {
        return {
          ok: false,
          reason: `Your database account name is longer than MySQL's ${MYSQL_USER_NAME_MAX} characters, so there is no such account in ${this.targetName}. Ask a policy admin to map you to your login in \`identities\`.`,
        };
      }
      if (!(await session.any(d.roleExists(access.role)))) {
        return { ok: false, reason: `${this.targetName} has no role ${access.role}: the policy is out of date. Tell a policy admin.` };
      }
      const problem = await this.accountProblem(session, d, user, access.accountHost);
      if (problem === undefined) return { ok: true };
      if (problem.kind === 'missing') {
        const elsewhere = problem.otherHosts.length
          ? ` (there is ${problem.otherHosts.map((h) => `\`'${user}'@'${h}'\``).join(', ')}, a different account: the host part matters)`
          : '';
        return {
          ok: false,
          reason: `There is no database account \`'${user}'@'${access.accountHost}'\` in ${this.targetName}${elsewhere}. Ask a DBA for your own login, or a policy admin to map you to it in \`identities\`.`,
        };
      }
      return {
        ok: false,
        reason: `The database account \`'${user}'@'${access.accountHost}'\` in ${this.targetName} ${problem.why}, so jit-access does not grant to it. Ask a policy admin to map you to your own login in \`identities\`.`,
      };
    });
  }

  async holds(access: MysqlAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    const user = subject.user.account;
    if (access.mode === 'ephemeral' || user === undefined || !ACCOUNT_PATTERN.test(user)) return false;
    return this.withSession(opts.deadline, `read whether ${user} holds ${access.role}`, async (session) =>
      session.any((await this.dialect(session)).holding(user, access.accountHost, access.role)),
    );
  }

  async grant(access: MysqlAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    return access.mode === 'ephemeral'
      ? this.grantEphemeral(access, subject, opts.deadline)
      : this.grantRole(access, subject, opts.deadline);
  }

  async extend(access: MysqlAccess, subject: GrantSubject, opts: ExtendOptions): Promise<void> {
    // A role grant has no expiry in the database: the bot's own timer moves, nothing else.
    if (access.mode !== 'ephemeral') return;
    const eph = this.ephemeralUserFor(access, subject, opts.details);
    await this.withSession(opts.deadline, `extend ${eph.user}`, async (session) => {
      const d = await this.dialect(session);
      if (!(await session.any(d.account(eph.user, eph.host)))) {
        throw new ProviderError(
          `${this.label}: cannot extend, user ${eph.user} no longer exists (dropped at its expiry, or outside jit-access)`,
          false,
        );
      }
      await this.scheduleExpiry(session, d, eph, subject.expiresAt);
    });
  }

  async revoke(access: MysqlAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    if (access.mode === 'ephemeral') {
      await this.revokeEphemeral(this.ephemeralUserFor(access, subject, opts.details), opts.deadline);
    } else {
      await this.revokeRole(access, subject, opts.deadline);
    }
  }

  async check(access: MysqlAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    try {
      return await this.withSession(deadline, 'check', (session) => this.problems(session, access));
    } catch (err) {
      return [messageOf(err)];
    }
  }

  async close(): Promise<void> {
    // A connection still being opened to a server that went away rejects end(); there is nothing left to close.
    await this.pool.end().catch(() => undefined);
  }

  private get label(): string {
    return `mysql target ${this.targetName}`;
  }

  private async grantRole(access: MysqlAccess, subject: GrantSubject, deadline: Date): Promise<GrantResult> {
    const user = this.requireAccount(subject);
    const host = access.accountHost;
    return this.withSession(deadline, `grant ${access.role} to ${user}@${host}`, async (session) => {
      const d = await this.dialect(session);
      if (!(await session.any(d.roleExists(access.role))))
        throw new ProviderError(`${this.label}: role ${access.role} does not exist`, false);
      // Checked at filing too; again, because accounts change while a request waits for approval.
      const problem = await this.accountProblem(session, d, user, host);
      if (problem !== undefined) {
        throw new ProviderError(
          `${this.label}: database account '${user}'@'${host}' ${problem.kind === 'missing' ? 'does not exist' : problem.why}`,
          false,
        );
      }
      // Granting a role the account already holds changes nothing, which keeps retries harmless.
      await session.query(d.grantRole(access.role, user, host));
      const defaults = await session.column(d.defaultRoles(user, host), 'role');
      if (defaults.includes(access.role)) return {};
      if (d.flavor === 'mariadb' && defaults.length > 0) {
        // One default role per account in MariaDB: replacing it would change the account's standing
        // set-up (and revoke could not tell what to put back). The role is granted; `SET ROLE` uses it.
        return { details: { defaultRoleKept: defaults[0]! } };
      }
      await this.setDefaultRoles(session, d, [...defaults, access.role], user, host);
      return {};
    });
  }

  private async revokeRole(access: MysqlAccess, subject: GrantSubject, deadline: Date): Promise<void> {
    const user = subject.user.account;
    // grant() refuses such accounts, so nothing can have been granted to them.
    if (user === undefined || !ACCOUNT_PATTERN.test(user)) return;
    const host = access.accountHost;
    await this.withSession(deadline, `revoke ${access.role} from ${user}@${host}`, async (session) => {
      const d = await this.dialect(session);
      // Never granted to (grant() refuses it), and ending its sessions would end ours.
      if (await this.isSelf(session, user, host)) return;
      try {
        await session.query(d.revokeRole(access.role, user, host));
      } catch (err) {
        // MariaDB: "Cannot revoke role … from …" when it is not held (or the account is gone): done.
        if (d.roleNotHeldErrno === undefined || errnoOf(err) !== d.roleNotHeldErrno) throw err;
      }
      // REVOKE leaves the default role pointing at a role no longer held: clear ours.
      const defaults = await session.column(d.defaultRoles(user, host), 'role');
      if (defaults.includes(access.role))
        await this.setDefaultRoles(
          session,
          d,
          defaults.filter((r) => r !== access.role),
          user,
          host,
        );
      // Sessions that activated the role keep it until they end; so do those of a dropped account.
      await this.endSessions(session, d, user);
    });
  }

  private async grantEphemeral(access: MysqlAccess, subject: GrantSubject, deadline: Date): Promise<GrantResult> {
    const eph = {
      user: temporaryName(subject.user.account ?? subject.user.slackId, subject.requestId, MYSQL_USER_NAME_MAX),
      host: access.accountHost,
    };
    return this.withSession(deadline, `create ephemeral user ${eph.user}`, async (session) => {
      const d = await this.dialect(session);
      if (!(await session.any(d.roleExists(access.role))))
        throw new ProviderError(`${this.label}: role ${access.role} does not exist`, false);
      let password = randomBytes(24).toString('base64url');
      const create = async (replace: boolean) => {
        const rows = await session.query(d.createUser(eph.user, eph.host, nativePasswordHash(password), replace));
        // MySQL generates the password itself and returns it, once.
        if (d.generatedPasswordColumn) password = String((rows as Row[])[0]?.[d.generatedPasswordColumn] ?? '');
      };
      try {
        await create(false);
      } catch (err) {
        if (errnoOf(err) !== ER_CANNOT_USER || !(await session.any(d.account(eph.user, eph.host)))) throw err;
        // A retry of this grant: fresh credentials, since the first ones were never delivered.
        await create(true);
      }
      if (!password) throw new ProviderError(`${this.label}: the server did not return the generated password of ${eph.user}`);
      await session.query(d.grantRole(access.role, eph.user, eph.host));
      await this.setDefaultRoles(session, d, [access.role], eph.user, eph.host);
      const event = await this.scheduleExpiry(session, d, eph, subject.expiresAt);
      const shown = shownEndpoint(this.config);
      return {
        secretForRequester: {
          title: `${d.flavor === 'mariadb' ? 'MariaDB' : 'MySQL'} credentials for ${subject.resourceId}`,
          fields: [
            { label: 'Host', value: shown.host },
            { label: 'Port', value: String(shown.port) },
            ...(this.config.database ? [{ label: 'Database', value: this.config.database }] : []),
            { label: 'User', value: eph.user },
            { label: 'Password', value: password },
            { label: 'Valid until', value: subject.expiresAt.toISOString() },
            {
              label: 'Expiry',
              value: event
                ? 'enforced by the database too (a one-shot event drops the user)'
                : `the bot drops the user (${this.botSchema ? 'the server runs no event scheduler' : "the bot's url names no schema for events"})`,
            },
          ],
        },
        details: { user: eph.user, host: eph.host, ...(event ? { event } : {}) },
      };
    });
  }

  private async revokeEphemeral(eph: EphemeralUser, deadline: Date): Promise<void> {
    await this.withSession(deadline, `drop ephemeral user ${eph.user}`, async (session) => {
      const d = await this.dialect(session);
      // First no new logins, then the sessions DROP USER leaves open, then the event with nothing left to do.
      await session.query(`DROP USER IF EXISTS ${accountName(eph.user, eph.host)}`);
      await this.endSessions(session, d, eph.user);
      if (this.botSchema && (await session.any(eventRead(this.botSchema, eventName(eph.user))))) {
        await session.query(dropExpiryEvent(this.botSchema, eventName(eph.user)));
      }
    });
  }

  /**
   * Where the server's event scheduler runs (and the URL names the bot's schema): a one-shot event
   * at the expiry drops the user and ends its sessions, even if no bot replica is up by then.
   * Returns the event's `schema.name`, or undefined where there is none.
   */
  private async scheduleExpiry(session: Session, d: Dialect, eph: EphemeralUser, expiresAt: Date): Promise<string | undefined> {
    const schema = this.botSchema;
    if (!schema) return undefined;
    const name = eventName(eph.user);
    const exists = await session.any(eventRead(schema, name));
    if (!exists && (await session.value('SELECT @@global.event_scheduler AS v')) !== 'ON') return undefined;
    // The event keeps the session's time zone; our times are UTC.
    await session.query("SET time_zone = '+00:00'");
    await session.query(
      exists ? moveExpiryEvent(schema, name, expiresAt) : createExpiryEvent(d, schema, name, expiresAt, eph.user, eph.host),
    );
    return `${schema}.${name}`;
  }

  /** Through the helper procedure when the bot's schema has one (no UPDATE on `mysql` needed), else directly. */
  private async setDefaultRoles(session: Session, d: Dialect, roles: string[], user: string, host: string): Promise<void> {
    if (d.flavor === 'mariadb' && this.botSchema && (await session.any(procedureRead(this.botSchema)))) {
      await session.execute({ sql: callDefaultRoleProcedure(this.botSchema), params: [user, host, roles[0] ?? null] });
      return;
    }
    try {
      await session.query(d.setDefaultRoles(roles, user, host));
    } catch (err) {
      if (errnoOf(err) !== ER_DBACCESS_DENIED) throw err;
      throw new ProviderError(
        `${this.label}: not allowed to set ${user}'s default role (create the ${DEFAULT_ROLE_PROCEDURE} procedure in the bot's schema and grant EXECUTE on it, or grant UPDATE ON mysql.*)`,
        false,
      );
    }
  }

  /**
   * Ends every session of the user name and waits until the process list shows none. MariaDB's
   * `KILL CONNECTION USER` goes first; sessions left (MySQL, or a login that raced it) are killed by id.
   */
  private async endSessions(session: Session, d: Dialect, user: string): Promise<void> {
    // Without PROCESS the process list shows only our own sessions, and "none left" would be a lie.
    const privileges = await this.globalPrivileges(session);
    if (!privileges.has('PROCESS') && !privileges.has('SUPER')) {
      throw new ProviderError(`${this.label}: cannot see ${user}'s sessions to end them (grant PROCESS to the bot's account)`, false);
    }
    const killByUser = d.killUserSessions(user);
    try {
      if (killByUser) await session.query(killByUser);
    } catch (err) {
      if (errnoOf(err) !== ER_KILL_DENIED) throw err;
      throw new ProviderError(`${this.label}: not allowed to end ${user}'s sessions (grant CONNECTION ADMIN to the bot's account)`, false);
    }
    const waitUntil = Date.now() + Math.max(1, Math.min(MAX_SESSION_WAIT_MS, session.remainingMs() - 250));
    for (;;) {
      const ids = await session.column(
        { sql: 'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()', params: [user] },
        'id',
      );
      if (ids.length === 0) return;
      if (Date.now() > waitUntil)
        throw new ProviderError(`${this.label}: ${ids.length} session(s) of ${user} still open after being killed`);
      for (const id of ids) {
        try {
          await session.query(`KILL CONNECTION ${Number(id)}`);
        } catch (err) {
          if (errnoOf(err) === ER_NO_SUCH_THREAD) continue; // gone meanwhile
          if (errnoOf(err) === ER_KILL_DENIED)
            throw new ProviderError(
              `${this.label}: not allowed to end ${user}'s sessions (grant CONNECTION ADMIN to the bot's account)`,
              false,
            );
          throw err;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Why `user@host` must not get a grant, or undefined when it may. */
  private async accountProblem(session: Session, d: Dialect, user: string, host: string): Promise<AccountProblem | undefined> {
    const rows = await session.rows(d.account(user, host));
    if (rows.length === 0) {
      const otherHosts = await session.column(
        { sql: 'SELECT Host AS host FROM mysql.user WHERE User = ? AND Host <> ? ORDER BY Host', params: [user, host] },
        'host',
      );
      return { kind: 'missing', otherHosts: otherHosts.filter((h) => h !== '') };
    }
    if (rows[0]!.is_role === 'Y') return { kind: 'refused', why: 'is a role, not a login (everyone who holds it would get the access)' };
    if (await this.isSelf(session, user, host)) return { kind: 'refused', why: 'is the account jit-access connects as' };
    return undefined;
  }

  private async isSelf(session: Session, user: string, host: string): Promise<boolean> {
    const me = await this.currentUser(session);
    return me.user === user && me.host === host;
  }

  private async currentUser(session: Session): Promise<CurrentUser> {
    // Every connection of the pool logs in with the same credentials, so as the same account.
    if (this.me) return this.me;
    const current = String(await session.value('SELECT CURRENT_USER() AS v'));
    const at = current.lastIndexOf('@');
    const user = current.slice(0, at);
    const host = current.slice(at + 1);
    // information_schema's GRANTEE spelling: 'user'@'host'.
    this.me = { user, host, grantee: `'${user}'@'${host}'` };
    return this.me;
  }

  private async globalPrivileges(session: Session): Promise<Set<string>> {
    const { grantee } = await this.currentUser(session);
    const privileges = await session.column(
      { sql: 'SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?', params: [grantee] },
      'p',
    );
    return new Set(privileges);
  }

  /** check(): one line per missing thing, in the words of the README's recipe. */
  private async problems(session: Session, access: MysqlAccess): Promise<string[]> {
    const d = await this.dialect(session);
    const out: string[] = [];
    const tooOld = unsupportedVersion(this.version!);
    if (tooOld) out.push(`${this.label}: ${tooOld}`);
    const me = await this.currentUser(session);
    const global = await this.globalPrivileges(session);
    const has = (...any: string[]) => any.some((p) => global.has(p));
    const inSchema = async (schema: string, privilege: string) =>
      session.any({
        sql: 'SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA IN (?, ?) AND PRIVILEGE_TYPE = ?',
        params: [me.grantee, schema, schema.replace(/_/g, '\\_'), privilege],
      });

    let roleExists: boolean;
    try {
      roleExists = await session.any(d.roleExists(access.role));
    } catch (err) {
      out.push(
        `${this.label}: cannot read mysql.user (${messageOf(err)}); grant SELECT (User, Host, is_role, default_role) ON mysql.user and SELECT ON mysql.roles_mapping`,
      );
      return out;
    }
    if (!roleExists) out.push(`${this.label}: role ${access.role} does not exist`);
    else if (!has('SUPER') && (d.flavor === 'mariadb' || !has('ROLE_ADMIN'))) {
      const admin = await session.rows(d.holding(me.user, me.host, access.role));
      if (admin[0]?.admin !== 'Y')
        out.push(
          `${this.label}: the bot's account cannot grant role ${access.role} (GRANT ${access.role} TO the bot's account WITH ADMIN OPTION)`,
        );
    }
    if (!has('PROCESS', 'SUPER'))
      out.push(`${this.label}: the bot's account cannot see other accounts' sessions to end them on revoke (grant PROCESS)`);
    if (!has('CONNECTION ADMIN', 'CONNECTION_ADMIN', 'SUPER'))
      out.push(
        `${this.label}: the bot's account cannot end other accounts' sessions on revoke (grant CONNECTION ADMIN${d.flavor === 'mysql' ? ', i.e. CONNECTION_ADMIN' : ''})`,
      );
    if (access.mode === 'ephemeral' && !has('CREATE USER')) out.push(`${this.label}: mode ephemeral needs CREATE USER`);

    // Making the role the account's default role.
    const viaProcedure = d.flavor === 'mariadb' && this.botSchema !== undefined && (await session.any(procedureRead(this.botSchema)));
    const direct =
      d.flavor === 'mariadb'
        ? has('UPDATE') || (await inSchema('mysql', 'UPDATE'))
        : has('CREATE USER') ||
          (await session.any({
            sql: "SELECT 1 FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'default_roles' AND PRIVILEGE_TYPE = 'UPDATE'",
            params: [me.grantee],
          }));
    if (!viaProcedure && !direct) {
      out.push(
        d.flavor === 'mariadb'
          ? `${this.label}: the bot's account cannot set default roles: create the ${DEFAULT_ROLE_PROCEDURE} procedure in ${this.botSchema ? `schema ${this.botSchema}` : "the bot's schema (name one in the url: mysql://…/jit_access)"} and grant EXECUTE on it (README), or grant UPDATE ON mysql.*`
          : `${this.label}: the bot's account cannot set default roles (grant CREATE USER, or UPDATE ON mysql.default_roles)`,
      );
    }
    // The expiry event, where the server runs events.
    if (access.mode === 'ephemeral' && (await session.value('SELECT @@global.event_scheduler AS v')) === 'ON') {
      if (!this.botSchema)
        out.push(`${this.label}: the event scheduler is on, but the url names no schema for expiry events (mysql://…/jit_access)`);
      else if (!has('EVENT') && !(await inSchema(this.botSchema, 'EVENT')))
        out.push(`${this.label}: cannot create expiry events in ${this.botSchema} (GRANT EVENT ON ${this.botSchema}.*)`);
    }
    return out;
  }

  private async dialect(session: Session): Promise<Dialect> {
    this.version ??= serverVersion(String(await session.value('SELECT VERSION() AS v')));
    return dialectFor(this.version.flavor);
  }

  private requireAccount(subject: GrantSubject): string {
    const account = subject.user.account;
    if (account === undefined || account === '') {
      throw new ProviderError(`${this.label}: no database account known for ${subject.user.slackId}`, false);
    }
    if (!ACCOUNT_PATTERN.test(account)) {
      // The offending value is left out: it is attacker-influenced and ends up in Slack and logs.
      throw new ProviderError(`${this.label}: database account for ${subject.user.slackId} is not a valid user name`, false);
    }
    return account;
  }

  /** Prefer what grant() recorded, so a changed identity mapping or accountHost cannot orphan the user. */
  private ephemeralUserFor(access: MysqlAccess, subject: GrantSubject, details: Record<string, string> | undefined): EphemeralUser {
    if (details?.user === undefined) {
      return {
        user: temporaryName(subject.user.account ?? subject.user.slackId, subject.requestId, MYSQL_USER_NAME_MAX),
        host: access.accountHost,
      };
    }
    const host = details.host ?? access.accountHost;
    if (
      !isTemporaryNameFor(details.user, subject.requestId, MYSQL_USER_NAME_MAX) ||
      !mysqlAccessSchema.shape.accountHost.safeParse(host).success
    ) {
      throw new ProviderError(
        `${this.label}: refusing to touch user ${JSON.stringify(details.user)}, which jit-access did not name`,
        false,
      );
    }
    return { user: details.user, host };
  }

  private async withSession<T>(deadline: Date, what: string, work: (session: Session) => Promise<T>): Promise<T> {
    let connection: PoolConnection | undefined;
    let reusable = true;
    try {
      connection = await withinDeadline(this.pool.getConnection(), deadline, 'connecting', (late) => late.destroy());
      return await work(new Session(connection, deadline));
    } catch (err) {
      // After a client-side timeout or a network error the connection's state is unknown; server
      // errors and our own refusals leave it clean.
      if (!(err instanceof ProviderError) && errnoOf(err) === undefined) reusable = false;
      throw err instanceof ProviderError ? err : this.toProviderError(err, what);
    } finally {
      if (connection) reusable ? connection.release() : connection.destroy();
    }
  }

  private toProviderError(err: unknown, what: string): ProviderError {
    const errno = errnoOf(err);
    const code = (err as { code?: unknown } | null)?.code;
    const text = `${this.label}: ${what} failed: ${messageOf(err)}${typeof code === 'string' ? ` (${code})` : ''}`;
    return new ProviderError(
      scrubSecrets(text, this.secrets).replace(PASSWORD_HASH, '***'),
      errno === undefined || !PERMANENT_ERRNOS.has(errno),
    );
  }
}

interface CurrentUser {
  user: string;
  host: string;
  /** As information_schema spells it: 'user'@'host'. */
  grantee: string;
}

type AccountProblem = { kind: 'missing'; otherHosts: string[] } | { kind: 'refused'; why: string };

/** A pooled connection whose every statement is bounded by the caller's deadline. */
class Session {
  constructor(
    private readonly connection: PoolConnection,
    private readonly deadline: Date,
  ) {}

  remainingMs(): number {
    return remainingMs(this.deadline);
  }

  /** SQL text without placeholders (DDL: GRANT, CREATE USER, KILL take none). */
  async query(sql: string): Promise<unknown> {
    const [result] = await this.connection.query({ sql, timeout: this.timeout() });
    return result;
  }

  /** A read with server-bound placeholders. */
  async rows(read: Read): Promise<Row[]> {
    const [rows] = await this.connection.execute<Row[]>({ sql: read.sql, timeout: this.timeout() }, read.params);
    return rows;
  }

  /** A statement with server-bound placeholders (CALL). */
  async execute(statement: Read): Promise<void> {
    await this.connection.execute({ sql: statement.sql, timeout: this.timeout() }, statement.params);
  }

  async any(read: Read): Promise<boolean> {
    return (await this.rows(read)).length > 0;
  }

  /** One column of a read, as strings. */
  async column(read: Read, name: string): Promise<string[]> {
    return (await this.rows(read)).map((r) => String(r[name]));
  }

  async value(sql: string): Promise<unknown> {
    const [rows] = await this.connection.query<Row[]>({ sql, timeout: this.timeout() });
    return rows[0]?.v;
  }

  private timeout(): number {
    const remaining = this.remainingMs();
    if (remaining <= 0) throw new Error('deadline passed');
    return remaining;
  }
}

function eventName(user: string): string {
  return `${EVENT_PREFIX}${user}`;
}

function eventRead(schema: string, name: string): Read {
  return { sql: 'SELECT 1 FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?', params: [schema, name] };
}

function procedureRead(schema: string): Read {
  return {
    sql: "SELECT 1 FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_NAME = ? AND ROUTINE_TYPE = 'PROCEDURE'",
    params: [schema, DEFAULT_ROLE_PROCEDURE],
  };
}

/** A server error's number (mysql2 sets `errno` on errors the server sent); undefined for network and client errors. */
function errnoOf(err: unknown): number | undefined {
  const e = err as { errno?: unknown; sqlState?: unknown } | null;
  return typeof e?.errno === 'number' && typeof e.sqlState === 'string' ? e.errno : undefined;
}

/** The database named in the URL's path, if any. */
function schemaOf(url: string): string | undefined {
  try {
    const path = new URL(url).pathname.slice(1);
    return path ? decodeURIComponent(path) : undefined;
  } catch {
    return undefined;
  }
}

/** Where requesters connect: explicit config, else what the admin URL points at. */
function shownEndpoint(config: MysqlTargetConfig): { host: string; port: number } {
  let parsed: URL | undefined;
  try {
    parsed = new URL(config.url);
  } catch {
    parsed = undefined;
  }
  return {
    host: config.host ?? (parsed?.hostname ? decodeURIComponent(parsed.hostname).replace(/^\[|\]$/g, '') : 'localhost'),
    port: config.port ?? (parsed?.port ? Number(parsed.port) : 3306),
  };
}

/**
 * The mysql provider: grant mode (`GRANT role TO 'account'@'host'`, made its default role) or
 * ephemeral mode (a user that exists only for the grant, dropped by a one-shot event at its expiry
 * where the server runs events).
 */
export const mysqlProvider = defineProvider({
  type: 'mysql',
  target: mysqlTargetSchema,
  access: mysqlAccessSchema,
  account: grantOrEphemeralAccount(
    z
      .string()
      .regex(ACCOUNT_PATTERN, 'expected a MySQL user name: a letter, digit or _, then letters, digits, _ . or -, at most 80 characters'),
  ),
  extension: 'native',
  overlap: {
    // 'alice'@'%' and 'alice'@'localhost' are different accounts: the host is part of what is granted.
    key: (access) => (access.mode === 'ephemeral' ? undefined : `role:${access.role}@${access.accountHost}`),
    standing: 'inspected',
  },
  create: (target, env) => new MysqlProvider(target, env.targetName),
});
