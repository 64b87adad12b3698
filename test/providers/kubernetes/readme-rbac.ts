import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { FakeRule } from '../../fakes/kubernetes';

/*
 * The RBAC the README tells operators to give the bot, read from the README itself (its
 * "Kubernetes" section's YAML blocks) and turned into the fake API server's rules for the bot's
 * ServiceAccount: every kubernetes test runs with exactly that least privilege, so the README
 * cannot drift from what the provider needs.
 */
const BOT_SERVICE_ACCOUNT = { namespace: 'jit-access', name: 'jit-access' };
export const BOT_USER = `system:serviceaccount:${BOT_SERVICE_ACCOUNT.namespace}:${BOT_SERVICE_ACCOUNT.name}`;

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>;
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

/** The YAML blocks of the README's Kubernetes section that hold RBAC manifests. */
function readmeRbacManifests(): Manifest[] {
  const readme = readFileSync(path.join(__dirname, '../../../README.md'), 'utf8');
  const start = readme.indexOf('\n### Kubernetes');
  if (start < 0) throw new Error('README has no "### Kubernetes" section');
  const end = readme.indexOf('\n### ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => /kind: (Cluster)?Role\b/.test(b));
  if (!blocks.length) throw new Error('README Kubernetes section has no RBAC YAML');
  return blocks.flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as Manifest)).filter(Boolean);
}

/** The bot's rules: each ClusterRole bound to its ServiceAccount, per namespace (RoleBinding) or cluster-wide. */
export function readmeRbacRules(): FakeRule[] {
  const manifests = readmeRbacManifests();
  const roles = new Map(manifests.filter((m) => m.kind === 'ClusterRole').map((m) => [m.metadata.name, m.rules ?? []]));
  const boundToBot = (m: Manifest) =>
    (m.subjects ?? []).some(
      (s) => s.kind === 'ServiceAccount' && s.name === BOT_SERVICE_ACCOUNT.name && s.namespace === BOT_SERVICE_ACCOUNT.namespace,
    );
  return manifests
    .filter((m) => (m.kind === 'RoleBinding' || m.kind === 'ClusterRoleBinding') && m.roleRef?.kind === 'ClusterRole' && boundToBot(m))
    .flatMap((binding) =>
      (roles.get(binding.roleRef!.name) ?? []).map((rule) => ({
        verbs: rule.verbs,
        apiGroups: rule.apiGroups,
        resources: rule.resources,
        ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}),
        ...(binding.kind === 'RoleBinding' ? { namespaces: [binding.metadata.namespace!] } : {}),
      })),
    );
}
