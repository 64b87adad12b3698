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
export { EXAMPLE_POLICY_ENV } from '../support/example-policy';
