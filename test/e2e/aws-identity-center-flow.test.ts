import { FAKE_AWS_CREDENTIALS, FAKE_AWS_REGION, FakeIdentityCenter } from '../fakes/aws-identity-center';
import { flowSteps } from './flow-steps';
import { startTestBot, TestBot, waitUntil } from './harness';

/*
 * The aws-identity-center provider through the real app, against the fake Identity Center: the
 * account (the whole Slack e-mail) resolved to a user ID when the request is filed and shown to
 * approvers with the session caveat; approval creates the account assignment, polled to
 * SUCCEEDED; `/jit-access revoke` and expiry delete it; an asynchronous FAILED fails the request;
 * standing assignments and overlapping grants are left as they must be.
 */
const ACCOUNT_ID = '123456789012';
let fake: FakeIdentityCenter;
let permissionSet: string;
let t: TestBot;
let steps: ReturnType<typeof flowSteps>;
const ids: Record<string, string> = {};

const policy = () => `
approvalChannel: C0APPROVALS
defaults: { minDuration: 1s, maxDuration: 4h }
emailDomains: [example.com]
identities:
  U0STAN: { aws-sso: stan }
targets:
  aws-sso:
    type: aws-identity-center
    instanceArn: ${fake.instanceArn}
    identityStoreId: ${fake.identityStoreId}
    region: ${FAKE_AWS_REGION}
    endpoint: ${fake.url}
    accessKeyId: \${AWS_JIT_ACCESS_KEY_ID}
    secretAccessKey: \${AWS_JIT_SECRET_ACCESS_KEY}
resources:
  - id: aws-prod-ro
    name: AWS production, read-only
    approvers: { users: [U0BOB] }
    provider: { target: aws-sso, accountId: "${ACCOUNT_ID}", permissionSetArn: ${permissionSet} }
  - id: aws-prod-ro-also
    name: The same permission set, through another resource
    approvers: { users: [U0BOB] }
    provider: { target: aws-sso, accountId: "${ACCOUNT_ID}", permissionSetArn: ${permissionSet} }
`;

const assignmentOf = (userId: string) => ({
  AccountId: ACCOUNT_ID,
  PermissionSetArn: permissionSet,
  PrincipalType: 'USER' as const,
  PrincipalId: userId,
});
const assigned = (who: keyof typeof ids) => fake.hasAssignment(assignmentOf(ids[who]!));

beforeAll(async () => {
  fake = await FakeIdentityCenter.start({ settleMs: 150 });
  permissionSet = fake.addPermissionSet('ProdReadOnly', 'PT1H');
  // Identity Center user names differ from the e-mails: the derived account is found by emails.value.
  ids.alice = fake.addUser('alice.a', 'alice@example.com');
  ids.carol = fake.addUser('carol.c', 'carol@example.com');
  ids.stan = fake.addUser('stan', 'stan@example.com');
  t = await startTestBot({
    policy: policy(),
    env: { AWS_JIT_ACCESS_KEY_ID: FAKE_AWS_CREDENTIALS.accessKeyId, AWS_JIT_SECRET_ACCESS_KEY: FAKE_AWS_CREDENTIALS.secretAccessKey },
    bot: { settings: { providerTimeoutMs: 4000 } },
  });
  t.fake.users.set('U0CAROL', { email: 'carol@example.com', name: 'carol' });
  t.fake.users.set('U0STAN', { email: 'stan@example.com', name: 'stan' });
  t.fake.users.set('U0NOBODY', { email: 'nobody@example.com', name: 'nobody' });
  steps = flowSteps(t);
});

afterAll(async () => {
  await t?.stop();
  await fake?.stop();
});

