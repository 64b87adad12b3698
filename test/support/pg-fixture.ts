import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier as ident } from 'pg';
import { PG_SUPERUSER_URL, superuser } from '../providers/pg-available';

/*
 * A throw-away database on the shared PostgreSQL at 127.0.0.1:5432 for the end-to-end tests: a
 * table only `reader` may read, the bot's least-privilege admin roles (no SUPERUSER, as the README
 * tells operators), and helpers to look at what the bot did. Roles are cluster-wide: every name
 * carries the run's random suffix, and tearDown() drops them.
 *
 * That server trusts local connections, so a login here proves that a role exists and may log in,
 * not that its password or VALID UNTIL is checked (test/providers/postgres-password-auth.test.ts).
 */
/** Whether this session may read secret_t (only `reader` may); closes the session. */
export async function readsSecret(c: Client): Promise<boolean> {
  try {
    await c.query('SELECT v FROM secret_t');
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '42501') return false;
    throw err;
  } finally {
    await c.end();
  }
}

export class PgFixture {
  readonly run = randomBytes(4).toString('hex');
  readonly db = `jit_e2e_${this.run}`;
  /** The role resources hand out; it may read secret_t. */
  readonly reader = `jit_e2e_reader_${this.run}`;
  readonly admin = `jit_e2e_admin_${this.run}`;
  /** A second admin role, for the "account is the bot's own role" case. */
  readonly admin2 = `jit_e2e_admin2_${this.run}`;
  readonly adminPassword = `e2e-admin-pw-${this.run}-Xy7`;
  readonly host = new URL(PG_SUPERUSER_URL).hostname;
  readonly port = Number(new URL(PG_SUPERUSER_URL).port || 5432);
  /** Ephemeral roles whose names may lack the run suffix; dropped in tearDown(). */
  readonly extraRoles = new Set<string>();
  private readonly clients: Client[] = [];

  adminUrl(user = this.admin, port = this.port): string {
    return `postgres://${user}:${this.adminPassword}@${this.host}:${port}/${this.db}`;
  }

  /** `LOGIN` roles are people's accounts; `NOLOGIN` ones are groups. */
  async createRoles(...roles: Array<{ name: string; login: boolean; memberOf?: string[] }>): Promise<void> {
    await superuser('postgres', async (c) => {
      for (const role of roles) {
        await c.query(`CREATE ROLE ${ident(role.name)} ${role.login ? 'LOGIN' : 'NOLOGIN'}`);
        for (const group of role.memberOf ?? []) await c.query(`GRANT ${ident(group)} TO ${ident(role.name)}`);
      }
    });
  }

  async setUp(): Promise<void> {
    await superuser('postgres', async (c) => {
      await c.query(`CREATE DATABASE ${ident(this.db)}`);
      await c.query(`CREATE ROLE ${ident(this.reader)} NOLOGIN`);
      for (const admin of [this.admin, this.admin2]) {
        await c.query(`CREATE ROLE ${ident(admin)} LOGIN CREATEROLE PASSWORD '${this.adminPassword}'`);
        await c.query(`GRANT ${ident(this.reader)} TO ${ident(admin)} WITH ADMIN OPTION`);
        await c.query(`GRANT pg_signal_backend TO ${ident(admin)}`);
      }
    });
    await superuser(this.db, async (c) => {
      await c.query('CREATE TABLE secret_t (v text)');
      await c.query("INSERT INTO secret_t VALUES ('the secret')");
      await c.query('REVOKE ALL ON secret_t FROM PUBLIC');
      await c.query(`GRANT SELECT ON secret_t TO ${ident(this.reader)}`);
    });
  }

  async tearDown(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.end().catch(() => undefined)));
    await superuser('postgres', async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${ident(this.db)} WITH (FORCE)`);
      const { rows } = await c.query<{ rolname: string }>(
        'SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0 OR rolname = ANY($2)',
        [this.run, [...this.extraRoles]],
      );
      // Members first: dropping a role that others are members of is fine, but ephemeral ones are ours to clean.
      const last = new Set([this.reader, this.admin, this.admin2]);
      const ordered = rows.map((r) => r.rolname).sort((a, b) => Number(last.has(a)) - Number(last.has(b)));
      for (const rolname of ordered) await c.query(`DROP ROLE IF EXISTS ${ident(rolname)}`);
    });
  }

  /** A session to the test database; errors after it is terminated are expected, not fatal. */
  async connect(opts: { user: string; password?: string; host?: string; port?: number; database?: string }): Promise<Client> {
    const client = new Client({
      host: opts.host ?? this.host,
      port: opts.port ?? this.port,
      user: opts.user,
      password: opts.password ?? 'irrelevant-under-trust',
      database: opts.database ?? this.db,
      connectionTimeoutMillis: 5000,
    });
    client.on('error', () => undefined);
    this.clients.push(client);
    await client.connect();
    return client;
  }

  async canRead(user: string): Promise<boolean> {
    return readsSecret(await this.connect({ user }));
  }

  async postgresIntact(): Promise<boolean> {
    return superuser('postgres', async (c) => {
      const { rows } = await c.query<{ rolsuper: boolean }>("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'");
      return rows.length === 1 && rows[0]!.rolsuper;
    });
  }

  async roleExists(name: string): Promise<boolean> {
    return superuser('postgres', async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1);
  }

  /** Direct members of `role` (default: the reader role), besides the bot's admin roles. */
  async membersOf(role = this.reader): Promise<string[]> {
    return superuser('postgres', async (c) => {
      const { rows } = await c.query<{ rolname: string }>(
        `SELECT u.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
          WHERE r.rolname = $1 AND u.rolname <> ALL($2) ORDER BY 1`,
        [role, [this.admin, this.admin2]],
      );
      return rows.map((r) => r.rolname);
    });
  }

  /** A membership given outside jit-access: by the superuser, as a DBA would, or by `grantor` (the old bot's admin role). */
  async grantDirectly(role: string, member: string, grantor?: string): Promise<void> {
    if (grantor === undefined) return void (await superuser('postgres', (c) => c.query(`GRANT ${ident(role)} TO ${ident(member)}`)));
    const c = await this.connect({ user: grantor });
    try {
      await c.query(`GRANT ${ident(role)} TO ${ident(member)}`);
    } finally {
      await c.end();
    }
  }
}
