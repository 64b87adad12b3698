import path from 'node:path';
import { loadPolicyFile } from '../../src/policy/load';
import type { Policy } from '../../src/policy/policy';

/** The shipped policy.example.yml, and values for every ${VAR} it references (as .env.example lists them). */
const EXAMPLE_POLICY_FILE = path.join(__dirname, '../../policy.example.yml');

export const EXAMPLE_POLICY_ENV = {
  PROD_PG_ADMIN_URL: 'postgres://jit_admin:pw@db.internal/orders',
  DEPLOY_HOOK_SECRET: 'a-long-shared-secret-value',
  GITHUB_TOKEN: 'github_pat_example_0123',
  OKTA_API_TOKEN: 'okta-example-token-0123',
  ORDERS_MYSQL_ADMIN_URL: 'mysql://jit_admin:pw@mysql.internal:3306/jit_access',
  SESSIONS_REDIS_PRIMARY_URL: 'redis://jit_admin:pw@redis-1.internal:6379',
  SESSIONS_REDIS_REPLICA_URL: 'redis://jit_admin:pw@redis-2.internal:6379',
  LDAP_BIND_PASSWORD: 'a-bind-password',
};

export function loadExamplePolicy(): Policy {
  return loadPolicyFile(EXAMPLE_POLICY_FILE, EXAMPLE_POLICY_ENV);
}
