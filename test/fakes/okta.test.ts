import * as okta from '@okta/okta-sdk-nodejs';
import { FakeOkta, isolateOktaConfig, oktaRateLimit } from './okta';

/*
 * The fake Okta, driven by the official SDK (@okta/okta-sdk-nodejs) with every setting explicit,
 * no cache and no retries (as the provider configures it), in an environment without ~/.okta or OKTA_*.
 */

let fake: FakeOkta;
let client: okta.Client;
let isolation: ReturnType<typeof isolateOktaConfig>;
const TOKEN = 'fake-ssws-token-0123';

beforeAll(async () => {
  isolation = isolateOktaConfig();
  fake = await FakeOkta.start();
  fake.addToken(TOKEN);
  client = new okta.Client({
    orgUrl: fake.url,
    token: TOKEN,
    authorizationMode: 'SSWS',
    cacheMiddleware: null,
    requestExecutor: new okta.DefaultRequestExecutor({ maxRetries: 0, requestTimeout: 0 }),
  });
});
afterAll(async () => {
  await fake.stop();
  isolation.restore();
});
beforeEach(() => fake.http.clearInjections());

async function collect<T>(collection: Promise<okta.Collection<T>>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of await collection) out.push(item as T);
  return out;
}

const failure = (call: Promise<unknown>) =>
  call.then(
    () => undefined,
    (e: unknown) => e as okta.OktaApiError,
  );

