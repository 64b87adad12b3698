import * as k8s from '@kubernetes/client-node';
import { FakeKubernetes, FakeRule } from './kubernetes';
import { describeWithOpenssl } from './tls-certificates';

/*
 * The fake Kubernetes API proven with the official client, @kubernetes/client-node 1.x: over
 * HTTPS trusted through certificate-authority-data (as a real kubeconfig does), every RBAC call
 * the kubernetes provider makes, the Status errors as the client surfaces them, and a per-call
 * deadline through the client's middleware.
 */
const RBAC = 'rbac.authorization.k8s.io';
const BOT_RULES: FakeRule[] = [
  { verbs: ['get', 'list', 'create', 'update', 'delete'], apiGroups: [RBAC], resources: ['rolebindings'], namespaces: ['payments'] },
  { verbs: ['get', 'list', 'create', 'update', 'delete'], apiGroups: [RBAC], resources: ['clusterrolebindings'] },
  { verbs: ['bind', 'get'], apiGroups: [RBAC], resources: ['clusterroles'], resourceNames: ['view'] },
];

const binding = (name: string, overrides: Partial<k8s.V1RoleBinding> = {}): k8s.V1RoleBinding => ({
  apiVersion: `${RBAC}/v1`,
  kind: 'RoleBinding',
  metadata: {
    name,
    labels: { 'app.kubernetes.io/managed-by': 'jit-access', 'jit-access.io/request-id': name },
    annotations: { 'jit-access.io/expires-at': '2026-12-01T12:00:00Z' },
  },
  roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' },
  subjects: [{ apiGroup: RBAC, kind: 'User', name: 'oidc:alice@example.com' }],
  ...overrides,
});

/** The body of a client-node ApiException: the raw text of the Status the server sent. */
async function statusOf(call: Promise<unknown>): Promise<{ code: number; reason?: string; message?: string }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(k8s.ApiException);
  const e = err as k8s.ApiException<string>;
  const parsed = e.body ? (JSON.parse(e.body) as { reason?: string; message?: string }) : {};
  return { code: e.code, ...parsed };
}

