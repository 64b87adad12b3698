import {
  CreateAccountAssignmentCommand,
  DeleteAccountAssignmentCommand,
  DescribeAccountAssignmentCreationStatusCommand,
  DescribeAccountAssignmentDeletionStatusCommand,
  DescribePermissionSetCommand,
  ListAccountAssignmentsCommand,
  paginateListAccountAssignments,
  SSOAdminClient,
} from '@aws-sdk/client-sso-admin';
import { DescribeUserCommand, GetUserIdCommand, IdentitystoreClient } from '@aws-sdk/client-identitystore';
import { FAKE_AWS_CREDENTIALS, FAKE_AWS_REGION, FakeIdentityCenter } from './aws-identity-center';

/*
 * The fake Identity Center proven with the official AWS SDK v3 clients: if these cannot talk to it,
 * no provider test against it means anything. Every call is SigV4-signed by the SDK and verified by
 * the fake.
 */
let fake: FakeIdentityCenter;
let sso: SSOAdminClient;
let ids: IdentitystoreClient;
let permissionSet: string;
let alice: string;
const ACCOUNT = '123456789012';

const clientConfig = (credentials: { accessKeyId: string; secretAccessKey: string } = FAKE_AWS_CREDENTIALS) => ({
  region: FAKE_AWS_REGION,
  endpoint: fake.url,
  credentials,
  maxAttempts: 1,
});

beforeAll(async () => {
  fake = await FakeIdentityCenter.start({ settleMs: 50 });
  sso = new SSOAdminClient(clientConfig());
  ids = new IdentitystoreClient(clientConfig());
  permissionSet = fake.addPermissionSet('ReadOnly', 'PT2H');
  alice = fake.addUser('alice', 'alice@example.com');
});

afterAll(async () => {
  sso?.destroy();
  ids?.destroy();
  await fake?.stop();
});

