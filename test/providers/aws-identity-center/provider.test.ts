import { randomBytes } from 'node:crypto';
import { loadExamplePolicy } from '../../support/example-policy';
import type { AwsTargetConfig } from '../../../src/providers/aws-identity-center/config';
import { AwsIdentityCenterProvider } from '../../../src/providers/aws-identity-center/aws-identity-center-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { FAKE_AWS_CREDENTIALS, FAKE_AWS_REGION, FakeIdentityCenter } from '../../fakes/aws-identity-center';
import { freePort } from '../../support/ports';
import { policyProblems } from '../../policy/problems';
import { bound, rejection } from '../bound';

/*
 * The aws-identity-center provider's own behaviour against the fake Identity Center: the
 * asynchronous operations polled to their final status (TEAM #522), conflicts and throttling
 * retried (TEAM #513), an operation outliving its deadline, the principal resolved with GetUserId,
 * errors without credentials, check().
 */
const ACCOUNT_ID = '123456789012';
let fake: FakeIdentityCenter;
let permissionSet: string;
const opened: Array<{ close(): Promise<void> }> = [];

function provider(overrides: Partial<AwsTargetConfig> = {}) {
  const p = new AwsIdentityCenterProvider(
    {
      instanceArn: fake.instanceArn,
      identityStoreId: fake.identityStoreId,
      region: FAKE_AWS_REGION,
      endpoint: fake.url,
      ...FAKE_AWS_CREDENTIALS,
      ...overrides,
    },
    'aws-prod',
  );
  const b = bound(p, { accountId: ACCOUNT_ID, permissionSetArn: permissionSet });
  opened.push(b);
  return b;
}

/** A fresh Identity Center user: its user name and ID. */
function newUser(email?: string): { name: string; id: string } {
  const name = `u-${randomBytes(4).toString('hex')}`;
  return { name, id: fake.addUser(name, email) };
}

function subject(account: string, principal?: string): GrantSubject {
  return {
    requestId: `r${randomBytes(4).toString('hex')}`,
    resourceId: 'aws-prod-ro',
    user: { slackId: 'U0ALICE', email: 'alice@example.com', account, ...(principal ? { principal } : {}) },
    reason: 'test',
    expiresAt: new Date(Date.now() + 3_600_000),
  };
}

const soon = (ms = 5000) => ({ deadline: new Date(Date.now() + ms) });
const assignmentOf = (principalId: string) => ({
  AccountId: ACCOUNT_ID,
  PermissionSetArn: permissionSet,
  PrincipalType: 'USER' as const,
  PrincipalId: principalId,
});
const callsOf = (operation: string) => fake.calls.filter((c) => c.operation === operation);

beforeAll(async () => {
  fake = await FakeIdentityCenter.start({ settleMs: 250 });
  permissionSet = fake.addPermissionSet('ReadOnly');
});

afterAll(async () => {
  await Promise.all(opened.map((p) => p.close()));
  await fake?.stop();
});

afterEach(() => {
  fake.settleMs = 250;
});

