import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { Client, escapeIdentifier as ident } from 'pg';
import type { PostgresProviderConfig } from '../../src/providers/postgres/config';
import { PostgresProvider, ephemeralRoleName } from '../../src/providers/postgres/postgres-provider';
import type { GrantResult, GrantSubject } from '../../src/providers/provider';
import { PG_SUPERUSER_URL, describeWithPostgres, superuser } from './pg-available';
import { bound, rejection } from './bound';
import { readsSecret } from '../support/pg-fixture';

/*
 * Runs against the shared server at 127.0.0.1:5432, which trusts every local connection: logins
 * here prove that a role exists and may log in (rolcanlogin), never that a password or VALID UNTIL
 * is checked. postgres-password-auth.test.ts covers those on a private SCRAM-only cluster.
 *
 * Roles are cluster-wide, so every name carries this run's random suffix and is dropped afterwards.
 */

const RUN = randomBytes(4).toString('hex');
const DB = `jit_test_${RUN}`;
const TARGET = `jit_reader_${RUN}`;
const QUOTED_TARGET = `jit_q"uo'te; DROP ROLE postgres; --${RUN}`;
const ADMIN = `jit_admin_${RUN}`;
const WEAK_ADMIN = `jit_weak_${RUN}`;
const ACCOUNT = `jit_acct_${RUN}`;
const OTHER_ACCOUNT = `jit_other_${RUN}`;
const ADMIN_PASSWORD = `admin-pw-${RUN}-Zq9`;
const GROUP = `jit_group_${RUN}`;
const SUPER = `jit_super_${RUN}`;
const HOLDER = `jit_holder_${RUN}`;

const host = new URL(PG_SUPERUSER_URL);
const adminUrl = (user = ADMIN, port = Number(host.port || 5432)) => `postgres://${user}:${ADMIN_PASSWORD}@${host.hostname}:${port}/${DB}`;

const providers: PostgresProvider[] = [];
const clients: Client[] = [];

/** A target (its own pool) with one resource's role and mode. */
function provider(overrides: Partial<PostgresProviderConfig> = {}) {
  const { role = TARGET, mode = 'grant', ...target } = overrides;
  const p = new PostgresProvider({ url: adminUrl(), ...target }, 'prod-db');
  providers.push(p);
  return bound(p, { role, mode });
}

function subject(account: string | undefined, requestId = `req-${randomBytes(4).toString('hex')}`, expiresInMs = 3_600_000): GrantSubject {
  return {
    requestId,
    resourceId: 'prod-db',
    user: { slackId: 'U0ALICE', email: 'alice@example.com', account },
    reason: 'test',
    expiresAt: new Date(Date.now() + expiresInMs),
  };
}

const soon = (ms = 10_000) => ({ deadline: new Date(Date.now() + ms) });

