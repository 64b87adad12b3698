import { generateKeyPairSync } from 'node:crypto';
import { githubTargetSchema } from '../../../src/providers/github/config';
import type { GithubAccess } from '../../../src/providers/github/config';
import { githubProvider } from '../../../src/providers/github/github-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { FakeGitHub, primaryRateLimit, secondaryRateLimit } from '../../fakes/github';
import { freePort } from '../../support/ports';
import { bound, rejection } from '../bound';
import { problemsWith } from '../one-resource-policy';

/*
 * The github provider's own pitfalls, against the GitHub fake: pending invitations (shown, and
 * cancelled on revoke, which removing the membership alone does not do), maintainers never demoted,
 * permissions never downgraded, IdP-synced teams, rate limits, GitHub App credentials.
 */

const TOKEN = 'ghp_unit_token_0123456789';
let fake: FakeGitHub;
let n = 0;

const settings = (over: Record<string, unknown> = {}) =>
  githubTargetSchema.parse({ org: 'acme', token: TOKEN, baseUrl: fake.url, timeoutMs: 3000, ...over });
const open = (access: GithubAccess, over: Record<string, unknown> = {}) =>
  bound(githubProvider.create(settings(over), { targetName: 'gh' }), access);
const team = () => open({ team: 'oncall' });
const repo = (permission: GithubAccess['permission'] = 'push') => open({ repo: 'api', permission });
const soon = (ms = 3000) => ({ deadline: new Date(Date.now() + ms) });

function subject(login: string): GrantSubject {
  return {
    requestId: `rg${++n}`,
    resourceId: 'gh-res',
    user: { slackId: 'U0ALICE', account: login },
    reason: 'unit',
    expiresAt: new Date(Date.now() + 3_600_000),
  };
}
const member = () => {
  const login = `member-${++n}`;
  fake.addOrgMember(login);
  return login;
};
const outsider = () => {
  const login = `outsider-${++n}`;
  fake.addUser(login);
  return login;
};
const puts = (path: RegExp) => fake.http.seen('PUT', path).length;

beforeAll(async () => {
  fake = await FakeGitHub.start('acme');
  fake.addToken(TOKEN);
  fake.addTeam('oncall');
  fake.addTeam('other');
  fake.addRepo('api');
});
afterAll(() => fake.stop());
beforeEach(() => fake.http.clearInjections());

