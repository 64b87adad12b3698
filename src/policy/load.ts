import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { policyFileSchema, PolicyFile } from './schema';
import type { Policy, Resource } from './policy';
import { parseDuration } from '../domain/duration';
import { accountRuleOf, checkIdentities } from './identities';
import { resolveProviders, ResolvedProviders } from './targets';
import { feasibilityProblems } from './feasibility';
import { compileRules } from './rules';

export class PolicyError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid policy:\n${problems.join('\n')}`);
    this.name = 'PolicyError';
  }
}

/** Built-in limits for keys that neither a resource nor `defaults` sets. */
const BUILT_IN = {
  minDuration: parseDuration('5m'),
  maxDuration: parseDuration('4h'),
  defaultDuration: parseDuration('1h'),
  pendingTimeout: parseDuration('30m'),
  remindAfter: parseDuration('10m'),
  breakGlassMaxDuration: parseDuration('1h'),
  requiredApprovals: 1,
};

/** `resources[1].approvers.users[0]` */
function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(policy)';
}

/** Replaces `${VAR}` in every string from the environment; an unset variable is an error naming the path. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: PropertyKey[], problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
      const found = env[name];
      if (found === undefined || found === '') {
        problems.push(`${formatPath(path)}: environment variable ${name} is not set`);
        return '';
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, [...path, k], problems)]));
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined) {
    return `required (expected ${issue.expected})`;
  }
  return issue.message;
}

function resolve(file: PolicyFile, providers: ResolvedProviders, problems: string[]): Policy {
  const seen = new Set<string>();
  const resources: Resource[] = file.resources.map((r, i) => {
    const at = `resources[${i}]`;
    if (seen.has(r.id)) problems.push(`${at}.id: duplicate resource id "${r.id}"`);
    seen.add(r.id);
    const pick = <K extends keyof typeof BUILT_IN>(key: K): number => r[key] ?? file.defaults[key] ?? BUILT_IN[key];
    const minDuration = pick('minDuration');
    const maxDuration = pick('maxDuration');
    const requiredApprovals = pick('requiredApprovals');
    // A default outside [min, max] is clamped rather than refused when it only comes from built-ins.
    const explicitDefault = r.defaultDuration ?? file.defaults.defaultDuration;
    const defaultDuration = explicitDefault ?? Math.min(Math.max(BUILT_IN.defaultDuration, minDuration), maxDuration);
    const maxTotalDuration = r.maxTotalDuration ?? file.defaults.maxTotalDuration ?? 2 * maxDuration;
    if (minDuration > maxDuration) problems.push(`${at}.minDuration: must not be longer than maxDuration`);
    if (explicitDefault !== undefined && (explicitDefault < minDuration || explicitDefault > maxDuration)) {
      problems.push(`${at}.defaultDuration: must be between minDuration and maxDuration`);
    }
    if (maxTotalDuration < maxDuration) problems.push(`${at}.maxTotalDuration: must be at least maxDuration`);
    const approverCount = r.approvers.users.length;
    if (!r.autoApprove && approverCount === 0 && r.approvers.usergroups.length === 0) {
      problems.push(`${at}.approvers: list at least one user or usergroup (or set autoApprove: true)`);
    } else if (!r.autoApprove && r.approvers.usergroups.length === 0 && requiredApprovals > approverCount) {
      problems.push(
        `${at}.requiredApprovals: needs ${requiredApprovals} approvals but only ${approverCount} approver${approverCount === 1 ? ' is' : 's are'} listed`,
      );
    }
    return {
      id: r.id,
      name: r.name,
      description: r.description,
      approvers: r.approvers,
      requesters: r.requesters,
      approvalChannel: r.approvalChannel ?? file.approvalChannel,
      autoApprove: r.autoApprove,
      breakGlass: r.breakGlass,
      minDuration,
      maxDuration,
      defaultDuration,
      pendingTimeout: pick('pendingTimeout'),
      remindAfter: pick('remindAfter'),
      maxTotalDuration,
      breakGlassMaxDuration: pick('breakGlassMaxDuration'),
      requiredApprovals,
      extensionApprovals: r.extension?.requiredApprovals ?? requiredApprovals,
      rules: compileRules(r.rules, at, r.approvers, problems, file.oncall !== undefined),
      // Only read once every problem is known to be absent (parsePolicy throws otherwise).
      provider: providers.resources[i]!,
    };
  });
  const policy: Policy = {
    approvalChannel: file.approvalChannel,
    admins: file.admins,
    emailDomains: [...new Set(file.emailDomains ?? [])],
    identities: file.identities ?? {},
    targets: providers.targets,
    resources,
    ...(file.oncall ? { oncall: file.oncall } : {}),
    ...(file.maxActiveGrantsPerUser !== undefined ? { maxActiveGrantsPerUser: file.maxActiveGrantsPerUser } : {}),
    namedUsergroups: namedUsergroups(resources),
    secrets: [...new Set([...providers.secrets, ...oncallSecrets(file)])],
    warnings: [...providers.warnings],
  };
  checkIdentities(policy, (path, message) => problems.push(`${formatPath(path)}: ${message}`));
  if (Object.keys(policy.identities).length === 0 && policy.emailDomains.length === 0) {
    const needing = resources.filter((r) => r.provider && needsAccount(r)).map((r) => r.id);
    policy.warnings.push(
      'no account can be derived: the policy has neither identities nor emailDomains, so ' +
        (needing.length
          ? `every request for ${needing.join(', ')} will be refused until one of them is set`
          : 'providers get no account (webhooks send the Slack ID and e-mail only)'),
    );
  }
  return policy;
}

function namedUsergroups(resources: Resource[]): string[] {
  const named = new Set<string>();
  for (const r of resources) {
    r.approvers.usergroups.forEach((g) => named.add(g));
    r.requesters?.usergroups.forEach((g) => named.add(g));
    r.rules.forEach((rule) => rule.usergroupLiterals.forEach((g) => named.add(g)));
  }
  return [...named];
}

function oncallSecrets(file: PolicyFile): string[] {
  return [file.oncall?.pagerduty?.token, file.oncall?.opsgenie?.apiKey].filter((s): s is string => !!s);
}

function needsAccount(resource: Resource): boolean {
  return accountRuleOf(resource.provider).need === 'required';
}

/** Parses, interpolates, validates and resolves policy text; throws PolicyError with one line per problem. */
export function parsePolicy(text: string, env: NodeJS.ProcessEnv = process.env, source = 'policy'): Policy {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : '';
    throw new PolicyError([`${source}${where}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const problems: string[] = [];
  const interpolated = interpolate(raw ?? {}, env, [], problems);
  // A value emptied by an unset ${VAR} is already reported; its schema complaint would only repeat it.
  const reported = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))));
  const report = (path: PropertyKey[], message: string) => {
    if (!reported.has(formatPath(path))) problems.push(`${formatPath(path)}: ${message}`);
  };
  const parsed = policyFileSchema.safeParse(interpolated);
  // Provider settings are checked against their own type's schema, targets merged in; their
  // problems are reported together with the schema's.
  const providers = resolveProviders(interpolated, {
    problem: report,
    issues: (base, issues) => issues.forEach((issue) => report([...base, ...issue.path], describeIssue(issue))),
  });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) report(issue.path, describeIssue(issue));
    throw new PolicyError(problems);
  }
  if (problems.length) throw new PolicyError(problems);
  const policy = resolve(parsed.data, providers, problems);
  if (!problems.length) problems.push(...feasibilityProblems(policy));
  if (problems.length) throw new PolicyError(problems);
  return policy;
}

export function loadPolicyFile(path: string, env: NodeJS.ProcessEnv = process.env): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyError([`JIT_POLICY_FILE: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parsePolicy(text, env, path);
}
