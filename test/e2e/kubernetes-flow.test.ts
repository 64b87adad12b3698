import type { FakeKubernetes } from '../fakes/kubernetes';
import { describeWithOpenssl } from '../fakes/tls-certificates';
import { BOT_TOKEN, startFakeCluster } from '../providers/kubernetes/kube-fixture';
import { flowSteps } from './flow-steps';
import { startTestBot, TestBot } from './harness';

/*
 * The kubernetes provider through the real app, against the fake API server (HTTPS, the README's
 * RBAC): the subject the cluster knows (prefix + the whole Slack e-mail) shown to approvers;
 * approval creates a RoleBinding named after the request; `/jit-access revoke` and expiry delete
 * it; standing bindings and overlapping grants are left as they must be.
 */
let fake: FakeKubernetes;
let kubeconfig: string;
let t: TestBot;
let steps: ReturnType<typeof flowSteps>;

const policy = () => `
approvalChannel: C0APPROVALS
defaults: { minDuration: 1s, maxDuration: 4h }
emailDomains: [example.com]
identities:
  U0ROOT: { prod-cluster: "system:admin" }
targets:
  prod-cluster:
    type: kubernetes
    kubeconfig: ${kubeconfig}
resources:
  - id: payments-view
    name: Payments namespace, read-only
    approvers: { users: [U0BOB] }
    provider: { target: prod-cluster, clusterRole: view, namespace: payments, subjectPrefix: "oidc:" }
  - id: payments-view-also
    name: The same ClusterRole, through another resource
    approvers: { users: [U0BOB] }
    provider: { target: prod-cluster, clusterRole: view, namespace: payments, subjectPrefix: "oidc:" }
  - id: cluster-view
    name: Whole cluster, read-only (no username prefix on this cluster's authenticator)
    approvers: { users: [U0BOB] }
    provider: { target: prod-cluster, clusterRole: view }
`;

const oidc = (email: string) => ({ kind: 'User' as const, name: `oidc:${email}` });
const canView = (email: string) => fake.grants('payments', 'view', oidc(email));

describeWithOpenssl('kubernetes through the app (fake API server)', () => {
  beforeAll(async () => {
    ({ fake, kubeconfig } = await startFakeCluster());
    t = await startTestBot({ policy: policy() });
    t.fake.users.set('U0CAROL', { email: 'carol@example.com', name: 'carol' });
    t.fake.users.set('U0STAN', { email: 'stan@example.com', name: 'stan' });
    t.fake.users.set('U0ROOT', { email: 'root@example.com', name: 'root' });
    steps = flowSteps(t);
  });

  afterAll(async () => {
    await t?.stop();
    await fake?.stop();
  });

  it('the start-up check, through the app’s registry, finds nothing missing with the README’s RBAC; the token is never logged', async () => {
    for (const resource of ['payments-view', 'cluster-view']) expect(await t.bot.ctx.providers.forResource(resource).check()).toEqual([]);
    expect(t.logs.join('\n')).not.toContain(BOT_TOKEN);
  });

  it('request → approval shows the account and the caveat → a RoleBinding for oidc:<e-mail> → revoke deletes it', async () => {
    const { req, blocks } = await steps.file('U0ALICE', 'payments-view', 'INC-9 look at pods');
    expect(req).toMatchObject({ target: 'prod-cluster', account: 'alice@example.com', accountSource: 'email' });
    expect(blocks).toContain('`alice@example.com` in `prod-cluster`');
    expect(blocks).toContain('kubectl exec');
    expect(canView('alice@example.com')).toBe(false);

    const active = await steps.approve(req._id);
    expect(active.state).toBe('active');
    expect(active.providerDetails).toEqual({ binding: `jit-access-${req._id}`, namespace: 'payments' });
    expect(fake.binding('payments', `jit-access-${req._id}`)).toMatchObject({
      metadata: {
        labels: { 'app.kubernetes.io/managed-by': 'jit-access', 'jit-access.io/request-id': req._id },
        annotations: {
          'jit-access.io/request-id': req._id,
          'jit-access.io/expires-at': active.expiresAt!.toISOString(),
          'jit-access.io/resource': 'payments-view',
          'jit-access.io/requester': 'U0ALICE',
        },
      },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...oidc('alice@example.com') }],
    });
    expect(canView('alice@example.com')).toBe(true);
    await steps.dm('U0ALICE', /granted until/);

    await steps.revokeAsRequester('U0ALICE', req._id);
    expect(canView('alice@example.com')).toBe(false);
    expect(fake.bindingsIn('payments').filter((b) => b.metadata.name === `jit-access-${req._id}`)).toEqual([]);
  });

  it('expiry deletes the binding', async () => {
    const active = await steps.fileAndApprove('U0CAROL', 'payments-view', 'short look', '3s');
    expect(canView('carol@example.com')).toBe(true);
    await steps.waitForState(active._id, 'expired', 10_000);
    expect(canView('carol@example.com')).toBe(false);
  });

  it('without a namespace: a ClusterRoleBinding; an account Kubernetes reserves (system:…) is refused when the request is filed', async () => {
    const active = await steps.fileAndApprove('U0CAROL', 'cluster-view', 'cluster-wide look');
    expect(fake.binding(undefined, `jit-access-${active._id}`)).toMatchObject({
      kind: 'ClusterRoleBinding',
      subjects: [{ kind: 'User', name: 'carol@example.com' }],
    });
    await steps.revokeAsRequester('U0CAROL', active._id);
    expect(fake.binding(undefined, `jit-access-${active._id}`)).toBeUndefined();

    expect(await steps.refusal('U0ROOT', 'cluster-view', 'be root')).toContain(
      'starts with "system:", which Kubernetes reserves for itself',
    );
  });

  it('standing access: a binding jit-access did not make stays, and no JIT binding is made', async () => {
    fake.putBinding({
      kind: 'RoleBinding',
      name: 'team-stan-view',
      namespace: 'payments',
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', ...oidc('stan@example.com') }],
    });
    const active = await steps.fileAndApprove('U0STAN', 'payments-view', 'I had this');
    expect(active).toMatchObject({ state: 'active', standing: true });
    expect(fake.binding('payments', `jit-access-${active._id}`)).toBeUndefined();
    await steps.revokeAsRequester('U0STAN', active._id);
    expect(fake.binding('payments', 'team-stan-view')).toBeDefined();
  });

  it('overlapping grants: the access ends with the last of them, and no binding is left behind', async () => {
    const first = await steps.fileAndApprove('U0ALICE', 'payments-view', 'overlap one');
    const second = await steps.fileAndApprove('U0ALICE', 'payments-view-also', 'overlap two');
    expect([first.state, second.state, second.standing]).toEqual(['active', 'active', false]);
    await steps.revokeAsRequester('U0ALICE', first._id);
    expect(canView('alice@example.com')).toBe(true);
    await steps.revokeAsRequester('U0ALICE', second._id);
    expect(canView('alice@example.com')).toBe(false);
    expect(fake.bindingsIn('payments').filter((b) => b.metadata.labels?.['app.kubernetes.io/managed-by'] === 'jit-access')).toEqual([]);
  });
});
