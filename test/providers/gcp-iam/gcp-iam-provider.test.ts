import { generateKeyPairSync } from 'node:crypto';
import { parsePolicy } from '../../../src/policy/load';
import { gcpIamTargetSchema } from '../../../src/providers/gcp-iam/config';
import { gcpIamProvider } from '../../../src/providers/gcp-iam/gcp-iam-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { FakeResourceManager } from '../../fakes/gcp-resource-manager';
import type { FakeBinding } from '../../fakes/gcp-resource-manager';
import { freePort } from '../../support/ports';
import { bound, rejection } from '../bound';
import { oneResourcePolicy, problemsWith } from '../one-resource-policy';

/*
 * The gcp-iam provider's own pitfalls, against the Resource Manager fake: the etag on every write,
 * version 3 on every read, conflicts redone, its own binding per grant (extend replaces it, revoke
 * removes only it), expired bindings swept, the policy's size limit, basic roles, credentials.
 */

const P = 'projects/unit-proj';
const ROLE = 'roles/cloudsql.viewer';
const TOKEN = 'ya29.unit-static-token-0123';
let fake: FakeResourceManager;

const settings = (over: Record<string, unknown> = {}) =>
  gcpIamTargetSchema.parse({ accessToken: TOKEN, apiEndpoint: fake.url, timeoutMs: 3000, ...over });
const open = (targetName = 'gcp', over: Record<string, unknown> = {}, access = { resource: P, role: ROLE }) =>
  bound(gcpIamProvider.create(settings(over), { targetName }), access);
const soon = (ms = 3000) => ({ deadline: new Date(Date.now() + ms) });

let seq = 0;
function subject(account = 'alice@example.com', expiresInMs = 3_600_000): GrantSubject {
  return {
    requestId: `ru${++seq}`,
    resourceId: 'gcp-res',
    user: { slackId: 'U0ALICE', account },
    reason: 'unit',
    expiresAt: new Date(Date.now() + expiresInMs),
  };
}
const own = (s: GrantSubject) => fake.bindings(P).filter((b) => b.condition?.title === `jit-access ${s.requestId}`);
const writes = () => fake.http.seen('POST', `/v3/${P}:setIamPolicy`);
const reads = () => fake.http.seen('POST', `/v3/${P}:getIamPolicy`);

const TOMORROW = new Date(Date.now() + 86_400_000).toISOString();
const standingBindings = (): FakeBinding[] => [
  { role: ROLE, members: ['user:standing@example.com'] },
  {
    role: 'roles/logging.viewer',
    members: ['user:alice@example.com'],
    condition: { title: 'Terraform temp', expression: `request.time < timestamp("${TOMORROW}")` },
  },
];

beforeAll(async () => {
  fake = await FakeResourceManager.start();
});
afterAll(() => fake.stop());
beforeEach(() => {
  fake.http.clearInjections();
  fake.addResource(P, standingBindings());
  fake.writesWithoutEtag = 0;
});
afterEach(() => {
  expect(fake.writesWithoutEtag).toBe(0);
});

