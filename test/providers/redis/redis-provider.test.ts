import { randomBytes } from 'node:crypto';
import type { RedisAccess, RedisTargetConfig } from '../../../src/providers/redis/config';
import { RedisProvider } from '../../../src/providers/redis/redis-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { temporaryName } from '../../../src/providers/temporary-name';
import { problemsOrNone } from '../../policy/problems';
import { RedisFixture } from '../../support/redis-fixture';
import { RedisNode } from '../../support/redis-node';
import { bound, rejection, secretField as field } from '../bound';
import { REDIS_ROOT_URL, asRedisRoot, describeWithRedis } from '../redis-available';

/*
 * The redis provider's own behaviour, as the bot's least-privilege ACL user (the README's recipe,
 * test/support/redis-fixture.ts): on the shared Redis at 127.0.0.1:6379, and on private
 * redis-server nodes started here for what it cannot show (a replica, a node down, restarts with
 * and without an aclfile).
 */

const rd = new RedisFixture();
const RUN = rd.run;
const RULES = '~orders:* +@read';
const providers: RedisProvider[] = [];
const nodes: RedisNode[] = [];

function provider(target: Partial<RedisTargetConfig> = {}, access: Partial<RedisAccess> = {}) {
  const p = new RedisProvider({ ...(target.urls ? {} : { url: rd.adminUrl() }), timeoutMs: 3000, ...target }, 'cache');
  providers.push(p);
  return bound(p, { rules: RULES, ...access });
}

function subject(account: string | undefined = `alice${RUN}`, requestId = `req-${randomBytes(4).toString('hex')}`): GrantSubject {
  return {
    requestId,
    resourceId: 'orders-cache',
    user: { slackId: 'U0ALICE', email: 'alice@example.com', account },
    reason: 'test',
    expiresAt: new Date(Date.now() + 3_600_000),
  };
}

const soon = (ms = 5000) => ({ deadline: new Date(Date.now() + ms) });

async function node(opts: Parameters<typeof RedisNode.start>[0] = {}): Promise<RedisNode> {
  const n = await RedisNode.start(opts);
  nodes.push(n);
  return n;
}

