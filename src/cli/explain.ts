import { WebClient } from '@slack/web-api';
import { MongoClient } from 'mongodb';
import { formatDuration, parseDuration } from '../domain/duration';
import { decide, FactSource } from '../policy/decide';
import { loadPolicyFile, PolicyError } from '../policy/load';
import { findResource, Policy, Resource } from '../policy/policy';
import { celInput, evaluateRule, REQUESTER_FACTS, RequesterFact, RuleFacts, RuleRequest } from '../policy/rules';
import { OncallDirectory } from '../oncall/oncall';
import type { Fetch } from '../oncall/http';
import { scrubSecrets } from '../providers/secrets';

/**
 * `npm run check -- --explain <resource> --user <Slack user ID> [--duration 30m] [--ticket X]
 * [--reason …] [--break-glass] [--extension] [--email a@b] [--active-grants N] [--at <ISO time>]`:
 * evaluates every approval rule of one resource against a sample request, with the facts read as
 * the bot reads them (on-call from PagerDuty/Opsgenie as configured; Slack user groups and the
 * e-mail through the Web API when SLACK_BOT_TOKEN is set; active grants from MONGODB_URI when
 * set), and prints per rule matched / not
 * matched / error, then the decision the bot would take. Nothing is filed, granted or stored.
 *
 * Exit codes: 0 every rule could be evaluated; 1 some rule could not (the bot would fall back
 * to normal approval); 2 usage error or invalid policy.
 */

export const EXPLAIN_USAGE =
  'usage: npm run check -- --explain <resource> --user <Slack user ID> [--duration 30m] [--ticket ID] [--reason TEXT] [--break-glass] [--extension] [--email ADDRESS] [--active-grants N] [--at ISO-TIME]';

export class ExplainUsageError extends Error {}

export interface ExplainArgs {
  resourceId: string;
  userId: string;
  duration?: string;
  ticket: string;
  reason: string;
  breakGlass: boolean;
  extension: boolean;
  email?: string;
  /** From --active-grants; otherwise read from MONGODB_URI when set. */
  activeGrants?: number;
  at?: Date;
}

export function parseExplainArgs(argv: string[]): ExplainArgs {
  const args: Partial<ExplainArgs> & { ticket: string; reason: string; breakGlass: boolean; extension: boolean } = {
    ticket: '',
    reason: 'checking the approval rules',
    breakGlass: false,
    extension: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const need = (): string => {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new ExplainUsageError(`${flag} needs a value`);
      i++;
      return value;
    };
    switch (flag) {
      case '--explain':
        args.resourceId = need();
        break;
      case '--user':
        args.userId = need();
        if (!/^[UW][A-Z0-9]{2,}$/.test(args.userId))
          throw new ExplainUsageError(`--user: "${args.userId}" is not a Slack user ID (such as U0123ABCD)`);
        break;
      case '--duration':
        args.duration = need();
        break;
      case '--ticket':
        args.ticket = need();
        break;
      case '--reason':
        args.reason = need();
        break;
      case '--email':
        args.email = need();
        break;
      case '--active-grants': {
        const n = Number(need());
        if (!Number.isInteger(n) || n < 0) throw new ExplainUsageError('--active-grants: expected a whole number');
        args.activeGrants = n;
        break;
      }
      case '--at': {
        const value = need();
        const t = Date.parse(value);
        if (Number.isNaN(t)) throw new ExplainUsageError(`--at: expected an ISO time such as 2026-01-31T19:00:00Z, got "${value}"`);
        args.at = new Date(t);
        break;
      }
      case '--break-glass':
        args.breakGlass = true;
        break;
      case '--extension':
        args.extension = true;
        break;
      default:
        throw new ExplainUsageError(`unknown argument "${flag}"`);
    }
  }
  if (!args.resourceId) throw new ExplainUsageError('--explain needs the resource ID');
  if (!args.userId) throw new ExplainUsageError('--user is required: whose request to evaluate');
  return args as ExplainArgs;
}

/** How explain reads Slack: the Web API's two calls the bot makes for rules. */
export interface ExplainSlack {
  emailOf(userId: string): Promise<string | undefined>;
  usergroupMembers(usergroupId: string): Promise<string[]>;
}