describe('gcp-iam provider', () => {
  it('grant: one conditional binding titled after the request, request.time < timestamp(expiry), written with the etag and version 3 read and written', async () => {
    const p = open();
    const s = subject();
    const before = writes().length;
    await p.grant(s, soon());
    expect(own(s)).toEqual([
      {
        role: ROLE,
        members: ['user:alice@example.com'],
        condition: {
          title: `jit-access ${s.requestId}`,
          description: `Granted by jit-access (target gcp) for request ${s.requestId} on gcp-res`,
          expression: `request.time < timestamp("${s.expiresAt.toISOString()}")`,
        },
      },
    ]);
    const sent = writes().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body).toMatchObject({ policy: { version: 3, etag: expect.any(String) }, updateMask: 'bindings,etag' });
    for (const read of reads()) expect(read.body).toEqual({ options: { requestedPolicyVersion: 3 } });
    // Google itself ends it: the same request a second after the expiry is refused.
    expect(fake.hasRole(P, ROLE, 'user:alice@example.com')).toBe(true);
    expect(fake.hasRole(P, ROLE, 'user:alice@example.com', new Date(s.expiresAt.getTime() + 1000))).toBe(false);
    // Everyone else's bindings are as they were.
    expect(fake.bindings(P).filter((b) => b.condition?.title !== `jit-access ${s.requestId}`)).toEqual(standingBindings());
    await p.close();
  });

  it('a concurrent change between read and write (409 ABORTED, or 412) is redone from a fresh read, keeping the other change', async () => {
    const p = open();
    const s = subject();
    fake.http.inject(
      (r) => r.path.endsWith(':setIamPolicy'),
      () => fake.changeOutside(P, (b) => [...b, { role: 'roles/storage.objectViewer', members: ['user:carol@example.com'] }]),
    );
    fake.http.inject(
      (r) => r.path.endsWith(':setIamPolicy'),
      { status: 412, body: { error: { code: 412, message: 'Precondition failed', status: 'FAILED_PRECONDITION' } } },
      1,
    );
    const before = writes().length;
    await p.grant(s, soon());
    expect(writes().length - before).toBe(3); // stale etag (409), 412, then the good one
    expect(own(s)).toHaveLength(1);
    expect(fake.hasRole(P, 'roles/storage.objectViewer', 'user:carol@example.com')).toBe(true);
    await p.close();
  });

  it('conflicts that never stop end in a retryable error within the deadline', async () => {
    const p = open();
    fake.http.inject(
      (r) => r.path.endsWith(':setIamPolicy'),
      { status: 409, body: { error: { code: 409, message: 'There were concurrent policy changes.', status: 'ABORTED' } } },
      1000,
    );
    const started = Date.now();
    const err = await rejection(p.grant(subject(), soon(1200)));
    expect(Date.now() - started).toBeLessThan(1200 + 300);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/HTTP 409 ABORTED: There were concurrent policy changes/);
    await p.close();
  });

  it('extend replaces the binding (one write, never a gap); a retried grant with a new expiry does too', async () => {
    const p = open();
    const s = subject();
    await p.grant(s, soon());
    const later = { ...s, expiresAt: new Date(s.expiresAt.getTime() + 1_800_000) };
    const before = writes().length;
    await p.extend(later, soon());
    expect(writes().length - before).toBe(1);
    expect(own(s).map((b) => b.condition!.expression)).toEqual([`request.time < timestamp("${later.expiresAt.toISOString()}")`]);
    await p.grant(later, soon()); // the same expiry again: nothing to write
    expect(writes().length - before).toBe(1);
    await p.close();
  });

  it('revoke removes only its own binding: not standing access, not other people’s or other tools’ conditions, not a member someone added to it', async () => {
    const p = open();
    const mine = subject();
    await p.grant(mine, soon());
    const bob = subject('bob@example.com');
    await p.grant(bob, soon());
    // Someone adds a colleague to jit-access's binding by hand: that member stays.
    fake.changeOutside(P, (bs) =>
      bs.map((b) =>
        b.condition?.title === `jit-access ${mine.requestId}` ? { ...b, members: [...b.members, 'user:dave@example.com'] } : b,
      ),
    );
    // Another target of jit-access (another bot, another policy) granted the same role to alice.
    const elsewhere = open('other-target');
    const theirs = subject();
    await elsewhere.grant(theirs, soon());

    await p.revoke(mine, soon());
    const left = fake.bindings(P);
    expect(left.filter((b) => b.condition?.title === `jit-access ${mine.requestId}`)).toEqual([
      expect.objectContaining({ members: ['user:dave@example.com'] }),
    ]);
    expect(own(bob)).toHaveLength(1);
    expect(own(theirs)).toHaveLength(1);
    for (const b of standingBindings()) expect(left).toContainEqual(b);
    await p.revoke(mine, soon()); // again: nothing to do
    await elsewhere.close();
    await p.close();
  });

  it('revoke also removes this target’s bindings of ended grants the operations layer kept in place for an overlapping grant', async () => {
    const p = open();
    const first = subject();
    const second = subject();
    await p.grant(first, soon());
    await p.grant(second, soon());
    // The first grant ended while the second still gave the access: its revoke was skipped (PRODUCT.md §4).
    await p.revoke(second, soon());
    expect(own(first)).toEqual([]);
    expect(fake.hasRole(P, ROLE, 'user:alice@example.com')).toBe(false);
    await p.close();
  });

  it('every write sweeps jit-access’s expired bindings (they count against the size limit) and leaves others’ alone', async () => {
    const past = new Date(Date.now() - 60_000).toISOString();
    const expired = Array.from({ length: 1498 }, (_, i) => ({
      role: ROLE,
      members: [`user:old${i}@example.com`],
      condition: {
        title: `jit-access rold${i}`,
        description: 'Granted by jit-access (target gcp) for request rold',
        expression: `request.time < timestamp("${past}")`,
      },
    }));
    const foreign = {
      role: ROLE,
      members: ['user:x@example.com'],
      condition: { title: 'jit-access-lookalike', expression: `request.time < timestamp("${past}")` },
    };
    fake.changeOutside(P, (b) => [...b, ...expired, foreign]);
    const p = open();
    const s = subject();
    await p.grant(s, soon()); // 1,498 + 3 + 1 members before the sweep: over the limit without it
    const left = fake.bindings(P);
    expect(left.filter((b) => /^jit-access rold/.test(b.condition?.title ?? ''))).toEqual([]);
    expect(left).toContainEqual(foreign);
    expect(own(s)).toHaveLength(1);
    await p.close();
  });

  it('a policy that would exceed 1,500 members is refused with a clear, non-retryable error, nothing written', async () => {
    fake.changeOutside(P, (b) => [
      ...b,
      { role: 'roles/browser', members: Array.from({ length: 1498 }, (_, i) => `user:p${i}@example.com`) },
    ]);
    const p = open();
    const before = writes().length;
    const err = await rejection(p.grant(subject(), soon()));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/would name 1501 members, more than IAM allows \(1500\)/);
    expect(writes().length).toBe(before);
    await p.close();
  });

  it('holds(): an unconditional binding naming the member is standing access; conditional or group bindings are not', async () => {
    const p = open();
    expect(await p.holds({ resourceId: 'r', user: { slackId: 'U', account: 'Standing@Example.com' } }, soon())).toBe(true);
    fake.changeOutside(P, (b) => [...b, { role: ROLE, members: ['group:sre@example.com'] }]);
    expect(await p.holds({ resourceId: 'r', user: { slackId: 'U', account: 'sre-member@example.com' } }, soon())).toBe(false);
    const s = subject('temp@example.com');
    await p.grant(s, soon());
    expect(await p.holds(s, soon())).toBe(false);
    await p.close();
  });

  it('errors: 403 is final, 429 and 503 are retried within the deadline, a hung write ends at the deadline', async () => {
    const p = open();
    fake.http.inject((r) => r.path.endsWith(':getIamPolicy'), {
      status: 429,
      body: { error: { code: 429, message: 'Quota exceeded', status: 'RESOURCE_EXHAUSTED' } },
    });
    fake.http.inject((r) => r.path.endsWith(':getIamPolicy'), { status: 503, raw: '<html>503</html>' });
    const s = subject();
    await p.grant(s, soon());
    expect(own(s)).toHaveLength(1);

    fake.setHeldPermissions(P, ['resourcemanager.projects.getIamPolicy']);
    const denied = await rejection(p.revoke(s, soon()));
    expect([denied.retryable, denied.message]).toEqual([
      false,
      `gcp-iam target gcp: revoke ${ROLE} from user:alice@example.com on ${P}: HTTP 403 PERMISSION_DENIED: The caller does not have permission`,
    ]);
    fake.setHeldPermissions(P, ['resourcemanager.projects.getIamPolicy', 'resourcemanager.projects.setIamPolicy']);

    fake.http.inject((r) => r.path.endsWith(':setIamPolicy'), 'hang');
    const started = Date.now();
    const hung = await rejection(p.revoke(s, soon(700)));
    expect(Date.now() - started).toBeLessThan(700 + 300);
    expect(hung.retryable).toBe(true);
    expect(hung.message).toMatch(/no answer within \d+ms/);
    await p.revoke(s, soon());
    expect(own(s)).toEqual([]);
    await p.close();
  });

  it('an unreachable endpoint: a retryable error that names the network failure', async () => {
    const p = open('gcp', { apiEndpoint: `http://127.0.0.1:${await freePort()}` });
    const err = await rejection(p.grant(subject(), soon(800)));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/ECONNREFUSED/);
    await p.close();
  });

  it('check(): names the missing permission; nothing when the bot may read and write the policy', async () => {
    const p = open();
    expect(await p.check()).toEqual([]);
    fake.setHeldPermissions(P, ['resourcemanager.projects.getIamPolicy']);
    expect(await p.check()).toEqual([
      `gcp-iam target gcp: on ${P} the bot lacks resourcemanager.projects.setIamPolicy (or the resource does not exist)`,
    ]);
    const folder = bound(gcpIamProvider.create(settings(), { targetName: 'gcp' }), { resource: 'folders/42', role: ROLE });
    expect(await folder.check()).toEqual([
      'gcp-iam target gcp: on folders/42 the bot lacks resourcemanager.folders.getIamPolicy and resourcemanager.folders.setIamPolicy (or the resource does not exist)',
    ]);
    await folder.close();
    await p.close();
  });

  it('a service-account key signs its own JWT for the API (no token exchange); the key appears in no error', async () => {
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const key = {
      type: 'service_account',
      project_id: 'unit-proj',
      private_key_id: 'k1',
      private_key: privateKey,
      client_email: 'jit-access@unit-proj.iam.gserviceaccount.com',
      client_id: '1',
      token_uri: `${fake.url}/token`,
    };
    const p = open('gcp', { accessToken: undefined, credentials: JSON.stringify(key) });
    const s = subject();
    await p.grant(s, soon());
    const auth = String(writes().at(-1)!.headers.authorization);
    const [, claims] = auth.replace(/^Bearer /, '').split('.');
    expect(JSON.parse(Buffer.from(claims!, 'base64url').toString())).toMatchObject({
      iss: key.client_email,
      scope: expect.stringContaining('https://www.googleapis.com/auth/cloud-platform'),
    });
    expect(fake.http.seen('POST', '/token')).toEqual([]);
    fake.setHeldPermissions(P, []);
    const err = await rejection(p.revoke(s, soon()));
    expect(err.message).not.toContain('PRIVATE KEY');
    await p.close();
  });
});