describe('github provider: teams', () => {
  it('someone outside the org gets a pending invitation: the grant says so, and revoke cancels the invitation (removing the membership alone would not)', async () => {
    const p = team();
    const login = outsider();
    const s = subject(login);
    const granted = await p.grant(s, soon());
    const invitation = fake.orgInvitationOf(login)!;
    expect(invitation.teams).toEqual(['oncall']);
    expect(granted).toEqual({
      details: { invitation: String(invitation.id) },
      notice: `GitHub invited ${login} to the acme organization: the oncall team membership starts once the invitation is accepted (http://127.0.0.1:${fake.http.port}/orgs/acme/invitation).`,
    });
    expect(await p.grant(s, soon())).toEqual(granted); // a retry finds the same invitation
    await p.revoke(s, { ...soon(), details: granted.details });
    expect(fake.orgInvitationOf(login)).toBeUndefined();
    expect(fake.teamMembership('oncall', login)).toBeUndefined();
  });

  it('an invitation accepted during the grant became a membership: revoke removes it', async () => {
    const p = team();
    const login = outsider();
    const s = subject(login);
    const { details } = await p.grant(s, soon());
    fake.acceptOrgInvitation(login);
    expect(fake.teamMembership('oncall', login)).toEqual({ state: 'active', role: 'member' });
    await p.revoke(s, { ...soon(), details });
    expect(fake.teamMembership('oncall', login)).toBeUndefined();
  });

  it('an invitation that also invites to another team is not cancelled: revoke fails (retried, alerted) with what to do', async () => {
    const p = team();
    const login = outsider();
    const s = subject(login);
    const { details } = await p.grant(s, soon());
    await open({ team: 'other' }).grant(subject(login), soon()); // GitHub adds the second team to the same invitation
    const err = await rejection(p.revoke(s, { ...soon(), details }));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(
      new RegExp(`${login}'s pending invitation to acme also invites to team\\(s\\) other; cancelling it would cancel those too`),
    );
    expect(fake.orgInvitationOf(login)?.teams.sort()).toEqual(['oncall', 'other']);
  });

  it('a maintainer holds the team already, is never demoted by a grant nor removed by a revoke', async () => {
    const p = team();
    const login = member();
    fake.setTeamMember('oncall', login, 'maintainer');
    const s = subject(login);
    expect(await p.holds(s, soon())).toBe(true);
    const before = puts(/\/memberships\//);
    await p.grant(s, soon());
    await p.revoke(s, soon());
    expect(puts(/\/memberships\//)).toBe(before);
    expect(fake.teamMembership('oncall', login)).toEqual({ state: 'active', role: 'maintainer' });
  });

  it('an IdP-synced team: check() says so; a grant fails at once with a clear, non-retryable error', async () => {
    fake.addTeam('synced');
    fake.syncTeam('synced');
    const p = open({ team: 'synced' });
    expect(await p.check()).toEqual([
      'github target gh: team synced is synced with identity provider group(s) okta-synced: GitHub refuses membership changes through the API; grant it through the IdP, or use a team that is not synced',
    ]);
    const err = await rejection(p.grant(subject(member()), soon()));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(
      /HTTP 403: This team is synchronized with an identity provider group.*the team is synced with an identity provider, which refuses membership changes/,
    );
    expect(await team().check()).toEqual([]);
    fake.teamSyncAvailable = false; // an org without team sync answers 404 there
    expect(await team().check()).toEqual([]);
    fake.teamSyncAvailable = true;
    expect(await open({ team: 'nope' }).check()).toEqual(['github target gh: no team nope in acme (or the credentials cannot see it)']);
  });

  it("check(): the credentials may change memberships or collaborators (a classic token's scopes, an App's installation permissions); a fine-grained token cannot tell", async () => {
    fake.addToken('ghp_classic_read_only', ['read:org']);
    expect(await open({ team: 'oncall' }, { token: 'ghp_classic_read_only' }).check()).toEqual([
      "github target gh: the token's scopes (read:org) include neither admin:org nor write:org, which changing team memberships needs",
    ]);
    expect(await open({ repo: 'api', permission: 'push' }, { token: 'ghp_classic_read_only' }).check()).toEqual([
      "github target gh: the token's scopes (read:org) do not include repo, which managing collaborators needs",
    ]);
    fake.addToken('ghp_classic_enough', ['write:org', 'repo']);
    expect(await open({ team: 'oncall' }, { token: 'ghp_classic_enough' }).check()).toEqual([]);

    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    fake.addApp(4242, publicKey, 4243, { members: 'read', administration: 'write', metadata: 'read' });
    const app = (access: GithubAccess) => open(access, { token: undefined, appId: 4242, privateKey, installationId: 4243 });
    expect(await app({ team: 'oncall' }).check()).toEqual([
      "github target gh: the GitHub App's installation has members: read; changing team memberships needs members: write",
    ]);
    expect(await app({ repo: 'api', permission: 'push' }).check()).toEqual([]);
    // TOKEN is kept without scopes, as a fine-grained token is: nothing to read, nothing reported.
    expect(await team().check()).toEqual([]);
  });

  it('secondary rate limits are waited out when retry-after fits in the deadline, else reported as retryable at once; so is the primary limit', async () => {
    const p = team();
    const login = member();
    fake.http.inject((r) => r.method === 'PUT', secondaryRateLimit(1));
    fake.http.inject((r) => r.method === 'PUT', secondaryRateLimit(1, 429));
    const started = Date.now();
    await p.grant(subject(login), soon(5000));
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(fake.teamMembership('oncall', login)?.state).toBe('active');

    fake.http.inject(() => true, secondaryRateLimit(120));
    const quick = Date.now();
    const err = await rejection(p.revoke(subject(login), soon(3000)));
    expect(Date.now() - quick).toBeLessThan(500);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(
      /HTTP 403: You have exceeded a secondary rate limit.*\(the service asks to wait 120s, past this call's deadline\)/,
    );

    fake.http.inject(() => true, primaryRateLimit(Math.floor(Date.now() / 1000) + 3600));
    expect((await rejection(p.revoke(subject(login), soon()))).retryable).toBe(true);
  });

  it('an unreachable API: a retryable error that names the network failure', async () => {
    const p = open({ team: 'oncall' }, { baseUrl: `http://127.0.0.1:${await freePort()}` });
    const err = await rejection(p.grant(subject(member()), soon(800)));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('validate(): a login GitHub does not know is refused at filing', async () => {
    const p = team();
    expect(await p.validate({ resourceId: 'r', user: { slackId: 'U', account: member() } }, soon())).toEqual({ ok: true });
    expect(await p.validate({ resourceId: 'r', user: { slackId: 'U', account: 'ghost-user' } }, soon())).toEqual({
      ok: false,
      reason: 'There is no GitHub user `ghost-user` (gh). Ask a policy admin to correct your login in `identities`.',
    });
  });

  it('a GitHub App installation works as the credentials', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    fake.addApp(4242, publicKey, 99);
    const p = open({ team: 'oncall' }, { token: undefined, appId: '4242', privateKey, installationId: 99 });
    const login = member();
    await p.grant(subject(login), soon());
    expect(fake.teamMembership('oncall', login)?.state).toBe('active');
    expect(fake.http.seen('POST', '/app/installations/99/access_tokens')).toHaveLength(1);
  });
});

describe('github provider: repository permissions', () => {
  it('an org owner (admin everywhere) holds push already: nothing is granted, nothing revoked, never downgraded', async () => {
    const p = repo('push');
    const owner = `owner-${++n}`;
    fake.addOrgMember(owner, 'admin');
    const s = subject(owner);
    expect(await p.holds(s, soon())).toBe(true);
    const before = puts(/\/collaborators\//);
    await p.grant(s, soon());
    await p.revoke(s, soon());
    expect(puts(/\/collaborators\//)).toBe(before);
    expect(fake.permissionOn('api', owner)).toBe('admin');
  });

  it('a member with the base permission gets a direct collaboration, and goes back to the base permission on revoke', async () => {
    fake.basePermission = 'pull';
    try {
      const p = repo('push');
      const login = member();
      const s = subject(login);
      expect(await p.holds(s, soon())).toBe(false);
      expect(await p.grant(s, soon())).toEqual({});
      expect(fake.permissionOn('api', login)).toBe('push');
      await p.revoke(s, soon());
      expect(fake.permissionOn('api', login)).toBe('pull');
    } finally {
      fake.basePermission = 'none';
    }
  });

  it('an existing direct collaborator with a lower permission is refused (revoke could not give it back); one raised higher later is left alone', async () => {
    const p = repo('push');
    const low = member();
    fake.setCollaborator('api', low, 'triage');
    const err = await rejection(p.grant(subject(low), soon()));
    expect(err.retryable).toBe(false);
    expect(err.message).toContain(`${low} is already a direct collaborator of acme/api with permission triage`);
    expect(fake.permissionOn('api', low)).toBe('triage');

    const raised = member();
    const s = subject(raised);
    await p.grant(s, soon());
    fake.setCollaborator('api', raised, 'admin'); // an admin promotes them meanwhile
    await p.revoke(s, soon());
    expect(fake.permissionOn('api', raised)).toBe('admin');
  });

  it('an outsider gets a repository invitation: shown, and deleted on revoke', async () => {
    const p = repo('push');
    const login = outsider();
    const s = subject(login);
    const granted = await p.grant(s, soon());
    const inv = fake.repoInvitationOf('api', login)!;
    expect(granted).toEqual({
      details: { invitation: String(inv.id) },
      notice: expect.stringMatching(
        new RegExp(`^GitHub invited ${login} to acme/api \\(push\\): the access starts once the invitation is accepted`),
      ),
    });
    expect(await p.grant(s, soon())).toEqual(granted);
    await p.revoke(s, { ...soon(), details: granted.details });
    expect(fake.repoInvitationOf('api', login)).toBeUndefined();

    // Accepted meanwhile: an outside collaborator now, removed on revoke.
    const second = subject(login);
    const again = await p.grant(second, soon());
    fake.acceptRepoInvitation('api', login);
    await p.revoke(second, { ...soon(), details: again.details });
    expect(fake.permissionOn('api', login)).toBe('none');
  });
});

describe('github policy settings', () => {
  it('needs a team or a repo with a permission, and one kind of credentials', () => {
    expect(problemsWith('{ type: github, org: acme, token: ghp_0123456789, team: a, repo: b, permission: push }')).toContain(
      'expected team, or repo and permission',
    );
    expect(problemsWith('{ type: github, org: acme, token: ghp_0123456789, repo: b }')).toContain(
      'resources[0].provider.permission: a repo needs a permission: pull, triage, push, maintain, admin',
    );
    expect(problemsWith('{ type: github, org: acme, team: a }')).toContain(
      'expected token, or appId, privateKey and installationId of a GitHub App',
    );
    expect(problemsWith('{ type: github, org: acme, appId: 1, team: a }')).toContain(
      'a GitHub App needs all of appId, privateKey and installationId',
    );
    expect(
      problemsWith('{ type: github, org: acme, token: ghp_0123456789, team: a }', 'identities: { U0ALICE: "not a login!" }'),
    ).toContain('identities.U0ALICE: not a valid account for github target res: expected a GitHub login');
  });
});