describe('aws-identity-center through the app (fake Identity Center)', () => {
  it('the start-up check, through the app’s registry, finds nothing missing; no credential is logged', async () => {
    for (const resource of ['aws-prod-ro', 'aws-prod-ro-also']) expect(await t.bot.ctx.providers.forResource(resource).check()).toEqual([]);
    expect(t.logs.join('\n')).not.toContain(FAKE_AWS_CREDENTIALS.secretAccessKey);
  });

  it('request → approval shows the account and the session caveat → assignment created (polled) → revoke deletes it', async () => {
    const { req, blocks } = await steps.file('U0ALICE', 'aws-prod-ro', 'INC-7 read prod');
    // Derived from the Slack e-mail, resolved at filing to the Identity Center user's ID.
    expect(req).toMatchObject({ target: 'aws-sso', account: 'alice@example.com', accountSource: 'email', principal: ids.alice });
    expect(blocks).toContain('`alice@example.com` in `aws-sso`');
    expect(blocks).toContain('role sessions already issued stay valid until they expire');
    expect(assigned('alice')).toBe(false);

    const active = await steps.approve(req._id);
    expect(active.state).toBe('active');
    expect(active.providerDetails).toEqual({ principalId: ids.alice });
    expect(assigned('alice')).toBe(true);
    // The grant waited for the asynchronous creation: polled until SUCCEEDED.
    expect(fake.calls.some((c) => c.operation === 'DescribeAccountAssignmentCreationStatus')).toBe(true);
    await steps.dm('U0ALICE', /granted until/);

    await steps.revokeAsRequester('U0ALICE', req._id);
    expect(assigned('alice')).toBe(false);
    await steps.dm('U0ALICE', /was revoked/);
  });

  it('expiry deletes the assignment', async () => {
    const active = await steps.fileAndApprove('U0CAROL', 'aws-prod-ro', 'short one', '3s');
    expect(active.state).toBe('active');
    expect(assigned('carol')).toBe(true);
    await steps.waitForState(active._id, 'expired', 10_000);
    expect(assigned('carol')).toBe(false);
  });

  it('an Identity Center user that does not exist is refused when the request is filed', async () => {
    const answer = await steps.refusal('U0NOBODY', 'aws-prod-ro', 'who am I');
    expect(answer).toContain('There is no IAM Identity Center user `nobody@example.com` (by user name or e-mail) in aws-sso');
  });

  /* aws-samples/iam-identity-center-team #522: the asynchronous failure must not pass for a grant. */
  it('an assignment that FAILS asynchronously fails the request, tells the requester why, and leaves nothing', async () => {
    const undo = fake.failCreationsFor(ids.alice!, 'Received a 409 status error: The IAM role quota for the account has been reached');
    try {
      const failed = await steps.fileAndApprove('U0ALICE', 'aws-prod-ro', 'quota hit');
      expect(failed.state).toBe('failed');
      expect(failed.lastError).toMatch(/AWS reports FAILED: .*IAM role quota/);
      const attempts = (await steps.auditOnce(failed._id, 'grant_failed')).filter((e) => e.action === 'grant_attempt_failed');
      expect(attempts).toHaveLength(1); // not retried: AWS's final word
      await steps.dm('U0ALICE', /granting failed/);
    } finally {
      undo();
    }
    expect(assigned('alice')).toBe(false);
  });

  it('standing access: a user who already had the assignment keeps it after the grant ends', async () => {
    fake.assignDirectly(assignmentOf(ids.stan!));
    const active = await steps.fileAndApprove('U0STAN', 'aws-prod-ro', 'I had this');
    expect(active).toMatchObject({ state: 'active', standing: true, account: 'stan' });
    await steps.revokeAsRequester('U0STAN', active._id);
    expect(assigned('stan')).toBe(true);
    expect(fake.operationsOf('delete').filter((o) => o.assignment.PrincipalId === ids.stan)).toEqual([]);
  });

  it('overlapping grants on one (account, permission set, user): the assignment ends with the last of them', async () => {
    const first = await steps.fileAndApprove('U0ALICE', 'aws-prod-ro', 'overlap one');
    const second = await steps.fileAndApprove('U0ALICE', 'aws-prod-ro-also', 'overlap two');
    expect([first.state, second.state, second.standing]).toEqual(['active', 'active', false]);
    await steps.revokeAsRequester('U0ALICE', first._id);
    expect(assigned('alice')).toBe(true);
    await steps.revokeAsRequester('U0ALICE', second._id);
    await waitUntil(async () => !assigned('alice'), 5000, 'the assignment to go');
  });
});
