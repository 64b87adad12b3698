import { FakeKubernetes } from '../../fakes/kubernetes';
import { BOT_USER, readmeRbacRules } from './readme-rbac';

/**
 * A fake cluster for kubernetes provider tests: HTTPS, namespaces `payments` and `default`, the
 * ClusterRoles view/edit/admin, and a kubeconfig whose token is the bot's ServiceAccount with
 * exactly the README's RBAC.
 */
export const BOT_TOKEN = 'kube-bot-token-0123456789abcdef';

export async function startFakeCluster(): Promise<{ fake: FakeKubernetes; kubeconfig: string }> {
  const fake = await FakeKubernetes.start({ namespaces: ['payments', 'default'] });
  fake.addToken(BOT_TOKEN, { user: BOT_USER, rules: readmeRbacRules() });
  return { fake, kubeconfig: fake.writeKubeconfig([{ name: 'fake', token: BOT_TOKEN }]) };
}
