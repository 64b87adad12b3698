import { createHash } from 'node:crypto';

/*
 * The SQL the mysql provider sends, per server flavour. MariaDB and MySQL 8 share the protocol and
 * most of GRANT, and differ exactly where this provider works:
 *
 * |                          | MariaDB 10.5+                                | MySQL 8.0.30+                                   |
 * | ------------------------ | -------------------------------------------- | ----------------------------------------------- |
 * | role                     | a name, no host (`mysql.user.is_role = 'Y'`) | an account `'r'@'%'`                            |
 * | who holds a role         | `mysql.roles_mapping`                        | `mysql.role_edges`                              |
 * | default role             | ONE: `SET DEFAULT ROLE r FOR u`              | a list: `SET DEFAULT ROLE r1, r2 TO u`          |
 * | revoking a role not held | error 1962 (treated as done)                 | `REVOKE IF EXISTS … IGNORE UNKNOWN USER`        |
 * | random password          | none: we send a mysql_native_password hash   | `IDENTIFIED BY RANDOM PASSWORD` (server's)      |
 * | ending sessions          | `KILL CONNECTION USER 'u'`, then by id       | by id from the process list                     |
 * | user name length         | 80 documented (128 on 10.11)                 | 32                                              |
 *
 * Only MariaDB can be tested against a real server here; the MySQL column is unit-tested on the
 * SQL it produces (test/providers/mysql/dialect.test.ts) and kept as small as the differences.
 *
 * Names are quoted as string literals ('alice'@'%'), which both flavours accept for users and roles.
 */

export type Flavor = 'mariadb' | 'mysql';

export interface ServerVersion {
  flavor: Flavor;
  /** `10.11.19`, `8.0.36`. */
  version: string;
}

/** From `SELECT VERSION()`: `10.11.19-MariaDB-0+deb12u1`, `8.0.36`, `8.0.36-0ubuntu0.22.04.1`. */
export function serverVersion(versionText: string): ServerVersion {
  const version = /^\d+\.\d+\.\d+/.exec(versionText)?.[0] ?? versionText;
  return { flavor: /mariadb/i.test(versionText) ? 'mariadb' : 'mysql', version };
}

/** Why this server is too old for the provider, or undefined. */
export function unsupportedVersion({ flavor, version }: ServerVersion): string | undefined {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number);
  const at = major * 10_000 + minor * 100 + patch;
  if (flavor === 'mariadb' && at < 100_500) return `MariaDB ${version} is too old: roles and CONNECTION ADMIN need 10.5 or later`;
  if (flavor === 'mysql' && at < 80_030) return `MySQL ${version} is too old: REVOKE IF EXISTS needs 8.0.30 or later`;
  return undefined;
}

/**
 * A string literal for SQL text (names in GRANT, CREATE USER, KILL USER, which take no
 * placeholders). Quotes are doubled, which means the same with and without NO_BACKSLASH_ESCAPES;
 * a backslash or control character is refused, since no single quoting is right in both modes.
 * The config schemas refuse them earlier, with a message.
 */
export function sqlString(value: string): string {
  if (/[\\\u0000-\u001f]/.test(value)) throw new Error('refusing to quote a name with a backslash or control character');
  return `'${value.replace(/'/g, "''")}'`;
}

/** `'user'@'host'`. */
export function accountName(user: string, host: string): string {
  return `${sqlString(user)}@${sqlString(host)}`;
}

/** A backtick-quoted identifier (a schema or event name). */
export function sqlIdentifier(name: string): string {
  if (/[\u0000]/.test(name)) throw new Error('refusing to quote an identifier with a NUL character');
  return `\`${name.replace(/`/g, '``')}\``;
}

