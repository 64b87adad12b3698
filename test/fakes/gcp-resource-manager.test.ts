import { FoldersClient, OrganizationsClient, ProjectsClient } from '@google-cloud/resource-manager';
import { OAuth2Client } from 'google-auth-library';
import { FakeResourceManager } from './gcp-resource-manager';

/*
 * The fake Resource Manager, driven by the official client (@google-cloud/resource-manager over its
 * REST transport, as the provider uses it): if this client cannot talk to it, or it does not behave
 * as the IAM documentation says, the provider tests against it prove nothing.
 */

let fake: FakeResourceManager;
const P = 'projects/fake-proj-1';
const alice = 'user:alice@example.com';
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

function clientOptions() {
  const auth = new OAuth2Client({ transporterOptions: { fetchImplementation: fetch } });
  auth.setCredentials({ access_token: 'ya29.fake-static-token' });
  const url = new URL(fake.url);
  return { fallback: true as const, apiEndpoint: url.hostname, port: Number(url.port), protocol: 'http', authClient: auth };
}

let projects: ProjectsClient;
beforeAll(async () => {
  fake = await FakeResourceManager.start();
  projects = new ProjectsClient(clientOptions());
});
afterAll(async () => {
  await projects.close();
  await fake.stop();
});

/** The HTTP status and Google error status of a failed call. */
async function failure(call: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  const err = (await call.then(
    () => undefined,
    (e: unknown) => e,
  )) as { status?: number; message: string } | undefined;
  if (!err) throw new Error('expected the call to fail');
  // Under jest gaxios stringifies the error body's bytes (`123,34,…`); plain Node gives the JSON text.
  const text = /^\d+(,\d+)+$/.test(err.message) ? Buffer.from(err.message.split(',').map(Number)).toString('utf8') : err.message;
  const body = JSON.parse(text) as { error: { status: string; message: string } };
  return { status: err.status!, code: body.error.status, message: body.error.message };
}