describeWithRedis('RedisProvider (least-privilege ACL user)', () => {
  beforeAll(async () => {
    await rd.setUp();
    await asRedisRoot((c) => c.set(`orders:${RUN}`, 'the order'));
  });

  afterAll(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await rd.tearDown();
    await asRedisRoot((c) => c.del(`orders:${RUN}`, `users:${RUN}`));
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it('creates a temporary user with the rules and a random password; revoke deletes it and disconnects its client', async () => {
    const p = provider();
    const s = subject();
    const result = await p.grant(s, soon());
    const user = field(result, 'User');
    expect(user).toBe(temporaryName(`alice${RUN}`, s.requestId, 64));
    expect(result.details).toEqual({ username: user });
    expect(result.secretForRequester?.title).toBe('Redis credentials for orders-cache');
    expect(field(result, 'Server')).toBe('127.0.0.1:6379');
    expect(field(result, 'Connect')).toBe(`redis-cli -h 127.0.0.1 -p 6379 --user ${user} --askpass`);
    const password = field(result, 'Password');
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);

    const c = await rd.login(REDIS_ROOT_URL, user, password);
    expect(await c.get(`orders:${RUN}`)).toBe('the order');
    await expect(c.set(`orders:${RUN}`, 'changed')).rejects.toThrow(/NOPERM/);
    await expect(c.get(`users:${RUN}`)).rejects.toThrow(/NOPERM/);
    // Only the password's SHA-256 reached the server.
    const stored = await asRedisRoot((r) => r.call('ACL', 'GETUSER', user));
    expect(JSON.stringify(stored)).not.toContain(password);

    await p.revoke(s, { ...soon(), details: result.details });
    // ACL DELUSER disconnects the deleted user's clients: the open connection is gone, not just new logins.
    await expect(c.get(`orders:${RUN}`)).rejects.toThrow(/Connection is closed|ECONNRESET|NOAUTH/);
    expect(await rd.userOn(user)).toBeUndefined();
    await expect(rd.login(REDIS_ROOT_URL, user, password)).rejects.toThrow(/WRONGPASS/);
  });

  it('ACL SETUSER adds to an existing user: grant starts with reset, so a retry or a leftover user never keeps more', async () => {
    const p = provider();
    const s = subject();
    const name = temporaryName(`alice${RUN}`, s.requestId, 64);
    // A user of that name with far more than the resource gives (left over, or tampered with).
    await asRedisRoot((c) => c.call('ACL', 'SETUSER', name, 'on', '>leftover-password', '~*', '+@all'));
    const first = await p.grant(s, soon());
    expect(await rd.userOn(name)).toEqual({ on: true, commands: '-@all +@read', keys: '~orders:*' });
    await expect(rd.login(REDIS_ROOT_URL, name, 'leftover-password')).rejects.toThrow(/WRONGPASS/);
    const again = await p.grant(s, soon());
    expect(again.details).toEqual(first.details);
    expect(await rd.userOn(name)).toEqual({ on: true, commands: '-@all +@read', keys: '~orders:*' });
    await expect(rd.login(REDIS_ROOT_URL, name, field(first, 'Password'))).rejects.toThrow(/WRONGPASS/);
    await rd.login(REDIS_ROOT_URL, name, field(again, 'Password'));
    await p.revoke(s, { ...soon(), details: again.details });
  });

  it('ACL DELUSER answers 0 for a missing user: revoke twice, and revoke what was never granted, succeed', async () => {
    const p = provider();
    const s = subject();
    const { details } = await p.grant(s, soon());
    await p.revoke(s, { ...soon(), details });
    await expect(p.revoke(s, { ...soon(), details })).resolves.toBeUndefined();
    await expect(p.revoke(subject(), soon())).resolves.toBeUndefined();
  });

  it('names the user after the Slack ID when the account is not a plain name, and refuses to delete a user it did not name', async () => {
    const p = provider();
    const s = subject('x y; ACL DELUSER default');
    const result = await p.grant(s, soon());
    expect(field(result, 'User')).toMatch(/^jit_u0alice_[0-9a-f]{8}$/);
    await p.revoke(s, { ...soon(), details: result.details });
    const err = await rejection(p.revoke(subject(), { ...soon(), details: { username: 'default' } }));
    expect(err).toMatchObject({ retryable: false, message: expect.stringContaining('which jit-access did not name') });
    expect(await rd.userOn('default')).toMatchObject({ on: true });
  });

  it('extend changes nothing in Redis (ACL users have no expiry)', async () => {
    await expect(provider().extend(subject(), soon())).resolves.toBeUndefined();
  });

  it('reports a missing permission as non-retryable, without the bot’s password', async () => {
    const weak = `jit_rd_weak_${RUN}`;
    await asRedisRoot((c) => c.call('ACL', 'SETUSER', weak, 'reset', 'on', `>${rd.adminPassword}`, '+acl|deluser'));
    const p = provider({ url: `redis://${weak}:${rd.adminPassword}@127.0.0.1:6379` });
    const err = await rejection(p.grant(subject(), soon()));
    expect(err).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/^redis target cache: create ACL user .* failed on 1 of 1 node\(s\): 127\.0\.0\.1:6379: NOPERM/),
    });
    expect(err.message).not.toContain(rd.adminPassword);
    const wrong = await rejection(provider({ url: rd.adminUrl(REDIS_ROOT_URL, 'not-the-password-xyz') }).grant(subject(), soon()));
    expect(wrong).toMatchObject({ retryable: false, message: expect.stringContaining('WRONGPASS') });
    expect(wrong.message).not.toContain('not-the-password-xyz');
  });

  describe('several nodes (urls)', () => {
    it('ACL users are not replicated, so every node listed in urls gets the user, and loses it on revoke', async () => {
      const primary = await node();
      const replica = await node({ replicaOf: primary.port });
      await rd.setUp(primary.url, replica.url);
      // The pitfall itself: a user made on the primary does not reach its replica.
      await asRedisRoot((c) => c.call('ACL', 'SETUSER', `jit_manual_${RUN}`, 'on', '>pw', '+ping'), primary.url);
      await new Promise((r) => setTimeout(r, 300));
      expect(await rd.userOn(`jit_manual_${RUN}`, replica.url)).toBeUndefined();

      const p = provider({ urls: [rd.adminUrl(primary.url), rd.adminUrl(replica.url)] });
      const s = subject();
      const result = await p.grant(s, soon());
      const user = field(result, 'User');
      expect(field(result, 'Nodes')).toBe(`127.0.0.1:${primary.port}, 127.0.0.1:${replica.port}`);
      const onReplica = await rd.login(replica.url, user, field(result, 'Password'));
      await rd.login(primary.url, user, field(result, 'Password'));
      await p.revoke(s, { ...soon(), details: result.details });
      expect(await rd.userOn(user, primary.url)).toBeUndefined();
      expect(await rd.userOn(user, replica.url)).toBeUndefined();
      await expect(onReplica.ping()).rejects.toThrow(/Connection is closed|ECONNRESET/);

      // check(): a replica missing from urls is named (once the primary lists it: the link is up).
      const linked = Date.now() + 10_000;
      while (!JSON.stringify(await asRedisRoot((c) => c.call('ROLE'), primary.url)).includes(String(replica.port)) && Date.now() < linked) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await provider({ urls: [rd.adminUrl(primary.url), rd.adminUrl(replica.url)] }).check()).toEqual([]);
      expect(await provider({ url: rd.adminUrl(primary.url) }).check()).toEqual([
        `redis target cache, node 127.0.0.1:${primary.port}: replicates with 127.0.0.1:${replica.port}, which is not in urls (ACL users are not replicated: list every node)`,
      ]);
    });

    it('a node that is down fails the grant (retryable, naming it) and the revoke until it answers again', async () => {
      const a = await node();
      const b = await node();
      await rd.setUp(a.url, b.url);
      const p = provider({ urls: [rd.adminUrl(a.url), rd.adminUrl(b.url)], timeoutMs: 1000 });
      const s = subject();
      await b.kill();
      const failed = await rejection(p.grant(s, soon(1500)));
      expect(failed.retryable).toBe(true);
      expect(failed.message).toContain(`failed on 1 of 2 node(s) (done on 1): 127.0.0.1:${b.port}:`);
      // Taken back at once on the node that had it: nobody knows its password, and nothing waits for b.
      expect(await rd.userOn(temporaryName(`alice${RUN}`, s.requestId, 64), a.url)).toBeUndefined();
      // The compensating revoke cannot finish while b is down…
      expect((await rejection(p.revoke(s, soon(1500)))).retryable).toBe(true);
      await b.restart();
      await rd.setUp(b.url); // the restart lost b's ACL users, the bot's included (no aclfile)
      // …and does once it is back.
      await p.revoke(s, soon());
      expect(await rd.userOn(temporaryName(`alice${RUN}`, s.requestId, 64), a.url)).toBeUndefined();
    });
  });

  describe('what survives a Redis restart', () => {
    it('without an aclfile: nothing; a temporary user is gone after a restart (access ends)', async () => {
      const n = await node();
      await rd.setUp(n.url);
      const p = provider({ url: rd.adminUrl(n.url) });
      const s = subject();
      const result = await p.grant(s, soon());
      await n.restart();
      expect(await rd.userOn(field(result, 'User'), n.url)).toBeUndefined();
      await rd.setUp(n.url);
      await expect(p.revoke(s, { ...soon(), details: result.details })).resolves.toBeUndefined();
    });

    it('with an aclfile: revoke saves it, so a user someone ACL SAVEd during the grant does not come back after a restart', async () => {
      const n = await node({ aclfile: true });
      await rd.setUp(n.url);
      await asRedisRoot((c) => c.call('ACL', 'SAVE'), n.url); // the bot's own user survives restarts here
      const p = provider({ url: rd.adminUrl(n.url) });

      // Why revoke saves: a DELUSER alone leaves the saved user in the file, and a restart restores it.
      const manual = `jit_saved_${RUN}`;
      await asRedisRoot(async (c) => {
        await c.call('ACL', 'SETUSER', manual, 'on', '>pw', '+ping');
        await c.call('ACL', 'SAVE');
        await c.call('ACL', 'DELUSER', manual);
      }, n.url);
      await n.restart();
      expect(await rd.userOn(manual, n.url)).toMatchObject({ on: true });

      const s = subject();
      const result = await p.grant(s, soon());
      const user = field(result, 'User');
      await asRedisRoot((c) => c.call('ACL', 'SAVE'), n.url); // an operator saves while the grant is active
      await n.restart();
      expect(await rd.userOn(user, n.url)).toMatchObject({ on: true }); // restored from the file
      await p.revoke(s, { ...soon(), details: result.details });
      await n.restart();
      expect(await rd.userOn(user, n.url)).toBeUndefined();
    });
  });

  describe('check()', () => {
    it('finds nothing missing for the README’s least-privilege user', async () => {
      expect(await provider().check()).toEqual([]);
    });

    it('names rules the server refuses, a missing permission and a wrong password (without it)', async () => {
      expect(await provider({}, { rules: '~orders:* +@nosuchcategory' }).check()).toEqual([
        expect.stringMatching(/^redis target cache, node 127\.0\.0\.1:6379: ERR Error in ACL SETUSER modifier '\+@nosuchcategory'/),
      ]);
      const readOnly = `jit_rd_ro_${RUN}`;
      await asRedisRoot((c) => c.call('ACL', 'SETUSER', readOnly, 'reset', 'on', `>${rd.adminPassword}`, '+acl|setuser'));
      expect(await provider({ url: `redis://${readOnly}:${rd.adminPassword}@127.0.0.1:6379` }).check()).toEqual([
        expect.stringMatching(/NOPERM .*acl\|deluser/),
      ]);
      const wrong = await provider({ url: rd.adminUrl(REDIS_ROOT_URL, 'wrong-password-456') }).check();
      expect(wrong).toEqual([expect.stringContaining('WRONGPASS')]);
      expect(wrong[0]).not.toContain('wrong-password-456');
    });

    it('names a bot user that may not ACL SAVE (which every revoke runs), proved with ACL DRYRUN', async () => {
      const noSave = `jit_rd_nosave_${RUN}`;
      await asRedisRoot((c) =>
        c.call('ACL', 'SETUSER', noSave, 'reset', 'on', `>${rd.adminPassword}`, '+acl|setuser', '+acl|deluser', '+role', '+acl|dryrun'),
      );
      try {
        expect(await provider({ url: `redis://${noSave}:${rd.adminPassword}@127.0.0.1:6379` }).check()).toEqual([
          `redis target cache, node 127.0.0.1:6379: the bot's user ${noSave} may not run ACL SAVE, which revoke runs after ACL DELUSER (add +acl|save to it)`,
        ]);
      } finally {
        await asRedisRoot((c) => c.call('ACL', 'DELUSER', noSave));
      }
    });

    it("says a node is unreachable, fast, with the connection error rather than the driver's retry count", async () => {
      const started = Date.now();
      const problems = await provider({ url: rd.adminUrl('redis://127.0.0.1:1') }).check({ deadline: new Date(Date.now() + 3000) });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(problems).toEqual([expect.stringMatching(/^redis target cache, node 127\.0\.0\.1:1: unreachable: connect ECONNREFUSED/)]);
      expect(problems[0]).not.toContain(rd.adminPassword);
    });
  });
});