const assignment = (principal = alice) => ({
  InstanceArn: fake.instanceArn,
  TargetId: ACCOUNT,
  TargetType: 'AWS_ACCOUNT' as const,
  PermissionSetArn: permissionSet,
  PrincipalType: 'USER' as const,
  PrincipalId: principal,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fake IAM Identity Center, driven by @aws-sdk/client-sso-admin and client-identitystore', () => {
  it('GetUserId by userName and by emails.value; DescribeUser; unknown users are ResourceNotFoundException', async () => {
    const byName = await ids.send(
      new GetUserIdCommand({
        IdentityStoreId: fake.identityStoreId,
        AlternateIdentifier: { UniqueAttribute: { AttributePath: 'userName', AttributeValue: 'alice' } },
      }),
    );
    const byEmail = await ids.send(
      new GetUserIdCommand({
        IdentityStoreId: fake.identityStoreId,
        AlternateIdentifier: { UniqueAttribute: { AttributePath: 'emails.value', AttributeValue: 'alice@example.com' } },
      }),
    );
    expect(byName.UserId).toBe(alice);
    expect(byEmail.UserId).toBe(alice);
    const user = await ids.send(new DescribeUserCommand({ IdentityStoreId: fake.identityStoreId, UserId: alice }));
    expect(user).toMatchObject({ UserName: 'alice', Emails: [{ Value: 'alice@example.com', Primary: true }] });
    await expect(
      ids.send(
        new GetUserIdCommand({
          IdentityStoreId: fake.identityStoreId,
          AlternateIdentifier: { UniqueAttribute: { AttributePath: 'userName', AttributeValue: 'nobody' } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException', ResourceType: 'USER', $fault: 'client' });
  });

  it('DescribePermissionSet gives the SessionDuration; an unknown one is ResourceNotFoundException', async () => {
    const out = await sso.send(new DescribePermissionSetCommand({ InstanceArn: fake.instanceArn, PermissionSetArn: permissionSet }));
    expect(out.PermissionSet).toMatchObject({ Name: 'ReadOnly', SessionDuration: 'PT2H', PermissionSetArn: permissionSet });
    expect(out.PermissionSet?.CreatedDate).toBeInstanceOf(Date);
    await expect(
      sso.send(new DescribePermissionSetCommand({ InstanceArn: fake.instanceArn, PermissionSetArn: `${permissionSet}x` })),
    ).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('creation is asynchronous: IN_PROGRESS, then SUCCEEDED, and only then listed', async () => {
    // Long enough that the calls below all land while the operation runs, even on a busy machine.
    fake.settleMs = 1000;
    const created = await sso.send(new CreateAccountAssignmentCommand(assignment()));
    const status = created.AccountAssignmentCreationStatus!;
    expect(status).toMatchObject({ Status: 'IN_PROGRESS', TargetId: ACCOUNT, PrincipalId: alice });
    expect(status.RequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(status.CreatedDate).toBeInstanceOf(Date);
    const listed = () =>
      sso.send(new ListAccountAssignmentsCommand({ InstanceArn: fake.instanceArn, AccountId: ACCOUNT, PermissionSetArn: permissionSet }));
    expect((await listed()).AccountAssignments).toEqual([]);

    // A second operation on the same assignment while the first runs: ConflictException.
    await expect(sso.send(new DeleteAccountAssignmentCommand(assignment()))).rejects.toMatchObject({
      name: 'ConflictException',
      $metadata: { httpStatusCode: 400 },
    });

    await sleep(1100);
    const done = await sso.send(
      new DescribeAccountAssignmentCreationStatusCommand({
        InstanceArn: fake.instanceArn,
        AccountAssignmentCreationRequestId: status.RequestId,
      }),
    );
    expect(done.AccountAssignmentCreationStatus?.Status).toBe('SUCCEEDED');
    expect((await listed()).AccountAssignments).toEqual([
      { AccountId: ACCOUNT, PermissionSetArn: permissionSet, PrincipalType: 'USER', PrincipalId: alice },
    ]);

    const deleted = await sso.send(new DeleteAccountAssignmentCommand(assignment()));
    expect(deleted.AccountAssignmentDeletionStatus?.Status).toBe('IN_PROGRESS');
    fake.settleMs = 50;
    await sleep(1100);
    const gone = await sso.send(
      new DescribeAccountAssignmentDeletionStatusCommand({
        InstanceArn: fake.instanceArn,
        AccountAssignmentDeletionRequestId: deleted.AccountAssignmentDeletionStatus!.RequestId,
      }),
    );
    expect(gone.AccountAssignmentDeletionStatus?.Status).toBe('SUCCEEDED');
    expect((await listed()).AccountAssignments).toEqual([]);
    // A creation request ID is not a deletion request ID.
    await expect(
      sso.send(
        new DescribeAccountAssignmentDeletionStatusCommand({
          InstanceArn: fake.instanceArn,
          AccountAssignmentDeletionRequestId: status.RequestId,
        }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('an asynchronous failure is FAILED with its FailureReason, and nothing is assigned', async () => {
    fake.failNextOperation('create', 'Received a 409 status error: The IAM role quota for the account has been reached');
    const created = await sso.send(new CreateAccountAssignmentCommand(assignment()));
    expect(created.AccountAssignmentCreationStatus?.Status).toBe('IN_PROGRESS');
    await sleep(80);
    const out = await sso.send(
      new DescribeAccountAssignmentCreationStatusCommand({
        InstanceArn: fake.instanceArn,
        AccountAssignmentCreationRequestId: created.AccountAssignmentCreationStatus!.RequestId,
      }),
    );
    expect(out.AccountAssignmentCreationStatus).toMatchObject({
      Status: 'FAILED',
      FailureReason: expect.stringContaining('IAM role quota'),
    });
    expect(fake.hasAssignment({ AccountId: ACCOUNT, PermissionSetArn: permissionSet, PrincipalType: 'USER', PrincipalId: alice })).toBe(
      false,
    );
  });

  it('injected errors reach the SDK as its modelled exceptions', async () => {
    fake.throttle('CreateAccountAssignment');
    await expect(sso.send(new CreateAccountAssignmentCommand(assignment()))).rejects.toMatchObject({
      name: 'ThrottlingException',
      message: 'Rate exceeded',
    });
    fake.conflict();
    await expect(sso.send(new CreateAccountAssignmentCommand(assignment()))).rejects.toMatchObject({ name: 'ConflictException' });
    fake.injectError('GetUserId', {
      status: 400,
      type: 'AccessDeniedException',
      message: 'User is not authorized to perform: identitystore:GetUserId',
    });
    await expect(
      ids.send(
        new GetUserIdCommand({
          IdentityStoreId: fake.identityStoreId,
          AlternateIdentifier: { UniqueAttribute: { AttributePath: 'userName', AttributeValue: 'alice' } },
        }),
      ),
    ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await expect(sso.send(new CreateAccountAssignmentCommand({ ...assignment(), PrincipalId: 'not-an-id' }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
  });

  it('lists in pages that paginateListAccountAssignments follows', async () => {
    fake.pageSize = 2;
    try {
      const principals = [0, 1, 2, 3, 4].map((i) => fake.addUser(`pager${i}`));
      for (const p of principals)
        fake.assignDirectly({ AccountId: '210987654321', PermissionSetArn: permissionSet, PrincipalType: 'USER', PrincipalId: p });
      const seen: string[] = [];
      let pages = 0;
      for await (const page of paginateListAccountAssignments(
        { client: sso },
        { InstanceArn: fake.instanceArn, AccountId: '210987654321', PermissionSetArn: permissionSet },
      )) {
        pages += 1;
        seen.push(...(page.AccountAssignments ?? []).map((a) => a.PrincipalId!));
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(principals);
    } finally {
      fake.pageSize = 100;
    }
  });

  it('verifies SigV4: a wrong secret, an unknown key, or the wrong signing service are refused', async () => {
    const wrongSecret = new SSOAdminClient(
      clientConfig({ accessKeyId: FAKE_AWS_CREDENTIALS.accessKeyId, secretAccessKey: 'not-the-secret' }),
    );
    const unknownKey = new SSOAdminClient(
      clientConfig({ accessKeyId: 'AKIAUNKNOWNUNKNOWN00', secretAccessKey: FAKE_AWS_CREDENTIALS.secretAccessKey }),
    );
    // identitystore's client signs for `identitystore`; sending an sso-admin operation with it must fail.
    const mixed = new IdentitystoreClient(clientConfig());
    mixed.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers: Record<string, string> };
        request.headers['x-amz-target'] = 'SWBExternalService.DescribePermissionSet';
        return next(args);
      },
      { step: 'build' },
    );
    try {
      const describe = new DescribePermissionSetCommand({ InstanceArn: fake.instanceArn, PermissionSetArn: permissionSet });
      await expect(wrongSecret.send(describe)).rejects.toMatchObject({ name: 'InvalidSignatureException' });
      await expect(unknownKey.send(describe)).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
      await expect(mixed.send(new DescribeUserCommand({ IdentityStoreId: fake.identityStoreId, UserId: alice }))).rejects.toMatchObject({
        name: 'InvalidSignatureException',
      });
    } finally {
      wrongSecret.destroy();
      unknownKey.destroy();
      mixed.destroy();
    }
  });

  it('can hang: the SDK call gives up at its abortSignal', async () => {
    fake.hanging = true;
    try {
      const started = Date.now();
      await expect(
        sso.send(new DescribePermissionSetCommand({ InstanceArn: fake.instanceArn, PermissionSetArn: permissionSet }), {
          abortSignal: AbortSignal.timeout(300),
        }),
      ).rejects.toMatchObject({ name: 'AbortError' });
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      fake.hanging = false;
    }
  });
});
