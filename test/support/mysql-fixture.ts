import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { accountName, sqlIdentifier, sqlString } from '../../src/providers/mysql/dialect';
import { MYSQL_ROOT_URL, asRoot } from '../providers/mysql-available';
import { adminRecipe, defaultRoleProcedureSql } from './mysql-recipe';

/*
 * A throw-away schema and accounts on the shared MariaDB at 127.0.0.1:3306: the bot's own schema
 * (where expiry events and the default-role helper live, and a table only `reader` may read), the
 * role resources hand out, and the bot's least-privilege account, set up exactly as the README's
 * recipe says (no root, no UPDATE on `mysql`). Accounts are server-wide: every name carries the
 * run's random suffix, and tearDown() drops them.
 *
 * Unlike the PostgreSQL test server, this one checks passwords on every TCP login, so "the
 * credentials stop working" is observed directly.
 */

export class MysqlFixture {
  readonly run = randomBytes(4).toString('hex');
  /** The bot's own schema (the database of its URL), which also holds secret_t. */
  readonly schema = `jit_my_${this.run}`;
  /** The role resources hand out; it may read secret_t. */
  readonly reader = `jit_my_reader_${this.run}`;
  /** The bot's account: grant mode and ephemeral mode, per the README. */
  readonly admin = `jit_my_admin_${this.run}`;
  readonly adminPassword = `my-admin-pw-${this.run}-Qx7`;
  readonly host = new URL(MYSQL_ROOT_URL).hostname;
  readonly port = Number(new URL(MYSQL_ROOT_URL).port || 3306);
  /** Users whose names may lack the run suffix (ephemeral ones); dropped in tearDown(). */
  readonly extraUsers = new Set<string>();
  private readonly connections: Connection[] = [];

  adminUrl(user = this.admin, port = this.port, password = this.adminPassword): string {
    return `mysql://${user}:${encodeURIComponent(password)}@${this.host}:${port}/${this.schema}`;
  }

  async setUp(): Promise<void> {
    await asRoot(async (c) => {
      await c.query(`CREATE DATABASE ${sqlIdentifier(this.schema)}`);
      await c.query(`CREATE TABLE ${sqlIdentifier(this.schema)}.secret_t (v text)`);
      await c.query(`INSERT INTO ${sqlIdentifier(this.schema)}.secret_t VALUES ('the secret')`);
      await c.query(`CREATE ROLE ${sqlString(this.reader)}`);
      await c.query(`GRANT SELECT ON ${sqlIdentifier(this.schema)}.secret_t TO ${sqlString(this.reader)}`);
      await c.query(defaultRoleProcedureSql(this.schema));
      for (const statement of adminRecipe({
        admin: this.admin,
        password: this.adminPassword,
        schema: this.schema,
        roles: [this.reader],
        ephemeral: true,
      })) {
        await c.query(statement);
      }
    });
  }

