import { generateKeyPairSync } from 'node:crypto';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { FakeGitHub, secondaryRateLimit } from './github';

/*
 * The fake GitHub, driven by the official clients (@octokit/rest, @octokit/auth-app): the calls the
 * provider makes, and the documented behaviours it must cope with.
 */

let fake: FakeGitHub;
let octokit: Octokit;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const org = 'acme';

beforeAll(async () => {
  fake = await FakeGitHub.start(org);
  fake.addToken('ghp_fake_token_for_tests');
  fake.addTeam('oncall');
  fake.addRepo('api');
  fake.addOrgMember('alice');
  fake.addUser('newbie');
  octokit = new Octokit({ auth: 'ghp_fake_token_for_tests', baseUrl: fake.url, log: quiet });
});
afterAll(() => fake.stop());
beforeEach(() => fake.http.clearInjections());

async function status(call: Promise<unknown>): Promise<number> {
  const err = (await call.then(
    () => undefined,
    (e: unknown) => e,
  )) as { status?: number } | undefined;
  return err?.status ?? 0;
}

describe('fake GitHub, through @octokit/rest', () => {
  it('team membership: an org member is active at once; PUT is an upsert that demotes a maintainer asked for role member', async () => {
    const { data } = await octokit.rest.teams.addOrUpdateMembershipForUserInOrg({
      org,
      team_slug: 'oncall',
      username: 'alice',
      role: 'member',
    });
    expect(data).toMatchObject({ role: 'member', state: 'active' });
    expect((await octokit.rest.teams.getMembershipForUserInOrg({ org, team_slug: 'oncall', username: 'alice' })).data.state).toBe('active');
    fake.setTeamMember('oncall', 'alice', 'maintainer');
    await octokit.rest.teams.addOrUpdateMembershipForUserInOrg({ org, team_slug: 'oncall', username: 'alice', role: 'member' });
    expect(fake.teamMembership('oncall', 'alice')).toEqual({ state: 'active', role: 'member' });
    await octokit.rest.teams.removeMembershipForUserInOrg({ org, team_slug: 'oncall', username: 'alice' });
    expect(await status(octokit.rest.teams.getMembershipForUserInOrg({ org, team_slug: 'oncall', username: 'alice' }))).toBe(404);
  });

  it('someone outside the org gets an invitation (pending); deleting the membership leaves the invitation; cancelling it ends it', async () => {
    const { data } = await octokit.rest.teams.addOrUpdateMembershipForUserInOrg({
      org,
      team_slug: 'oncall',
      username: 'newbie',
      role: 'member',
    });
    expect(data.state).toBe('pending');
    const invitations = await octokit.paginate(octokit.rest.orgs.listPendingInvitations, { org, per_page: 100 });
    const inv = invitations.find((i) => i.login === 'newbie')!;
    expect((await octokit.rest.orgs.listInvitationTeams({ org, invitation_id: inv.id })).data.map((t) => t.slug)).toEqual(['oncall']);
    await octokit.rest.teams.removeMembershipForUserInOrg({ org, team_slug: 'oncall', username: 'newbie' });
    expect((await octokit.rest.teams.getMembershipForUserInOrg({ org, team_slug: 'oncall', username: 'newbie' })).data.state).toBe(
      'pending',
    );
    await octokit.rest.orgs.cancelInvitation({ org, invitation_id: inv.id });
    expect(await status(octokit.rest.teams.getMembershipForUserInOrg({ org, team_slug: 'oncall', username: 'newbie' }))).toBe(404);
  });

  it('an IdP-synced team refuses membership changes with 403 and shows its group mappings', async () => {
    fake.addTeam('synced');
    fake.syncTeam('synced');
    expect(await status(octokit.rest.teams.addOrUpdateMembershipForUserInOrg({ org, team_slug: 'synced', username: 'alice' }))).toBe(403);
    expect(await status(octokit.rest.teams.removeMembershipForUserInOrg({ org, team_slug: 'synced', username: 'alice' }))).toBe(403);
    const { data } = await octokit.request('GET /orgs/{org}/teams/{team_slug}/team-sync/group-mappings', { org, team_slug: 'synced' });
    expect(data.groups).toHaveLength(1);
    expect(
      (await octokit.request('GET /orgs/{org}/teams/{team_slug}/team-sync/group-mappings', { org, team_slug: 'oncall' })).data.groups,
    ).toEqual([]);
  });

  it('repository collaborators: outsiders get an invitation (201), members are set at once (204), an existing permission is changed silently', async () => {
    const invited = await octokit.rest.repos.addCollaborator({ owner: org, repo: 'api', username: 'newbie', permission: 'push' });
    expect(invited.status).toBe(201);
    expect(invited.data).toMatchObject({ id: expect.any(Number), permissions: 'write' });
    expect((await octokit.rest.repos.listInvitations({ owner: org, repo: 'api' })).data.map((i) => i.invitee?.login)).toEqual(['newbie']);
    await octokit.rest.repos.deleteInvitation({ owner: org, repo: 'api', invitation_id: invited.data.id });
    expect((await octokit.rest.repos.listInvitations({ owner: org, repo: 'api' })).data).toEqual([]);

    expect((await octokit.rest.repos.addCollaborator({ owner: org, repo: 'api', username: 'alice', permission: 'admin' })).status).toBe(
      204,
    );
    expect((await octokit.rest.repos.addCollaborator({ owner: org, repo: 'api', username: 'alice', permission: 'pull' })).status).toBe(204);
    const level = (await octokit.rest.repos.getCollaboratorPermissionLevel({ owner: org, repo: 'api', username: 'alice' })).data;
    expect(level).toMatchObject({ permission: 'read', role_name: 'read', user: { permissions: { admin: false, pull: true } } });
    const direct = await octokit.paginate(octokit.rest.repos.listCollaborators, {
      owner: org,
      repo: 'api',
      affiliation: 'direct',
      per_page: 100,
    });
    expect(direct.map((c) => [c.login, c.role_name])).toEqual([['alice', 'read']]);
    await octokit.rest.repos.removeCollaborator({ owner: org, repo: 'api', username: 'alice' });
    expect((await octokit.rest.repos.getCollaboratorPermissionLevel({ owner: org, repo: 'api', username: 'alice' })).data.permission).toBe(
      'none',
    );
    fake.addOrgMember('owner1', 'admin');
    expect((await octokit.rest.repos.getCollaboratorPermissionLevel({ owner: org, repo: 'api', username: 'owner1' })).data.permission).toBe(
      'admin',
    );
  });

  it('paginates with link headers', async () => {
    for (let i = 0; i < 7; i++) {
      fake.addUser(`guest${i}`);
      await octokit.rest.teams.addOrUpdateMembershipForUserInOrg({ org, team_slug: 'oncall', username: `guest${i}` });
    }
    const all = await octokit.paginate(octokit.rest.orgs.listPendingInvitations, { org, per_page: 3 });
    expect(all.map((i) => i.login)).toEqual(expect.arrayContaining(['guest0', 'guest6']));
    expect(fake.http.seen('GET', '/orgs/acme/invitations').length).toBeGreaterThanOrEqual(3);
  });

  it('rate limits and bad credentials surface as the documented statuses and headers', async () => {
    fake.http.inject(() => true, secondaryRateLimit(7));
    const err = (await octokit.rest.teams.getByName({ org, team_slug: 'oncall' }).catch((e: unknown) => e)) as {
      status: number;
      response: { headers: Record<string, string>; data: { message: string } };
    };
    expect([err.status, err.response.headers['retry-after']]).toEqual([403, '7']);
    expect(err.response.data.message).toMatch(/secondary rate limit/);
    const wrong = new Octokit({ auth: 'ghp_wrong', baseUrl: fake.url, log: quiet });
    expect(await status(wrong.rest.teams.getByName({ org, team_slug: 'oncall' }))).toBe(401);
  });

  it('a GitHub App: the JWT signed with its key buys an installation token, used for the calls (and cached)', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    fake.addApp(12345, publicKey, 678);
    const app = new Octokit({
      authStrategy: createAppAuth,
      auth: { appId: 12345, privateKey, installationId: 678 },
      baseUrl: fake.url,
      log: quiet,
    });
    await app.rest.teams.getByName({ org, team_slug: 'oncall' });
    await app.rest.teams.getByName({ org, team_slug: 'oncall' });
    expect(fake.http.seen('POST', '/app/installations/678/access_tokens')).toHaveLength(1);
    expect(String(fake.http.log.at(-1)!.headers.authorization)).toMatch(/^token ghs_/);
    const { privateKey: other } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const impostor = new Octokit({
      authStrategy: createAppAuth,
      auth: { appId: 12345, privateKey: other, installationId: 678 },
      baseUrl: fake.url,
      log: quiet,
    });
    expect(await status(impostor.rest.teams.getByName({ org, team_slug: 'oncall' }))).toBe(401);
  });

  it("what the credentials may do, as GitHub tells it: the installation token's permissions, a classic token's x-oauth-scopes; GET /orgs/{org}", async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    fake.addApp(12346, publicKey, 679, { members: 'read', metadata: 'read' });
    const app = new Octokit({
      authStrategy: createAppAuth,
      auth: { appId: 12346, privateKey, installationId: 679 },
      baseUrl: fake.url,
      log: quiet,
    });
    expect(await app.auth({ type: 'installation' })).toMatchObject({
      tokenType: 'installation',
      permissions: { members: 'read', metadata: 'read' },
    });

    fake.addToken('ghp_classic_scoped_token', ['read:org', 'repo']);
    const classic = new Octokit({ auth: 'ghp_classic_scoped_token', baseUrl: fake.url, log: quiet });
    const answer = await classic.rest.orgs.get({ org });
    expect(answer.data).toMatchObject({ login: org, type: 'Organization' });
    expect(answer.headers['x-oauth-scopes']).toBe('read:org, repo');
    // A token without scopes on record stands for a fine-grained one: no such header.
    expect((await octokit.rest.orgs.get({ org })).headers['x-oauth-scopes']).toBeUndefined();
    expect(await status(octokit.rest.orgs.get({ org: 'someone-else' }))).toBe(404);
  });
});
