import { z } from 'zod';

/** A namespace name: an RFC 1123 label. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A ClusterRole's name: a path segment name (no `/` or `%`, not `.` or `..`), as RBAC objects are named. */
const ROLE_NAME = /^(?!\.{1,2}$)[^/%\s]{1,253}$/;
/** The name the cluster's authenticator produces: printable, no spaces. */
export const SUBJECT_NAME = /^[^\s\u0000-\u001f\u007f]{1,253}$/;

/**
 * Target keys: one cluster, one API client. Credentials come from the kubeconfig (token, client
 * certificate, exec plugin such as `aws eks get-token`) or, without one, the pod's service
 * account; they are never in the policy.
 */
export const kubernetesTargetSchema = z.object({
  /** Path of a kubeconfig file. Default: the in-cluster service account, then `KUBECONFIG`. */
  kubeconfig: z.string().min(1).optional(),
  /** The kubeconfig context to use (default: its current-context). */
  context: z.string().min(1).optional(),
  /** Overrides the API server URL of the context's cluster (a private endpoint, a proxy; tests). */
  server: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
});

/** Each resource's own keys: which ClusterRole, where, to what kind of subject. */
export const kubernetesAccessSchema = z
  .object({
    clusterRole: z.string().regex(ROLE_NAME, 'expected a ClusterRole name'),
    /** A RoleBinding in this namespace; without one, a ClusterRoleBinding (cluster-wide). */
    namespace: z.string().regex(NAMESPACE, 'expected a namespace name: lowercase letters, digits and dashes, at most 63').optional(),
    subjectKind: z.enum(['User', 'Group']).default('User'),
    /** Put before the account, as the cluster's authenticator does (`--oidc-username-prefix`, e.g. `oidc:`). */
    subjectPrefix: z.string().max(64).default(''),
    /** The subject name made from the account, `{account}` standing for it; after the prefix. */
    subjectTemplate: z.string().max(253).default('{account}'),
  })
  .refine((a) => a.subjectTemplate.split('{account}').length === 2, {
    message: 'must contain {account} exactly once',
    path: ['subjectTemplate'],
  })
  .refine((a) => !`${a.subjectPrefix}${a.subjectTemplate}`.startsWith('system:'), {
    message: 'subjects starting with "system:" are reserved for Kubernetes itself',
    path: ['subjectPrefix'],
  });

export type KubernetesTargetConfig = z.output<typeof kubernetesTargetSchema>;
export type KubernetesAccess = z.output<typeof kubernetesAccessSchema>;

/** The subject name the cluster's authenticator gives `account`: the prefix, then the template filled in. */
export function subjectName(access: Pick<KubernetesAccess, 'subjectPrefix' | 'subjectTemplate'>, account: string): string {
  return `${access.subjectPrefix}${access.subjectTemplate.replace('{account}', () => account)}`;
}