/** mysql_native_password's stored form, `*` + upper-case hex SHA1(SHA1(password)): the server never sees the password. */
export function nativePasswordHash(password: string): string {
  const once = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(once).digest('hex').toUpperCase()}`;
}

/** `2026-01-01 12:00:01`: an expiry in UTC, rounded up to the second (events have no finer resolution). */
export function utcDateTime(at: Date): string {
  const seconds = new Date(Math.ceil(at.getTime() / 1000) * 1000);
  return seconds.toISOString().slice(0, 19).replace('T', ' ');
}

/** A parameterised read: placeholders are bound by the server (prepared statement), never pasted. */
export interface Read {
  sql: string;
  params: Array<string | null>;
}

export interface Dialect {
  flavor: Flavor;
  /** Does the role exist? Rows: any. */
  roleExists(role: string): Read;
  /** The account, if it exists: rows `{ is_role: 'Y' | 'N' }` (MySQL: 'Y' when some account holds it as a role). */
  account(user: string, host: string): Read;
  /** Rows when `user@host` holds `role` directly, with `admin` 'Y' when WITH ADMIN OPTION. */
  holding(user: string, host: string, role: string): Read;
  /** The account's default roles: rows `{ role }`. */
  defaultRoles(user: string, host: string): Read;
  grantRole(role: string, user: string, host: string): string;
  revokeRole(role: string, user: string, host: string): string;
  /** The error number that means "the account does not hold that role", treated as done (MariaDB 1962). */
  roleNotHeldErrno: number | undefined;
  /** Sets the account's default roles to exactly `roles` (MariaDB: at most one; none clears). */
  setDefaultRoles(roles: readonly string[], user: string, host: string): string;
  /**
   * Creates the ephemeral user (or, `replace`, gives an existing one new credentials). MariaDB: with
   * `passwordHash` (nativePasswordHash); MySQL: a server-generated password, in the result set.
   */
  createUser(user: string, host: string, passwordHash: string, replace: boolean): string;
  /** MySQL only: the column of createUser()'s result row that holds the generated password. */
  generatedPasswordColumn: string | undefined;
  /** One statement ending every session of a user name (MariaDB), or undefined (then: by id). */
  killUserSessions(user: string): string | undefined;
  /** The statements of the one-shot expiry event's body (run as the event's definer: the bot). */
  expiryEventBody(user: string, host: string): string;
}

const mariadb: Dialect = {
  flavor: 'mariadb',
  roleExists: (role) => ({ sql: "SELECT 1 FROM mysql.user WHERE User = ? AND is_role = 'Y'", params: [role] }),
  account: (user, host) => ({ sql: 'SELECT is_role FROM mysql.user WHERE User = ? AND Host = ?', params: [user, host] }),
  holding: (user, host, role) => ({
    sql: 'SELECT Admin_option AS admin FROM mysql.roles_mapping WHERE User = ? AND Host = ? AND Role = ?',
    params: [user, host, role],
  }),
  defaultRoles: (user, host) => ({
    sql: "SELECT default_role AS role FROM mysql.user WHERE User = ? AND Host = ? AND default_role <> ''",
    params: [user, host],
  }),
  grantRole: (role, user, host) => `GRANT ${sqlString(role)} TO ${accountName(user, host)}`,
  revokeRole: (role, user, host) => `REVOKE ${sqlString(role)} FROM ${accountName(user, host)}`,
  roleNotHeldErrno: 1962,
  setDefaultRoles(roles, user, host) {
    if (roles.length > 1) throw new Error('MariaDB accounts have one default role');
    return `SET DEFAULT ROLE ${roles.length ? sqlString(roles[0]!) : 'NONE'} FOR ${accountName(user, host)}`;
  },
  // No IDENTIFIED BY RANDOM PASSWORD in MariaDB: the hash of a password made here.
  createUser: (user, host, passwordHash, replace) =>
    `${replace ? 'ALTER' : 'CREATE'} USER ${accountName(user, host)} IDENTIFIED BY PASSWORD ${sqlString(passwordHash)}`,
  generatedPasswordColumn: undefined,
  // MariaDB matches KILL USER's host against the client's host exactly (or '%': any), not against
  // the account's host pattern; '%' ends every session of the user name.
  killUserSessions: (user) => `KILL CONNECTION USER ${accountName(user, '%')}`,
  // DROP USER first: no new logins; then the sessions, which DROP USER leaves open.
  expiryEventBody: (user, host) =>
    `BEGIN DROP USER IF EXISTS ${accountName(user, host)}; KILL CONNECTION USER ${accountName(user, '%')}; END`,
};

const mysql: Dialect = {
  flavor: 'mysql',
  roleExists: (role) => ({ sql: "SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'", params: [role] }),
  account: (user, host) => ({
    sql: `SELECT CASE WHEN EXISTS (SELECT 1 FROM mysql.role_edges e WHERE e.FROM_USER = u.User AND e.FROM_HOST = u.Host)
                      THEN 'Y' ELSE 'N' END AS is_role
            FROM mysql.user u WHERE u.User = ? AND u.Host = ?`,
    params: [user, host],
  }),
  holding: (user, host, role) => ({
    sql: "SELECT WITH_ADMIN_OPTION AS admin FROM mysql.role_edges WHERE TO_USER = ? AND TO_HOST = ? AND FROM_USER = ? AND FROM_HOST = '%'",
    params: [user, host, role],
  }),
  defaultRoles: (user, host) => ({
    sql: "SELECT DEFAULT_ROLE_USER AS role FROM mysql.default_roles WHERE USER = ? AND HOST = ? AND DEFAULT_ROLE_HOST = '%'",
    params: [user, host],
  }),
  grantRole: (role, user, host) => `GRANT ${accountName(role, '%')} TO ${accountName(user, host)}`,
  revokeRole: (role, user, host) => `REVOKE IF EXISTS ${accountName(role, '%')} FROM ${accountName(user, host)} IGNORE UNKNOWN USER`,
  roleNotHeldErrno: undefined,
  setDefaultRoles: (roles, user, host) =>
    `SET DEFAULT ROLE ${roles.length ? roles.map((r) => accountName(r, '%')).join(', ') : 'NONE'} TO ${accountName(user, host)}`,
  createUser: (user, host, _passwordHash, replace) =>
    `${replace ? 'ALTER' : 'CREATE'} USER ${accountName(user, host)} IDENTIFIED BY RANDOM PASSWORD`,
  generatedPasswordColumn: 'generated password',
  killUserSessions: () => undefined,
  // A stored program cannot KILL by user in MySQL; sessions opened before the expiry stay until the
  // bot ends them (by id) when it is back.
  expiryEventBody: (user, host) => `DROP USER IF EXISTS ${accountName(user, host)}`,
};

export function dialectFor(flavor: Flavor): Dialect {
  return flavor === 'mariadb' ? mariadb : mysql;
}

/** Both flavours: the one-shot event that drops an ephemeral user at its expiry. */
export function createExpiryEvent(dialect: Dialect, schema: string, event: string, at: Date, user: string, host: string): string {
  return (
    `CREATE EVENT ${sqlIdentifier(schema)}.${sqlIdentifier(event)} ON SCHEDULE AT ${sqlString(utcDateTime(at))} ` +
    `ON COMPLETION NOT PRESERVE COMMENT 'jit-access: drops an ephemeral user at its expiry' DO ${dialect.expiryEventBody(user, host)}`
  );
}

export function moveExpiryEvent(schema: string, event: string, at: Date): string {
  return `ALTER EVENT ${sqlIdentifier(schema)}.${sqlIdentifier(event)} ON SCHEDULE AT ${sqlString(utcDateTime(at))}`;
}

export function dropExpiryEvent(schema: string, event: string): string {
  return `DROP EVENT IF EXISTS ${sqlIdentifier(schema)}.${sqlIdentifier(event)}`;
}

/** The helper procedure a DBA may create in the bot's schema (README), so the bot needs no UPDATE on `mysql`. */
export const DEFAULT_ROLE_PROCEDURE = 'jit_set_default_role';

export function callDefaultRoleProcedure(schema: string): string {
  return `CALL ${sqlIdentifier(schema)}.${sqlIdentifier(DEFAULT_ROLE_PROCEDURE)}(?, ?, ?)`;
}
