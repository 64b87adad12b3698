import { randomBytes } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { z } from 'zod';
import { kubernetesAccessSchema } from '../../../src/providers/kubernetes/config';
import { bindingName, KubernetesProvider } from '../../../src/providers/kubernetes/kubernetes-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { bound } from '../bound';
import { liveEnv } from '../live-env';

/*
 * The kubernetes provider against a REAL cluster: KUBECONFIG (or JIT_LIVE_K8S_KUBECONFIG) and the
 * context JIT_LIVE_K8S_CONTEXT, whose credentials should have the README's RBAC. It binds
 * JIT_LIVE_K8S_CLUSTER_ROLE (default view) in JIT_LIVE_K8S_NAMESPACE (default "default") to a test
 * subject that needs no real user, reads the binding back, asks the API server what the subject
 * may do when the credentials may create SubjectAccessReviews, and deletes it.
 */
if (!process.env.JIT_LIVE_K8S_KUBECONFIG && process.env.KUBECONFIG) process.env.JIT_LIVE_K8S_KUBECONFIG = process.env.KUBECONFIG;
const { env, describeLive } = liveEnv(
  'Kubernetes cluster',
  ['JIT_LIVE_K8S_KUBECONFIG', 'JIT_LIVE_K8S_CONTEXT'],
  'JIT_LIVE_K8S_KUBECONFIG defaults to KUBECONFIG',
);

describeLive('kubernetes against a real cluster', () => {
  jest.setTimeout(120_000);
  const namespace = process.env.JIT_LIVE_K8S_NAMESPACE ?? 'default';
  const clusterRole = process.env.JIT_LIVE_K8S_CLUSTER_ROLE ?? 'view';
  const account = process.env.JIT_LIVE_K8S_SUBJECT ?? `jit-access-live-${randomBytes(3).toString('hex')}@example.invalid`;
  // (A skipped describe still runs its body: everything that reads the kubeconfig waits for the tests.)
  let p: ReturnType<typeof bound<z.output<typeof kubernetesAccessSchema>>>;
  let rbac: k8s.RbacAuthorizationV1Api;
  let authz: k8s.AuthorizationV1Api;
  beforeAll(() => {
    p = bound(
      new KubernetesProvider({ kubeconfig: env.JIT_LIVE_K8S_KUBECONFIG!, context: env.JIT_LIVE_K8S_CONTEXT! }, 'live'),
      kubernetesAccessSchema.parse({ clusterRole, namespace }),
    );
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(env.JIT_LIVE_K8S_KUBECONFIG!);
    kc.setCurrentContext(env.JIT_LIVE_K8S_CONTEXT!);
    rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  });
  const call = () => ({ deadline: new Date(Date.now() + 20_000) });

  /** Whether the API server says `account` may list pods in the namespace; undefined if we may not ask. */
  async function canListPods(): Promise<boolean | undefined> {
    try {
      const review = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: { user: account, resourceAttributes: { namespace, verb: 'list', resource: 'pods' } },
        },
      });
      return review.status?.allowed ?? false;
    } catch {
      return undefined;
    }
  }

  it('check, bind, read it back (and ask the API server), unbind', async () => {
    expect(await p.check()).toEqual([]);
    const subject: GrantSubject = {
      requestId: `rlive${randomBytes(3).toString('hex')}`,
      resourceId: 'live',
      user: { slackId: 'ULIVE', account },
      reason: 'jit-access live test',
      expiresAt: new Date(Date.now() + 15 * 60_000),
    };
    expect(await p.holds(subject, call())).toBe(false);
    const before = await canListPods();
    const { details } = await p.grant(subject, call());
    try {
      const b = await rbac.readNamespacedRoleBinding({ name: bindingName(subject.requestId), namespace });
      expect(b.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('jit-access');
      expect(b.subjects).toEqual([{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: account }]);
      if (before !== undefined && clusterRole === 'view') expect(await canListPods()).toBe(true);
    } finally {
      await p.revoke(subject, { ...call(), details });
    }
    await expect(rbac.readNamespacedRoleBinding({ name: bindingName(subject.requestId), namespace })).rejects.toMatchObject({ code: 404 });
    if (before === false) expect(await canListPods()).toBe(false);
  });
});
