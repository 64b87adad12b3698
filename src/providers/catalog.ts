import type { AnyProviderDefinition } from './provider';
import { awsIdentityCenterProvider } from './aws-identity-center/aws-identity-center-provider';
import { kubernetesProvider } from './kubernetes/kubernetes-provider';
import { gcpIamProvider } from './gcp-iam/gcp-iam-provider';
import { githubProvider } from './github/github-provider';
import { oktaProvider } from './okta/okta-provider';
import { mysqlProvider } from './mysql/mysql-provider';
import { postgresProvider } from './postgres/postgres-provider';
import { redisProvider } from './redis/redis-provider';
import { webhookProvider } from './webhook/webhook-provider';
import { sshProvider } from './ssh/ssh-provider';
import { ldapProvider } from './ldap/ldap-provider';

/**
 * Every provider jit-access knows. Adding one is its folder (src/providers/<type>/, exporting a
 * defineProvider()) and one line here: the policy schema, its error messages ("expected one of …"),
 * log redaction and the registry are all built from this list.
 */
export const PROVIDERS: readonly AnyProviderDefinition[] = [
  webhookProvider,
  postgresProvider,
  mysqlProvider,
  redisProvider,
  sshProvider,
  ldapProvider,
  awsIdentityCenterProvider,
  kubernetesProvider,
  gcpIamProvider,
  githubProvider,
  oktaProvider,
];

export const PROVIDER_TYPES: readonly string[] = PROVIDERS.map((p) => p.type);

export function providerDefinition(type: string): AnyProviderDefinition | undefined {
  return PROVIDERS.find((p) => p.type === type);
}

/** `"webhook" or "postgres"`, `"a", "b" or "c"`: for messages that name every type. */
export function typeList(types: readonly string[] = PROVIDER_TYPES): string {
  const quoted = types.map((t) => `"${t}"`);
  return quoted.length <= 1 ? (quoted[0] ?? '') : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}