describeWithOpenssl('fake Kubernetes API, driven by @kubernetes/client-node', () => {
  let fake: FakeKubernetes;
  let rbac: k8s.RbacAuthorizationV1Api;
  let authz: k8s.AuthorizationV1Api;

  beforeAll(async () => {
    fake = await FakeKubernetes.start({ namespaces: ['payments', 'default'] });
    fake.addToken('bot-token', { user: 'system:serviceaccount:jit:jit-access', rules: BOT_RULES });
    fake.addToken('viewer-token', { user: 'viewer', rules: [{ verbs: ['get', 'list'], apiGroups: [RBAC], resources: ['rolebindings'] }] });
    const kc = new k8s.KubeConfig();
    kc.loadFromString(fake.kubeconfig([{ name: 'fake', token: 'bot-token' }]));
    rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  });

  afterAll(() => fake?.stop());

  it('serves HTTPS that the client trusts through certificate-authority-data, with the bearer token', async () => {
    const out = await rbac.listNamespacedRoleBinding({ namespace: 'payments' });
    expect(out.items).toEqual([]);
    expect(fake.url).toMatch(/^https:\/\/127\.0\.0\.1:/);
    expect(fake.calls.at(-1)).toMatchObject({
      method: 'GET',
      path: `/apis/${RBAC}/v1/namespaces/payments/rolebindings`,
      user: 'system:serviceaccount:jit:jit-access',
    });
  });

  it('create, AlreadyExists, read, replace (stale resourceVersion: Conflict), roleRef immutable, delete, NotFound', async () => {
    const created = await rbac.createNamespacedRoleBinding({ namespace: 'payments', body: binding('jit-access-r1') });
    expect(created.metadata).toMatchObject({
      name: 'jit-access-r1',
      namespace: 'payments',
      uid: expect.any(String),
      resourceVersion: expect.any(String),
    });
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(await statusOf(rbac.createNamespacedRoleBinding({ namespace: 'payments', body: binding('jit-access-r1') }))).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
    });

    const read = await rbac.readNamespacedRoleBinding({ name: 'jit-access-r1', namespace: 'payments' });
    expect(read.subjects).toEqual([{ apiGroup: RBAC, kind: 'User', name: 'oidc:alice@example.com' }]);
    read.metadata!.annotations = { 'jit-access.io/expires-at': '2026-12-01T13:00:00Z' };
    const replaced = await rbac.replaceNamespacedRoleBinding({ name: 'jit-access-r1', namespace: 'payments', body: read });
    expect(replaced.metadata?.annotations).toEqual({ 'jit-access.io/expires-at': '2026-12-01T13:00:00Z' });
    expect(await statusOf(rbac.replaceNamespacedRoleBinding({ name: 'jit-access-r1', namespace: 'payments', body: read }))).toMatchObject({
      code: 409,
      reason: 'Conflict',
    });
    const changedRole = { ...replaced, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'edit' } };
    expect(
      await statusOf(rbac.replaceNamespacedRoleBinding({ name: 'jit-access-r1', namespace: 'payments', body: changedRole })),
    ).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message: expect.stringContaining('cannot change roleRef'),
    });

    // Preconditions: a delete aimed at another object of that name is refused.
    expect(
      await statusOf(
        rbac.deleteNamespacedRoleBinding({
          name: 'jit-access-r1',
          namespace: 'payments',
          body: { preconditions: { uid: 'someone-else' } },
        }),
      ),
    ).toMatchObject({
      code: 409,
      reason: 'Conflict',
    });
    const deleted = await rbac.deleteNamespacedRoleBinding({
      name: 'jit-access-r1',
      namespace: 'payments',
      body: { preconditions: { uid: replaced.metadata!.uid! } },
    });
    expect(deleted).toMatchObject({ kind: 'Status', status: 'Success' });
    expect(await statusOf(rbac.deleteNamespacedRoleBinding({ name: 'jit-access-r1', namespace: 'payments' }))).toMatchObject({
      code: 404,
      reason: 'NotFound',
    });
    expect(await statusOf(rbac.readNamespacedRoleBinding({ name: 'jit-access-r1', namespace: 'payments' }))).toMatchObject({
      code: 404,
      reason: 'NotFound',
    });
  });

  it('lists by label selector, in pages (limit/continue)', async () => {
    for (const n of ['a', 'b', 'c'])
      await rbac.createNamespacedRoleBinding({ namespace: 'payments', body: binding(`jit-access-page-${n}`) });
    fake.putBinding({
      kind: 'RoleBinding',
      name: 'standing-view',
      namespace: 'payments',
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'view' },
      subjects: [{ apiGroup: RBAC, kind: 'User', name: 'bob' }],
    });
    const managed = await rbac.listNamespacedRoleBinding({
      namespace: 'payments',
      labelSelector: 'app.kubernetes.io/managed-by=jit-access',
    });
    expect(managed.items.map((b) => b.metadata?.name)).toEqual(['jit-access-page-a', 'jit-access-page-b', 'jit-access-page-c']);
    const notManaged = await rbac.listNamespacedRoleBinding({ namespace: 'payments', labelSelector: '!app.kubernetes.io/managed-by' });
    expect(notManaged.items.map((b) => b.metadata?.name)).toEqual(['standing-view']);
    const first = await rbac.listNamespacedRoleBinding({ namespace: 'payments', limit: 2 });
    expect(first.items).toHaveLength(2);
    const rest = await rbac.listNamespacedRoleBinding({ namespace: 'payments', limit: 2, _continue: first.metadata!._continue! });
    expect([...first.items, ...rest.items].map((b) => b.metadata?.name)).toEqual([
      'jit-access-page-a',
      'jit-access-page-b',
      'jit-access-page-c',
      'standing-view',
    ]);
    expect(rest.metadata?._continue).toBeUndefined();
  });

  it('ClusterRoleBindings and ClusterRoles', async () => {
    const crb = { ...binding('jit-access-c1'), kind: 'ClusterRoleBinding' };
    await rbac.createClusterRoleBinding({ body: crb });
    expect((await rbac.listClusterRoleBinding({ labelSelector: 'jit-access.io/request-id=jit-access-c1' })).items).toHaveLength(1);
    expect((await rbac.readClusterRole({ name: 'view' })).metadata?.name).toBe('view');
    await rbac.deleteClusterRoleBinding({ name: 'jit-access-c1' });
    expect(fake.bindingsIn(undefined)).toEqual([]);
  });

  it('authorizes: a verb the rules lack, a namespace they do not cover, and binding a role without `bind` are Forbidden', async () => {
    const forbidden = await statusOf(rbac.createNamespacedRoleBinding({ namespace: 'default', body: binding('jit-access-x') }));
    expect(forbidden).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: expect.stringContaining('cannot create resource "rolebindings"'),
    });
    const escalation = await statusOf(
      rbac.createNamespacedRoleBinding({
        namespace: 'payments',
        body: binding('jit-access-x', { roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: 'admin' } }),
      }),
    );
    expect(escalation).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: expect.stringContaining('is attempting to grant RBAC permissions not currently held'),
    });
    expect(await statusOf(rbac.readClusterRole({ name: 'edit' }))).toMatchObject({ code: 403 });
  });

  it('validates: bad names, label values and subjects are Invalid; an unknown namespace is NotFound', async () => {
    expect(await statusOf(rbac.createNamespacedRoleBinding({ namespace: 'payments', body: binding('a/b') }))).toMatchObject({
      code: 422,
      reason: 'Invalid',
    });
    const badLabel = binding('jit-access-l', {
      metadata: { name: 'jit-access-l', labels: { 'jit-access.io/request-id': 'alice@example.com' } },
    });
    expect(await statusOf(rbac.createNamespacedRoleBinding({ namespace: 'payments', body: badLabel }))).toMatchObject({
      code: 422,
      message: expect.stringContaining('metadata.labels'),
    });
    const noGroup = binding('jit-access-s', { subjects: [{ kind: 'User', name: 'alice' }] });
    expect(await statusOf(rbac.createNamespacedRoleBinding({ namespace: 'payments', body: noGroup }))).toMatchObject({
      code: 422,
      message: expect.stringContaining('subjects'),
    });
    fake.addToken('wide-token', { user: 'wide', rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }] });
    const kc = new k8s.KubeConfig();
    kc.loadFromString(fake.kubeconfig([{ name: 'wide', token: 'wide-token' }]));
    const wide = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    expect(await statusOf(wide.createNamespacedRoleBinding({ namespace: 'nowhere', body: binding('jit-access-n') }))).toMatchObject({
      code: 404,
      message: 'namespaces "nowhere" not found',
    });
  });

  it('answers SelfSubjectAccessReviews from the caller’s rules', async () => {
    const review = (resourceAttributes: k8s.V1ResourceAttributes) =>
      authz.createSelfSubjectAccessReview({
        body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes } },
      });
    expect((await review({ group: RBAC, resource: 'rolebindings', verb: 'create', namespace: 'payments' })).status?.allowed).toBe(true);
    expect((await review({ group: RBAC, resource: 'rolebindings', verb: 'create', namespace: 'default' })).status?.allowed).toBe(false);
    expect((await review({ group: RBAC, resource: 'clusterroles', verb: 'bind', name: 'view' })).status?.allowed).toBe(true);
    expect((await review({ group: RBAC, resource: 'clusterroles', verb: 'bind', name: 'admin' })).status?.allowed).toBe(false);
  });

  it('errors: an unknown token is 401, injected Statuses (429 with Retry-After, 500) reach the client', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(fake.kubeconfig([{ name: 'stranger', token: 'not-a-token' }]));
    const err = await kc
      .makeApiClient(k8s.RbacAuthorizationV1Api)
      .listNamespacedRoleBinding({ namespace: 'payments' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 401 });
    fake.injectStatus('GET', '/rolebindings', {
      code: 429,
      reason: 'TooManyRequests',
      message: 'Too many requests, please try again later.',
      retryAfterSeconds: 1,
    });
    const limited = await rbac.listNamespacedRoleBinding({ namespace: 'payments' }).catch((e: unknown) => e as k8s.ApiException<string>);
    expect(limited).toMatchObject({ code: 429, headers: expect.objectContaining({ 'retry-after': '1' }) });
    fake.injectStatus('POST', '/rolebindings', { code: 500, reason: 'InternalError', message: 'etcdserver: request timed out' });
    expect(await statusOf(rbac.createNamespacedRoleBinding({ namespace: 'payments', body: binding('jit-access-e') }))).toMatchObject({
      code: 500,
      reason: 'InternalError',
    });
  });

  it('can hang: the call gives up when the middleware’s AbortSignal fires', async () => {
    fake.hanging = true;
    try {
      const signal = AbortSignal.timeout(300);
      const options = {
        middleware: [
          {
            pre: (ctx: k8s.RequestContext) => (ctx.setSignal(signal), new k8s.Observable(Promise.resolve(ctx))),
            post: (r: k8s.ResponseContext) => new k8s.Observable(Promise.resolve(r)),
          },
        ],
        middlewareMergeStrategy: 'append' as const,
      };
      const started = Date.now();
      await expect(rbac.listNamespacedRoleBinding({ namespace: 'payments' }, options)).rejects.toMatchObject({ name: 'AbortError' });
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      fake.hanging = false;
    }
  });
});

describe('fake Kubernetes API over plain HTTP', () => {
  let fake: FakeKubernetes;
  beforeAll(async () => {
    fake = await FakeKubernetes.start({ tls: false, namespaces: ['payments'] });
    fake.addToken('bot-token', { user: 'bot', rules: BOT_RULES });
  });
  afterAll(() => fake?.stop());

  it('works with insecure-skip-tls-verify, which client-node 1.x demands for http:// servers', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(fake.kubeconfig([{ name: 'fake', token: 'bot-token' }]));
    expect((await kc.makeApiClient(k8s.RbacAuthorizationV1Api).listNamespacedRoleBinding({ namespace: 'payments' })).items).toEqual([]);
    const strict = new k8s.KubeConfig();
    strict.loadFromOptions({
      clusters: [{ name: 'c', server: fake.url, skipTLSVerify: false }],
      users: [{ name: 'u', token: 'bot-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    await expect(strict.makeApiClient(k8s.RbacAuthorizationV1Api).listNamespacedRoleBinding({ namespace: 'payments' })).rejects.toThrow(
      /HTTP protocol is not allowed/,
    );
  });
});
