import { parsePolicy, PolicyError } from '../../src/policy/load';

/** The problems a policy is refused with (one per line), or a test failure if it loads. */
export function policyProblems(text: string, env: NodeJS.ProcessEnv): string[] {
  try {
    parsePolicy(text, env);
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  throw new Error('expected the policy to be refused');
}

/** The problems a policy is refused with, or none when it loads. */
export function problemsOrNone(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parsePolicy(text, env);
    return [];
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
}

/** Values for the `${VAR}`s of policy.example.yml. */
export const EXAMPLE_POLICY_ENV = {
  PROD_PG_ADMIN_URL: 'postgres://jit_admin:pw@db.internal/orders',
  DEPLOY_HOOK_SECRET: 'a-long-shared-secret-value',
  ORDERS_MYSQL_ADMIN_URL: 'mysql://jit_admin:pw@mysql.internal:3306/jit_access',
  SESSIONS_REDIS_PRIMARY_URL: 'redis://jit_admin:pw@redis-1.internal:6379',
  SESSIONS_REDIS_REPLICA_URL: 'redis://jit_admin:pw@redis-2.internal:6379',
};
