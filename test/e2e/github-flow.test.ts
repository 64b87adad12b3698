import { FakeGitHub } from '../fakes/github';
import { flowSteps, POLICY_HEAD } from './flow-steps';
import { startTestBot, TestBot } from './harness';

/*
 * The github provider through the real app, against the local GitHub fake: logins from `identities`
 * only, shown to approvers; team membership granted and revoked; someone outside the organization
 * gets an invitation, which the approved DM says must be accepted and the revoke cancels; a
 * repository permission granted and revoked.
 */

const TOKEN = 'ghp_e2e_token_0123456789';

const policy = `
${POLICY_HEAD}
identities:
  U0ALICE: { github: alice-gh }
  U0OUT: { github: contractor-gh }
targets:
  gh:
    type: github
    org: acme
    token: "\${GITHUB_TOKEN}"
    baseUrl: "\${GITHUB_API}"
resources:
  - id: oncall-team
    name: On-call team
    approvers: { users: [U0BOB] }
    provider: { target: gh, team: oncall }
  - id: api-write
    name: Push to acme/api
    approvers: { users: [U0BOB] }
    provider: { target: gh, repo: api, permission: push }
  - id: zz-synced
    name: A team synced with the IdP
    approvers: { users: [U0BOB] }
    provider: { target: gh, team: synced }
`;

describe('github provider through the app (local GitHub fake)', () => {
  let fake: FakeGitHub;
  let t: TestBot;
  let steps: ReturnType<typeof flowSteps>;

  beforeAll(async () => {
    fake = await FakeGitHub.start('acme');
    fake.addToken(TOKEN);
    fake.addTeam('oncall');
    fake.addTeam('synced');
    fake.syncTeam('synced');
    fake.addRepo('api');
    fake.addOrgMember('alice-gh');
    fake.addUser('contractor-gh');
    t = await startTestBot({ policy, env: { GITHUB_TOKEN: TOKEN, GITHUB_API: fake.url } });
    t.fake.users.set('U0OUT', { email: 'contractor@example.com', name: 'contractor' });
    // In emailDomains, so any other provider would derive an account from this e-mail.
    t.fake.users.set('U0NOLOGIN', { email: 'nologin@example.com', name: 'nologin' });
    steps = flowSteps(t);
  });
  afterAll(async () => {
    await t?.stop();
    await fake?.stop();
  });

  it('start-up check: the synced team is named; the token is in no log', async () => {
    await steps.expectStartUpCheck('zz-synced', 'team synced is synced with identity provider group(s) okta-synced', TOKEN);
  });

  it('team: approvers see the login; approval adds the membership; revoke removes it', async () => {
    const { req, message } = await steps.file('U0ALICE', 'oncall-team', 'INC-9 pager');
    expect(req).toMatchObject({ target: 'gh', account: 'alice-gh', accountSource: 'identities' });
    expect(JSON.stringify(message.args.blocks)).toContain('`alice-gh` in `gh`');
    await steps.approve(req._id);
    expect(fake.teamMembership('oncall', 'alice-gh')).toEqual({ state: 'active', role: 'member' });
    const dm = await steps.dm('U0ALICE', 'granted until');
    expect(String(dm.args.text)).not.toContain('invit');
    await steps.revokeAsRequester('U0ALICE', req._id);
    expect(fake.teamMembership('oncall', 'alice-gh')).toBeUndefined();
  });

  it('someone outside the org: the approved DM says the invitation must be accepted; revoke cancels the invitation', async () => {
    const { req } = await steps.file('U0OUT', 'oncall-team', 'contract work');
    await steps.approve(req._id);
    const invitation = fake.orgInvitationOf('contractor-gh')!;
    expect(invitation.teams).toEqual(['oncall']);
    expect(await steps.requests().findOne({ _id: req._id })).toMatchObject({
      state: 'active',
      providerDetails: { invitation: String(invitation.id) },
    });
    const dm = await steps.dm('U0OUT', 'granted until');
    expect(String(dm.args.text)).toContain(
      ':warning: GitHub invited contractor-gh to the acme organization: the oncall team membership starts once the invitation is accepted',
    );
    await steps.revokeAsRequester('U0OUT', req._id);
    expect(fake.orgInvitationOf('contractor-gh')).toBeUndefined();
    expect(fake.teamMembership('oncall', 'contractor-gh')).toBeUndefined();
  });

  it('repository permission: granted, then taken back', async () => {
    const { req } = await steps.file('U0ALICE', 'api-write', 'hotfix');
    await steps.approve(req._id);
    expect(fake.permissionOn('api', 'alice-gh')).toBe('push');
    await steps.revokeAsRequester('U0ALICE', req._id);
    expect(fake.permissionOn('api', 'alice-gh')).toBe('none');
  });

  it('a login is never derived from an e-mail: without identities the request is refused at filing', async () => {
    expect(await steps.refusal('U0NOLOGIN', 'oncall-team', 'no login')).toContain('github accounts come only from the policy');
  });
});
