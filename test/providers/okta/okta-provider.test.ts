import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { oktaTargetSchema } from '../../../src/providers/okta/config';
import { oktaProvider } from '../../../src/providers/okta/okta-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { FakeOkta, isolateOktaConfig, oktaRateLimit } from '../../fakes/okta';
import { freePort } from '../../support/ports';
import { bound, rejection } from '../bound';

/*
 * The okta provider's own pitfalls, against the Okta fake: the SDK's configuration sources kept out,
 * logins resolved to user IDs at filing, only OKTA_GROUP groups, group rules, 429 and its reset, no
 * stale cache.
 */

const TOKEN = 'ssws-unit-token-0123';
let fake: FakeOkta;
let isolation: ReturnType<typeof isolateOktaConfig>;
let group: string;

const settings = (over: Record<string, unknown> = {}) =>
  oktaTargetSchema.parse({ orgUrl: fake.url, token: TOKEN, timeoutMs: 3000, ...over });
const open = (groupId = group) => bound(oktaProvider.create(settings(), { targetName: 'okta' }), { groupId });
const soon = (ms = 3000) => ({ deadline: new Date(Date.now() + ms) });
let n = 0;
function person(status = 'ACTIVE'): { login: string; id: string } {
  const login = `person${++n}@example.com`;
  return { login, id: fake.addUser(login, status) };
}
function subject(p: { login: string; id?: string }): GrantSubject {
  return {
    requestId: `ro${++n}`,
    resourceId: 'okta-res',
    user: { slackId: 'U0ALICE', account: p.login, ...(p.id ? { principal: p.id } : {}) },
    reason: 'unit',
    expiresAt: new Date(Date.now() + 3_600_000),
  };
}

beforeAll(async () => {
  isolation = isolateOktaConfig();
  fake = await FakeOkta.start();
  fake.addToken(TOKEN);
  group = fake.addGroup('prod-admins');
});
afterAll(async () => {
  await fake.stop();
  isolation.restore();
});
beforeEach(() => fake.http.clearInjections());

