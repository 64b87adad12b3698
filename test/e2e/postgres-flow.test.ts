import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier as ident } from 'pg';
import { PolicyError, parsePolicy } from '../../src/policy/load';
import { PG_SUPERUSER_URL, describeWithPostgres, superuser } from '../providers/pg-available';
import { startTestBot, TestBot, waitUntil } from './harness';
import { freePort as closedPort } from '../support/ports';

/*
 * The PostgreSQL provider through the real app: a request in Slack, an approval click, then
 * GRANT / CREATE ROLE against the PostgreSQL at 127.0.0.1:5432, and `/jit-access revoke` taking it
 * all back. Skipped (with the reason printed) when that server is unreachable, except in CI.
 *
 * That server trusts local connections, so a login here proves that a role exists and may log in,
 * not that its password or VALID UNTIL is checked: test/providers/postgres-password-auth.test.ts
 * covers those on a private SCRAM-only cluster, and is not repeated here.
 *
 * Roles are cluster-wide: every name carries this run's random suffix, and afterAll drops them.
 */

const RUN = randomBytes(4).toString('hex');
const DB = `jit_e2e_${RUN}`;
const TARGET = `jit_e2e_reader_${RUN}`;
const ADMIN = `jit_e2e_admin_${RUN}`;
const ADMIN_PASSWORD = `e2e-admin-pw-${RUN}-Xy7`;
/** A second admin role, for the self-revocation case (U0DAVE's identity maps to it). */
const ADMIN2 = `jit_e2e_admin2_${RUN}`;
/** U0ALICE's database account, through the policy's `identities`. */
const ACCOUNT = `jit_e2e_alice_${RUN}`;
/** A Slack e-mail whose local part tries to inject SQL. */
const EVIL_EMAIL = '"alice\\"; DROP ROLE postgres; --"@example.com';

const pgHost = new URL(PG_SUPERUSER_URL);
const PG_HOSTNAME = pgHost.hostname;
const PG_PORT = Number(pgHost.port || 5432);

/** Ephemeral roles created during the run whose names may lack RUN; dropped in afterAll. */
const extraRoles = new Set<string>();
const clients: Client[] = [];

function policy(): string {
  return `
approvalChannel: C0APPROVALS
admins: [U0ADMIN]
defaults:
  minDuration: 1s
  maxDuration: 4h
identities:
  U0ALICE: ${ACCOUNT}
  U0DAVE: ${ADMIN2}
resources:
  - id: prod-db
    name: Production database (read)
    approvers: { users: [U0BOB] }
    provider: { type: postgres, url: "\${PG_ADMIN_URL}", role: "${TARGET}" }
  - id: prod-db-temp
    name: Production database (temporary login)
    approvers: { users: [U0BOB] }
    provider: { type: postgres, mode: ephemeral, url: "\${PG_ADMIN_URL}", role: "${TARGET}" }
  - id: self-db
    name: Administered by the role U0DAVE maps to
    approvers: { users: [U0BOB] }
    provider: { type: postgres, url: "\${PG_ADMIN2_URL}", role: "${TARGET}" }
  - id: down-db
    name: A database that is down
    approvers: { users: [U0BOB] }
    provider: { type: postgres, url: "\${PG_DOWN_URL}", role: "${TARGET}", timeoutMs: 1000 }
`;
}

/** A session to the test database; errors after it is terminated are expected, not fatal. */
async function connect(opts: { user: string; password?: string; host?: string; port?: number; database?: string }): Promise<Client> {
  const client = new Client({
    host: opts.host ?? PG_HOSTNAME,
    port: opts.port ?? PG_PORT,
    user: opts.user,
    password: opts.password ?? 'irrelevant-under-trust',
    database: opts.database ?? DB,
    connectionTimeoutMillis: 5000,
  });
  client.on('error', () => undefined);
  clients.push(client);
  await client.connect();
  return client;
}

