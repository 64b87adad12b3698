import { escapeIdentifier as ident } from 'pg';
import { PolicyError, parsePolicy } from '../../src/policy/load';
import { newRequestId, openKeyOf, AccessRequest } from '../../src/domain/request';
import { describeWithPostgres, superuser } from '../providers/pg-available';
import { startTestBot, TestBot, waitUntil } from './harness';
import { PgFixture } from '../support/pg-fixture';
import { freePort as closedPort } from '../support/ports';
import { TcpProxy } from '../support/tcp-proxy';

/*
 * The PostgreSQL provider through the real app: a request in Slack, an approval click, then
 * GRANT / CREATE ROLE against the PostgreSQL at 127.0.0.1:5432, and `/jit-access revoke` taking it
 * all back; who gets the access (identities, emailDomains, filing-time checks), standing access and
 * overlapping grants. Skipped (with the reason printed) when that server is unreachable, except in CI.
 */

const pg = new PgFixture();
const RUN = pg.run;
const TARGET = pg.reader;
/** U0ALICE's database account, through the policy's `identities`. */
const ACCOUNT = `jit_e2e_alice_${RUN}`;
/** A real person's login, whose local part an outsider's e-mail copies. */
const VICTIM = `jit_e2e_victim_${RUN}`;
/** A NOLOGIN group role with a member: granting to it would grant to every member. */
const GROUP = `jit_e2e_group_${RUN}`;
const GROUPIE = `jit_e2e_groupie_${RUN}`;
/** A login that already holds TARGET, given by a DBA. */
const STANDING = `jit_e2e_standing_${RUN}`;
/** A Slack e-mail whose local part tries to inject SQL. */
const EVIL_EMAIL = '"alice\\"; DROP ROLE postgres; --"@example.com';

function policy(): string {
  return `
approvalChannel: C0APPROVALS
admins: [U0ADMIN]
defaults:
  minDuration: 1s
  maxDuration: 4h
emailDomains: [example.com, example.org]
identities:
  U0ALICE: ${ACCOUNT}
  U0DAVE: ${pg.admin2}
  U0GRACE: { main-db: ${GROUP} }
  U0STAN: ${STANDING}
targets:
  main-db:
    type: postgres
    url: "\${PG_ADMIN_URL}"
resources:
  - id: prod-db
    name: Production database (read)
    approvers: { users: [U0BOB] }
    provider: { target: main-db, role: "${TARGET}" }
  - id: prod-db-also
    name: The same role, through another resource
    approvers: { users: [U0BOB] }
    provider: { target: main-db, role: "${TARGET}" }
  - id: prod-db-temp
    name: Production database (temporary login)
    approvers: { users: [U0BOB] }
    provider: { target: main-db, role: "${TARGET}", mode: ephemeral }
  - id: self-db
    name: Administered by the role U0DAVE maps to
    approvers: { users: [U0BOB] }
    provider: { type: postgres, url: "\${PG_ADMIN2_URL}", role: "${TARGET}" }
  - id: flaky-db
    name: A database that goes away after filing
    approvers: { users: [U0BOB] }
    provider: { type: postgres, url: "\${PG_FLAKY_URL}", role: "${TARGET}", timeoutMs: 1000 }
  - id: down-db
    name: A database that is down
    approvers: { users: [U0BOB] }
    provider: { type: postgres, url: "\${PG_DOWN_URL}", role: "${TARGET}", timeoutMs: 1000 }
`;
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
    expect((thrown as PolicyError).message).toContain(
      'identities.U0EVE: not a valid account for postgres target prod-db: expected a PostgreSQL role name',
    );
  });
});

