import { formatDuration } from '../domain/duration';
import type { Resource } from './policy';
import { celInput, evaluateRule, DEFAULT_RULE_BUDGET_MS, RequesterFact, RuleFacts, RuleRequest, CompiledRule } from './rules';

/**
 * The one place that decides how a request, an extension or a break-glass request is approved
 * (PRODUCT.md section 3.2): the resource's rules in order, the first that matches decides; none:
 * the resource's own settings. A rule that cannot be evaluated never auto-approves.
 */

/** Facts about the requester, each read only when a rule needs it; a throw means it cannot be had. */
export interface FactSource {
  email(): Promise<string | undefined>;
  /**
   * The policy-named user groups the requester is in; with `only`, just those of `only` (the
   * rules can observe no other group's membership, so Slack need not be asked about them).
   */
  usergroups(only?: readonly string[]): Promise<string[]>;
  oncall(): Promise<string[]>;
  activeGrants(): Promise<number>;
}

type DecisionAction = 'auto_approve' | 'approval' | 'deny' | 'break_glass';

export interface Decision {
  action: DecisionAction;
  /** Approvals needed: 0 unless `action` is `approval`. */
  requiredApprovals: number;
  /** The rule that decided; absent when the resource's own settings did. */
  rule?: string;
  /** Why, in a sentence; for `deny`, the rule's message to the requester. */
  reason: string;
  /** The values the evaluated rules read (`requester.oncall`, `request.duration`, `now`), for the audit log. */
  facts: Record<string, unknown>;
  /** A rule that could not be evaluated (a fact that could not be had, a runtime error, the time budget). */
  error?: string;
}

export interface DecideOptions {
  now: Date;
  /** Wall-clock budget of each rule's evaluation. */
  budgetMs?: number;
}

/** What the resource's own settings say, when no rule decides. */
function resourceSettings(resource: Resource, request: RuleRequest): Pick<Decision, 'action' | 'requiredApprovals' | 'reason'> {
  const required = resource.autoApprove ? 0 : request.extension ? resource.extensionApprovals : resource.requiredApprovals;
  if (required === 0)
    return {
      action: 'auto_approve',
      requiredApprovals: 0,
      reason:
        request.extension && !resource.autoApprove ? 'extensions of this resource need no approval' : 'the resource is set to autoApprove',
    };
  return { action: 'approval', requiredApprovals: required, reason: 'no rule matched: the resource’s own approval settings apply' };
}

/** Normal approval when a rule could not be evaluated: never none. */
function failClosed(resource: Resource, request: RuleRequest): number {
  if (request.extension && resource.extensionApprovals > 0 && !resource.autoApprove) return resource.extensionApprovals;
  return Math.max(1, resource.requiredApprovals);
}

function factValue(path: string, request: RuleRequest, facts: RuleFacts, now: Date): unknown {
  switch (path) {
    case 'requester.id':
      return request.requesterId;
    case 'requester.email':
      return facts.email ?? '';
    case 'requester.usergroups':
      return facts.usergroups ?? [];
    case 'requester.oncall':
      return facts.oncall ?? [];
    case 'requester.activeGrants':
      return facts.activeGrants ?? 0;
    case 'request.resource':
      return request.resourceId;
    case 'request.duration':
      return formatDuration(request.durationMs);
    case 'request.reason':
      return request.reason;
    case 'request.ticket':
      return request.ticket;
    case 'request.breakGlass':
      return request.breakGlass;
    case 'request.extension':
      return request.extension;
    case 'now':
      return now.toISOString();
    default:
      return undefined;
  }
}

const testedGroups = new WeakMap<readonly CompiledRule[], { groups: string[] | undefined }>();

/** The groups the resource's rules can observe, or undefined for every group the policy names. */
function groupsTested(resource: Resource): string[] | undefined {
  const known = testedGroups.get(resource.rules);
  if (known) return known.groups;
  const groups = new Set<string>();
  let all = false;
  for (const rule of resource.rules) {
    if (!rule.needs.has('usergroups')) continue;
    if (rule.usergroupsTested === 'all') all = true;
    else rule.usergroupsTested.forEach((g) => groups.add(g));
  }
  const found = { groups: all ? undefined : [...groups] };
  testedGroups.set(resource.rules, found);
  return found.groups;
}

async function gather(rule: CompiledRule, resource: Resource, source: FactSource, facts: RuleFacts): Promise<void> {
  for (const need of rule.needs) {
    if (facts[need] !== undefined) continue;
    try {
      (facts as Record<RequesterFact, unknown>)[need] =
        need === 'usergroups' ? await source.usergroups(groupsTested(resource)) : await READERS[need](source);
    } catch (err) {
      throw new FactError(`requester.${need} could not be read: ${(err as Error).message ?? String(err)}`);
    }
  }
}

const READERS: Record<RequesterFact, (s: FactSource) => Promise<unknown>> = {
  email: async (s) => (await s.email()) ?? '',
  usergroups: (s) => s.usergroups(),
  oncall: (s) => s.oncall(),
  activeGrants: (s) => s.activeGrants(),
};

class FactError extends Error {}

export async function decide(resource: Resource, request: RuleRequest, source: FactSource, options: DecideOptions): Promise<Decision> {
  const facts: RuleFacts = {};
  const used: Record<string, unknown> = {};
  const budgetMs = options.budgetMs ?? DEFAULT_RULE_BUDGET_MS;
  const record = (rule: CompiledRule) => rule.reads.forEach((path) => (used[path] = factValue(path, request, facts, options.now)));
  const breakGlass = (rule?: string, error?: string): Decision => ({
    action: 'break_glass',
    requiredApprovals: 0,
    ...(rule ? { rule } : {}),
    reason: 'break-glass access, granted at once and reviewed after the fact',
    facts: used,
    ...(error ? { error } : {}),
  });
  // Once a rule could not be evaluated nothing auto-approves: later rules may still deny or ask
  // for more approvals than the resource's own, never for fewer.
  let error: string | undefined;
  for (const rule of resource.rules) {
    let matched: boolean;
    try {
      await gather(rule, resource, source, facts);
      matched = evaluateRule(rule, celInput(request, facts, options.now), budgetMs);
    } catch (err) {
      record(rule);
      error ??= `rule "${rule.name}" could not be evaluated: ${(err as Error).message}`;
      continue;
    }
    record(rule);
    if (!matched) continue;
    const outcome = rule.outcome;
    const withError = error ? { error } : {};
    if ('deny' in outcome)
      return { action: 'deny', requiredApprovals: 0, rule: rule.name, reason: outcome.deny, facts: used, ...withError };
    if (request.breakGlass) return breakGlass(rule.name, error);
    if ('autoApprove' in outcome) {
      if (error) continue;
      return { action: 'auto_approve', requiredApprovals: 0, rule: rule.name, reason: `auto-approved by rule "${rule.name}"`, facts: used };
    }
    const n = error ? Math.max(outcome.requiredApprovals, failClosed(resource, request)) : outcome.requiredApprovals;
    return {
      action: 'approval',
      requiredApprovals: n,
      rule: rule.name,
      reason: `rule "${rule.name}" asks for ${n} approval${n === 1 ? '' : 's'}`,
      facts: used,
      ...withError,
    };
  }
  if (request.breakGlass) return breakGlass(undefined, error);
  if (error) {
    const n = failClosed(resource, request);
    return { action: 'approval', requiredApprovals: n, reason: `${error}; the request needs normal approval`, facts: used, error };
  }
  return { ...resourceSettings(resource, request), facts: used };
}
