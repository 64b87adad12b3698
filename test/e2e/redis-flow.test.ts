import { describeWithRedis, REDIS_ROOT_URL, asRedisRoot } from '../providers/redis-available';
import { RedisFixture } from '../support/redis-fixture';
import { RedisNode } from '../support/redis-node';
import { freePort as closedPort } from '../support/ports';
import { startTestBot, TestBot } from './harness';
import { RequestSteps } from './support/request-steps';

/*
 * The redis provider through the real app (signed HTTP, fake Slack Web API): a request in Slack,
 * an approval click, a temporary ACL user on every node (the shared Redis at 127.0.0.1:6379 and a
 * second redis-server started here), credentials by DM; `/jit-access revoke` and expiry deleting
 * it everywhere and disconnecting its clients. Skipped (with the reason printed) when Redis is
 * unusable, except in CI.
 */

const rd = new RedisFixture();
const RUN = rd.run;

function policy(): string {
  return `
approvalChannel: C0APPROVALS
defaults:
  minDuration: 1s
  maxDuration: 4h
emailDomains: [example.com]
identities:
  U0ALICE: alice${RUN}
targets:
  cache:
    type: redis
    urls: ["\${REDIS_ADMIN_URL}", "\${REDIS_NODE2_URL}"]
resources:
  - id: orders-cache
    name: Orders cache (read)
    approvers: { users: [U0BOB] }
    provider: { target: cache, rules: "~orders:* +@read" }
  - id: cache-down
    name: A node that is down, checked last
    approvers: { users: [U0BOB] }
    provider: { type: redis, url: "\${REDIS_DOWN_URL}", rules: "+@read", timeoutMs: 1000 }
`;
}

describeWithRedis('Redis provider through the app (127.0.0.1:6379 and a second node)', () => {
  let t: TestBot;
  let second: RedisNode;
  const steps = new RequestSteps(() => t);
  const key = `orders:${RUN}`;

  beforeAll(async () => {
    second = await RedisNode.start();
    await rd.setUp(REDIS_ROOT_URL, second.url);
    for (const url of [REDIS_ROOT_URL, second.url]) await asRedisRoot((c) => c.set(key, 'the order'), url);
    const down = rd.adminUrl(`redis://127.0.0.1:${await closedPort()}`);
    t = await startTestBot({
      policy: policy(),
      env: { REDIS_ADMIN_URL: rd.adminUrl(), REDIS_NODE2_URL: rd.adminUrl(second.url), REDIS_DOWN_URL: down },
    });
  });

  afterAll(async () => {
    await t?.stop();
    await rd.tearDown();
    await asRedisRoot((c) => c.del(key));
    await second?.stop();
  });

  /** Both nodes' clients for the DM'd credentials. */
  async function loginEverywhere(creds: Record<string, string>) {
    return Promise.all([REDIS_ROOT_URL, second.url].map((url) => rd.login(url, creds.User!, creds.Password!)));
  }

  it('start-up check finds nothing missing for the least-privilege ACL user', async () => {
    expect(await steps.startupWarningsBefore('cache-down')).toEqual([]);
    expect(t.logs.join('\n')).not.toContain(rd.adminPassword);
  });

  it('approval creates the user on every node, credentials by DM; revoke deletes it everywhere and disconnects its clients', async () => {
    const { req, message } = await steps.file('U0ALICE', 'orders-cache', 'INC-7 look at an order');
    expect(req).toMatchObject({ target: 'cache', account: `alice${RUN}`, accountSource: 'identities' });
    expect(JSON.stringify(message.args.blocks)).toContain(`\`alice${RUN}\` in \`cache\``);
    await steps.approve(req._id);
    const active = await steps.get(req._id);
    expect(active.state).toBe('active');
    const user = active.providerDetails?.username;
    expect(user).toMatch(new RegExp(`^jit_alice${RUN}_[0-9a-f]{8}$`));

    const creds = await steps.credentials('U0ALICE', 'Redis credentials for orders-cache');
    expect(creds).toMatchObject({ Nodes: `127.0.0.1:6379, 127.0.0.1:${second.port}`, User: user, TLS: 'no' });
    const clients = await loginEverywhere(creds);
    for (const c of clients) {
      expect(await c.get(key)).toBe('the order');
      await expect(c.set(key, 'changed')).rejects.toThrow(/NOPERM/);
    }
    await steps.expectOnlyInDm(req._id, 'U0ALICE', creds.Password!);

    await steps.revokeAsRequester('U0ALICE', req._id);
    for (const c of clients) await expect(c.get(key)).rejects.toThrow(/Connection is closed|ECONNRESET/);
    expect(await rd.userOn(user!)).toBeUndefined();
    expect(await rd.userOn(user!, second.url)).toBeUndefined();
    await expect(rd.login(second.url, creds.User!, creds.Password!)).rejects.toThrow(/WRONGPASS/);
  });

  it('expiry: the user is deleted on every node when the grant runs out', async () => {
    const active = await steps.fileAndApprove('U0ALICE', 'orders-cache', 'INC-8 a short look', '3s');
    // The DM of this grant, not of the previous one.
    const creds = await steps.credentials('U0ALICE', 'Redis credentials for orders-cache', active.providerDetails!.username);
    const clients = await loginEverywhere(creds);
    await steps.waitForState(active._id, 'expired', 15_000);
    for (const c of clients) await expect(c.ping()).rejects.toThrow(/Connection is closed|ECONNRESET/);
    expect(await rd.userOn(creds.User!)).toBeUndefined();
    expect(await rd.userOn(creds.User!, second.url)).toBeUndefined();
  });
});
