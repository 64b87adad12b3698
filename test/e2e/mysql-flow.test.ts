import { sqlString } from '../../src/providers/mysql/dialect';
import { asRoot, describeWithMysql } from '../providers/mysql-available';
import { MysqlFixture } from '../support/mysql-fixture';
import { freePort as closedPort } from '../support/ports';
import { startTestBot, TestBot } from './harness';
import { RequestSteps } from './support/request-steps';

/*
 * The mysql provider through the real app (signed HTTP, fake Slack Web API): a request in Slack,
 * an approval click, then GRANT / CREATE USER on the MariaDB at 127.0.0.1:3306 as the bot's
 * least-privilege account; `/jit-access revoke` and expiry taking it all back, sessions included.
 * Skipped (with the reason printed) when that server is unreachable, except in CI.
 */

const my = new MysqlFixture();
const RUN = my.run;
/** U0ALICE's account, through the policy's `identities`. */
const ACCOUNT = `jit_e2e_alice_${RUN}`;
/** Derived from U0CAROL's e-mail: it exists as 'carol…'@'%' only. */
const CAROL = `jit_e2e_carol_${RUN}`;

function policy(): string {
  return `
approvalChannel: C0APPROVALS
defaults:
  minDuration: 1s
  maxDuration: 4h
emailDomains: [example.com]
identities:
  U0ALICE: ${ACCOUNT}
  U0DAVE: ${my.admin}
targets:
  main-my:
    type: mysql
    url: "\${MY_ADMIN_URL}"
    host: db.example.internal
    database: ${my.schema}
resources:
  - id: my-db
    name: Orders (read)
    approvers: { users: [U0BOB] }
    provider: { target: main-my, role: "${my.reader}" }
  - id: my-db-local
    name: Orders (read), for the localhost accounts
    approvers: { users: [U0BOB] }
    provider: { target: main-my, role: "${my.reader}", accountHost: localhost }
  - id: my-db-temp
    name: Orders (temporary user)
    approvers: { users: [U0BOB] }
    provider: { target: main-my, role: "${my.reader}", mode: ephemeral }
  - id: my-db-down
    name: A server that is down, checked last
    approvers: { users: [U0BOB] }
    provider: { type: mysql, url: "\${MY_DOWN_URL}", role: "${my.reader}", timeoutMs: 1000 }
`;
}