export interface ExplainDeps {
  env?: NodeJS.ProcessEnv;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
  /** Default: the Web API at SLACK_API_URL with SLACK_BOT_TOKEN, when that is set. */
  slack?: ExplainSlack;
  fetch?: Fetch;
  now?: () => Date;
  /** Default: counted in MONGODB_URI's database as the bot counts them, when that is set. */
  activeGrantsOf?: (userId: string) => Promise<number>;
}

/** The requester's grants being given or active, read from the bot's MongoDB as the bot reads them. */
async function activeGrantsInMongo(uri: string, userId: string): Promise<number> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000 });
  try {
    await client.connect();
    return await client
      .db()
      .collection('requests')
      .countDocuments({ requesterId: userId, state: { $in: ['granting', 'active'] } });
  } finally {
    await client.close().catch(() => undefined);
  }
}

function webApiSlack(env: NodeJS.ProcessEnv): ExplainSlack | undefined {
  const token = env.SLACK_BOT_TOKEN;
  if (!token) return undefined;
  const client = new WebClient(token, { slackApiUrl: env.SLACK_API_URL || undefined, retryConfig: { retries: 1 }, timeout: 10_000 });
  return {
    emailOf: async (user) => (await client.users.info({ user })).user?.profile?.email,
    usergroupMembers: async (usergroup) => (await client.usergroups.users.list({ usergroup })).users ?? [],
  };
}

/** The facts the bot would read, from Slack and the on-call sources, each once. */
function explainFacts(
  policy: Policy,
  args: ExplainArgs,
  slack: ExplainSlack | undefined,
  fetchImpl: Fetch | undefined,
  activeGrantsOf: ((userId: string) => Promise<number>) | undefined,
): FactSource {
  const once = <T>(load: () => Promise<T>): (() => Promise<T>) => {
    let value: Promise<T> | undefined;
    return () => (value ??= load());
  };
  const noSlack = () => Promise.reject(new Error('SLACK_BOT_TOKEN is not set, so Slack cannot be asked'));
  const email = once(async () => {
    if (args.email) return args.email;
    if (!slack) throw new Error('SLACK_BOT_TOKEN is not set, so Slack cannot be asked for the e-mail (give --email)');
    return slack.emailOf(args.userId);
  });
  const oncall = policy.oncall ? new OncallDirectory(policy.oncall, fetchImpl ? { fetch: fetchImpl } : {}) : undefined;
  return {
    email,
    usergroups: once(async () => {
      // Every group the policy names, so the output shows the whole of requester.usergroups.
      if (!slack) return noSlack();
      const member = await Promise.all(policy.namedUsergroups.map(async (g) => (await slack.usergroupMembers(g)).includes(args.userId)));
      return policy.namedUsergroups.filter((_, i) => member[i]);
    }),
    oncall: once(async () => {
      if (!oncall) return [];
      const address = await email();
      if (!address) throw new Error('the user has no e-mail in their Slack profile to look up');
      return oncall.oncallOf(address);
    }),
    activeGrants: once(async () => {
      if (args.activeGrants !== undefined) return args.activeGrants;
      if (!activeGrantsOf) throw new Error('MONGODB_URI is not set, so the active grants cannot be counted (give --active-grants)');
      return activeGrantsOf(args.userId);
    }),
  };
}

const ACTION_TEXT = {
  auto_approve: 'auto-approve',
  approval: 'needs approval',
  deny: 'deny',
  break_glass: 'break-glass: granted at once, reviewed after the fact',
} as const;

function outcomeText(outcome: Resource['rules'][number]['outcome']): string {
  if ('deny' in outcome) return `deny: ${outcome.deny}`;
  if ('autoApprove' in outcome) return 'auto-approve';
  return `requiredApprovals: ${outcome.requiredApprovals}`;
}

