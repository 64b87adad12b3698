import { FakeResourceManager } from '../fakes/gcp-resource-manager';
import { flowSteps, POLICY_HEAD } from './flow-steps';
import { startTestBot, TestBot, waitUntil } from './harness';

/*
 * The gcp-iam provider through the real app, against the local Resource Manager fake: a request in
 * Slack, the approval (showing whose Google account), a conditional binding that IAM itself ends at
 * the expiry, `/jit-access revoke` and expiry taking it away, standing access and overlapping grants.
 */

const PROJECT = 'projects/e2e-proj';
const DENIED = 'projects/e2e-denied';
const ROLE = 'roles/cloudsql.viewer';
const TOKEN = 'ya29.e2e-static-token-0123';
const ALICE = 'user:alice@example.com';

const policy = `
${POLICY_HEAD}
identities:
  U0STAN: stan@example.com
targets:
  gcp:
    type: gcp-iam
    accessToken: "\${GCP_TOKEN}"
    apiEndpoint: "\${GCP_ENDPOINT}"
resources:
  - id: sql-viewer
    name: Cloud SQL viewer (prod)
    approvers: { users: [U0BOB] }
    provider: { target: gcp, resource: ${PROJECT}, role: ${ROLE} }
  - id: sql-viewer-also
    name: The same role, through another resource
    approvers: { users: [U0BOB] }
    provider: { target: gcp, resource: ${PROJECT}, role: ${ROLE} }
  - id: zz-denied
    name: A project the bot may not change
    approvers: { users: [U0BOB] }
    provider: { target: gcp, resource: ${DENIED}, role: ${ROLE} }
`;

describe('gcp-iam provider through the app (local Resource Manager fake)', () => {
  let fake: FakeResourceManager;
  let t: TestBot;
  let steps: ReturnType<typeof flowSteps>;
  const own = (id: string) => fake.bindings(PROJECT).filter((b) => b.condition?.title === `jit-access ${id}`);

  beforeAll(async () => {
    fake = await FakeResourceManager.start();
    fake.addResource(PROJECT, [{ role: ROLE, members: ['user:stan@example.com'] }]);
    fake.addResource(DENIED);
    fake.setHeldPermissions(DENIED, ['resourcemanager.projects.getIamPolicy']);
    t = await startTestBot({ policy, env: { GCP_TOKEN: TOKEN, GCP_ENDPOINT: fake.url } });
    t.fake.users.set('U0STAN', { email: 'stan@example.com', name: 'stan' });
    steps = flowSteps(t);
  });
  afterAll(async () => {
    await t?.stop();
    await fake?.stop();
  });
  afterEach(() => expect(fake.writesWithoutEtag).toBe(0));

  it('start-up check: nothing missing where the bot holds getIamPolicy and setIamPolicy; the token is in no log', async () => {
    await steps.expectStartUpCheck('zz-denied', `on ${DENIED} the bot lacks resourcemanager.projects.setIamPolicy`, TOKEN);
  });

  it('approvers see the Google account; approval adds a binding IAM ends at the expiry; revoke removes it', async () => {
    const { req, message } = await steps.file('U0ALICE', 'sql-viewer', 'INC-7 slow queries');
    expect(req).toMatchObject({ target: 'gcp', account: 'alice@example.com', accountSource: 'email' });
    expect(JSON.stringify(message.args.blocks)).toContain('`alice@example.com` in `gcp`');
    expect(fake.hasRole(PROJECT, ROLE, ALICE)).toBe(false);

    await steps.approve(req._id);
    const active = (await steps.requests().findOne({ _id: req._id }))!;
    expect(active.state).toBe('active');
    expect(own(req._id)).toEqual([
      expect.objectContaining({
        members: [ALICE],
        condition: expect.objectContaining({ expression: `request.time < timestamp("${active.expiresAt!.toISOString()}")` }),
      }),
    ]);
    expect(fake.hasRole(PROJECT, ROLE, ALICE)).toBe(true);
    // Even with the bot down, Google refuses the role a moment after the expiry.
    expect(fake.hasRole(PROJECT, ROLE, ALICE, new Date(active.expiresAt!.getTime() + 1000))).toBe(false);
    await steps.dm('U0ALICE', 'granted until');

    await steps.revokeAsRequester('U0ALICE', req._id);
    expect(own(req._id)).toEqual([]);
    expect(fake.hasRole(PROJECT, ROLE, ALICE)).toBe(false);
    expect(fake.hasRole(PROJECT, ROLE, 'user:stan@example.com')).toBe(true);
  });

  it('expiry: the binding is removed when the grant expires', async () => {
    const { req } = await steps.file('U0ALICE', 'sql-viewer', 'short one', '3s');
    await steps.approve(req._id);
    expect(own(req._id)).toHaveLength(1);
    await steps.waitForState(req._id, 'expired', 15_000);
    expect(own(req._id)).toEqual([]);
    await steps.dm('U0ALICE', 'has expired');
  });

  it('standing access: an unconditional binding the account had is left in place', async () => {
    const { req } = await steps.file('U0STAN', 'sql-viewer', 'I had this already');
    await steps.approve(req._id);
    expect(await steps.requests().findOne({ _id: req._id })).toMatchObject({ state: 'active', standing: true });
    expect(own(req._id)).toEqual([]);
    await t.fake.waitFor(
      'chat.update',
      (c) => JSON.stringify(c.args.blocks ?? '').includes(req._id) && JSON.stringify(c.args.blocks).includes('already had this access'),
    );
    await steps.revokeAsRequester('U0STAN', req._id);
    expect(fake.bindings(PROJECT)).toContainEqual({ role: ROLE, members: ['user:stan@example.com'] });
  });

  it('overlapping grants on one role: the access ends with the last of them, leaving no binding behind', async () => {
    const first = await steps.file('U0ALICE', 'sql-viewer', 'overlap one');
    await steps.approve(first.req._id);
    const second = await steps.file('U0ALICE', 'sql-viewer-also', 'overlap two');
    await steps.approve(second.req._id);
    await steps.revokeAsRequester('U0ALICE', first.req._id);
    expect(fake.hasRole(PROJECT, ROLE, ALICE)).toBe(true);
    await steps.revokeAsRequester('U0ALICE', second.req._id);
    await waitUntil(async () => (fake.hasRole(PROJECT, ROLE, ALICE) ? undefined : true), 2000, 'the role to be gone');
    expect(fake.bindings(PROJECT).filter((b) => b.members.includes(ALICE))).toEqual([]);
  });
});
