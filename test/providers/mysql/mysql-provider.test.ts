import { randomBytes } from 'node:crypto';
import type { MysqlAccess, MysqlTargetConfig } from '../../../src/providers/mysql/config';
import { sqlIdentifier, sqlString } from '../../../src/providers/mysql/dialect';
import { MysqlProvider } from '../../../src/providers/mysql/mysql-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { temporaryName } from '../../../src/providers/temporary-name';
import { MysqlFixture } from '../../support/mysql-fixture';
import { adminRecipe } from '../../support/mysql-recipe';
import { bound, rejection, secretField as field } from '../bound';
import { asRoot, describeWithMysql } from '../mysql-available';

/*
 * The mysql provider's own behaviour against the MariaDB at 127.0.0.1:3306, as the bot's
 * least-privilege account (the README's recipe, test/support/mysql-fixture.ts): every pitfall the
 * issue lists, each proved on the real server. The MySQL 8 statements are in dialect.test.ts.
 */

const my = new MysqlFixture();
const RUN = my.run;
const ACCOUNT = `jit_acct_${RUN}`;
const OTHER = `jit_other_${RUN}`;
/** Exists as 'x'@'%' and as 'x'@'localhost', with different passwords. */
const TWO_HOSTS = `jit_twohost_${RUN}`;
/** An account whose default role is another one (MariaDB has one default role per account). */
const HAS_DEFAULT = `jit_hasdef_${RUN}`;
const OWN_DEFAULT = `jit_own_role_${RUN}`;
/** A role, requested as if it were an account. */
const ROLE_AS_ACCOUNT = `jit_rolelike_${RUN}`;
const QUOTED_ROLE = `jit_q'uo"te; DROP USER root; --${RUN}`;
/** A second bot account without the README's privileges, and one without PROCESS only. */
const WEAK = `jit_weak_${RUN}`;
const NO_PROCESS = `jit_noproc_${RUN}`;

const providers: MysqlProvider[] = [];

function provider(access: Partial<MysqlAccess> = {}, target: Partial<MysqlTargetConfig> = {}) {
  const p = new MysqlProvider({ url: my.adminUrl(), timeoutMs: 5000, ...target }, 'prod-my');
  providers.push(p);
  return bound(p, { role: my.reader, mode: 'grant', accountHost: '%', ...access });
}

function subject(account: string | undefined, requestId = `req-${randomBytes(4).toString('hex')}`, expiresInMs = 3_600_000): GrantSubject {
  return {
    requestId,
    resourceId: 'prod-my',
    user: { slackId: 'U0ALICE', email: 'alice@example.com', account },
    reason: 'test',
    expiresAt: new Date(Date.now() + expiresInMs),
  };
}

const soon = (ms = 10_000) => ({ deadline: new Date(Date.now() + ms) });

/** A session that survives a revoke would still read the table: the query fails only if the session was killed. */
const killed = /Connection lost|closed state|server closed|PROTOCOL_CONNECTION_LOST|Can't add new command/i;

/** Sets the server's event scheduler for `work`, and puts back what it was. */
async function withEventScheduler<T>(state: 'ON' | 'OFF', work: () => Promise<T>): Promise<T> {
  const before = await asRoot(async (c) =>
    String(((await c.query('SELECT @@global.event_scheduler AS v'))[0] as Array<{ v: string }>)[0]!.v),
  );
  await asRoot((c) => c.query(`SET GLOBAL event_scheduler = ${state}`));
  try {
    return await work();
  } finally {
    await asRoot((c) => c.query(`SET GLOBAL event_scheduler = ${before === 'ON' ? 'ON' : 'OFF'}`));
  }
}