describe('okta provider', () => {
  it('ignores ~/.okta/okta.yaml and OKTA_CLIENT_*: its own org URL, token, SSWS mode and user agent win', async () => {
    mkdirSync(join(isolation.home, '.okta'), { recursive: true });
    writeFileSync(
      join(isolation.home, '.okta', 'okta.yaml'),
      'okta:\n  client:\n    orgUrl: http://127.0.0.1:9\n    token: yaml-token-0123\n    userAgent: from-yaml\n',
    );
    Object.assign(process.env, {
      OKTA_CLIENT_ORGURL: 'http://127.0.0.1:8',
      OKTA_CLIENT_TOKEN: 'env-token-0123',
      OKTA_CLIENT_AUTHORIZATIONMODE: 'PrivateKey',
    });
    try {
      const p = open();
      const who = person();
      await p.grant(subject(who), soon());
      expect(fake.isMember(group, who.id)).toBe(true);
      const seen = fake.http.log.at(-1)!;
      expect(seen.headers.authorization).toBe(`SSWS ${TOKEN}`);
      expect(String(seen.headers['user-agent'])).toMatch(/^jit-access @okta\/okta-sdk-nodejs\//);

      writeFileSync(join(isolation.home, '.okta', 'okta.yaml'), 'okta:\n  client:\n    token: "yaml-secret-0123\n    orgUrl: [');
      expect(() => open()).toThrow(
        /^okta target okta: the Okta SDK refused to start \(.*\); check ~\/\.okta\/okta\.yaml and \.\/okta\.yaml, which it reads$/,
      );
      expect(() => open()).not.toThrow(/yaml-secret/);
    } finally {
      for (const k of ['OKTA_CLIENT_ORGURL', 'OKTA_CLIENT_TOKEN', 'OKTA_CLIENT_AUTHORIZATIONMODE']) delete process.env[k];
      rmSync(join(isolation.home, '.okta'), { recursive: true, force: true });
    }
  });

  it('validate(): resolves the login to the user ID; an unknown, suspended or deprovisioned user is refused', async () => {
    const p = open();
    const who = person();
    expect(await p.validate({ resourceId: 'r', user: { slackId: 'U', account: who.login.toUpperCase() } }, soon())).toEqual({
      ok: true,
      principal: who.id,
    });
    expect(await p.validate({ resourceId: 'r', user: { slackId: 'U', account: 'ghost@example.com' } }, soon())).toEqual({
      ok: false,
      reason: 'Okta (okta) has no user `ghost@example.com`. Ask a policy admin to map you to your Okta login in `identities`.',
    });
    for (const status of ['SUSPENDED', 'DEPROVISIONED']) {
      const gone = person(status);
      expect(await p.validate({ resourceId: 'r', user: { slackId: 'U', account: gone.login } }, soon())).toEqual({
        ok: false,
        reason: `Your Okta user \`${gone.login}\` in okta is ${status}: a group membership would not let it sign in.`,
      });
    }
  });

  it('grant and revoke use the user ID stored at filing (no look-up), even if the login changed since', async () => {
    const p = open();
    const who = person();
    const before = fake.http.log.length;
    const s = { ...subject(who), user: { ...subject(who).user, account: 'renamed@example.com' } };
    await p.grant(s, soon());
    expect(fake.isMember(group, who.id)).toBe(true);
    await p.revoke(s, soon());
    expect(fake.isMember(group, who.id)).toBe(false);
    expect(fake.http.log.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      `PUT /api/v1/groups/${group}/users/${who.id}`,
      `DELETE /api/v1/groups/${group}/users/${who.id}`,
    ]);
  });

  it('only OKTA_GROUP groups: check() says what an APP_GROUP or BUILT_IN group is; a grant to one fails at once, non-retryable', async () => {
    const imported = fake.addGroup('AD: Domain Admins', 'APP_GROUP');
    const everyone = fake.addGroup('Everyone', 'BUILT_IN');
    expect(await open(imported).check()).toEqual([
      `okta target okta: group AD: Domain Admins (${imported}) is of type APP_GROUP: only OKTA_GROUP memberships can be changed through the API (APP_GROUP members come from the app's imports, BUILT_IN is Everyone)`,
    ]);
    expect((await open(everyone).check())[0]).toContain('is of type BUILT_IN');
    const err = await rejection(open(imported).grant(subject(person()), soon()));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /HTTP 400: E0000001 Api validation failed: group: You only can modify memberships for groups of the OKTA_GROUP type/,
    );
    expect(await open('00gnothere0000000000').check()).toEqual([
      'okta target okta: no group 00gnothere0000000000 (or the token cannot see it)',
    ]);
  });

  it("check(): the token's admin roles may change the group's members, where they can be read", async () => {
    const other = fake.addGroup('billing-admins');
    const withRoles = (token: string, roles: Array<{ type: string; groups?: string[] }>) => {
      fake.addToken(token, roles);
      return bound(oktaProvider.create(settings({ token }), { targetName: 'okta' }), { groupId: group });
    };
    expect(await withRoles('ssws-scoped-here-0001', [{ type: 'GROUP_MEMBERSHIP_ADMIN', groups: [group] }]).check()).toEqual([]);
    expect(await withRoles('ssws-unscoped-0002', [{ type: 'GROUP_MEMBERSHIP_ADMIN' }]).check()).toEqual([]);
    expect(await withRoles('ssws-super-0003', [{ type: 'SUPER_ADMIN' }]).check()).toEqual([]);
    expect(await withRoles('ssws-custom-0004', [{ type: 'CUSTOM' }]).check()).toEqual([]); // its permissions are not read: no verdict
    expect(
      await withRoles('ssws-elsewhere-0005', [{ type: 'GROUP_MEMBERSHIP_ADMIN', groups: [other] }, { type: 'READ_ONLY_ADMIN' }]).check(),
    ).toEqual([
      `okta target okta: group prod-admins (${group}): the token's user has GROUP_MEMBERSHIP_ADMIN of other groups, READ_ONLY_ADMIN, which cannot change this group's members: give it Group Membership Admin for the group (see the README)`,
    ]);
    // TOKEN may not read its roles (as a least-privilege admin may not): nothing to judge, nothing said.
    expect(await open().check()).toEqual([]);
  });

  it('group rules: check() warns about active rules targeting the group; a rule-assigned member is standing access, never removed', async () => {
    const ruled = fake.addGroup('engineers');
    const engineer = person();
    fake.addRule('Engineering department', [ruled], [engineer.id]);
    fake.addRule('Old rule', [ruled], [], 'INACTIVE');
    fake.runRules();
    const p = open(ruled);
    expect(await p.check()).toEqual([
      `okta target okta: group rule(s) Engineering department assign users to engineers (${ruled}): a user a rule added before the grant keeps the membership (standing access), but a rule can add a revoked user back, and Okta puts a rule-assigned user that jit-access removes on the rule’s exclusion list`,
    ]);
    expect(await p.holds(subject(engineer), soon())).toBe(true);
    expect(await open().check()).toEqual([]);
    fake.rulesForbidden = true;
    try {
      expect((await p.check())[0]).toMatch(
        /could not read the group rules \(.*HTTP 403: E0000006.*\); if a rule assigns users to engineers, it can add them back after a revoke/,
      );
    } finally {
      fake.rulesForbidden = false;
    }
  });

  it('429: waited out until X-Rate-Limit-Reset when that fits in the deadline; otherwise a retryable error at once', async () => {
    const p = open();
    const who = person();
    fake.http.inject((r) => r.method === 'PUT', oktaRateLimit(Math.floor(Date.now() / 1000) + 1));
    const started = Date.now();
    await p.grant(subject(who), soon(5000));
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(fake.isMember(group, who.id)).toBe(true);
    expect(fake.http.seen('PUT', `/api/v1/groups/${group}/users/${who.id}`)).toHaveLength(2);

    fake.http.inject(() => true, oktaRateLimit(Math.floor(Date.now() / 1000) + 300));
    const quick = Date.now();
    const err = await rejection(p.revoke(subject(who), soon()));
    expect(Date.now() - quick).toBeLessThan(500);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(
      /HTTP 429: E0000047 API call exceeded rate limit due to too many requests\. \(the service asks to wait 30\ds, past this call's deadline\)/,
    );
  });

  it('reads are never cached: holds() sees a membership change made a moment ago', async () => {
    const p = open();
    const who = person();
    expect(await p.holds(subject(who), soon())).toBe(false);
    fake.addMember(group, who.id);
    expect(await p.holds(subject(who), soon())).toBe(true);
  });

  it('an unreachable org: a retryable error that names the network failure', async () => {
    const p = bound(oktaProvider.create(settings({ orgUrl: `http://127.0.0.1:${await freePort()}` }), { targetName: 'okta' }), {
      groupId: group,
    });
    const err = await rejection(p.grant(subject(person()), soon(800)));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('a user deleted since the grant: revoke has nothing to do', async () => {
    const p = open();
    await expect(p.revoke(subject({ login: 'deleted@example.com' }), soon())).resolves.toBeUndefined();
  });
});
