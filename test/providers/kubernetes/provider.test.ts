import { randomBytes } from 'node:crypto';
import { loadExamplePolicy } from '../../support/example-policy';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KubernetesAccess, KubernetesTargetConfig } from '../../../src/providers/kubernetes/config';
import { kubernetesAccessSchema } from '../../../src/providers/kubernetes/config';
import { bindingName, KubernetesProvider } from '../../../src/providers/kubernetes/kubernetes-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { FakeKubernetes } from '../../fakes/kubernetes';
import { describeWithOpenssl } from '../../fakes/tls-certificates';
import { policyProblems } from '../../policy/problems';
import { bound, rejection } from '../bound';
import { BOT_TOKEN, startFakeCluster } from './kube-fixture';
import { BOT_USER, readmeRbacRules } from './readme-rbac';

/*
 * The kubernetes provider's own behaviour against the fake API server, with the README's RBAC:
 * the binding it writes, 409 read-and-compare (roleRef changes recreate), 404 on delete, bindings
 * it did not make left alone, standing access, the subject template, errors and check().
 */
const RBAC = 'rbac.authorization.k8s.io';
let fake: FakeKubernetes;
let kubeconfig: string;
const opened: Array<{ close(): Promise<void> }> = [];

function provider(access: Partial<KubernetesAccess> = {}, target: Partial<KubernetesTargetConfig> = {}) {
  const p = new KubernetesProvider({ kubeconfig, ...target }, 'prod-cluster');
  const b = bound(p, kubernetesAccessSchema.parse({ clusterRole: 'view', namespace: 'payments', ...access }));
  opened.push(b);
  return b;
}

function subject(account = `u${randomBytes(3).toString('hex')}@example.com`, expiresInMs = 3_600_000): GrantSubject {
  return {
    requestId: `r${randomBytes(4).toString('hex')}`,
    resourceId: 'payments-view',
    user: { slackId: 'U0ALICE', email: 'alice@example.com', account },
    reason: 'test',
    expiresAt: new Date(Date.now() + expiresInMs),
  };
}

const soon = (ms = 5000) => ({ deadline: new Date(Date.now() + ms) });
const user = (name: string) => ({ apiGroup: RBAC, kind: 'User' as const, name });
const view = { apiGroup: RBAC, kind: 'ClusterRole' as const, name: 'view' };