/** A connection as `user` to the test database; errors after termination are expected, not fatal. */
async function connectAs(user: string, password = 'irrelevant-under-trust'): Promise<Client> {
  const client = new Client({ host: host.hostname, port: Number(host.port || 5432), user, password, database: DB });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

async function canRead(user: string): Promise<boolean> {
  return readsSecret(await connectAs(user));
}

async function roleExists(name: string): Promise<boolean> {
  return superuser('postgres', async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1);
}

async function isMember(member: string, role: string): Promise<boolean> {
  return superuser('postgres', async (c) => {
    const { rowCount } = await c.query(
      `SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE r.rolname = $1 AND u.rolname = $2`,
      [role, member],
    );
    return rowCount === 1;
  });
}

function field(result: GrantResult, label: string): string {
  const value = result.secretForRequester?.fields.find((f) => f.label === label)?.value;
  if (value === undefined) throw new Error(`no ${label} in ${JSON.stringify(result.secretForRequester?.fields.map((f) => f.label))}`);
  return value;
}

describeWithPostgres('PostgresProvider (PostgreSQL at 127.0.0.1:5432)', () => {
  beforeAll(async () => {
    await superuser('postgres', async (c) => {
      await c.query(`CREATE DATABASE ${ident(DB)}`);
      await c.query(`CREATE ROLE ${ident(TARGET)} NOLOGIN`);
      await c.query(`CREATE ROLE ${ident(QUOTED_TARGET)} NOLOGIN`);
      // Least privilege: what the README asks operators to set up for the bot.
      await c.query(`CREATE ROLE ${ident(ADMIN)} LOGIN CREATEROLE PASSWORD '${ADMIN_PASSWORD}'`);
      await c.query(`GRANT ${ident(TARGET)}, ${ident(QUOTED_TARGET)} TO ${ident(ADMIN)} WITH ADMIN OPTION`);
      await c.query(`GRANT pg_signal_backend TO ${ident(ADMIN)}`);
      await c.query(`CREATE ROLE ${ident(WEAK_ADMIN)} LOGIN PASSWORD '${ADMIN_PASSWORD}'`);
      await c.query(`CREATE ROLE ${ident(ACCOUNT)} LOGIN PASSWORD 'account-pw'`);
      await c.query(`CREATE ROLE ${ident(OTHER_ACCOUNT)} LOGIN PASSWORD 'account-pw'`);
      await c.query(`CREATE ROLE ${ident(GROUP)} NOLOGIN`);
      await c.query(`CREATE ROLE ${ident(SUPER)} LOGIN SUPERUSER`);
      await c.query(`CREATE ROLE ${ident(HOLDER)} LOGIN`);
    });
    await superuser(DB, async (c) => {
      await c.query('CREATE TABLE secret_t (v text)');
      await c.query("INSERT INTO secret_t VALUES ('the secret')");
      await c.query('REVOKE ALL ON secret_t FROM PUBLIC');
      await c.query(`GRANT SELECT ON secret_t TO ${ident(TARGET)}`);
      // Lets ephemeral roles own something, so revoke has to clean up after them.
      await c.query('CREATE SCHEMA scratch');
      await c.query(`GRANT USAGE, CREATE ON SCHEMA scratch TO ${ident(TARGET)}`);
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await Promise.all(providers.map((p) => p.close()));
    await superuser('postgres', async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${ident(DB)} WITH (FORCE)`);
      const { rows } = await c.query<{ rolname: string }>(
        // Includes ephemeral roles a failed test left behind (their names contain ACCOUNT).
        'SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0',
        [RUN],
      );
      for (const { rolname } of rows) await c.query(`DROP ROLE IF EXISTS ${ident(rolname)}`);
    });
  });

  describe('grant mode', () => {
    it('gives the account the role until revoke, and ends sessions opened meanwhile', async () => {
      const p = provider();
      const s = subject(ACCOUNT);
      expect(await canRead(ACCOUNT)).toBe(false);

      await expect(p.grant(s, soon())).resolves.toEqual({});
      expect(await canRead(ACCOUNT)).toBe(true);
      const held = await connectAs(ACCOUNT);
      await held.query(`SET ROLE ${ident(TARGET)}`);
      await expect(held.query('SELECT v FROM secret_t')).resolves.toMatchObject({ rows: [{ v: 'the secret' }] });

      await p.revoke(s, soon());

      // The held session had SET ROLE, so it would keep the privileges if it survived.
      await expect(held.query('SELECT v FROM secret_t')).rejects.toThrow(/terminat|Connection/i);
      expect(await canRead(ACCOUNT)).toBe(false);
      const fresh = await connectAs(ACCOUNT);
      await expect(fresh.query(`SET ROLE ${ident(TARGET)}`)).rejects.toThrow(/permission denied/);
      expect(await isMember(ACCOUNT, TARGET)).toBe(false);
    });

    it('is idempotent: grant twice, revoke twice, revoke what was never granted', async () => {
      const p = provider();
      const s = subject(ACCOUNT);
      await p.grant(s, soon());
      await p.grant(s, soon());
      expect(await isMember(ACCOUNT, TARGET)).toBe(true);
      await p.revoke(s, soon());
      await p.revoke(s, soon());
      expect(await isMember(ACCOUNT, TARGET)).toBe(false);
      await expect(p.revoke(subject(OTHER_ACCOUNT), soon())).resolves.toBeUndefined();
      await expect(p.revoke(subject(`jit_nobody_${RUN}`), soon())).resolves.toBeUndefined();
    });

    it('extend is a no-op', async () => {
      await expect(provider().extend(subject(ACCOUNT), soon())).resolves.toBeUndefined();
    });

    it('refuses an injected account name without touching the database', async () => {
      const err = await rejection(provider().grant(subject('alice"; DROP ROLE postgres; --'), soon()));
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/not a valid role name/);
      expect(await roleExists('postgres')).toBe(true);
      // Revoking it is trivially done: nothing can have been granted.
      await expect(provider().revoke(subject('alice"; DROP ROLE postgres; --'), soon())).resolves.toBeUndefined();
    });

    it('refuses a grant without an account', async () => {
      const err = await rejection(provider().grant(subject(undefined), soon()));
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/no database account/);
    });

    it('quotes a configured role name containing quotes harmlessly', async () => {
      const p = provider({ role: QUOTED_TARGET });
      const s = subject(ACCOUNT);
      await p.grant(s, soon());
      expect(await isMember(ACCOUNT, QUOTED_TARGET)).toBe(true);
      expect(await roleExists('postgres')).toBe(true);
      await p.revoke(s, soon());
      expect(await isMember(ACCOUNT, QUOTED_TARGET)).toBe(false);
      expect(await roleExists('postgres')).toBe(true);
    });

    it('reports a missing target role clearly and without retry', async () => {
      const missing = `jit_missing_${RUN}`;
      const err = await rejection(provider({ role: missing }).grant(subject(ACCOUNT), soon()));
      expect(err.retryable).toBe(false);
      expect(err.message).toContain(`role ${missing} does not exist in database ${DB}`);
      // Nothing was granted, so there is nothing to revoke.
      await expect(provider({ role: missing }).revoke(subject(ACCOUNT), soon())).resolves.toBeUndefined();
    });

    it('reports a missing account without retry', async () => {
      const err = await rejection(provider().grant(subject(`jit_nobody_${RUN}`), soon()));
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/database account jit_nobody_\w+ does not exist/);
    });

    it('fails without retry when the admin may not grant the role', async () => {
      const err = await rejection(provider({ url: adminUrl(WEAK_ADMIN) }).grant(subject(ACCOUNT), soon()));
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/admin option|permission denied/i);
    });
  });

  describe('filing-time checks and standing access (grant mode)', () => {
    const filing = (account: string) => ({ resourceId: 'prod-db', user: { slackId: 'U0ALICE', account } });

    it('accepts an existing login role', async () => {
      await expect(provider().validate(filing(ACCOUNT), soon())).resolves.toEqual({ ok: true });
    });

    it.each([
      ['a NOLOGIN group role', () => GROUP, /cannot log in \(NOLOGIN: a group role/],
      ['a superuser', () => SUPER, /is a superuser/],
      ['the role jit-access connects as', () => ADMIN, /is the role jit-access connects as/],
      ['an account that does not exist', () => `jit_nobody_${RUN}`, /There is no database account/],
    ])('refuses %s, saying why', async (_what, account, reason) => {
      const found = await provider().validate(filing(account()), soon());
      expect(found).toEqual({ ok: false, reason: expect.stringMatching(reason) });
    });

    it('refuses when the role it hands out is missing, and needs no account in ephemeral mode', async () => {
      expect(await provider({ role: `jit_missing_${RUN}` }).validate(filing(ACCOUNT), soon())).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/has no role/),
      });
      await expect(provider({ mode: 'ephemeral' }).validate({ resourceId: 'prod-db', user: { slackId: 'U0X' } }, soon())).resolves.toEqual({
        ok: true,
      });
    });

    it('refuses at grant time too, when an account stopped being able to log in after filing', async () => {
      await superuser('postgres', (c) => c.query(`ALTER ROLE ${ident(HOLDER)} NOLOGIN`));
      try {
        const err = await rejection(provider().grant(subject(HOLDER), soon()));
        expect(err.retryable).toBe(false);
        expect(err.message).toMatch(/cannot log in/);
        expect(await isMember(HOLDER, TARGET)).toBe(false);
      } finally {
        await superuser('postgres', (c) => c.query(`ALTER ROLE ${ident(HOLDER)} LOGIN`));
      }
    });

    it('holds() sees a direct membership, whoever granted it, and nothing else', async () => {
      const p = provider();
      expect(await p.holds(filing(HOLDER), soon())).toBe(false);
      await superuser('postgres', (c) => c.query(`GRANT ${ident(TARGET)} TO ${ident(HOLDER)}`));
      expect(await p.holds(filing(HOLDER), soon())).toBe(true);
      await superuser('postgres', (c) => c.query(`REVOKE ${ident(TARGET)} FROM ${ident(HOLDER)}`));
      // Through a group is not a membership a REVOKE of ours would touch.
      await superuser('postgres', (c) => c.query(`GRANT ${ident(TARGET)} TO ${ident(GROUP)}; GRANT ${ident(GROUP)} TO ${ident(HOLDER)}`));
      expect(await p.holds(filing(HOLDER), soon())).toBe(false);
      expect(await provider({ mode: 'ephemeral' }).holds(filing(HOLDER), soon())).toBe(false);
    });
  });

  describe('ephemeral mode', () => {
    const ephemeral = (overrides: Partial<PostgresProviderConfig> = {}) => provider({ mode: 'ephemeral', ...overrides });

    it('creates a login role that can read, hands out its credentials, and drops it on revoke', async () => {
      const p = ephemeral();
      const s = subject(ACCOUNT);
      const result = await p.grant(s, soon());

      const roleName = ephemeralRoleName(ACCOUNT, s.requestId);
      expect(result.details).toEqual({ roleName });
      expect(result.secretForRequester?.title).toContain('prod-db');
      expect(result.secretForRequester?.fields.map((f) => f.label)).toEqual([
        'Host',
        'Port',
        'Database',
        'User',
        'Password',
        'Valid until',
      ]);
      expect(field(result, 'Host')).toBe(host.hostname);
      expect(field(result, 'Port')).toBe(String(Number(host.port || 5432)));
      expect(field(result, 'Database')).toBe(DB);
      expect(field(result, 'User')).toBe(roleName);
      expect(field(result, 'Password')).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(field(result, 'Valid until')).toBe(s.expiresAt.toISOString());

      const { rolpassword, rolvaliduntil, rolcanlogin } = await superuser(
        'postgres',
        async (c) =>
          (await c.query('SELECT rolpassword, rolvaliduntil, rolcanlogin FROM pg_authid WHERE rolname = $1', [roleName])).rows[0],
      );
      expect(rolcanlogin).toBe(true);
      expect((rolvaliduntil as Date).toISOString()).toBe(s.expiresAt.toISOString());
      // The server only ever saw the SCRAM verifier, never the password itself.
      expect(rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
      expect(rolpassword).not.toContain(field(result, 'Password'));

      expect(await canRead(roleName)).toBe(true);
      const held = await connectAs(roleName, field(result, 'Password'));
      await p.revoke(s, { ...soon(), details: result.details });

      await expect(held.query('SELECT 1')).rejects.toThrow(/terminat|Connection/i);
      expect(await roleExists(roleName)).toBe(false);
      await expect(connectAs(roleName, field(result, 'Password'))).rejects.toThrow(/does not exist/);
      await expect(p.revoke(s, { ...soon(), details: result.details })).resolves.toBeUndefined();
    });

    it('on a retried grant, reuses the role with fresh credentials and expiry', async () => {
      const p = ephemeral();
      const s = subject(ACCOUNT);
      const first = await p.grant(s, soon());
      const later = { ...s, expiresAt: new Date(s.expiresAt.getTime() + 60_000) };
      const second = await p.grant(later, soon());
      expect(second.details).toEqual(first.details);
      expect(field(second, 'Password')).not.toBe(field(first, 'Password'));
      const roleName = first.details!.roleName!;
      const validUntil = await superuser(
        'postgres',
        async (c) => (await c.query('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [roleName])).rows[0].rolvaliduntil as Date,
      );
      expect(validUntil.toISOString()).toBe(later.expiresAt.toISOString());
      expect(await isMember(roleName, TARGET)).toBe(true);
      await p.revoke(s, { ...soon(), details: first.details });
      await p.revoke(s, { ...soon(), details: first.details });
      expect(await roleExists(roleName)).toBe(false);
    });

    it('extend moves VALID UNTIL; extending a dropped role fails without retry', async () => {
      const p = ephemeral();
      const s = subject(ACCOUNT);
      const { details } = await p.grant(s, soon());
      const extended = { ...s, expiresAt: new Date(s.expiresAt.getTime() + 30 * 60_000) };
      await p.extend(extended, soon());
      const validUntil = await superuser(
        'postgres',
        async (c) =>
          (await c.query('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [details!.roleName])).rows[0].rolvaliduntil as Date,
      );
      expect(validUntil.toISOString()).toBe(extended.expiresAt.toISOString());
      await p.revoke(s, { ...soon(), details });
      const err = await rejection(p.extend(extended, soon()));
      expect(err.retryable).toBe(false);
    });

    it('revoke finds the role from the subject when details are missing', async () => {
      const p = ephemeral();
      const s = subject(ACCOUNT);
      const { details } = await p.grant(s, soon());
      await p.revoke(s, soon());
      expect(await roleExists(details!.roleName!)).toBe(false);
    });

    it('revoke reassigns what the role created to the admin before dropping it', async () => {
      const p = ephemeral();
      const s = subject(ACCOUNT);
      const result = await p.grant(s, soon());
      const session = await connectAs(field(result, 'User'), field(result, 'Password'));
      await session.query('CREATE TABLE scratch.notes (v text)');
      await session.query(`GRANT SELECT ON scratch.notes TO ${ident(OTHER_ACCOUNT)}`);

      await p.revoke(s, { ...soon(), details: result.details });

      expect(await roleExists(field(result, 'User'))).toBe(false);
      const owner = await superuser(
        DB,
        async (c) => (await c.query("SELECT tableowner FROM pg_tables WHERE tablename = 'notes'")).rows[0]?.tableowner,
      );
      expect(owner).toBe(ADMIN);
    });

    it('refuses to drop a role jit-access did not name', async () => {
      const err = await rejection(ephemeral().revoke(subject(ACCOUNT), { ...soon(), details: { roleName: 'postgres' } }));
      expect(err.retryable).toBe(false);
      expect(await roleExists('postgres')).toBe(true);
    });

    it('sanitizes the account into the role name, so odd identities cannot inject', async () => {
      const p = ephemeral();
      const s = subject('alice"; DROP ROLE postgres; --');
      const result = await p.grant(s, soon());
      expect(field(result, 'User')).toMatch(/^jit_alice___drop_role_postgres_____[0-9a-f]{8}$/);
      await p.revoke(s, { ...soon(), details: result.details });
      expect(await roleExists('postgres')).toBe(true);
      expect(await roleExists(field(result, 'User'))).toBe(false);
    });

    it('shows configured host, port and database instead of the admin URL ones', async () => {
      const p = ephemeral({ host: 'db.example.internal', port: 6432, database: 'app' });
      const s = subject(ACCOUNT);
      const result = await p.grant(s, soon());
      expect([field(result, 'Host'), field(result, 'Port'), field(result, 'Database')]).toEqual(['db.example.internal', '6432', 'app']);
      await p.revoke(s, { ...soon(), details: result.details });
    });

    it('reports a missing target role without retry', async () => {
      const err = await rejection(ephemeral({ role: `jit_missing_${RUN}` }).grant(subject(ACCOUNT), soon()));
      expect(err.retryable).toBe(false);
      expect(err.message).toContain(`does not exist in database ${DB}`);
    });
  });

  describe('unreachable database', () => {
    let hanging: Server;
    const sockets: Socket[] = [];

    beforeAll(async () => {
      // Accepts TCP connections and never speaks: a server stuck mid-handshake.
      hanging = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    });
    afterAll(async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    });

    it('fails fast and retryably when nothing listens, without leaking the password', async () => {
      const started = Date.now();
      const err = await rejection(provider({ url: adminUrl(ADMIN, 1) }).grant(subject(ACCOUNT), soon(3_000)));
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/ECONNREFUSED/);
      expect(err.message).not.toContain(ADMIN_PASSWORD);
    });

    it('gives up at the deadline when the server never answers', async () => {
      const port = (hanging.address() as { port: number }).port;
      const started = Date.now();
      const err = await rejection(provider({ url: adminUrl(ADMIN, port) }).revoke(subject(ACCOUNT), soon(700)));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(650);
      expect(elapsed).toBeLessThan(700 + 500);
      expect(err.retryable).toBe(true);
      expect(err.message).not.toContain(ADMIN_PASSWORD);
    });

    it('gives up at config.timeoutMs when that is sooner', async () => {
      const port = (hanging.address() as { port: number }).port;
      const started = Date.now();
      await rejection(provider({ url: adminUrl(ADMIN, port), timeoutMs: 400 }).grant(subject(ACCOUNT), soon(10_000)));
      expect(Date.now() - started).toBeLessThan(400 + 500);
    });
  });

  describe('check()', () => {
    it('is empty when everything is in place', async () => {
      await expect(provider().check()).resolves.toEqual([]);
      await expect(provider({ mode: 'ephemeral' }).check()).resolves.toEqual([]);
    });

    it('reports a missing role', async () => {
      const missing = `jit_missing_${RUN}`;
      const warnings = await provider({ role: missing }).check();
      expect(warnings).toEqual([expect.stringContaining(`role ${missing} does not exist in database ${DB}`)]);
    });

    it('reports missing privileges of the connected role', async () => {
      const warnings = await provider({ url: adminUrl(WEAK_ADMIN), mode: 'ephemeral' }).check();
      expect(warnings).toEqual([
        expect.stringContaining(`cannot grant role ${TARGET}`),
        expect.stringContaining('needs CREATEROLE'),
        expect.stringContaining('pg_signal_backend'),
      ]);
    });

    it('reports an unreachable server without the URL or password', async () => {
      const warnings = await provider({ url: adminUrl(ADMIN, 1) }).check();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/ECONNREFUSED/);
      expect(warnings[0]).not.toContain(ADMIN_PASSWORD);
      expect(warnings[0]).not.toContain('postgres://');
    });
  });
});