describe('redis policy settings', () => {
  const policy = (provider: string) => `
approvalChannel: C0APPROVALS
resources:
  - id: cache
    name: Cache
    approvers: { users: [U0BOB] }
    provider: ${provider}
`;

  it('takes url or urls, not both, not neither', () => {
    expect(problemsOrNone(policy('{ type: redis, url: "redis://a:b@h:6379", rules: "+@read" }'))).toEqual([]);
    expect(problemsOrNone(policy('{ type: redis, urls: ["redis://a:b@h:6379", "rediss://a:b@h2:6380"], rules: "+@read" }'))).toEqual([]);
    expect(problemsOrNone(policy('{ type: redis, rules: "+@read" }')).join('\n')).toContain(
      'expected exactly one of url (one node) or urls (every node)',
    );
    expect(problemsOrNone(policy('{ type: redis, url: "redis://a:b@h", urls: ["redis://a:b@h"], rules: "+@read" }')).join('\n')).toContain(
      'expected exactly one of url',
    );
    expect(problemsOrNone(policy('{ type: redis, url: "http://h", rules: "+@read" }')).join('\n')).toContain(
      'expected a redis:// or rediss:// URL',
    );
  });

  it.each(['on', 'off', 'nopass', '>pw', '<pw', '#abc', '!abc', 'reset', 'resetpass'])(
    'refuses the rule %s, which jit-access sets itself',
    (rule) => {
      expect(problemsOrNone(policy(`{ type: redis, url: "redis://a:b@h:6379", rules: "+@read ${rule}" }`)).join('\n')).toContain(
        'set only keys, channels and commands',
      );
    },
  );
});
