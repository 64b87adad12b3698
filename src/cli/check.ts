import { existsSync } from 'node:fs';
import { otherArgument, parseOrShowUsage, UsageError } from './usage';
import { parseDuration } from '../domain/duration';
import { loadPolicyFile, PolicyError } from '../policy/load';
import type { Policy } from '../policy/policy';
import { messageOf, withinDeadline } from '../providers/deadline';
import { ProviderRegistry } from '../providers/registry';
import { scrubSecrets } from '../providers/secrets';
import { oncallProblems } from '../oncall/oncall';
import { EXPLAIN_USAGE, runExplain } from './explain';

/**
 * `npm run check -- [--timeout 5s]`: validates the policy (JIT_POLICY_FILE, with the loader and
 * messages of start-up), then probes every resource's target with the bot's own credentials, all at
 * once, each under its own deadline: reachable, allowed to grant and revoke, the role / group /
 * permission set exists (and the on-call sources the rules read answer). One line per problem, naming the resource and its target; exit 1 on any.
 * Nothing is granted: each provider's check() only reads, or makes changes that change nothing
 * (see the README's provider sections).
 *
 * `--explain` (policy rules for a sample request) belongs to src/cli/explain.ts; this file only
 * routes to it, so both share the one `npm run check` entry point.
 */

export const USAGE = ['usage: npm run check -- [--timeout 5s]', EXPLAIN_USAGE.replace('usage:', '      ')].join('\n');

/** Each probe's deadline unless --timeout says otherwise; 20 probes run at once, so the whole check fits in it. */
export const DEFAULT_PROBE_TIMEOUT_MS = 5_000;
/** Past its deadline a probe is given up on, even if its provider ignores the deadline. */
const GRACE_MS = 500;
/** How long closing the connections may take before the process exits anyway. */
const CLOSE_TIMEOUT_MS = 1_000;

export interface CheckArgs {
  timeoutMs: number;
}

export function parseArgs(argv: string[]): CheckArgs {
  let timeoutMs = DEFAULT_PROBE_TIMEOUT_MS;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--timeout': {
        const value = argv[++i];
        if (value === undefined || value.startsWith('--')) throw new UsageError('--timeout needs a duration, such as 5s');
        try {
          timeoutMs = parseDuration(value);
        } catch {
          throw new UsageError(`--timeout: expected a duration such as 5s or 1m, got "${value}"`);
        }
        if (timeoutMs <= 0 || timeoutMs > 120_000) throw new UsageError('--timeout: expected at most 2m');
        break;
      }
      default:
        otherArgument(flag);
    }
  }
  return { timeoutMs };
}

export interface CheckDeps {
  env: NodeJS.ProcessEnv;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  /** `--explain`: src/cli/explain.ts's runExplain, wired in by the entry point below (tests pass their own). */
  explain?: (argv: string[]) => Promise<number>;
}

export interface CheckReport {
  /** One line per problem, in policy order. */
  problems: string[];
  resources: number;
  targets: number;
  elapsedMs: number;
}

/** `resources[2] orders-db (target main-pg): ` + the problem without the provider's own label. */
export function problemLine(policy: Policy, index: number, problem: string): string {
  const resource = policy.resources[index]!;
  const { type, target } = resource.provider;
  const where = `resources[${index}] ${resource.id} (target ${target})`;
  // Providers label their texts for logs ("postgres target main-pg: …"); here the line names it already.
  const label = `${type} target ${target}`;
  let text = problem;
  if (text.startsWith(`${label}: `)) text = text.slice(label.length + 2);
  else if (text.startsWith(`${label}, `)) text = text.slice(label.length + 2);
  return `${where}: ${text}`;
}