async function canRead(user: string): Promise<boolean> {
  const c = await connect({ user });
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

async function postgresIntact(): Promise<boolean> {
  return superuser('postgres', async (c) => {
    const { rows } = await c.query<{ rolsuper: boolean }>("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'");
    return rows.length === 1 && rows[0]!.rolsuper;
  });
}

async function roleExists(name: string): Promise<boolean> {
  return superuser('postgres', async (c) => (await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name])).rowCount === 1);
}

/** Everyone holding TARGET, besides the bot's admin roles (which hold it WITH ADMIN OPTION by setup). */
async function membersOfTarget(): Promise<string[]> {
  return superuser('postgres', async (c) => {
    const { rows } = await c.query<{ rolname: string }>(
      `SELECT u.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
        WHERE r.rolname = $1 AND u.rolname <> ALL($2) ORDER BY 1`,
      [TARGET, [ADMIN, ADMIN2]],
    );
    return rows.map((r) => r.rolname);
  });
}

/** `• Label: \`value\`` lines of the credentials DM (src/slack/ui/messages.ts secretText). */
function credential(text: string, label: string): string {
  const match = new RegExp(`• ${label}: \`([^\`]*)\``).exec(text);
  if (!match) throw new Error(`no ${label} in the credentials DM: ${text.replace(/Password: `[^`]*`/, 'Password: `***`')}`);
  return match[1]!;
}

describe('policy identities', () => {
  it('refuses an injection-shaped account mapping when the policy is loaded', () => {
    const text = `
approvalChannel: C0APPROVALS
identities:
  U0EVE: 'alice"; DROP ROLE postgres; --'
resources:
  - id: prod-db
    name: Production database
    approvers: { users: [U0BOB] }
    provider: { type: postgres, url: "postgres://admin@127.0.0.1:5432/app", role: reader }
`;
    let thrown: unknown;
    try {
      parsePolicy(text, {});
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(PolicyError);
    expect((thrown as PolicyError).message).toContain('identities.U0EVE: expected a database-style account name');
  });
});

describeWithPostgres('PostgreSQL provider through the app (PostgreSQL at 127.0.0.1:5432)', () => {
  let t: TestBot;
  let downUrl: string;

  const requests = () => t.bot.ctx.store.requests;
  const stateOf = async (id: string) => (await requests().findOne({ _id: id }))?.state;
  const waitForState = (id: string, state: string, timeoutMs = 10_000) =>
    waitUntil(async () => ((await stateOf(id)) === state ? true : undefined), timeoutMs, `request ${id} to be ${state}`);

  /** Files a request, has U0BOB approve it, and returns its ID once it left `pending`/`granting`. */
  async function requestAndApprove(user: string, resource: string, reason: string): Promise<string> {
    const res = await t.slack.command(user, `${resource} 30m ${reason}`);
    expect(res.status).toBe(200);
    const req = await waitUntil(() => requests().findOne({ requesterId: user, resourceId: resource, reason }), 5000, `${user}'s request`);
    expect(req.state).toBe('pending');
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS' && JSON.stringify(c.args.blocks ?? '').includes(req._id));
    const click = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id }, { channel: 'C0APPROVALS' });
    expect(click.status).toBe(200);
    await waitUntil(async () => {
      const s = await stateOf(req._id);
      return s !== 'pending' && s !== 'granting' ? true : undefined;
    }, 10_000, `request ${req._id} to finish granting`);
    return req._id;
  }

  /** The request's audit events once `action` is among them (each is written just after its state change). */
  const auditOnce = (id: string, action: string) =>
    waitUntil(async () => {
      const events = await t.bot.ctx.store.audit.forRequest(id);
      return events.some((e) => e.action === action) ? events : undefined;
    }, 5000, `audit event ${action} of ${id}`);

  async function revokeAsRequester(user: string, id: string): Promise<void> {
    const res = await t.slack.command(user, `revoke ${id}`);
    expect(String((await t.fake.waitForResponse((r) => r.id === res.responseId)).body.text)).toMatch(/is revoked/);
    await waitForState(id, 'revoked');
  }

  beforeAll(async () => {
    await superuser('postgres', async (c) => {
      await c.query(`CREATE DATABASE ${ident(DB)}`);
      await c.query(`CREATE ROLE ${ident(TARGET)} NOLOGIN`);
      // Least privilege, as docs/postgres-provider.md tells operators: no SUPERUSER.
      await c.query(`CREATE ROLE ${ident(ADMIN)} LOGIN CREATEROLE PASSWORD '${ADMIN_PASSWORD}'`);
      await c.query(`GRANT ${ident(TARGET)} TO ${ident(ADMIN)} WITH ADMIN OPTION`);
      await c.query(`GRANT pg_signal_backend TO ${ident(ADMIN)}`);
      await c.query(`CREATE ROLE ${ident(ADMIN2)} LOGIN CREATEROLE PASSWORD '${ADMIN_PASSWORD}'`);
      await c.query(`GRANT ${ident(TARGET)} TO ${ident(ADMIN2)} WITH ADMIN OPTION`);
      await c.query(`GRANT pg_signal_backend TO ${ident(ADMIN2)}`);
      await c.query(`CREATE ROLE ${ident(ACCOUNT)} LOGIN`);
    });
    await superuser(DB, async (c) => {
      await c.query('CREATE TABLE secret_t (v text)');
      await c.query("INSERT INTO secret_t VALUES ('the secret')");
      await c.query('REVOKE ALL ON secret_t FROM PUBLIC');
      await c.query(`GRANT SELECT ON secret_t TO ${ident(TARGET)}`);
    });
    downUrl = `postgres://${ADMIN}:${ADMIN_PASSWORD}@127.0.0.1:${await closedPort()}/${DB}`;
    t = await startTestBot({
      policy: policy(),
      env: {
        PG_ADMIN_URL: `postgres://${ADMIN}:${ADMIN_PASSWORD}@${PG_HOSTNAME}:${PG_PORT}/${DB}`,
        PG_ADMIN2_URL: `postgres://${ADMIN2}:${ADMIN_PASSWORD}@${PG_HOSTNAME}:${PG_PORT}/${DB}`,
        PG_DOWN_URL: downUrl,
      },
    });
    t.fake.users.set('U0MALLORY', { email: EVIL_EMAIL, name: 'mallory' });
  });

  afterAll(async () => {
    await t?.stop();
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await superuser('postgres', async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${ident(DB)} WITH (FORCE)`);
      const { rows } = await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0 OR rolname = ANY($2)', [
        RUN,
        [...extraRoles],
      ]);
      // Ephemeral roles first: they are members of TARGET.
      const last = new Set([TARGET, ADMIN, ADMIN2]);
      const ordered = rows.map((r) => r.rolname).sort((a, b) => Number(last.has(a)) - Number(last.has(b)));
      for (const rolname of ordered) await c.query(`DROP ROLE IF EXISTS ${ident(rolname)}`);
    });
  });

  it('start-up check finds nothing missing for the least-privilege admin role', async () => {
    // Resources are checked in order; down-db is last, so once its warning is logged the others are done.
    const warnings = () =>
      t.logs
        .map((line) => JSON.parse(line) as { resource?: string; msg?: string })
        .filter((l) => l.resource !== undefined && /provider check/.test(l.msg ?? ''));
    await waitUntil(async () => warnings().some((l) => l.resource === 'down-db'), 10_000, 'the down-db check');
    expect(warnings().filter((l) => l.resource !== 'down-db')).toEqual([]);
    expect(t.logs.join('\n')).not.toContain(ADMIN_PASSWORD);
  });

  it('grant mode: approval grants the role; revoke takes it away and ends the session opened meanwhile', async () => {
    expect(await canRead(ACCOUNT)).toBe(false);

    const id = await requestAndApprove('U0ALICE', 'prod-db', 'INC-1 read orders');
    expect(await stateOf(id)).toBe('active');
    expect(await membersOfTarget()).toEqual([ACCOUNT]);
    expect(await canRead(ACCOUNT)).toBe(true);
    const held = await connect({ user: ACCOUNT });
    await held.query(`SET ROLE ${ident(TARGET)}`);
    await expect(held.query('SELECT v FROM secret_t')).resolves.toMatchObject({ rows: [{ v: 'the secret' }] });
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('granted until'));

    await revokeAsRequester('U0ALICE', id);

    // The held session did SET ROLE: had it survived, it would still read the table.
    await expect(held.query('SELECT v FROM secret_t')).rejects.toThrow(/terminat|Connection/i);
    expect(await canRead(ACCOUNT)).toBe(false);
    const fresh = await connect({ user: ACCOUNT });
    await expect(fresh.query(`SET ROLE ${ident(TARGET)}`)).rejects.toThrow(/permission denied/);
    await fresh.end();
    expect(await membersOfTarget()).toEqual([]);
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('was revoked'));
    const audit = (await auditOnce(id, 'revoked')).map((e) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['granted', 'revoke_requested', 'revoked']));
  });

  it('ephemeral mode: the DM’d credentials log in and read; after revoke the role is gone and login fails', async () => {
    const id = await requestAndApprove('U0ALICE', 'prod-db-temp', 'INC-2 one-off query');
    const active = (await requests().findOne({ _id: id }))!;
    expect(active.state).toBe('active');
    const roleName = active.providerDetails?.roleName;
    expect(roleName).toMatch(new RegExp(`^jit_${ACCOUNT}_[0-9a-f]{8}$`));

    const dm = await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('PostgreSQL credentials for prod-db-temp'));
    const text = String(dm.args.text);
    const creds = {
      host: credential(text, 'Host'),
      port: Number(credential(text, 'Port')),
      database: credential(text, 'Database'),
      user: credential(text, 'User'),
      password: credential(text, 'Password'),
    };
    expect(creds).toMatchObject({ host: PG_HOSTNAME, port: PG_PORT, database: DB, user: roleName });
    expect(new Date(credential(text, 'Valid until')).getTime()).toBe(active.expiresAt!.getTime());

    const session = await connect(creds);
    await expect(session.query('SELECT v FROM secret_t')).resolves.toMatchObject({ rows: [{ v: 'the secret' }] });
    // The database itself knows when the login stops working (enforced under password auth:
    // test/providers/postgres-password-auth.test.ts).
    const validUntil = await superuser('postgres', async (c) =>
      (await c.query<{ rolvaliduntil: Date }>('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [roleName])).rows[0]!.rolvaliduntil,
    );
    expect(validUntil.getTime()).toBe(active.expiresAt!.getTime());
    // The password goes to the requester's DM only: not to MongoDB, the audit log, the logs, or a channel.
    const stored = JSON.stringify([await requests().findOne({ _id: id }), await auditOnce(id, 'granted')]);
    expect(stored).not.toContain(creds.password);
    expect(t.logs.join('\n')).not.toContain(creds.password);
    expect(t.fake.calls.filter((c) => JSON.stringify(c.args).includes(creds.password)).map((c) => c.args.channel)).toEqual(['DU0ALICE']);

    await revokeAsRequester('U0ALICE', id);

    await expect(session.query('SELECT 1')).rejects.toThrow(/terminat|Connection/i);
    expect(await roleExists(roleName!)).toBe(false);
    await expect(connect(creds)).rejects.toThrow(/does not exist/);
    expect(await membersOfTarget()).toEqual([]);
  });

  it('an injection-shaped e-mail local part fails the grant clearly; nothing is granted and postgres survives', async () => {
    const id = await requestAndApprove('U0MALLORY', 'prod-db', 'totally legit');
    await waitForState(id, 'failed');
    const failed = (await requests().findOne({ _id: id }))!;
    expect(failed.lastError).toMatch(/database account for U0MALLORY is not a valid role name/);
    // Refused up front (no retries), and the attacker's text is not echoed into Slack or logs.
    const audit = await auditOnce(id, 'grant_failed');
    expect(audit.filter((e) => e.action === 'grant_attempt_failed')).toHaveLength(1);
    const dm = await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0MALLORY' && String(c.args.text).includes('granting failed'));
    expect(String(dm.args.text)).toMatch(/not a valid role name/);
    expect(String(dm.args.text)).not.toMatch(/DROP ROLE/i);

    expect(await postgresIntact()).toBe(true);
    expect(await membersOfTarget()).toEqual([]);
  });

  it('ephemeral mode sanitizes an injection-shaped e-mail local part into a harmless role name', async () => {
    const id = await requestAndApprove('U0MALLORY', 'prod-db-temp', 'legit again');
    const active = (await requests().findOne({ _id: id }))!;
    expect(active.state).toBe('active');
    const roleName = active.providerDetails!.roleName!;
    extraRoles.add(roleName);
    expect(roleName).toMatch(/^jit_[a-z0-9_]+_[0-9a-f]{8}$/);
    expect(await postgresIntact()).toBe(true);
    expect(await membersOfTarget()).toEqual([roleName]);

    await revokeAsRequester('U0MALLORY', id);
    expect(await roleExists(roleName)).toBe(false);
    expect(await postgresIntact()).toBe(true);
  });

  it('an unreachable database: the grant fails after retries, the requester is told, nothing is granted', async () => {
    const id = await requestAndApprove('U0ALICE', 'down-db', 'INC-3 while the db is down');
    await waitForState(id, 'failed');
    const failed = (await requests().findOne({ _id: id }))!;
    expect(failed.lastError).toMatch(/ECONNREFUSED/);
    expect(failed.lastError).not.toContain(ADMIN_PASSWORD);

    const audit = await auditOnce(id, 'grant_failed');
    expect(audit.filter((e) => e.action === 'grant_attempt_failed')).toHaveLength(t.bot.ctx.settings.grantAttempts);
    expect(audit.find((e) => e.action === 'grant_failed')?.details).toMatchObject({ cleanup: expect.stringMatching(/compensating revoke failed/) });

    const dm = await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('granting failed'));
    expect(String(dm.args.text)).toMatch(/Nothing was granted/);
    expect(String(dm.args.text)).not.toContain(ADMIN_PASSWORD);
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS' && String(c.args.text ?? '').includes('Granting *down-db*'));

    expect(await membersOfTarget()).toEqual([]);
    expect(await canRead(ACCOUNT)).toBe(false);
    expect(t.logs.join('\n')).not.toContain(downUrl);
  });

  /*
   * Regression: when the requester's account is the bot's own admin role (an identity mapping, or an
   * e-mail local part that happens to match), the revoke used to run REVOKE <role> FROM <admin role>,
   * removing the bot's own ADMIN OPTION, so every later grant and revoke of the resource failed.
   * The provider now refuses such accounts (and superusers, and standing administrators of the role).
   */
  it('a request whose account is the bot’s own admin role is refused and leaves the admin’s ADMIN OPTION intact', async () => {
    const adminOption = () =>
      superuser('postgres', async (c) =>
        (
          await c.query(
            `SELECT pg_has_role(u.oid, r.oid, 'MEMBER WITH ADMIN OPTION') AS ok FROM pg_roles u, pg_roles r WHERE u.rolname = $1 AND r.rolname = $2`,
            [ADMIN2, TARGET],
          )
        ).rows[0]?.ok === true,
      );
    expect(await adminOption()).toBe(true);
    const id = await requestAndApprove('U0DAVE', 'self-db', 'my account is the bot');
    if ((await stateOf(id)) === 'active') await revokeAsRequester('U0DAVE', id);
    expect(await adminOption()).toBe(true);
    // And the resource still works for everyone else.
    const next = await requestAndApprove('U0ALICE', 'self-db', 'after the self-request');
    expect(await stateOf(next)).toBe('active');
    await revokeAsRequester('U0ALICE', next);
    expect(await membersOfTarget()).toEqual([]);
  });
});