describe('fake Okta, through @okta/okta-sdk-nodejs', () => {
  it('users by login, group membership by ID, the user’s groups and the group’s members, paginated', async () => {
    const alice = fake.addUser('alice@example.com');
    const group = fake.addGroup('prod-admins');
    const user = await client.userApi.getUser({ userId: 'alice@example.com' });
    expect([user.id, user.status, user.profile?.login]).toEqual([alice, 'ACTIVE', 'alice@example.com']);
    expect(fake.http.log.at(-1)!.headers.authorization).toBe(`SSWS ${TOKEN}`);
    await client.groupApi.assignUserToGroup({ groupId: group, userId: alice });
    await client.groupApi.assignUserToGroup({ groupId: group, userId: alice }); // already a member: 204 again
    expect(fake.isMember(group, alice)).toBe(true);
    expect((await collect(client.userApi.listUserGroups({ userId: alice }))).map((g) => g.id)).toEqual([group]);
    for (let i = 0; i < 5; i++) await client.groupApi.assignUserToGroup({ groupId: group, userId: fake.addUser(`u${i}@example.com`) });
    const members = await collect(client.groupApi.listGroupUsers({ groupId: group, limit: 2 }));
    expect(members).toHaveLength(6);
    expect(fake.http.seen('GET', `/api/v1/groups/${group}/users`).length).toBe(3);
    await client.groupApi.unassignUserFromGroup({ groupId: group, userId: alice });
    expect(fake.isMember(group, alice)).toBe(false);
  });

  it('unknown users are 404 E0000007; only OKTA_GROUP memberships change (400 E0000001 otherwise); a bad token is 401', async () => {
    const missing = await failure(client.userApi.getUser({ userId: 'nobody@example.com' }));
    expect([missing?.status, missing?.errorCode]).toEqual([404, 'E0000007']);
    const appGroup = fake.addGroup('AD: Domain Admins', 'APP_GROUP');
    expect((await client.groupApi.getGroup({ groupId: appGroup })).type).toBe('APP_GROUP');
    const refused = await failure(client.groupApi.assignUserToGroup({ groupId: appGroup, userId: fake.addUser('bob@example.com') }));
    expect([refused?.status, refused?.errorCode]).toEqual([400, 'E0000001']);
    expect(refused?.message).toContain('You only can modify memberships for groups of the OKTA_GROUP type');
    const stranger = new okta.Client({
      orgUrl: fake.url,
      token: 'wrong-token',
      authorizationMode: 'SSWS',
      cacheMiddleware: null,
      requestExecutor: new okta.DefaultRequestExecutor({ maxRetries: 0, requestTimeout: 0 }),
    });
    expect((await failure(stranger.groupApi.getGroup({ groupId: appGroup })))?.errorCode).toBe('E0000011');
  });

  it('group rules: listed with their target groups; removing a rule-assigned member excludes them from the rule', async () => {
    const group = fake.addGroup('engineers');
    const carol = fake.addUser('carol@example.com');
    const rule = fake.addRule('Engineering to engineers', [group], [carol]);
    fake.runRules();
    expect(fake.isMember(group, carol)).toBe(true);
    const rules = await collect(client.groupApi.listGroupRules({ limit: 50 }));
    expect(rules.find((r) => r.id === rule)).toMatchObject({ status: 'ACTIVE', actions: { assignUserToGroups: { groupIds: [group] } } });
    await client.groupApi.unassignUserFromGroup({ groupId: group, userId: carol });
    expect(fake.ruleExclusions(rule)).toEqual([carol]);
    fake.runRules();
    expect(fake.isMember(group, carol)).toBe(false);
  });

  it('a 429 carries X-Rate-Limit-Reset and a Date header; with maxRetries 0 the SDK hands it over untouched', async () => {
    const group = fake.addGroup('limited');
    const reset = Math.floor(Date.now() / 1000) + 30;
    fake.http.inject(() => true, oktaRateLimit(reset));
    const err = await failure(client.groupApi.getGroup({ groupId: group }));
    expect([err?.status, err?.errorCode]).toEqual([429, 'E0000047']);
    expect(err?.headers.get('x-rate-limit-reset')).toBe(String(reset));
    expect(err?.headers.get('date')).toMatch(/GMT$/);
    // The SDK's own executor would wait until the reset (plus a second) and retry: what the provider must not let it do.
    const retrying = new okta.Client({ orgUrl: fake.url, token: TOKEN, authorizationMode: 'SSWS', cacheMiddleware: null });
    fake.http.inject(() => true, oktaRateLimit(Math.floor(Date.now() / 1000) + 1));
    const started = Date.now();
    await retrying.groupApi.getGroup({ groupId: group });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(fake.http.log.at(-1)!.headers['x-okta-retry-count']).toBe('1');
  });

  it("the token's own user and its admin roles, with the groups a role is limited to; roles the token may not read are 403", async () => {
    const target = fake.addGroup('ops-admins');
    fake.addToken('fake-ssws-roles-token', [{ type: 'GROUP_MEMBERSHIP_ADMIN', groups: [target] }, { type: 'READ_ONLY_ADMIN' }]);
    const admin = new okta.Client({
      orgUrl: fake.url,
      token: 'fake-ssws-roles-token',
      authorizationMode: 'SSWS',
      cacheMiddleware: null,
      requestExecutor: new okta.DefaultRequestExecutor({ maxRetries: 0, requestTimeout: 0 }),
    });
    const me = await admin.userApi.getUser({ userId: 'me' });
    expect(me.status).toBe('ACTIVE');
    const roles = (await collect(admin.roleAssignmentApi.listAssignedRolesForUser({ userId: me.id! }))) as Array<{
      id?: string;
      type?: string;
    }>;
    expect(roles.map((r) => r.type)).toEqual(['GROUP_MEMBERSHIP_ADMIN', 'READ_ONLY_ADMIN']);
    const targets = await collect(admin.roleTargetApi.listGroupTargetsForRole({ userId: me.id!, roleId: roles[0]!.id! }));
    expect(targets.map((g) => g.id)).toEqual([target]);
    expect(await collect(admin.roleTargetApi.listGroupTargetsForRole({ userId: me.id!, roleId: roles[1]!.id! }))).toEqual([]);
    const mine = await client.userApi.getUser({ userId: 'me' });
    const refused = await failure(collect(client.roleAssignmentApi.listAssignedRolesForUser({ userId: mine.id! })));
    expect([refused?.status, refused?.errorCode]).toEqual([403, 'E0000006']);
  });
});
