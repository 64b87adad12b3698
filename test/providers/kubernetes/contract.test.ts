import type { GrantSubject } from '../../../src/providers/provider';
import type { FakeKubernetes } from '../../fakes/kubernetes';
import { describeWithOpenssl } from '../../fakes/tls-certificates';
import { describeProviderContract } from '../contract';
import { BOT_TOKEN, startFakeCluster } from './kube-fixture';

/** The kubernetes provider against the local fake API server (test/fakes/kubernetes.ts), with the README's RBAC. */
let fake: FakeKubernetes;
let kubeconfig: string;
let n = 0;

describeProviderContract(
  {
    type: 'kubernetes',
    secretKeys: [],
    // The bot's credentials live in the kubeconfig, not in the policy.
    credentials: () => [BOT_TOKEN],
    setUp: async () => {
      ({ fake, kubeconfig } = await startFakeCluster());
    },
    tearDown: () => fake.stop(),
    target: () => ({ kubeconfig }),
    access: () => ({ clusterRole: 'view', namespace: 'payments' }),
    hangingTarget: (port) => ({ kubeconfig, server: `https://127.0.0.1:${port}` }),
    newAccount: async () => `contract-${++n}@example.com`,
    // Kubernetes has no user objects: what it refuses at filing is a name of its own.
    unknownAccount: () => 'system:kube-scheduler',
    hasAccess: async (subject: GrantSubject) => fake.grants('payments', 'view', { kind: 'User', name: subject.user.account! }),
    expiryOf: async (_subject, details) => {
      const at = fake.binding('payments', details?.binding ?? '')?.metadata.annotations?.['jit-access.io/expires-at'];
      return at ? new Date(at) : undefined;
    },
    giveStanding: async (account) =>
      void fake.putBinding({
        kind: 'RoleBinding',
        name: `team-view-${++n}`,
        namespace: 'payments',
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: account }],
      }),
    failGrants: {
      permanent: true,
      // The ClusterRole is gone: binding to it would give nothing.
      arrange: async () => {
        fake.deleteClusterRole('view');
        return async () => fake.addClusterRole('view');
      },
    },
  },
  describeWithOpenssl,
);