/** Probes every resource at once, each under `timeoutMs`; closes the providers before returning. */
export async function checkPolicy(policy: Policy, timeoutMs: number): Promise<CheckReport> {
  const started = Date.now();
  let registry: ProviderRegistry;
  try {
    registry = new ProviderRegistry(policy);
  } catch (err) {
    return {
      problems: [`providers: ${scrubSecrets(messageOf(err), policy.secrets)}`],
      resources: policy.resources.length,
      targets: Object.keys(policy.targets).length,
      elapsedMs: Date.now() - started,
    };
  }
  try {
    // The on-call sources the rules read (PagerDuty, Opsgenie) are probed beside the targets.
    const oncall = oncallProblems(policy.oncall, { timeoutMs }).then(
      (problems) => problems.map((p) => scrubSecrets(p, policy.secrets)),
      (err: unknown) => [`oncall: could not check: ${scrubSecrets(messageOf(err), policy.secrets)}`],
    );
    const found = await Promise.all(
      policy.resources.map(async (resource, index) => {
        const deadline = new Date(Date.now() + timeoutMs);
        try {
          const provider = registry.forResource(resource.id);
          // The provider honours the deadline; the grace bound is for one that does not.
          const problems = await withinDeadline(
            provider.check({ deadline, occasion: 'operator' }),
            new Date(deadline.getTime() + GRACE_MS),
            `check of ${resource.id}`,
          );
          return problems.map((p) => problemLine(policy, index, p));
        } catch (err) {
          return [problemLine(policy, index, `could not check: ${scrubSecrets(messageOf(err), policy.secrets)}`)];
        }
      }),
    );
    return {
      problems: [...(await oncall), ...found.flat()],
      resources: policy.resources.length,
      targets: Object.keys(policy.targets).length,
      elapsedMs: Date.now() - started,
    };
  } finally {
    await withinDeadline(registry.closeAll(), new Date(Date.now() + CLOSE_TIMEOUT_MS), 'closing the providers').catch(() => undefined);
  }
}

export async function runCheck(argv: string[], deps: CheckDeps): Promise<number> {
  const { env, out, err } = deps;
  if (argv.includes('--explain')) {
    if (!deps.explain) {
      err.write('check: --explain is not available in this build\n');
      return 2;
    }
    return deps.explain(argv);
  }
  const args = parseOrShowUsage('check', USAGE, parseArgs, argv, err);
  if (!args) return 2;
  const path = env.JIT_POLICY_FILE || './policy.yml';
  let policy: Policy;
  try {
    policy = loadPolicyFile(path, env);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    for (const problem of e.problems) out.write(`policy error: ${problem}\n`);
    out.write(`check: ${path}: ${e.problems.length} policy ${e.problems.length === 1 ? 'error' : 'errors'}; no target probed\n`);
    return 1;
  }
  for (const warning of policy.warnings) out.write(`policy warning: ${warning}\n`);
  const report = await checkPolicy(policy, args.timeoutMs);
  for (const line of report.problems) out.write(`${line}\n`);
  const scope = `${report.resources} ${report.resources === 1 ? 'resource' : 'resources'} on ${report.targets} ${report.targets === 1 ? 'target' : 'targets'}`;
  const took = `${Math.round(report.elapsedMs)} ms`;
  if (report.problems.length) {
    out.write(`check: ${report.problems.length} ${report.problems.length === 1 ? 'problem' : 'problems'} in ${path} (${scope}, ${took})\n`);
    return 1;
  }
  out.write(`check: OK: ${path} is valid; ${scope} answered, and no probe found a problem (${took})\n`);
  return 0;
}

if (require.main === module) {
  // As at start-up: a .env file next to the process is read; real environment variables win.
  if (existsSync('.env')) process.loadEnvFile('.env');
  const deps: CheckDeps = {
    env: process.env,
    out: process.stdout,
    err: process.stderr,
    explain: (argv) => runExplain(argv, { env: process.env, out: process.stdout, err: process.stderr }),
  };
  runCheck(process.argv.slice(2), deps).then(
    (code) => {
      // Exit even if a driver keeps a socket or timer alive (a target that never answered).
      process.stdout.write('', () => process.exit(code));
    },
    (e: unknown) => {
      process.stderr.write(`check: ${messageOf(e)}\n`);
      process.exit(1);
    },
  );
}