describe('fake Resource Manager, through @google-cloud/resource-manager', () => {
  it('read-modify-write with the etag and version 3 keeps conditions; the etag comes back as bytes and round-trips', async () => {
    fake.addResource(P, [{ role: 'roles/viewer', members: ['user:bob@example.com'] }]);
    const [empty] = await projects.getIamPolicy({ resource: P, options: { requestedPolicyVersion: 3 } });
    expect(empty.version).toBe(1); // no conditions yet: version 1, as documented
    expect(Buffer.isBuffer(empty.etag)).toBe(true);
    const condition = { title: 'jit-access r1', description: 'test', expression: `request.time < timestamp("${inAnHour()}")` };
    const [written] = await projects.setIamPolicy({
      resource: P,
      policy: { version: 3, etag: empty.etag, bindings: [...empty.bindings!, { role: 'roles/browser', members: [alice], condition }] },
      updateMask: { paths: ['bindings', 'etag'] },
    });
    expect(written.version).toBe(3);
    const [read] = await projects.getIamPolicy({ resource: P, options: { requestedPolicyVersion: 3 } });
    expect(read.bindings!.find((b) => b.role === 'roles/browser')?.condition).toMatchObject(condition);
    expect(fake.hasRole(P, 'roles/browser', alice)).toBe(true);
    expect(fake.hasRole(P, 'roles/browser', alice, new Date(Date.now() + 2 * 3_600_000))).toBe(false); // IAM ends it at the expiry
    expect(fake.writesWithoutEtag).toBe(0);
  });

  it('a write with a stale etag fails with 409 ABORTED', async () => {
    const [policy] = await projects.getIamPolicy({ resource: P, options: { requestedPolicyVersion: 3 } });
    fake.changeOutside(P, (b) => [...b, { role: 'roles/logging.viewer', members: ['user:carol@example.com'] }]);
    const err = await failure(projects.setIamPolicy({ resource: P, policy: { ...policy, bindings: [] } }));
    expect(err).toMatchObject({ status: 409, code: 'ABORTED' });
    expect(err.message).toMatch(/concurrent policy changes/);
    expect(fake.bindings(P).map((b) => b.role)).toEqual(['roles/viewer', 'roles/browser', 'roles/logging.viewer']);
  });

  it('a version-1 reader sees conditional bindings renamed, cannot write them back, and a blind v1 write without the etag drops every condition', async () => {
    const [v1] = await projects.getIamPolicy({ resource: P });
    expect(v1.version).toBe(1);
    const renamed = v1.bindings!.find((b) => b.role!.startsWith('roles/browser'))!;
    expect(renamed.role).toMatch(/^roles\/browser_withcond_[0-9a-f]+$/);
    expect(renamed.condition).toBeNull();
    expect((await failure(projects.setIamPolicy({ resource: P, policy: { version: 1, etag: v1.etag, bindings: v1.bindings } }))).code).toBe(
      'INVALID_ARGUMENT',
    );
    // What a careless v1 client does: keep what it understands, write without the etag.
    await projects.setIamPolicy({
      resource: P,
      policy: { version: 1, bindings: v1.bindings!.filter((b) => !b.role!.includes('_withcond_')) },
    });
    expect(fake.writesWithoutEtag).toBe(1);
    expect(fake.bindings(P).some((b) => b.condition)).toBe(false);
    expect(fake.hasRole(P, 'roles/browser', alice)).toBe(false);
  });

  it('refuses conditions in a version-1 write and on basic roles; caps the policy at 1,500 members', async () => {
    const [policy] = await projects.getIamPolicy({ resource: P, options: { requestedPolicyVersion: 3 } });
    const condition = { title: 't', expression: `request.time < timestamp("${inAnHour()}")` };
    const v1 = await failure(
      projects.setIamPolicy({
        resource: P,
        policy: { version: 1, etag: policy.etag, bindings: [{ role: 'roles/browser', members: [alice], condition }] },
      }),
    );
    expect(v1.message).toMatch(/version 3/);
    const basic = await failure(
      projects.setIamPolicy({
        resource: P,
        policy: { version: 3, etag: policy.etag, bindings: [{ role: 'roles/owner', members: [alice], condition }] },
      }),
    );
    expect(basic.message).toMatch(/basic role/);
    const many = Array.from({ length: 1501 }, (_, i) => `user:u${i}@example.com`);
    const big = await failure(
      projects.setIamPolicy({
        resource: P,
        policy: { version: 3, etag: policy.etag, bindings: [{ role: 'roles/browser', members: many }] },
      }),
    );
    expect(big).toMatchObject({ status: 400, code: 'INVALID_ARGUMENT' });
    expect(big.message).toBe('The number of members in the policy (1,501) is larger than the maximum allowed size 1,500.');
  });

  it('testIamPermissions reports the held subset (an empty set for unknown resources); other methods on them are 403 PERMISSION_DENIED', async () => {
    const wanted = ['resourcemanager.projects.getIamPolicy', 'resourcemanager.projects.setIamPolicy'];
    expect((await projects.testIamPermissions({ resource: P, permissions: wanted }))[0].permissions).toEqual(wanted);
    fake.setHeldPermissions(P, ['resourcemanager.projects.getIamPolicy']);
    expect((await projects.testIamPermissions({ resource: P, permissions: wanted }))[0].permissions).toEqual([
      'resourcemanager.projects.getIamPolicy',
    ]);
    const [policy] = await projects.getIamPolicy({ resource: P, options: { requestedPolicyVersion: 3 } });
    expect((await failure(projects.setIamPolicy({ resource: P, policy }))).code).toBe('PERMISSION_DENIED');
    fake.setHeldPermissions(P, wanted);
    expect((await projects.testIamPermissions({ resource: 'projects/nowhere-1', permissions: wanted }))[0].permissions).toEqual([]);
    expect(await failure(projects.getIamPolicy({ resource: 'projects/nowhere-1' }))).toMatchObject({
      status: 403,
      code: 'PERMISSION_DENIED',
    });
  });

  it('folders and organizations have the same methods under their own paths', async () => {
    fake.addResource('folders/123456', []);
    fake.addResource('organizations/987654', [{ role: 'roles/browser', members: [alice] }]);
    const folders = new FoldersClient(clientOptions());
    const orgs = new OrganizationsClient(clientOptions());
    try {
      expect((await folders.getIamPolicy({ resource: 'folders/123456' }))[0].bindings).toEqual([]);
      expect((await orgs.getIamPolicy({ resource: 'organizations/987654' }))[0].bindings![0]).toMatchObject({
        role: 'roles/browser',
        members: [alice],
      });
      expect(fake.http.seen('POST', '/v3/organizations/987654:getIamPolicy')).toHaveLength(1);
    } finally {
      await folders.close();
      await orgs.close();
    }
  });

  it('sends what the captured client sends: bearer token, the JSON body, the routing header', async () => {
    await projects.getIamPolicy({ resource: P, options: { requestedPolicyVersion: 3 } });
    const last = fake.http.log.at(-1)!;
    expect(last.headers.authorization).toBe('Bearer ya29.fake-static-token');
    expect(last.body).toEqual({ options: { requestedPolicyVersion: 3 } });
    expect(last.query.get('$alt')).toBe('json;enum-encoding=int');
    expect(last.headers['x-goog-request-params']).toBe(`resource=${encodeURIComponent(P)}`);
    const unauthenticated = await fetch(`${fake.url}/v3/${P}:getIamPolicy`, { method: 'POST', body: '{}' });
    expect(unauthenticated.status).toBe(401);
  });
});
