import type { GrantSubject } from '../../../src/providers/provider';
import { FAKE_AWS_CREDENTIALS, FAKE_AWS_REGION, FakeIdentityCenter } from '../../fakes/aws-identity-center';
import { describeProviderContract } from '../contract';

/** The aws-identity-center provider against the local fake of IAM Identity Center (test/fakes/aws-identity-center.ts). */
let fake: FakeIdentityCenter;
let permissionSet: string;
const ACCOUNT_ID = '123456789012';
const users = new Map<string, string>();
let n = 0;

const assignmentOf = (userName: string) => ({
  AccountId: ACCOUNT_ID,
  PermissionSetArn: permissionSet,
  PrincipalType: 'USER' as const,
  PrincipalId: users.get(userName) ?? 'none',
});

const target = (endpoint: string) => ({
  instanceArn: fake.instanceArn,
  identityStoreId: fake.identityStoreId,
  region: FAKE_AWS_REGION,
  endpoint,
  accessKeyId: FAKE_AWS_CREDENTIALS.accessKeyId,
  secretAccessKey: FAKE_AWS_CREDENTIALS.secretAccessKey,
});

describeProviderContract({
  type: 'aws-identity-center',
  secretKeys: ['accessKeyId', 'secretAccessKey', 'sessionToken'],
  setUp: async () => {
    fake = await FakeIdentityCenter.start({ settleMs: 40 });
    permissionSet = fake.addPermissionSet('ContractReadOnly');
  },
  tearDown: () => fake.stop(),
  target: () => target(fake.url),
  access: () => ({ accountId: ACCOUNT_ID, permissionSetArn: permissionSet }),
  hangingTarget: (port) => target(`http://127.0.0.1:${port}`),
  newAccount: async () => {
    const userName = `contract-user-${++n}`;
    users.set(userName, fake.addUser(userName, `${userName}@example.com`));
    return userName;
  },
  unknownAccount: () => 'nobody-in-identity-center',
  hasAccess: async (subject: GrantSubject) => fake.hasAssignment(assignmentOf(subject.user.account!)),
  giveStanding: async (account) => fake.assignDirectly(assignmentOf(account)),
  failGrants: {
    permanent: true,
    // The creation starts, then FAILS asynchronously (the IAM role quota of TEAM #522).
    arrange: async (account) => {
      const undo = fake.failCreationsFor(
        users.get(account!)!,
        'Received a 409 status error: The IAM role quota for the account has been reached',
      );
      return async () => undo();
    },
  },
});
