import { memberOf } from '../../../src/providers/gcp-iam/config';
import { FakeResourceManager } from '../../fakes/gcp-resource-manager';
import { describeProviderContract } from '../contract';

/** The gcp-iam provider against the local Resource Manager fake (test/fakes/gcp-resource-manager.ts). */
const RESOURCE = 'projects/contract-proj';
const ROLE = 'roles/cloudsql.viewer';
const TOKEN = 'ya29.contract-static-token';
let fake: FakeResourceManager;
let n = 0;

describeProviderContract({
  type: 'gcp-iam',
  secretKeys: ['credentials', 'accessToken'],
  setUp: async () => {
    fake = await FakeResourceManager.start();
    fake.addResource(RESOURCE, [{ role: 'roles/browser', members: ['group:everyone@example.com'] }]);
  },
  tearDown: () => fake.stop(),
  target: () => ({ accessToken: TOKEN, apiEndpoint: fake.url, timeoutMs: 3000 }),
  access: () => ({ resource: RESOURCE, role: ROLE }),
  hangingTarget: (port) => ({ accessToken: TOKEN, apiEndpoint: `http://127.0.0.1:${port}` }),
  newAccount: async () => `contract${++n}@example.com`,
  // As IAM would decide a request made now: through any binding whose condition holds.
  hasAccess: async (subject) => fake.hasRole(RESOURCE, ROLE, memberOf(subject.user.account!)),
  expiryOf: async (subject) => {
    const own = fake.bindings(RESOURCE).find((b) => b.condition?.title === `jit-access ${subject.requestId}`);
    const at = /timestamp\("([^"]+)"\)/.exec(own?.condition?.expression ?? '')?.[1];
    return at ? new Date(at) : undefined;
  },
  giveStanding: async (account) => fake.changeOutside(RESOURCE, (b) => [...b, { role: ROLE, members: [memberOf(account)] }]),
  failGrants: {
    permanent: true,
    // The bot's role loses setIamPolicy on the project: 403 PERMISSION_DENIED, which retrying cannot fix.
    arrange: async () => {
      fake.setHeldPermissions(RESOURCE, ['resourcemanager.projects.getIamPolicy']);
      return async () =>
        fake.setHeldPermissions(RESOURCE, ['resourcemanager.projects.getIamPolicy', 'resourcemanager.projects.setIamPolicy']);
    },
  },
});

afterAll(() => {
  // The provider never wrote a policy without its etag.
  expect(fake.writesWithoutEtag).toBe(0);
});