describeWithMysql('MySQL provider through the app (MariaDB at 127.0.0.1:3306)', () => {
  let t: TestBot;
  let downUrl: string;
  const steps = new RequestSteps(() => t);
  const secret = `SELECT v FROM ${my.schema}.secret_t`;
  const killed = /Connection lost|closed state|server closed|PROTOCOL_CONNECTION_LOST|Can't add new command/i;

  beforeAll(async () => {
    await my.setUp();
    await my.createUsers({ name: ACCOUNT }, { name: CAROL });
    downUrl = my.adminUrl(my.admin, await closedPort());
    t = await startTestBot({ policy: policy(), env: { MY_ADMIN_URL: my.adminUrl(), MY_DOWN_URL: downUrl } });
    t.fake.users.set('U0CAROL', { email: `${CAROL}@example.com`, name: 'carol' });
    t.fake.users.set('U0NOBODY', { email: `jit_e2e_nobody_${RUN}@example.com`, name: 'nobody' });
  });

  afterAll(async () => {
    await t?.stop();
    await my.tearDown();
  });

  it('start-up check finds nothing missing for the least-privilege account', async () => {
    expect(await steps.startupWarningsBefore('my-db-down')).toEqual([]);
    expect(t.logs.join('\n')).not.toContain(my.adminPassword);
  });

  it('a server that cannot be reached when the request is filed: refused with a try-again, nothing stored', async () => {
    const answer = await steps.refusal('U0ALICE', 'my-db-down', 'INC-3 while the db is down');
    expect(answer).toMatch(/Could not check your account in my-db-down right now \(.*ECONNREFUSED.*\), so nothing was filed/);
    expect(answer).not.toContain(my.adminPassword);
    expect(t.logs.join('\n')).not.toContain(downUrl);
  });

  it('grant mode: approvers see the account; approval grants the role as its default; revoke kills the session that had it', async () => {
    const { req, message } = await steps.file('U0ALICE', 'my-db', 'INC-1 read orders');
    expect(req).toMatchObject({ target: 'main-my', account: ACCOUNT, accountSource: 'identities' });
    expect(JSON.stringify(message.args.blocks)).toContain(`\`${ACCOUNT}\` in \`main-my\``);
    await steps.approve(req._id);
    expect(await steps.stateOf(req._id)).toBe('active');
    expect(await my.holdersOf()).toEqual([`${ACCOUNT}@%`]);
    const held = await my.connect({ user: ACCOUNT });
    await expect(held.query(secret)).resolves.toBeDefined(); // no SET ROLE: it is the default role

    await steps.revokeAsRequester('U0ALICE', req._id);

    await expect(held.query(secret)).rejects.toThrow(killed);
    expect(await my.canRead(ACCOUNT)).toBe(false);
    expect(await my.holdersOf()).toEqual([]);
    const audit = (await t.bot.ctx.store.audit.forRequest(req._id)).map((e) => e.action);
    expect(audit).toEqual(expect.arrayContaining(['requested', 'access_inspected', 'granted', 'revoke_requested', 'revoked']));
  });

  it('ephemeral mode: the DM’d credentials log in and read; at expiry the user is dropped and its session killed', async () => {
    const active = await steps.fileAndApprove('U0ALICE', 'my-db-temp', 'INC-2 one-off query', '4s');
    expect(active.state).toBe('active');
    const user = active.providerDetails?.user;
    expect(user).toMatch(/^jit_jit_e2e_alice_[0-9a-f_]*_[0-9a-f]{8}$/);
    my.extraUsers.add(user!);

    const creds = await steps.credentials('U0ALICE', 'MariaDB credentials for my-db-temp');
    expect(creds).toMatchObject({ Host: 'db.example.internal', Port: '3306', Database: my.schema, User: user });
    const session = await my.connect({ user: creds.User!, password: creds.Password });
    await expect(session.query(secret)).resolves.toBeDefined();
    await steps.expectOnlyInDm(active._id, 'U0ALICE', creds.Password!);

    await steps.waitForState(active._id, 'expired', 15_000);
    await expect(session.query('SELECT 1')).rejects.toThrow(killed);
    expect(await my.userExists(user!)).toBe(false);
    await expect(my.connect({ user: creds.User!, password: creds.Password })).rejects.toThrow(/Access denied/);
  });

  it("'u'@'%' is not 'u'@'localhost': a resource for localhost accounts refuses an account that exists only for %, naming it", async () => {
    const answer = await steps.refusal('U0CAROL', 'my-db-local', 'wrong host part');
    expect(answer).toContain(`There is no database account \`'${CAROL}'@'localhost'\` in main-my`);
    expect(answer).toContain(`there is \`'${CAROL}'@'%'\`, a different account`);
    // The same person on the %-resource: derived from the e-mail, granted, revoked.
    const granted = await steps.fileAndApprove('U0CAROL', 'my-db', 'right host part');
    expect(granted).toMatchObject({ state: 'active', account: CAROL, accountSource: 'email' });
    await steps.revokeAsRequester('U0CAROL', granted._id);
    expect(await my.holdersOf()).toEqual([]);
  });

  it('an unknown account and the bot’s own account are refused at filing; the bot keeps its ADMIN OPTION', async () => {
    expect(await steps.refusal('U0NOBODY', 'my-db', 'no such account')).toMatch(
      /There is no database account `'jit_e2e_nobody_\w+'@'%'` in main-my/,
    );
    expect(await steps.refusal('U0DAVE', 'my-db', 'my account is the bot')).toContain(
      `\`'${my.admin}'@'%'\` in main-my is the account jit-access connects as`,
    );
    const adminOption = await asRoot(
      async (c) =>
        (
          await c.query('SELECT Admin_option AS a FROM mysql.roles_mapping WHERE User = ? AND Host = ? AND Role = ?', [
            my.admin,
            '%',
            my.reader,
          ])
        )[0],
    );
    expect(adminOption).toEqual([{ a: 'Y' }]);
    expect(await my.holdersOf()).toEqual([]);
  });

  it('standing access: an account that already held the role keeps it after the grant ends', async () => {
    await my.grantDirectly(my.reader, ACCOUNT);
    const req = await steps.fileAndApprove('U0ALICE', 'my-db', 'I had this already');
    expect(req).toMatchObject({ state: 'active', standing: true, accessKey: JSON.stringify(['main-my', `role:${my.reader}@%`, ACCOUNT]) });
    await steps.revokeAsRequester('U0ALICE', req._id);
    expect(await my.holdersOf()).toEqual([`${ACCOUNT}@%`]);
    await asRoot((c) => c.query(`REVOKE ${sqlString(my.reader)} FROM ${sqlString(ACCOUNT)}@'%'`));
  });
});