describeWithPostgres('PostgreSQL provider through the app (PostgreSQL at 127.0.0.1:5432)', () => {
  let t: TestBot;
  let downUrl: string;
  let proxy: TcpProxy;

  const requests = () => t.requests();
  const stateOf = async (id: string) => (await requests().findOne({ _id: id }))?.state;
  const waitForState = (id: string, state: string, timeoutMs = 10_000) =>
    waitUntil(async () => ((await stateOf(id)) === state ? true : undefined), timeoutMs, `request ${id} to be ${state}`);

  /** Files a request and returns it once it is pending and its approval message is posted. */
  async function file(user: string, resource: string, reason: string) {
    const res = await t.slack.command(user, `${resource} 30m ${reason}`);
    expect(res.status).toBe(200);
    const req = await waitUntil(() => requests().findOne({ requesterId: user, resourceId: resource, reason }), 5000, `${user}'s request`);
    expect(req.state).toBe('pending');
    const message = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'C0APPROVALS' && JSON.stringify(c.args.blocks ?? '').includes(req._id),
    );
    return { req, message };
  }

  /** Files a request, has U0BOB approve it, and returns its ID once it left `pending`/`granting`. */
  async function requestAndApprove(user: string, resource: string, reason: string): Promise<string> {
    const { req } = await file(user, resource, reason);
    await approve(req._id);
    return req._id;
  }

  async function approve(id: string): Promise<void> {
    const click = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: id }, { channel: 'C0APPROVALS' });
    expect(click.status).toBe(200);
    await waitUntil(
      async () => {
        const s = await stateOf(id);
        return s !== 'pending' && s !== 'granting' ? true : undefined;
      },
      10_000,
      `request ${id} to finish granting`,
    );
  }

  /**
   * A request refused when it is filed: the requester's ephemeral answer. Nothing is stored and
   * nobody is notified: no request, no approval message, no DM.
   */
  async function refusal(user: string, resource: string, reason: string): Promise<string> {
    const res = await t.slack.command(user, `${resource} 30m ${reason}`);
    expect(res.status).toBe(200);
    const answer = await t.fake.waitForResponse((r) => r.id === res.responseId, 10_000);
    expect(answer.body.response_type).toBe('ephemeral');
    expect(await requests().countDocuments({ requesterId: user, reason })).toBe(0);
    expect(t.fake.calls.filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes(reason))).toEqual([]);
    return String(answer.body.text);
  }

  /** The request's audit events once `action` is among them (each is written just after its state change). */
  const auditOnce = (id: string, action: string) =>
    waitUntil(
      async () => {
        const events = await t.bot.ctx.store.audit.forRequest(id);
        return events.some((e) => e.action === action) ? events : undefined;
      },
      5000,
      `audit event ${action} of ${id}`,
    );

  async function revokeAsRequester(user: string, id: string): Promise<void> {
    const res = await t.slack.command(user, `revoke ${id}`);
    expect(String((await t.fake.waitForResponse((r) => r.id === res.responseId)).body.text)).toMatch(/is revoked/);
    await waitForState(id, 'revoked');
  }

  beforeAll(async () => {
    await pg.setUp();
    await pg.createRoles(
      { name: ACCOUNT, login: true },
      { name: VICTIM, login: true },
      { name: GROUP, login: false },
      { name: GROUPIE, login: true, memberOf: [GROUP] },
      { name: STANDING, login: true },
    );
    proxy = await TcpProxy.start(pg.host, pg.port);
    downUrl = pg.adminUrl(pg.admin, await closedPort());
    t = await startTestBot({
      policy: policy(),
      env: {
        PG_ADMIN_URL: pg.adminUrl(),
        PG_ADMIN2_URL: pg.adminUrl(pg.admin2),
        PG_FLAKY_URL: `postgres://${pg.admin}:${pg.adminPassword}@127.0.0.1:${proxy.port}/${pg.db}`,
        PG_DOWN_URL: downUrl,
        // The race test files a dozen requests for one person within seconds; the limit has its own tests.
        JIT_REQUEST_RATE_LIMIT: 'off',
      },
    });
    for (const [id, email] of [
      ['U0MALLORY', EVIL_EMAIL],
      ['U0VICTIM', `${VICTIM}@example.com`],
      ['U0EVE', `${VICTIM}@evil.example`],
      ['U0TWIN', `${VICTIM.toUpperCase()}@example.org`],
      ['U0SHADOW', `${ACCOUNT}@example.com`],
      ['U0NOBODY', `jit_e2e_nobody_${RUN}@example.com`],
    ] as const) {
      t.fake.users.set(id, { email, name: id.toLowerCase() });
    }
  });

  afterAll(async () => {
    await t?.stop();
    await proxy?.stop();
    await pg.tearDown();
  });

  it('start-up check finds nothing missing for the least-privilege admin role', async () => {
    // Resources are checked in order; down-db is last, so once its warning is logged the others are done.
    const warnings = () =>
      t.logs
        .map((line) => JSON.parse(line) as { resource?: string; msg?: string })
        .filter((l) => l.resource !== undefined && /provider check/.test(l.msg ?? ''));
    await waitUntil(async () => warnings().some((l) => l.resource === 'down-db'), 10_000, 'the down-db check');
    expect(warnings().filter((l) => l.resource !== 'down-db')).toEqual([]);
    expect(t.logs.join('\n')).not.toContain(pg.adminPassword);
  });

  it('grant mode: approvers see the account; approval grants the role; revoke takes it away and ends the session opened meanwhile', async () => {
    expect(await pg.canRead(ACCOUNT)).toBe(false);

    const { req, message } = await file('U0ALICE', 'prod-db', 'INC-1 read orders');
    expect(req).toMatchObject({ target: 'main-db', account: ACCOUNT, accountSource: 'identities', email: 'alice@example.com' });
    expect(JSON.stringify(message.args.blocks)).toContain(`\`${ACCOUNT}\` in \`main-db\``);
    await approve(req._id);
    const id = req._id;
    expect(await stateOf(id)).toBe('active');
    expect(await pg.membersOf()).toEqual([ACCOUNT]);
    expect(await pg.canRead(ACCOUNT)).toBe(true);
    const held = await pg.connect({ user: ACCOUNT });
    await held.query(`SET ROLE ${ident(TARGET)}`);
    await expect(held.query('SELECT v FROM secret_t')).resolves.toMatchObject({ rows: [{ v: 'the secret' }] });
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('granted until'));

    await revokeAsRequester('U0ALICE', id);

    // The held session did SET ROLE: had it survived, it would still read the table.
    await expect(held.query('SELECT v FROM secret_t')).rejects.toThrow(/terminat|Connection/i);
    expect(await pg.canRead(ACCOUNT)).toBe(false);
    const fresh = await pg.connect({ user: ACCOUNT });
    await expect(fresh.query(`SET ROLE ${ident(TARGET)}`)).rejects.toThrow(/permission denied/);
    await fresh.end();
    expect(await pg.membersOf()).toEqual([]);
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('was revoked'));
    const audit = (await auditOnce(id, 'revoked')).map((e) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['requested', 'access_inspected', 'granted', 'revoke_requested', 'revoked']));
  });

  it('ephemeral mode: the DM’d credentials log in and read; after revoke the role is gone and login fails', async () => {
    const id = await requestAndApprove('U0ALICE', 'prod-db-temp', 'INC-2 one-off query');
    const active = (await requests().findOne({ _id: id }))!;
    expect(active.state).toBe('active');
    const roleName = active.providerDetails?.roleName;
    expect(roleName).toMatch(new RegExp(`^jit_${ACCOUNT}_[0-9a-f]{8}$`));

    const dm = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('PostgreSQL credentials for prod-db-temp'),
    );
    const text = String(dm.args.text);
    const creds = {
      host: credential(text, 'Host'),
      port: Number(credential(text, 'Port')),
      database: credential(text, 'Database'),
      user: credential(text, 'User'),
      password: credential(text, 'Password'),
    };
    expect(creds).toMatchObject({ host: pg.host, port: pg.port, database: pg.db, user: roleName });
    expect(new Date(credential(text, 'Valid until')).getTime()).toBe(active.expiresAt!.getTime());

    const session = await pg.connect(creds);
    await expect(session.query('SELECT v FROM secret_t')).resolves.toMatchObject({ rows: [{ v: 'the secret' }] });
    const validUntil = await superuser(
      'postgres',
      async (c) =>
        (await c.query<{ rolvaliduntil: Date }>('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [roleName])).rows[0]!
          .rolvaliduntil,
    );
    expect(validUntil.getTime()).toBe(active.expiresAt!.getTime());
    // The password goes to the requester's DM only: not to MongoDB, the audit log, the logs, or a channel.
    const stored = JSON.stringify([await requests().findOne({ _id: id }), await auditOnce(id, 'granted')]);
    expect(stored).not.toContain(creds.password);
    expect(t.logs.join('\n')).not.toContain(creds.password);
    expect(t.fake.calls.filter((c) => JSON.stringify(c.args).includes(creds.password)).map((c) => c.args.channel)).toEqual(['DU0ALICE']);

    await revokeAsRequester('U0ALICE', id);
    // The DM that carried the password is deleted with the grant (PRODUCT.md §5).
    await t.fake.waitFor('chat.delete', (c) => c.args.channel === 'DU0ALICE' && c.args.ts === dm.response.ts && !c.failed);
    await auditOnce(id, 'credentials_deleted');
    expect(t.fake.message('DU0ALICE', String(dm.response.ts))).toBeUndefined();

    await expect(session.query('SELECT 1')).rejects.toThrow(/terminat|Connection/i);
    expect(await pg.roleExists(roleName!)).toBe(false);
    await expect(pg.connect(creds)).rejects.toThrow(/does not exist/);
    expect(await pg.membersOf()).toEqual([]);
  });

  /*
   * Regression (issue 12): the account used to be the local part of any Slack e-mail, so
   * `<victim>@evil.example` obtained GRANT … TO <victim>, and her later revoke ended the victim's
   * sessions. Only e-mails in emailDomains yield an account now, and it is fixed at filing.
   */
  it('an outsider whose e-mail copies a colleague’s local part gets nothing, and cannot touch the colleague’s grant', async () => {
    const answer = await refusal('U0EVE', 'prod-db', 'I am totally the victim');
    expect(answer).toContain('You have no account in main-db (postgres)');
    expect(answer).toContain('derived only from Slack e-mails in example.com, example.org');
    expect(await pg.membersOf()).toEqual([]);

    // The real owner of the account is granted; the outsider can neither revoke it nor end its sessions.
    const id = await requestAndApprove('U0VICTIM', 'prod-db', 'the real one');
    expect(await requests().findOne({ _id: id })).toMatchObject({ state: 'active', account: VICTIM, accountSource: 'email' });
    const held = await pg.connect({ user: VICTIM });
    const res = await t.slack.command('U0EVE', `revoke ${id}`);
    expect(String((await t.fake.waitForResponse((r) => r.id === res.responseId)).body.text)).toMatch(
      /Only the requester or a policy admin/,
    );
    await expect(held.query('SELECT 1')).resolves.toBeDefined();
    expect(await stateOf(id)).toBe('active');

    // A second allowed domain with the same local part: refused while the account is in use.
    expect(await refusal('U0TWIN', 'prod-db-also', 'twin on another resource')).toMatch(
      new RegExp(`account \`${VICTIM}\` derived from your Slack e-mail is in use by another person's open request or grant in main-db`),
    );
    expect(await refusal('U0TWIN', 'prod-db-temp', 'twin, temporary login')).toMatch(/is in use by another person's open request or grant/);
    await revokeAsRequester('U0VICTIM', id);
    await held.end();
  });

  it('a derived account that the policy maps to someone else is refused', async () => {
    expect(await refusal('U0SHADOW', 'prod-db', 'shadowing alice')).toMatch(
      /belongs to someone else in main-db \(the policy's `identities` map it to another person\)/,
    );
    expect(await pg.membersOf()).toEqual([]);
  });

  /* Regression (issue 12): grant mode granted the role to a NOLOGIN group, so every member inherited it. */
  it('an account that is a NOLOGIN group role is refused at filing; no member of the group gets anything', async () => {
    const answer = await refusal('U0GRACE', 'prod-db', 'via my group');
    expect(answer).toContain(
      `The database account \`${GROUP}\` in main-db cannot log in (NOLOGIN: a group role, whose members would all get the access)`,
    );
    expect(await pg.membersOf()).toEqual([]);
    expect(await pg.canRead(GROUPIE)).toBe(false);
  });

  it('an account that does not exist, and an injection-shaped local part, are refused at filing', async () => {
    expect(await refusal('U0NOBODY', 'prod-db', 'no such role')).toMatch(/There is no database account `jit_e2e_nobody_\w+` in main-db/);
    for (const resource of ['prod-db', 'prod-db-temp']) {
      const answer = await refusal('U0MALLORY', resource, `totally legit ${resource}`);
      expect(answer).toMatch(/The account derived from your Slack e-mail is not a valid postgres account for main-db/);
      expect(answer).not.toMatch(/DROP ROLE/i);
    }
    expect(await pg.postgresIntact()).toBe(true);
    expect(await pg.membersOf()).toEqual([]);
  });

  /*
   * Regression: when the requester's account is the bot's own admin role, the revoke used to run
   * REVOKE <role> FROM <admin role>, removing the bot's own ADMIN OPTION, so every later grant and
   * revoke of the resource failed. Such accounts (and superusers, and administrators of the role)
   * are now refused before anyone approves.
   */
  it('a request whose account is the bot’s own admin role is refused at filing and leaves the admin’s ADMIN OPTION intact', async () => {
    const adminOption = () =>
      superuser(
        'postgres',
        async (c) =>
          (
            await c.query(
              `SELECT pg_has_role(u.oid, r.oid, 'MEMBER WITH ADMIN OPTION') AS ok FROM pg_roles u, pg_roles r WHERE u.rolname = $1 AND r.rolname = $2`,
              [pg.admin2, TARGET],
            )
          ).rows[0]?.ok === true,
      );
    expect(await refusal('U0DAVE', 'self-db', 'my account is the bot')).toContain(
      `\`${pg.admin2}\` in self-db is the role jit-access connects as`,
    );
    expect(await adminOption()).toBe(true);
    const next = await requestAndApprove('U0ALICE', 'self-db', 'after the self-request');
    expect(await stateOf(next)).toBe('active');
    await revokeAsRequester('U0ALICE', next);
    expect(await pg.membersOf()).toEqual([]);
  });

  it('a database that cannot be reached when the request is filed: refused with a try-again, nothing stored', async () => {
    const answer = await refusal('U0ALICE', 'down-db', 'INC-3 while the db is down');
    expect(answer).toMatch(/Could not check your account in down-db right now \(.*ECONNREFUSED.*\), so nothing was filed/);
    expect(answer).not.toContain(pg.adminPassword);
    expect(t.logs.join('\n')).not.toContain(downUrl);
  });

  it('a database that goes away after filing: the grant fails after retries, the requester is told, nothing is granted', async () => {
    const { req } = await file('U0ALICE', 'flaky-db', 'INC-4 before the db went away');
    proxy.cut();
    try {
      await approve(req._id);
      const id = req._id;
      await waitForState(id, 'failed');
      const failed = (await requests().findOne({ _id: id }))!;
      expect(failed.lastError).toMatch(/flaky-db/);
      expect(failed.lastError).not.toContain(pg.adminPassword);

      const audit = await auditOnce(id, 'grant_failed');
      expect(audit.filter((e) => e.action === 'grant_attempt_failed')).toHaveLength(t.bot.ctx.settings.grantAttempts);
      expect(audit.find((e) => e.action === 'grant_failed')?.details).toMatchObject({
        cleanup: expect.stringMatching(/compensating revoke failed/),
      });

      const dm = await t.fake.waitFor(
        'chat.postMessage',
        (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('granting failed'),
      );
      expect(String(dm.args.text)).toMatch(/Nothing was granted/);
      expect(String(dm.args.text)).not.toContain(pg.adminPassword);
      await t.fake.waitFor(
        'chat.postMessage',
        (c) => c.args.channel === 'C0APPROVALS' && String(c.args.text ?? '').includes('Granting *flaky-db*'),
      );
    } finally {
      proxy.restore();
    }
    expect(await pg.membersOf()).toEqual([]);
    expect(await pg.canRead(ACCOUNT)).toBe(false);
  });

  it('standing access: an account that already held the role keeps it after the grant ends', async () => {
    await pg.grantDirectly(TARGET, STANDING);
    const { req } = await file('U0STAN', 'prod-db', 'I had this already');
    await approve(req._id);
    const active = (await requests().findOne({ _id: req._id }))!;
    expect(active).toMatchObject({ state: 'active', standing: true, accessKey: JSON.stringify(['main-db', `role:${TARGET}`, STANDING]) });
    const inspected = (await auditOnce(req._id, 'access_inspected')).find((e) => e.action === 'access_inspected');
    expect(inspected?.details).toMatchObject({ standing: true });
    const shown = await t.fake.waitFor(
      'chat.update',
      (c) => JSON.stringify(c.args.blocks ?? '').includes(req._id) && JSON.stringify(c.args.blocks).includes('already had this access'),
    );
    expect(JSON.stringify(shown.args.blocks)).toContain('nothing was granted, and it stays when this grant ends');

    await revokeAsRequester('U0STAN', req._id);
    expect(await pg.membersOf()).toEqual([STANDING]);
    expect(await pg.canRead(STANDING)).toBe(true);
    const ended = (await auditOnce(req._id, 'revoked')).find((e) => e.action === 'revoked');
    expect(ended?.details).toMatchObject({ access: 'left in place: the account had it before this grant' });
    await superuser('postgres', (c) => c.query(`REVOKE ${ident(TARGET)} FROM ${ident(STANDING)}`));
  });

  it('overlapping grants: two resources on one role for one account; the access ends with the last of them', async () => {
    const first = await requestAndApprove('U0ALICE', 'prod-db', 'overlap one');
    const second = await requestAndApprove('U0ALICE', 'prod-db-also', 'overlap two');
    expect(await requests().findOne({ _id: second })).toMatchObject({ state: 'active', standing: false });
    expect(await pg.membersOf()).toEqual([ACCOUNT]);

    await revokeAsRequester('U0ALICE', first);
    expect(await pg.membersOf()).toEqual([ACCOUNT]);
    expect(await pg.canRead(ACCOUNT)).toBe(true);
    expect((await auditOnce(first, 'revoked')).find((e) => e.action === 'revoked')?.details).toMatchObject({ stillGrantedBy: [second] });

    await revokeAsRequester('U0ALICE', second);
    expect(await pg.membersOf()).toEqual([]);
    expect(await pg.canRead(ACCOUNT)).toBe(false);
  });

  it('races: concurrent grants of one access, and a revoke racing a grant, leave exactly what the surviving grants give', async () => {
    for (let round = 0; round < 3; round++) {
      const a = await file('U0ALICE', 'prod-db', `race ${round} a`);
      const b = await file('U0ALICE', 'prod-db-also', `race ${round} b`);
      await Promise.all([approve(a.req._id), approve(b.req._id)]);
      const both = await requests()
        .find({ _id: { $in: [a.req._id, b.req._id] } })
        .toArray();
      // Neither mistook the other's grant for standing access.
      expect(both.map((r) => [r.state, r.standing])).toEqual([
        ['active', false],
        ['active', false],
      ]);
      await Promise.all([revokeAsRequester('U0ALICE', a.req._id), revokeAsRequester('U0ALICE', b.req._id)]);
      expect(await pg.membersOf()).toEqual([]);

      // A revocation racing a new grant of the same access: the new grant's access survives.
      const c = await requestAndApprove('U0ALICE', 'prod-db', `race ${round} c`);
      const d = await file('U0ALICE', 'prod-db-also', `race ${round} d`);
      await Promise.all([revokeAsRequester('U0ALICE', c), approve(d.req._id)]);
      expect(await stateOf(d.req._id)).toBe('active');
      expect(await pg.membersOf()).toEqual([ACCOUNT]);
      expect(await pg.canRead(ACCOUNT)).toBe(true);
      await revokeAsRequester('U0ALICE', d.req._id);
      expect(await pg.membersOf()).toEqual([]);
    }
  });

  /** A prod-db request as the version before this one stored it: no target, no access key; an active one has the account it was granted to. */
  async function storeAsBefore(over: Partial<AccessRequest> & Pick<AccessRequest, 'requesterId' | 'state'>): Promise<string> {
    const now = new Date();
    const request: AccessRequest = {
      _id: newRequestId(),
      resourceId: 'prod-db',
      durationMs: 3_600_000,
      reason: `filed by the previous version (${over.state})`,
      openKey: openKeyOf(over.requesterId, 'prod-db'),
      approvals: [],
      requiredApprovals: 1,
      createdAt: now,
      updatedAt: now,
      pendingUntil: new Date(now.getTime() + 3_600_000),
      approvalChannel: 'C0APPROVALS',
      ...(over.state === 'active' ? { grantedAt: now, expiresAt: new Date(now.getTime() + 3_600_000) } : {}),
      version: 3,
      ...over,
    };
    await requests().insertOne(request);
    return request._id;
  }

  /* Requests stored by the version before this one: no target, no access key, account recorded at grant time. */
  it('a grant stored before accounts were resolved at filing is still revoked, with the account it was granted to', async () => {
    await pg.grantDirectly(TARGET, ACCOUNT, pg.admin); // what the old version's GRANT left behind
    const id = await storeAsBefore({
      requesterId: 'U0ALICE',
      state: 'active',
      approvals: ['U0BOB'],
      account: ACCOUNT,
      email: 'alice@example.com',
    });
    await revokeAsRequester('U0ALICE', id);
    expect(await pg.membersOf()).toEqual([]);

    // One still pending from then was approved for no particular account: it fails, granting nothing.
    const pending = await storeAsBefore({ requesterId: 'U0VICTIM', state: 'pending' });
    await approve(pending);
    const failed = (await requests().findOne({ _id: pending }))!;
    expect(failed.state).toBe('failed');
    expect(failed.lastError).toMatch(/filed before jit-access recorded the account.*request it again/);
    expect(await pg.membersOf()).toEqual([]);
  });
});