describe('aws-identity-center provider', () => {
  it('grant polls the creation to SUCCEEDED before returning; revoke polls the deletion the same way', async () => {
    const p = provider();
    const user = newUser();
    const before = callsOf('DescribeAccountAssignmentCreationStatus').length;
    const result = await p.grant(subject(user.name, user.id), soon());
    expect(result.details).toEqual({ principalId: user.id });
    // Returned only once the assignment exists, after polling (250 ms IN_PROGRESS).
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(true);
    expect(callsOf('DescribeAccountAssignmentCreationStatus').length - before).toBeGreaterThanOrEqual(2);
    expect(fake.operationsOf('create').at(-1)).toMatchObject({ status: 'SUCCEEDED', assignment: assignmentOf(user.id) });

    await p.revoke(subject(user.name, user.id), { ...soon(), details: result.details });
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(false);
    expect(fake.operationsOf('delete').at(-1)).toMatchObject({ status: 'SUCCEEDED' });
  });

  /* aws-samples/iam-identity-center-team #522: the creation "succeeded" while provisioning failed. */
  it('an asynchronous creation failure fails the grant, non-retryably, with AWS’s FailureReason', async () => {
    const p = provider();
    const user = newUser();
    fake.failNextOperation('create', 'Received a 409 status error: The IAM role quota for the account has been reached');
    const err = await rejection(p.grant(subject(user.name, user.id), soon()));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/AWS reports FAILED: Received a 409 status error: The IAM role quota/);
    expect(err.message).toContain('aws-identity-center target aws-prod');
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(false);
  });

  it('an asynchronous deletion failure fails the revoke (the assignment is still there)', async () => {
    const p = provider();
    const user = newUser();
    await p.grant(subject(user.name, user.id), soon());
    fake.failNextOperation('delete', 'Received a 500 status error: Internal failure deleting the role');
    const err = await rejection(p.revoke(subject(user.name, user.id), soon()));
    expect(err.message).toMatch(/unassign .* AWS reports FAILED: Received a 500 status error/);
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(true);
    await p.revoke(subject(user.name, user.id), soon());
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(false);
  });

  it('ConflictException and throttling are retried within the deadline', async () => {
    fake.settleMs = 20;
    const p = provider();
    const user = newUser();
    const creates = callsOf('CreateAccountAssignment').length;
    fake.conflict('CreateAccountAssignment', 2);
    fake.throttle('ListAccountAssignments', 2);
    fake.throttle('GetUserId', 1);
    await p.grant(subject(user.name), soon()); // no principal stored: GetUserId at grant time
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(true);
    expect(callsOf('CreateAccountAssignment').length - creates).toBe(3);
  });

  /* TEAM #513: a new grant racing the deletion of the old one failed for good on ConflictException. */
  it('a grant racing a deletion in progress waits for it (a real conflict in the fake), then assigns', async () => {
    const p = provider();
    const user = newUser();
    await p.grant(subject(user.name, user.id), soon());
    fake.settleMs = 600;
    const revoking = p.revoke(subject(user.name, user.id), soon());
    const deleting = () => fake.operationsOf('delete').some((o) => o.assignment.PrincipalId === user.id && o.status === 'IN_PROGRESS');
    while (!deleting()) await new Promise((r) => setTimeout(r, 10));
    const conflictsBefore = fake.operationsOf('create').length;
    await p.grant(subject(user.name, user.id), soon());
    await revoking;
    expect(fake.operationsOf('create').length).toBe(conflictsBefore + 1);
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(true);
  });

  it('an operation still IN_PROGRESS at the deadline: a retryable error, and the next attempt polls the same operation', async () => {
    fake.settleMs = 1500;
    const p = provider();
    const user = newUser();
    const started = Date.now();
    const err = await rejection(p.grant(subject(user.name, user.id), soon(500)));
    expect(Date.now() - started).toBeLessThan(1200);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/still IN_PROGRESS at the deadline/);
    const creates = callsOf('CreateAccountAssignment').length;
    await p.grant(subject(user.name, user.id), soon());
    expect(callsOf('CreateAccountAssignment').length).toBe(creates); // no second creation
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(true);
  });

  it('a compensating revoke after a timed-out grant waits for the creation still running, then deletes it', async () => {
    fake.settleMs = 1500;
    const grantor = provider();
    const user = newUser();
    await rejection(grantor.grant(subject(user.name, user.id), soon(500)));
    expect(
      fake
        .operationsOf('create')
        .filter((o) => o.assignment.PrincipalId === user.id)
        .map((o) => o.status),
    ).toEqual(['IN_PROGRESS']);
    // Another replica (another instance, so nothing remembered) revokes: the assignment is not listed yet.
    fake.settleMs = 20;
    await provider().revoke(subject(user.name, user.id), soon());
    expect(fake.hasAssignment(assignmentOf(user.id))).toBe(false);
    expect(
      fake
        .operationsOf('create')
        .filter((o) => o.assignment.PrincipalId === user.id)
        .map((o) => o.status),
    ).toEqual(['SUCCEEDED']);
  });

  it('holds(): the user’s own assignment counts, across pages; a group’s assignment of the same permission set does not', async () => {
    const p = provider();
    const user = newUser();
    fake.pageSize = 1;
    try {
      for (let i = 0; i < 3; i++) fake.assignDirectly(assignmentOf(newUser().id));
      fake.assignDirectly({ ...assignmentOf(`${'a'.repeat(8)}-1111-2222-3333-444444444444`), PrincipalType: 'GROUP' });
      expect(await p.holds(subject(user.name, user.id), soon())).toBe(false);
      fake.assignDirectly(assignmentOf(user.id));
      expect(await p.holds(subject(user.name, user.id), soon())).toBe(true);
      expect(await p.holds(subject('nobody-at-all'), soon())).toBe(false);
    } finally {
      fake.pageSize = 100;
    }
  });

  it('validate(): resolves the user name, else the e-mail, to the user ID with GetUserId; refuses an unknown user', async () => {
    const p = provider();
    const byName = newUser('bob.smith@example.com');
    expect(await p.validate({ resourceId: 'r', user: { slackId: 'U1', account: byName.name } }, soon())).toEqual({
      ok: true,
      principal: byName.id,
    });
    // A derived account is the whole e-mail; this user's user name is something else.
    expect(await p.validate({ resourceId: 'r', user: { slackId: 'U1', account: 'bob.smith@example.com' } }, soon())).toEqual({
      ok: true,
      principal: byName.id,
    });
    const paths = fake.calls
      .filter((c) => c.operation === 'GetUserId')
      .slice(-2)
      .map((c) => (c.body.AlternateIdentifier as { UniqueAttribute: { AttributePath: string } }).UniqueAttribute.AttributePath);
    expect(paths).toEqual(['userName', 'emails.value']);
    const refused = await p.validate({ resourceId: 'r', user: { slackId: 'U1', account: 'carol@example.com' } }, soon());
    expect(refused).toMatchObject({
      ok: false,
      reason: expect.stringContaining('There is no IAM Identity Center user `carol@example.com` (by user name or e-mail) in aws-prod'),
    });
  });

  it('revoke for a user who no longer exists (and has no recorded ID) succeeds: nothing of theirs is assigned', async () => {
    await expect(provider().revoke(subject('deleted-user'), soon())).resolves.toBeUndefined();
  });

  it('refused credentials: a clear, non-retryable error without the secret; AccessDenied names the README policy', async () => {
    const wrong = provider({ secretAccessKey: 'wrong-secret-access-key-0123456789' });
    const user = newUser();
    const err = await rejection(wrong.grant(subject(user.name, user.id), soon()));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/InvalidSignatureException/);
    expect(err.message).not.toContain('wrong-secret-access-key-0123456789');
    expect(err.message).not.toContain(FAKE_AWS_CREDENTIALS.secretAccessKey);

    fake.injectError('CreateAccountAssignment', {
      status: 400,
      type: 'AccessDeniedException',
      message: 'User: arn:aws:sts::111122223333:assumed-role/jit/bot is not authorized to perform: sso:CreateAccountAssignment',
    });
    const denied = await rejection(provider().grant(subject(user.name, user.id), soon()));
    expect(denied.retryable).toBe(false);
    expect(denied.message).toMatch(/AccessDeniedException: .*not authorized .*README/);
  });

  it('identityStoreEndpoint overrides endpoint for identitystore calls only', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const p = provider({ identityStoreEndpoint: closed });
    const err = await rejection(p.validate({ resourceId: 'r', user: { slackId: 'U1', account: newUser().name } }, soon(1500)));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/look up user/);
    // sso-admin still goes to `endpoint`.
    const user = newUser();
    fake.assignDirectly(assignmentOf(user.id));
    expect(await p.holds(subject(user.name, user.id), soon())).toBe(true);
  });

  it('without keys in the policy, the SDK’s default credential chain is used (here: the environment)', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = FAKE_AWS_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = FAKE_AWS_CREDENTIALS.secretAccessKey;
    try {
      const p = provider({ accessKeyId: undefined, secretAccessKey: undefined });
      const user = newUser();
      expect(await p.validate({ resourceId: 'r', user: { slackId: 'U1', account: user.name } }, soon())).toEqual({
        ok: true,
        principal: user.id,
      });
    } finally {
      for (const [k, v] of [
        ['AWS_ACCESS_KEY_ID', saved.id],
        ['AWS_SECRET_ACCESS_KEY', saved.secret],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('check(): nothing for a good setup; names a missing permission set, a wrong identity store, a foreign permission set, a denied action', async () => {
    expect(await provider().check()).toEqual([]);

    const gone = fake.addPermissionSet('Gone');
    fake.removePermissionSet(gone);
    const missing = new AwsIdentityCenterProvider(
      {
        instanceArn: fake.instanceArn,
        identityStoreId: fake.identityStoreId,
        region: FAKE_AWS_REGION,
        endpoint: fake.url,
        ...FAKE_AWS_CREDENTIALS,
      },
      'aws-prod',
    );
    opened.push(missing);
    const problems = await missing.check({ accountId: ACCOUNT_ID, permissionSetArn: gone }, { deadline: new Date(Date.now() + 10_000) });
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/permission set .* does not exist in instance/)]));

    expect(await provider({ identityStoreId: 'd-0000000000' }).check()).toEqual([
      expect.stringMatching(/identity store d-0000000000 not found/),
    ]);

    const foreign = permissionSet.replace(/ssoins-[^/]+/, 'ssoins-0000000000000000');
    const other = await missing.check({ accountId: ACCOUNT_ID, permissionSetArn: foreign }, { deadline: new Date(Date.now() + 10_000) });
    expect(other).toEqual(expect.arrayContaining([expect.stringMatching(/does not belong to instance/)]));

    fake.injectError('ListAccountAssignments', { status: 400, type: 'AccessDeniedException', message: 'not authorized' });
    expect(await provider().check()).toEqual([expect.stringMatching(/not allowed sso:ListAccountAssignments/)]);
  });
});