describeWithMysql('MysqlProvider (MariaDB at 127.0.0.1:3306, least-privilege bot account)', () => {
  beforeAll(async () => {
    await my.setUp();
    await my.createRole(OWN_DEFAULT);
    await my.createRole(ROLE_AS_ACCOUNT);
    await my.createRole(QUOTED_ROLE);
    await asRoot(async (c) => {
      await c.query(`GRANT SELECT ON ${sqlIdentifier(my.schema)}.secret_t TO ${sqlString(QUOTED_ROLE)}`);
      await c.query(`GRANT ${sqlString(QUOTED_ROLE)} TO ${sqlString(my.admin)}@'%' WITH ADMIN OPTION`);
    });
    await my.createUsers(
      { name: ACCOUNT },
      { name: OTHER },
      { name: TWO_HOSTS },
      { name: TWO_HOSTS, host: 'localhost', password: 'pw-local' },
      { name: HAS_DEFAULT, roles: [OWN_DEFAULT] },
      { name: WEAK, password: my.adminPassword },
    );
    await asRoot(async (c) => {
      await c.query(`SET DEFAULT ROLE ${sqlString(OWN_DEFAULT)} FOR ${sqlString(HAS_DEFAULT)}@'%'`);
      // Everything of the recipe but PROCESS.
      for (const statement of adminRecipe({
        admin: NO_PROCESS,
        password: my.adminPassword,
        schema: my.schema,
        roles: [my.reader],
        ephemeral: false,
      })) {
        await c.query(statement);
      }
      await c.query(`REVOKE PROCESS ON *.* FROM ${sqlString(NO_PROCESS)}@'%'`);
    });
  });

  afterAll(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await my.tearDown();
  });

  describe('grant mode', () => {
    it('grants the role as the default role; revoke takes it away, clears the default and kills the session that still had it', async () => {
      const p = provider();
      const s = subject(ACCOUNT);
      expect(await my.canRead(ACCOUNT)).toBe(false);

      await expect(p.grant(s, soon())).resolves.toEqual({});
      expect(await my.holdersOf()).toEqual([`${ACCOUNT}@%`]);
      expect(await my.defaultRoleOf(ACCOUNT)).toBe(my.reader);
      // A fresh login reads without SET ROLE: the role is its default role.
      expect(await my.canRead(ACCOUNT)).toBe(true);
      const held = await my.connect({ user: ACCOUNT });
      await expect(held.query(`SELECT v FROM ${my.schema}.secret_t`)).resolves.toBeDefined();

      await p.revoke(s, soon());

      // MariaDB keeps a revoked role usable in a session that activated it, until it reconnects:
      // only killing the session ends it.
      await expect(held.query(`SELECT v FROM ${my.schema}.secret_t`)).rejects.toThrow(killed);
      expect(await my.canRead(ACCOUNT)).toBe(false);
      expect(await my.holdersOf()).toEqual([]);
      expect(await my.defaultRoleOf(ACCOUNT)).toBeUndefined();
      expect(await my.sessionsOf(ACCOUNT)).toBe(0);
    });

    it('proves the pitfall: without the kill, a revoked role stays usable in the open session', async () => {
      await my.grantDirectly(my.reader, OTHER);
      const held = await my.connect({ user: OTHER });
      await held.query(`SET ROLE ${sqlString(my.reader)}`);
      await my.revokeDirectly(my.reader, OTHER);
      await expect(held.query(`SELECT v FROM ${my.schema}.secret_t`)).resolves.toBeDefined();
      await held.end();
    });

    it('is idempotent: grant twice, revoke twice, revoke what was never granted (MariaDB error 1962 is "done")', async () => {
      const p = provider();
      const s = subject(ACCOUNT);
      await p.grant(s, soon());
      await p.grant(s, soon());
      expect(await my.holdersOf()).toEqual([`${ACCOUNT}@%`]);
      await p.revoke(s, soon());
      await p.revoke(s, soon());
      expect(await my.holdersOf()).toEqual([]);
      await expect(p.revoke(subject(OTHER), soon())).resolves.toBeUndefined();
      await expect(p.revoke(subject(`jit_nobody_${RUN}`), soon())).resolves.toBeUndefined();
    });

    it('DROP USER does not close sessions: revoking for an account dropped meanwhile still kills its session', async () => {
      const name = `jit_dropped_${RUN}`;
      await my.createUsers({ name });
      const p = provider();
      await p.grant(subject(name), soon());
      const held = await my.connect({ user: name });
      await asRoot((c) => c.query(`DROP USER ${sqlString(name)}@'%'`));
      await expect(held.query(`SELECT v FROM ${my.schema}.secret_t`)).resolves.toBeDefined();
      await p.revoke(subject(name), soon());
      await expect(held.query('SELECT 1')).rejects.toThrow(killed);
    });

    it("'u'@'%' and 'u'@'localhost' are different accounts: each is checked, granted and inspected on its own", async () => {
      const local = provider({ accountHost: 'localhost' });
      const check = await local.validate(subject(ACCOUNT), soon());
      expect(check).toEqual({ ok: false, reason: expect.stringContaining(`no database account \`'${ACCOUNT}'@'localhost'\` in prod-my`) });
      expect((check as { reason: string }).reason).toContain(`there is \`'${ACCOUNT}'@'%'\`, a different account`);

      const anyHost = provider();
      await anyHost.grant(subject(TWO_HOSTS), soon());
      expect(await my.holdersOf()).toEqual([`${TWO_HOSTS}@%`]);
      expect(await local.holds(subject(TWO_HOSTS), soon())).toBe(false);
      expect(await anyHost.holds(subject(TWO_HOSTS), soon())).toBe(true);
      // Over TCP from 127.0.0.1 the %-account logs in and reads; the localhost account (socket) does not hold the role.
      expect(await my.canRead(TWO_HOSTS)).toBe(true);
      await anyHost.revoke(subject(TWO_HOSTS), soon());
      expect(await my.holdersOf()).toEqual([]);
    });

    it('refuses, at filing and at grant, a role named as the account, the bot’s own account, and an unknown one', async () => {
      const p = provider();
      // A MariaDB role has no host part, so '<role>'@'%' is no account at all (on MySQL 8, where roles
      // are accounts, the same check answers "is a role": dialect.test.ts).
      expect(await p.validate(subject(ROLE_AS_ACCOUNT), soon())).toEqual({
        ok: false,
        reason: expect.stringMatching(/There is no database account/),
      });
      expect(await rejection(p.grant(subject(ROLE_AS_ACCOUNT), soon()))).toMatchObject({
        retryable: false,
        message: expect.stringContaining('does not exist'),
      });
      expect(await p.validate(subject(my.admin), soon())).toEqual({
        ok: false,
        reason: expect.stringContaining('is the account jit-access connects as'),
      });
      const self = await rejection(p.grant(subject(my.admin), soon()));
      expect(self).toMatchObject({ retryable: false, message: expect.stringContaining('is the account jit-access connects as') });
      expect(await p.validate(subject(ACCOUNT), soon())).toEqual({ ok: true });
      expect(await provider({ role: `jit_norole_${RUN}` }).validate(subject(ACCOUNT), soon())).toEqual({
        ok: false,
        reason: expect.stringContaining('has no role'),
      });
      // The bot's own ADMIN OPTION survived all of this.
      expect(await provider().check()).toEqual([]);
    });

    it('MariaDB has one default role: an account’s own default role is kept, and the granted role works through SET ROLE', async () => {
      const p = provider();
      const s = subject(HAS_DEFAULT);
      await expect(p.grant(s, soon())).resolves.toEqual({ details: { defaultRoleKept: OWN_DEFAULT } });
      expect(await my.defaultRoleOf(HAS_DEFAULT)).toBe(OWN_DEFAULT);
      const c = await my.connect({ user: HAS_DEFAULT });
      await c.query(`SET ROLE ${sqlString(my.reader)}`);
      await expect(c.query(`SELECT v FROM ${my.schema}.secret_t`)).resolves.toBeDefined();
      await p.revoke(s, soon());
      expect(await my.defaultRoleOf(HAS_DEFAULT)).toBe(OWN_DEFAULT);
      expect(await my.holdersOf()).toEqual([]);
    });

    it('refuses an injection-shaped account without touching the server, and quotes a hostile role name harmlessly', async () => {
      const evil = `alice'@'%'; DROP USER root; --`;
      const err = await rejection(provider().grant(subject(evil), soon()));
      expect(err).toMatchObject({ retryable: false, message: expect.stringContaining('not a valid user name') });
      await expect(provider().revoke(subject(evil), soon())).resolves.toBeUndefined();

      const p = provider({ role: QUOTED_ROLE });
      await p.grant(subject(ACCOUNT), soon());
      expect(await my.holdersOf(QUOTED_ROLE)).toEqual([`${ACCOUNT}@%`]);
      expect(await my.canRead(ACCOUNT)).toBe(true);
      await p.revoke(subject(ACCOUNT), soon());
      expect(await my.holdersOf(QUOTED_ROLE)).toEqual([]);
      expect(await my.userExists('root', 'localhost')).toBe(true);
    });

    it('holds() reads a grant made outside jit-access', async () => {
      expect(await provider().holds(subject(OTHER), soon())).toBe(false);
      await my.grantDirectly(my.reader, OTHER);
      expect(await provider().holds(subject(OTHER), soon())).toBe(true);
      await my.revokeDirectly(my.reader, OTHER);
    });

    it('extend changes nothing in the database', async () => {
      await expect(provider().extend(subject(ACCOUNT), soon())).resolves.toBeUndefined();
    });

    it('without PROCESS a revoke fails loudly rather than believing the session list it cannot see', async () => {
      const p = provider({}, { url: my.adminUrl(NO_PROCESS) });
      await p.grant(subject(ACCOUNT), soon());
      const err = await rejection(p.revoke(subject(ACCOUNT), soon()));
      expect(err).toMatchObject({ retryable: false, message: expect.stringContaining('grant PROCESS') });
      await provider().revoke(subject(ACCOUNT), soon());
    });
  });

  describe('ephemeral mode', () => {
    const ephemeral = (target: Partial<MysqlTargetConfig> = {}) =>
      provider({ mode: 'ephemeral' }, { host: 'db.example.internal', port: 3307, database: my.schema, ...target });

    it('creates a user with a random password and the role as its default role; revoke drops it and kills its session', async () => {
      await withEventScheduler('OFF', async () => {
        const p = ephemeral();
        const label = `e1${RUN}`;
        const s = subject(label);
        const result = await p.grant(s, soon());
        const user = field(result, 'User');
        my.extraUsers.add(user);
        expect(user).toBe(temporaryName(label, s.requestId, 32));
        expect(result.details).toEqual({ user, host: '%' });
        expect(result.secretForRequester?.title).toBe('MariaDB credentials for prod-my');
        expect([field(result, 'Host'), field(result, 'Port'), field(result, 'Database')]).toEqual([
          'db.example.internal',
          '3307',
          my.schema,
        ]);
        expect(field(result, 'Expiry')).toMatch(/the bot drops the user/);
        const password = field(result, 'Password');
        expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);

        const session = await my.connect({ user, password });
        await expect(session.query(`SELECT v FROM ${my.schema}.secret_t`)).resolves.toBeDefined();
        expect(await my.defaultRoleOf(user)).toBe(my.reader);
        await expect(my.connect({ user, password: 'not-the-password' })).rejects.toThrow(/Access denied/);

        await p.revoke(s, { ...soon(), details: result.details });
        await expect(session.query('SELECT 1')).rejects.toThrow(killed);
        expect(await my.userExists(user)).toBe(false);
        await expect(my.connect({ user, password })).rejects.toThrow(/Access denied/);
        await p.revoke(s, { ...soon(), details: result.details });
      });
    });

    it('a retried grant gives fresh credentials to the same user; the first password stops working', async () => {
      const p = ephemeral();
      const s = subject(`e2${RUN}`);
      const first = await p.grant(s, soon());
      my.extraUsers.add(field(first, 'User'));
      const again = await p.grant(s, soon());
      expect(again.details).toEqual(first.details);
      expect(field(again, 'Password')).not.toBe(field(first, 'Password'));
      await expect(my.connect({ user: field(first, 'User'), password: field(first, 'Password') })).rejects.toThrow(/Access denied/);
      expect(await my.canRead(field(again, 'User'), field(again, 'Password'))).toBe(true);
      await p.revoke(s, { ...soon(), details: again.details });
    });

    it('the server never sees the password: CREATE USER carries its hash, and nothing in an error shows either', async () => {
      const p = ephemeral({ url: my.adminUrl(WEAK).replace(`/${my.schema}`, '') });
      const err = await rejection(p.grant(subject(`e3${RUN}`), soon()));
      expect(err.retryable).toBe(false);
      expect(err.message).not.toMatch(/\*[0-9A-F]{40}/);
      expect(err.message).not.toContain(my.adminPassword);
    });

    it('refuses to drop a user jit-access did not name', async () => {
      const err = await rejection(ephemeral().revoke(subject(undefined), { ...soon(), details: { user: ACCOUNT, host: '%' } }));
      expect(err).toMatchObject({ retryable: false, message: expect.stringContaining('which jit-access did not name') });
      expect(await my.userExists(ACCOUNT)).toBe(true);
    });

    /*
     * The database enforces the expiry even with the bot down: with the event scheduler on (set here
     * as root, and put back), a one-shot event drops the user and kills its session at the expiry.
     */
    it('with the event scheduler on, a one-shot event drops the user and ends its session at the expiry, with no revoke', async () => {
      await withEventScheduler('ON', async () => {
        const p = ephemeral();
        const s = subject(`e4${RUN}`, undefined, 2500);
        const result = await p.grant(s, soon());
        const user = field(result, 'User');
        my.extraUsers.add(user);
        expect(result.details).toEqual({ user, host: '%', event: `${my.schema}.jit_expire_${user}` });
        expect(field(result, 'Expiry')).toMatch(/enforced by the database/);
        expect((await my.eventAt(user))!.getTime()).toBe(Math.ceil(s.expiresAt.getTime() / 1000) * 1000);
        const session = await my.connect({ user, password: field(result, 'Password') });
        await expect(session.query(`SELECT v FROM ${my.schema}.secret_t`)).resolves.toBeDefined();

        // Nobody calls revoke: the bot is "down".
        const deadline = Date.now() + 10_000;
        while ((await my.userExists(user)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        expect(await my.userExists(user)).toBe(false);
        await expect(session.query('SELECT 1')).rejects.toThrow(killed);
        expect(await my.sessionsOf(user)).toBe(0);
        expect(await my.eventAt(user)).toBeUndefined(); // ON COMPLETION NOT PRESERVE
        // The bot's revoke when it is back: nothing left, and that is success.
        await expect(p.revoke(s, { ...soon(), details: result.details })).resolves.toBeUndefined();
      });
    });

    it('extend moves the event; revoke drops it', async () => {
      await withEventScheduler('ON', async () => {
        const p = ephemeral();
        const s = subject(`e5${RUN}`);
        const result = await p.grant(s, soon());
        const user = field(result, 'User');
        my.extraUsers.add(user);
        const later = { ...s, expiresAt: new Date(s.expiresAt.getTime() + 30 * 60_000 + 123) };
        await p.extend(later, { ...soon(), details: result.details });
        expect((await my.eventAt(user))!.getTime()).toBe(Math.ceil(later.expiresAt.getTime() / 1000) * 1000);
        await p.revoke(later, { ...soon(), details: result.details });
        expect(await my.eventAt(user)).toBeUndefined();
        expect(await my.userExists(user)).toBe(false);
        const gone = await rejection(p.extend(later, { ...soon(), details: result.details }));
        expect(gone).toMatchObject({ retryable: false, message: expect.stringContaining('no longer exists') });
      });
    });
  });

  describe('check()', () => {
    it('finds nothing missing for the README’s least-privilege account, in both modes', async () => {
      expect(await provider().check()).toEqual([]);
      await withEventScheduler('ON', async () => expect(await provider({ mode: 'ephemeral' }).check()).toEqual([]));
    });

    it('names every missing privilege for an account that has none, and a missing role', async () => {
      const problems = await withEventScheduler('ON', () =>
        provider({ mode: 'ephemeral' }, { url: my.adminUrl(WEAK).replace(`/${my.schema}`, '') }).check(),
      );
      const text = problems.join('\n');
      expect(text).toContain('cannot read mysql.user');
      const readable = await provider({ role: `jit_norole_${RUN}` }).check();
      expect(readable).toEqual([expect.stringContaining(`role jit_norole_${RUN} does not exist`)]);
    });

    it('names the privileges an account with only read access lacks', async () => {
      const name = `jit_reads_${RUN}`;
      await asRoot(async (c) => {
        await c.query(`CREATE USER ${sqlString(name)}@'%' IDENTIFIED BY ${sqlString(my.adminPassword)}`);
        await c.query(`GRANT SELECT (User, Host, is_role, default_role) ON mysql.user TO ${sqlString(name)}@'%'`);
        await c.query(`GRANT SELECT ON mysql.roles_mapping TO ${sqlString(name)}@'%'`);
        // Enough to connect to the bot's schema named in the URL; nothing else there.
        await c.query(`GRANT SELECT ON ${sqlIdentifier(my.schema)}.secret_t TO ${sqlString(name)}@'%'`);
      });
      const problems = await withEventScheduler('ON', () => provider({ mode: 'ephemeral' }, { url: my.adminUrl(name) }).check());
      expect(problems).toEqual([
        expect.stringContaining(`cannot grant role ${my.reader} (GRANT ${my.reader} TO the bot's account WITH ADMIN OPTION)`),
        expect.stringContaining('(grant PROCESS)'),
        expect.stringContaining('(grant CONNECTION ADMIN)'),
        expect.stringContaining('mode ephemeral needs CREATE USER'),
        expect.stringContaining('cannot set default roles: create the jit_set_default_role procedure'),
        expect.stringContaining(`cannot create expiry events in ${my.schema} (GRANT EVENT ON ${my.schema}.*)`),
      ]);
    });

    it('reports an unreachable server or a wrong password in one line, without the password', async () => {
      const problems = await provider({}, { url: my.adminUrl(my.admin, my.port, 'wrong-password-123') }).check();
      expect(problems).toEqual([expect.stringMatching(/Access denied/)]);
      expect(problems[0]).not.toContain('wrong-password-123');
    });
  });
});