describeWithOpenssl('kubernetes provider', () => {
  beforeAll(async () => {
    ({ fake, kubeconfig } = await startFakeCluster());
  });

  afterAll(async () => {
    await Promise.all(opened.map((p) => p.close()));
    await fake?.stop();
  });

  it('grant: a RoleBinding named after the request, labelled and annotated; the subject is the prefixed, templated account', async () => {
    const p = provider({ subjectPrefix: 'oidc:', subjectTemplate: '{account}' });
    const s = subject('alice@example.com');
    const result = await p.grant(s, soon());
    expect(result.details).toEqual({ binding: bindingName(s.requestId), namespace: 'payments' });
    const b = fake.binding('payments', bindingName(s.requestId))!;
    expect(b).toMatchObject({
      kind: 'RoleBinding',
      metadata: {
        name: `jit-access-${s.requestId}`,
        namespace: 'payments',
        labels: {
          'app.kubernetes.io/managed-by': 'jit-access',
          'jit-access.io/request-id': s.requestId,
          'jit-access.io/access': expect.stringMatching(/^[0-9a-f]{40}$/),
        },
        annotations: {
          'jit-access.io/request-id': s.requestId,
          'jit-access.io/expires-at': s.expiresAt.toISOString(),
          'jit-access.io/resource': 'payments-view',
          'jit-access.io/requester': 'U0ALICE',
        },
      },
      roleRef: view,
      subjects: [user('oidc:alice@example.com')],
    });
    expect(fake.calls.filter((c) => c.path.includes('/rolebindings')).every((c) => c.user === BOT_USER)).toBe(true);

    const templated = provider({ subjectTemplate: '{account}@corp.example', subjectKind: 'Group' });
    const t = subject('sre-alice');
    await templated.grant(t, soon());
    expect(fake.binding('payments', bindingName(t.requestId))?.subjects).toEqual([
      { apiGroup: RBAC, kind: 'Group', name: 'sre-alice@corp.example' },
    ]);
  });

  it('without a namespace: a ClusterRoleBinding', async () => {
    const p = provider({ namespace: undefined });
    const s = subject();
    const { details } = await p.grant(s, soon());
    expect(details).toEqual({ binding: bindingName(s.requestId) });
    expect(fake.binding(undefined, bindingName(s.requestId))).toMatchObject({
      kind: 'ClusterRoleBinding',
      roleRef: view,
      subjects: [user(s.user.account!)],
    });
    await p.revoke(s, { ...soon(), details });
    expect(fake.binding(undefined, bindingName(s.requestId))).toBeUndefined();
  });

  it('409 AlreadyExists: the same binding is success without a write; a new expiry is replaced; a changed ClusterRole is deleted and recreated', async () => {
    const s = subject();
    await provider().grant(s, soon());
    const first = fake.binding('payments', bindingName(s.requestId))!;
    const writes = () => fake.calls.filter((c) => c.method === 'PUT' || c.method === 'DELETE').length;

    const before = writes();
    await provider().grant(s, soon());
    expect(writes()).toBe(before);
    expect(fake.binding('payments', bindingName(s.requestId))!.metadata.resourceVersion).toBe(first.metadata.resourceVersion);

    const later = { ...s, expiresAt: new Date(s.expiresAt.getTime() + 60_000) };
    await provider().extend(later, soon());
    const extended = fake.binding('payments', bindingName(s.requestId))!;
    expect(extended.metadata.annotations?.['jit-access.io/expires-at']).toBe(later.expiresAt.toISOString());
    expect(extended.metadata.uid).toBe(first.metadata.uid);

    // The resource now grants `edit`: roleRef is immutable, so the binding is made anew.
    await provider({ clusterRole: 'edit' }).grant(later, soon());
    const recreated = fake.binding('payments', bindingName(s.requestId))!;
    expect(recreated.roleRef).toEqual({ apiGroup: RBAC, kind: 'ClusterRole', name: 'edit' });
    expect(recreated.metadata.uid).not.toBe(first.metadata.uid);
    expect(fake.grants('payments', 'view', { kind: 'User', name: s.user.account! })).toBe(false);
  });

  it('a binding of that name that jit-access did not make is never changed or deleted', async () => {
    const s = subject();
    fake.putBinding({
      kind: 'RoleBinding',
      name: bindingName(s.requestId),
      namespace: 'payments',
      roleRef: view,
      subjects: [user('someone-else')],
    });
    const err = await rejection(provider().grant(s, soon()));
    expect(err.retryable).toBe(false);
    expect(err.message).toMatch(/a binding named jit-access-\w+ already exists in namespace payments and jit-access did not make it/);
    await provider().revoke(s, soon());
    expect(fake.binding('payments', bindingName(s.requestId))?.subjects).toEqual([user('someone-else')]);
  });

  it('revoke: 404 is success; a delete refused on its precondition is read again and retried', async () => {
    const s = subject();
    await expect(provider().revoke(s, soon())).resolves.toBeUndefined();
    const { details } = await provider().grant(s, soon());
    fake.injectStatus('DELETE', bindingName(s.requestId), {
      code: 409,
      reason: 'Conflict',
      message: 'Precondition failed: UID in precondition: x, UID in object meta: y',
    });
    await provider().revoke(s, { ...soon(), details });
    expect(fake.binding('payments', bindingName(s.requestId))).toBeUndefined();
    await expect(provider().revoke(s, { ...soon(), details })).resolves.toBeUndefined();
  });

  it('holds(): a binding jit-access did not make, same ClusterRole and subject and scope, across pages; nothing else counts', async () => {
    const p = provider({ subjectPrefix: 'oidc:' });
    const account = `standing-${randomBytes(3).toString('hex')}@example.com`;
    const id = randomBytes(3).toString('hex');
    // Decoys: another ClusterRole, another namespace, a Group of that name, a jit-access binding.
    fake.putBinding({
      kind: 'RoleBinding',
      name: `d1-${id}`,
      namespace: 'payments',
      roleRef: { ...view, name: 'edit' },
      subjects: [user(`oidc:${account}`)],
    });
    fake.putBinding({ kind: 'RoleBinding', name: `d2-${id}`, namespace: 'default', roleRef: view, subjects: [user(`oidc:${account}`)] });
    fake.putBinding({
      kind: 'RoleBinding',
      name: `d3-${id}`,
      namespace: 'payments',
      roleRef: view,
      subjects: [{ apiGroup: RBAC, kind: 'Group', name: `oidc:${account}` }],
    });
    fake.putBinding({
      kind: 'RoleBinding',
      name: `d4-${id}`,
      namespace: 'payments',
      roleRef: view,
      subjects: [user(`oidc:${account}`)],
      labels: { 'app.kubernetes.io/managed-by': 'jit-access' },
    });
    for (let i = 0; i < 260; i++)
      fake.putBinding({
        kind: 'RoleBinding',
        name: `filler-${id}-${String(i).padStart(3, '0')}`,
        namespace: 'payments',
        roleRef: view,
        subjects: [user(`filler-${i}`)],
      });
    const s = subject(account);
    expect(await p.holds(s, soon())).toBe(false);
    // Sorted after every filler: found only by following `continue`.
    fake.putBinding({
      kind: 'RoleBinding',
      name: `zz-team-${id}`,
      namespace: 'payments',
      roleRef: view,
      subjects: [user('bob'), user(`oidc:${account}`)],
    });
    expect(await p.holds(s, soon())).toBe(true);
    expect(fake.calls.filter((c) => c.method === 'GET' && c.query.includes('continue=')).length).toBeGreaterThan(0);
  });

  it('the last revoke of overlapping grants deletes every binding of that access, and nothing else', async () => {
    const account = `overlap-${randomBytes(3).toString('hex')}@example.com`;
    const one = subject(account);
    const two = subject(account);
    const other = subject(`other-${randomBytes(3).toString('hex')}@example.com`);
    await provider().grant(one, soon());
    await provider().grant(two, soon());
    await provider().grant(other, soon());
    await provider({ clusterRole: 'edit' }).grant(subject(account), soon()); // another access of the same person
    // The operations layer kept one's revocation from reaching the provider while two was active; two's revoke ends both.
    await provider().revoke(two, soon());
    expect(fake.binding('payments', bindingName(one.requestId))).toBeUndefined();
    expect(fake.binding('payments', bindingName(two.requestId))).toBeUndefined();
    expect(fake.binding('payments', bindingName(other.requestId))).toBeDefined();
    expect(fake.grants('payments', 'edit', { kind: 'User', name: account })).toBe(true);
  });

  it('the ClusterRole must exist; a role outside the bot’s RBAC is Forbidden, with a pointer to the README', async () => {
    const gone = await rejection(provider({ clusterRole: 'no-such-role' }).grant(subject(), soon()));
    expect(gone).toMatchObject({
      retryable: false,
      message: expect.stringMatching(/ClusterRole no-such-role does not exist|not allowed|Forbidden/),
    });
    const denied = await rejection(provider({ clusterRole: 'admin' }).grant(subject(), soon()));
    expect(denied.retryable).toBe(false);
    expect(denied.message).toMatch(/HTTP 403 Forbidden: .*clusterroles.* "admin".*README's RBAC/);
    const otherNamespace = await rejection(provider({ namespace: 'default' }).grant(subject(), soon()));
    expect(otherNamespace.message).toMatch(/cannot create resource "rolebindings" .* in the namespace "default"/);
  });

  it('429 (honouring Retry-After) and 5xx are retried within the deadline', async () => {
    const s = subject();
    fake.injectStatus('POST', '/rolebindings', {
      code: 429,
      reason: 'TooManyRequests',
      message: 'Too many requests, please try again later.',
      retryAfterSeconds: 1,
    });
    fake.injectStatus('GET', '/clusterroles/view', {
      code: 503,
      reason: 'ServiceUnavailable',
      message: 'the server is currently unable to handle the request',
    });
    const started = Date.now();
    await provider().grant(s, soon());
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(fake.binding('payments', bindingName(s.requestId))).toBeDefined();
  });

  it('validate(): refuses a subject Kubernetes reserves (system:), or none; policy load refuses a system: prefix', async () => {
    expect(await provider().validate({ resourceId: 'r', user: { slackId: 'U1', account: 'alice@example.com' } }, soon())).toEqual({
      ok: true,
    });
    expect(await provider().validate({ resourceId: 'r', user: { slackId: 'U1', account: 'system:admin' } }, soon())).toMatchObject({
      ok: false,
      reason: expect.stringContaining('starts with "system:"'),
    });
    expect(await provider().validate({ resourceId: 'r', user: { slackId: 'U1' } }, soon())).toMatchObject({ ok: false });
    const policy = (extra: string) => `
approvalChannel: C0APPROVALS
resources:
  - id: k
    name: K
    approvers: { users: [U0BOB] }
    provider: { type: kubernetes, clusterRole: view, ${extra} }
`;
    expect(policyProblems(policy('subjectPrefix: "system:"'), {})).toEqual([
      expect.stringMatching(/resources\[0\]\.provider\.subjectPrefix: subjects starting with "system:" are reserved/),
    ]);
    expect(policyProblems(policy('subjectTemplate: "alice"'), {})).toEqual([
      expect.stringMatching(/subjectTemplate: must contain \{account\} exactly once/),
    ]);
    expect(policyProblems(policy('namespace: Payments'), {})).toEqual([expect.stringMatching(/namespace: expected a namespace name/)]);
  });

  it('check(): nothing with the README’s RBAC; names each missing permission and a missing ClusterRole', async () => {
    expect(await provider().check()).toEqual([]);
    expect(await provider({ namespace: undefined }).check()).toEqual([]);
    const problems = await provider({ namespace: 'default', clusterRole: 'admin' }).check();
    expect(problems).toEqual(
      expect.arrayContaining([
        "kubernetes target prod-cluster: not allowed to create rolebindings in namespace default (see the README's RBAC)",
        "kubernetes target prod-cluster: not allowed to bind clusterroles/admin (see the README's RBAC)",
        "kubernetes target prod-cluster: not allowed to get clusterroles/admin (see the README's RBAC)",
      ]),
    );
    fake.addToken('wide-token', { user: 'wide', rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] });
    const wide = fake.writeKubeconfig([{ name: 'wide', token: 'wide-token' }]);
    expect(await provider({ clusterRole: 'no-such-role' }, { kubeconfig: wide }).check()).toEqual([
      'kubernetes target prod-cluster: ClusterRole no-such-role does not exist',
    ]);
  });

  it('credentials stay out of errors: a refused token, a malformed kubeconfig holding one', async () => {
    const stranger = fake.writeKubeconfig([{ name: 'x', token: 'stranger-token-0123456789' }]);
    const refused = await rejection(provider({}, { kubeconfig: stranger }).grant(subject(), soon()));
    expect(refused).toMatchObject({ retryable: false, message: expect.stringMatching(/HTTP 401.*refused the credentials/) });
    expect(refused.message).not.toContain('stranger-token-0123456789');

    const dir = mkdtempSync(path.join(tmpdir(), 'jit-kube-bad-'));
    const broken = path.join(dir, 'config');
    writeFileSync(broken, `apiVersion: v1\nusers:\n- name: u\n  user:\n    token: leaked-token-0123456789\n   bad: [indent\n`);
    const err = await rejection(provider({}, { kubeconfig: broken }).grant(subject(), soon()));
    expect(err).toMatchObject({ retryable: false, message: expect.stringContaining(`cannot load ${broken}`) });
    expect(err.message).not.toContain('leaked-token-0123456789');
    expect((await rejection(provider({}, { kubeconfig: path.join(dir, 'missing') }).grant(subject(), soon()))).message).toMatch(
      /cannot load .*ENOENT/,
    );
  });

  it('context picks the kubeconfig context (an unknown one is named); server overrides its API server', async () => {
    const two = fake.writeKubeconfig([
      { name: 'other', token: 'stranger-token-0123456789' },
      { name: 'bot', token: BOT_TOKEN },
    ]);
    const s = subject();
    await provider({}, { kubeconfig: two, context: 'bot' }).grant(s, soon());
    expect(fake.binding('payments', bindingName(s.requestId))).toBeDefined();
    const unknown = await rejection(provider({}, { kubeconfig: two, context: 'prod' }).grant(subject(), soon()));
    expect(unknown).toMatchObject({ retryable: false, message: expect.stringContaining('context "prod" is not in') });
    expect(unknown.message).toContain('other, bot');

    // A kubeconfig pointing elsewhere, corrected by `server`.
    const elsewhere = fake.writeKubeconfig([{ name: 'bot', token: BOT_TOKEN, server: 'https://127.0.0.1:1' }]);
    const t = subject();
    await provider({}, { kubeconfig: elsewhere, server: fake.url }).grant(t, soon());
    expect(fake.binding('payments', bindingName(t.requestId))).toBeDefined();
  });

  it('without kubeconfig in the policy, KUBECONFIG is used; with neither (and not in a pod), a clear error', async () => {
    const saved = process.env.KUBECONFIG;
    try {
      process.env.KUBECONFIG = kubeconfig;
      const s = subject();
      await new KubernetesProvider({}, 'env-cluster').grant(
        kubernetesAccessSchema.parse({ clusterRole: 'view', namespace: 'payments' }),
        s,
        soon(),
      );
      expect(fake.binding('payments', bindingName(s.requestId))).toBeDefined();
      delete process.env.KUBECONFIG;
      const err = await rejection(
        new KubernetesProvider({}, 'env-cluster').grant(kubernetesAccessSchema.parse({ clusterRole: 'view' }), subject(), soon()),
      );
      expect(err).toMatchObject({
        retryable: false,
        message: expect.stringMatching(/no kubeconfig: set kubeconfig .* or KUBECONFIG, or run in a pod/),
      });
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it('a server whose certificate the kubeconfig’s CA did not sign: a non-retryable TLS error', async () => {
    const impostor = await FakeKubernetes.start({ namespaces: ['payments'] });
    try {
      impostor.addToken(BOT_TOKEN, { user: BOT_USER, rules: readmeRbacRules() });
      // Our kubeconfig (our CA) aimed at the impostor, which has a CA of its own.
      const err = await rejection(provider({}, { server: impostor.url }).grant(subject(), soon()));
      expect(err.retryable).toBe(false);
      expect(err.message).toMatch(/certificate|CERT|self.signed/i);
      expect(impostor.calls).toEqual([]);
    } finally {
      await impostor.stop();
    }
  });
});

describe('policy.example.yml', () => {
  it('its Kubernetes resource loads as documented', () => {
    const policy = loadExamplePolicy();
    expect(policy.resources.find((r) => r.id === 'payments-view')!.provider).toEqual({
      target: 'prod-cluster',
      type: 'kubernetes',
      access: { clusterRole: 'view', namespace: 'payments', subjectKind: 'User', subjectPrefix: 'oidc:', subjectTemplate: '{account}' },
    });
    expect(policy.targets['prod-cluster']?.settings).toEqual({ context: 'prod' });
  });
});