describe('aws-identity-center policy settings', () => {
  const policy = (provider: string) => `
approvalChannel: C0APPROVALS
resources:
  - id: aws-ro
    name: AWS read-only
    approvers: { users: [U0BOB] }
    provider: ${provider}
`;
  const base =
    'type: aws-identity-center, instanceArn: "arn:aws:sso:::instance/ssoins-1111111111111111", identityStoreId: d-1234567890, region: us-east-1';
  const ps = 'permissionSetArn: "arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222"';

  it('refuses an unquoted account ID, keys without their secret, and malformed ARNs, naming the path', () => {
    expect(policyProblems(policy(`{ ${base}, accountId: 123456789012, ${ps} }`), {})).toEqual([
      expect.stringMatching(/resources\[0\]\.provider\.accountId: expected a 12-digit AWS account ID in quotes/),
    ]);
    expect(policyProblems(policy(`{ ${base}, accountId: "123456789012", ${ps}, accessKeyId: AKIAFAKEFAKEFAKE0001 }`), {})).toEqual([
      expect.stringMatching(/secretAccessKey: set accessKeyId and secretAccessKey together/),
    ]);
    expect(policyProblems(policy(`{ ${base}, accountId: "123456789012", permissionSetArn: ps-2222 }`), {})).toEqual([
      expect.stringMatching(/permissionSetArn: expected a permission set ARN/),
    ]);
  });
});

describe('policy.example.yml', () => {
  it('its Identity Center resource loads as documented', () => {
    const policy = loadExamplePolicy();
    const resource = policy.resources.find((r) => r.id === 'aws-prod-readonly')!;
    expect(resource.provider).toEqual({
      target: 'aws-sso',
      type: 'aws-identity-center',
      access: { accountId: '123456789012', permissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222' },
    });
    expect(policy.targets['aws-sso']?.settings).toEqual({
      instanceArn: 'arn:aws:sso:::instance/ssoins-1111111111111111',
      identityStoreId: 'd-1234567890',
      region: 'eu-west-1',
    });
  });
});