export async function runExplain(argv: string[], deps: ExplainDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const out = deps.out ?? process.stdout;
  const err = deps.err ?? process.stderr;
  let args: ExplainArgs;
  try {
    args = parseExplainArgs(argv);
  } catch (e) {
    if (!(e instanceof ExplainUsageError)) throw e;
    err.write(`check --explain: ${e.message}\n${EXPLAIN_USAGE}\n`);
    return 2;
  }
  let policy: Policy;
  try {
    policy = loadPolicyFile(env.JIT_POLICY_FILE || './policy.yml', env);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    for (const p of e.problems) err.write(`${p}\n`);
    return 2;
  }
  const scrub = (text: string) => scrubSecrets(text, policy.secrets);
  const resource = findResource(policy, args.resourceId);
  if (!resource) {
    err.write(
      `check --explain: no resource "${args.resourceId}" in the policy (there are: ${policy.resources.map((r) => r.id).join(', ')})\n`,
    );
    return 2;
  }
  let durationMs: number;
  try {
    durationMs = args.duration ? parseDuration(args.duration) : resource.defaultDuration;
  } catch (e) {
    err.write(`check --explain: --duration: ${(e as Error).message}\n`);
    return 2;
  }
  const now = args.at ?? (deps.now ?? (() => new Date()))();
  const slack = deps.slack ?? webApiSlack(env);
  const activeGrantsOf =
    deps.activeGrantsOf ?? (env.MONGODB_URI ? (user: string) => activeGrantsInMongo(env.MONGODB_URI!, user) : undefined);
  const source = explainFacts(policy, args, slack, deps.fetch, activeGrantsOf);
  const request: RuleRequest = {
    requesterId: args.userId,
    resourceId: resource.id,
    durationMs,
    reason: args.reason,
    ticket: args.ticket,
    breakGlass: args.breakGlass,
    extension: args.extension,
  };

  const lines: string[] = [];
  lines.push(
    `${resource.id}: ${args.extension ? 'an extension' : args.breakGlass ? 'a break-glass request' : 'a request'} by ${args.userId} for ${formatDuration(durationMs)}` +
      `${args.ticket ? `, ticket ${args.ticket}` : ', no ticket'}, at ${now.toISOString()}`,
  );
  if (!slack) lines.push('  (SLACK_BOT_TOKEN is not set: Slack user groups cannot be read, and the e-mail only comes from --email)');
  if (!resource.rules.length) lines.push('  no rules: the resource’s own settings decide');

  // Every fact any rule needs, read once, so each rule's line can say what it saw.
  const needed = new Set<RequesterFact>();
  resource.rules.forEach((r) => r.needs.forEach((n) => needed.add(n)));
  const facts: RuleFacts = {};
  const failed = new Map<RequesterFact, string>();
  // On-call is looked up by e-mail: show which one, so "not on call" can be told from "wrong address".
  if (needed.has('oncall') && !needed.has('email')) {
    const address = await source.email().catch(() => undefined);
    if (address) lines.push(`  (on-call looked up for ${address})`);
  }
  for (const fact of REQUESTER_FACTS.filter((f) => needed.has(f))) {
    try {
      const value = fact === 'email' ? ((await source.email()) ?? '') : await source[fact]();
      (facts as Record<string, unknown>)[fact] = value;
      lines.push(`  requester.${fact} = ${JSON.stringify(value)}`);
    } catch (e) {
      failed.set(fact, (e as Error).message);
      lines.push(`  requester.${fact}: cannot be read: ${(e as Error).message}`);
    }
  }
  if (needed.has('activeGrants') && args.activeGrants !== undefined) lines.push('  (requester.activeGrants is taken from --active-grants)');

  let errors = 0;
  resource.rules.forEach((rule, i) => {
    const head = `  ${i + 1}. "${rule.name}" (${outcomeText(rule.outcome)})`;
    const missing = [...rule.needs].filter((n) => failed.has(n));
    if (missing.length) {
      errors++;
      lines.push(`${head}: error: requester.${missing[0]} could not be read`);
      return;
    }
    try {
      lines.push(`${head}: ${evaluateRule(rule, celInput(request, facts, now)) ? 'matched' : 'not matched'}`);
    } catch (e) {
      errors++;
      lines.push(`${head}: error: ${(e as Error).message}`);
    }
  });

  const decision = await decide(resource, request, source, { now });
  const by = decision.rule
    ? ` by the rule "${decision.rule}"`
    : decision.error
      ? ' (a rule could not be evaluated: fail-closed)'
      : ' by the resource’s own settings';
  const count =
    decision.action === 'approval' ? ` (${decision.requiredApprovals} approval${decision.requiredApprovals === 1 ? '' : 's'})` : '';
  lines.push(`decision: ${ACTION_TEXT[decision.action]}${count}${by}${decision.action === 'deny' ? `: ${decision.reason}` : ''}`);
  out.write(`${lines.map(scrub).join('\n')}\n`);
  return errors ? 1 : 0;
}

if (require.main === module) {
  runExplain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`check --explain: ${(e as Error).message}\n`);
      process.exit(2);
    },
  );
}