  async tearDown(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.end().catch(() => c.destroy())));
    await asRoot(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${sqlIdentifier(this.schema)}`);
      const [rows] = await c.query<RowDataPacket[]>(
        'SELECT User AS user, Host AS host FROM mysql.user WHERE INSTR(User, ?) > 0 OR User IN (?)',
        [this.run, [...this.extraUsers, '-none-']],
      );
      for (const { user, host } of rows) {
        // Roles have an empty host; users a real one.
        await c.query(host === '' ? `DROP ROLE IF EXISTS ${sqlString(user)}` : `DROP USER IF EXISTS ${accountName(user, host)}`);
      }
    });
  }

  /** Logins (people's accounts), each `'name'@'host'` with `password`. */
  async createUsers(...users: Array<{ name: string; host?: string; password?: string; roles?: string[] }>): Promise<void> {
    await asRoot(async (c) => {
      for (const u of users) {
        await c.query(
          `CREATE USER ${accountName(u.name, u.host ?? '%')} IDENTIFIED BY ${sqlString(u.password ?? this.passwordOf(u.name))}`,
        );
        for (const role of u.roles ?? []) await c.query(`GRANT ${sqlString(role)} TO ${accountName(u.name, u.host ?? '%')}`);
      }
    });
  }

  /** The password createUsers() gives `name` by default. */
  passwordOf(name: string): string {
    return `pw-${name}`;
  }

  async createRole(name: string): Promise<void> {
    await asRoot((c) => c.query(`CREATE ROLE ${sqlString(name)}`));
  }

  /** A TCP session as `user`; errors after it is killed are expected, not fatal. */
  async connect(opts: { user: string; password?: string; host?: string; port?: number; database?: string }): Promise<Connection> {
    const c = await createConnection({
      host: opts.host ?? this.host,
      port: opts.port ?? this.port,
      user: opts.user,
      password: opts.password ?? this.passwordOf(opts.user),
      database: opts.database,
      connectTimeout: 5000,
    });
    c.on('error', () => undefined);
    this.connections.push(c);
    return c;
  }

  /** Whether a fresh session as `user` may read secret_t (through its default role, without SET ROLE); closes it. */
  async canRead(user: string, password?: string): Promise<boolean> {
    return readsSecret(await this.connect({ user, password }), this.schema);
  }

  /** Direct holders of `role` (default: the reader role) as `user@host`, besides its administrators (the bot's accounts, root). */
  async holdersOf(role = this.reader): Promise<string[]> {
    return asRoot(async (c) => {
      const [rows] = await c.query<RowDataPacket[]>(
        "SELECT CONCAT(User, '@', Host) AS who FROM mysql.roles_mapping WHERE Role = ? AND Admin_option = 'N' ORDER BY 1",
        [role],
      );
      return rows.map((r) => String(r.who));
    });
  }

  async defaultRoleOf(user: string, host = '%'): Promise<string | undefined> {
    return asRoot(async (c) => {
      const [rows] = await c.query<RowDataPacket[]>('SELECT default_role AS r FROM mysql.user WHERE User = ? AND Host = ?', [user, host]);
      return rows[0]?.r ? String(rows[0].r) : undefined;
    });
  }

  async userExists(user: string, host = '%'): Promise<boolean> {
    return asRoot(
      async (c) => (await c.query<RowDataPacket[]>('SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [user, host]))[0].length === 1,
    );
  }

  /** Sessions of `user` in the process list. */
  async sessionsOf(user: string): Promise<number> {
    return asRoot(
      async (c) => (await c.query<RowDataPacket[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?', [user]))[0].length,
    );
  }

  /** A role grant made outside jit-access (by a DBA: root). */
  async grantDirectly(role: string, user: string, host = '%'): Promise<void> {
    await asRoot((c) => c.query(`GRANT ${sqlString(role)} TO ${accountName(user, host)}`));
  }

  async revokeDirectly(role: string, user: string, host = '%'): Promise<void> {
    await asRoot((c) => c.query(`REVOKE ${sqlString(role)} FROM ${accountName(user, host)}`));
  }

  /** The expiry event of an ephemeral user, if there is one: when it fires. */
  async eventAt(user: string): Promise<Date | undefined> {
    return asRoot(async (c) => {
      const [rows] = await c.query<RowDataPacket[]>(
        "SELECT DATE_FORMAT(EXECUTE_AT, '%Y-%m-%dT%H:%i:%sZ') AS at, TIME_ZONE AS tz FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = ?",
        [this.schema, `jit_expire_${user}`],
      );
      if (!rows[0]) return undefined;
      if (rows[0].tz !== '+00:00') throw new Error(`expiry event of ${user} is in time zone ${String(rows[0].tz)}, not UTC`);
      return new Date(String(rows[0].at));
    });
  }
}

/** Whether this session may read secret_t; closes the session. */
async function readsSecret(c: Connection, schema: string): Promise<boolean> {
  try {
    await c.query(`SELECT v FROM ${sqlIdentifier(schema)}.secret_t`);
    return true;
  } catch (err) {
    if ([1142, 1044].includes((err as { errno?: number }).errno ?? 0)) return false;
    throw err;
  } finally {
    await c.end().catch(() => c.destroy());
  }
}
