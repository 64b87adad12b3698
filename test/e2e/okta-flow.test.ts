import { FakeOkta, isolateOktaConfig } from '../fakes/okta';
import { flowSteps, POLICY_HEAD } from './flow-steps';
import { startTestBot, TestBot } from './harness';

/*
 * The okta provider through the real app, against the local Okta fake: the login derived from the
 * Slack e-mail is resolved to the Okta user ID when the request is filed (and refused when Okta has
 * no such user), shown to approvers, and the group membership is granted and revoked by that ID.
 */

const TOKEN = 'ssws-e2e-token-0123';

describe('okta provider through the app (local Okta fake)', () => {
  let fake: FakeOkta;
  let isolation: ReturnType<typeof isolateOktaConfig>;
  let t: TestBot;
  let steps: ReturnType<typeof flowSteps>;
  let group: string;
  let alice: string;

  beforeAll(async () => {
    isolation = isolateOktaConfig();
    fake = await FakeOkta.start();
    fake.addToken(TOKEN);
    group = fake.addGroup('prod-admins');
    const imported = fake.addGroup('AD: Domain Admins', 'APP_GROUP');
    alice = fake.addUser('alice@example.com');
    const policy = `
${POLICY_HEAD}
targets:
  okta:
    type: okta
    orgUrl: "\${OKTA_ORG_URL}"
    token: "\${OKTA_API_TOKEN}"
resources:
  - id: prod-admins
    name: Production admins (Okta group)
    approvers: { users: [U0BOB] }
    provider: { target: okta, groupId: ${group} }
  - id: zz-imported
    name: An app-imported group
    approvers: { users: [U0BOB] }
    provider: { target: okta, groupId: ${imported} }
`;
    t = await startTestBot({ policy, env: { OKTA_ORG_URL: fake.url, OKTA_API_TOKEN: TOKEN } });
    t.fake.users.set('U0NOBODY', { email: 'nobody@example.com', name: 'nobody' });
    steps = flowSteps(t);
  });
  afterAll(async () => {
    await t?.stop();
    await fake?.stop();
    isolation?.restore();
  });

  it('start-up check: the APP_GROUP is named; the token is in no log', async () => {
    await steps.expectStartUpCheck('zz-imported', 'is of type APP_GROUP: only OKTA_GROUP memberships can be changed', TOKEN);
  });

  it('the login is resolved to the user ID at filing and shown to approvers; approval adds the member; revoke removes them', async () => {
    const { req, message } = await steps.file('U0ALICE', 'prod-admins', 'INC-11 break the glass');
    expect(req).toMatchObject({ target: 'okta', account: 'alice@example.com', accountSource: 'email', principal: alice });
    expect(JSON.stringify(message.args.blocks)).toContain('`alice@example.com` in `okta`');
    await steps.approve(req._id);
    expect(fake.isMember(group, alice)).toBe(true);
    await steps.dm('U0ALICE', 'granted until');
    await steps.revokeAsRequester('U0ALICE', req._id);
    expect(fake.isMember(group, alice)).toBe(false);
  });

  it('someone Okta does not know is refused when filing: nothing stored, nobody asked', async () => {
    expect(await steps.refusal('U0NOBODY', 'prod-admins', 'who am I')).toContain('Okta (okta) has no user `nobody@example.com`');
  });
});