describe('gcp-iam policy settings', () => {
  it('refuses basic roles at load: they cannot be conditional', () => {
    for (const role of ['roles/owner', 'roles/editor', 'roles/viewer']) {
      expect(problemsWith(`{ type: gcp-iam, resource: ${P}, role: ${role} }`)).toContain(
        'resources[0].provider.role: basic roles (roles/owner, roles/editor, roles/viewer) cannot have IAM conditions',
      );
    }
  });

  it('checks the resource, the role, the credentials and the accounts', () => {
    expect(problemsWith('{ type: gcp-iam, resource: project/x, role: roles/browser }')).toContain(
      'resources[0].provider.resource: expected projects/<project-id>, folders/<number> or organizations/<number>',
    );
    expect(problemsWith(`{ type: gcp-iam, resource: ${P}, role: browser }`)).toContain('resources[0].provider.role: expected roles/<name>');
    expect(problemsWith(`{ type: gcp-iam, resource: ${P}, role: roles/browser, credentials: "not json at all" }`)).toContain(
      'resources[0].provider.credentials: expected the JSON of a service-account key (it is not JSON)',
    );
    expect(
      problemsWith(`{ type: gcp-iam, resource: ${P}, role: roles/browser }`, 'identities: { U0ALICE: "group:sre@example.com" }'),
    ).toContain('identities.U0ALICE: not a valid account for gcp-iam target res: expected a Google account e-mail');
    const ok = parsePolicy(
      oneResourcePolicy(
        `{ type: gcp-iam, resource: folders/123, role: organizations/9/roles/jitReader }`,
        'identities: { U0ALICE: "user:alice@example.com" }',
      ),
      {},
    );
    expect(ok.targets.res!.settings).toMatchObject({ apiEndpoint: 'https://cloudresourcemanager.googleapis.com' });
  });
});
