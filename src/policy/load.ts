import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { policyFileSchema, PolicyFile } from './schema';
import type { Policy, Resource } from './policy';
import { parseDuration } from '../domain/duration';
import { feasibilityProblems } from './feasibility';

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
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
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

function resolve(file: PolicyFile, problems: string[]): Policy {
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
      provider: r.provider,
    };
  });
  return { approvalChannel: file.approvalChannel, admins: file.admins, identities: file.identities, resources };
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
  const parsed = policyFileSchema.safeParse(interpolated);
  if (!parsed.success) {
    // A value emptied by an unset ${VAR} is already reported; its schema complaint would only repeat it.
    const reported = new Set(problems.map((p) => p.slice(0, p.indexOf(':'))));
    problems.push(
      ...parsed.error.issues
        .filter((issue) => !reported.has(formatPath(issue.path)))
        .map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue)}`),
    );
    throw new PolicyError(problems);
  }
  const policy = resolve(parsed.data, problems);
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
