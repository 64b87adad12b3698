import { UserError } from '../domain/errors';
import type { AccessRequest } from '../domain/request';
import { decide, Decision, FactSource } from '../policy/decide';
import type { Resource } from '../policy/policy';
import type { RuleRequest } from '../policy/rules';
import { oncallDirectoryFor } from '../oncall/oncall';
import type { OperationContext } from './ports';

/** States in which a request counts as one of the requester's grants (`requester.activeGrants`). */
const GRANT_STATES: ReadonlyArray<AccessRequest['state']> = ['granting', 'active'];

async function activeGrantsOf(ctx: OperationContext, requesterId: string): Promise<number> {
  return (await ctx.store.openRequestsOf(requesterId)).filter((r) => GRANT_STATES.includes(r.state)).length;
}

/**
 * The facts rules may read about `requesterId`, each fetched when first asked for: Slack for the
 * e-mail and the user groups the policy names (no others), PagerDuty/Opsgenie for on-call, the
 * store for active grants. Slack answers are cached by the directory, on-call ones for 60 s.
 */
function requesterFacts(ctx: OperationContext, requesterId: string): FactSource {
  let email: Promise<string | undefined> | undefined;
  const emailOf = () => (email ??= ctx.directory.emailOf(requesterId));
  return {
    email: emailOf,
    usergroups: async (only) => {
      const groups = only ? ctx.policy.namedUsergroups.filter((g) => only.includes(g)) : ctx.policy.namedUsergroups;
      const member = await Promise.all(groups.map(async (g) => (await ctx.directory.usergroupMembers(g)).includes(requesterId)));
      return groups.filter((_, i) => member[i]);
    },
    oncall: async () => {
      if (!ctx.policy.oncall) return [];
      const address = await emailOf();
      if (!address) throw new Error('the requester has no e-mail in their Slack profile to look up');
      return oncallDirectoryFor(ctx.policy.oncall).oncallOf(address);
    },
    activeGrants: () => activeGrantsOf(ctx, requesterId),
  };
}

/** `{ 'requester.oncall': [...] }` as `{ requester: { oncall: [...] } }`: no dots in stored field names. */
function nested(facts: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, Record<string, unknown> | unknown> = {};
  for (const [path, value] of Object.entries(facts)) {
    const [head, field] = path.split('.', 2) as [string, string | undefined];
    if (field === undefined) out[head] = value;
    else out[head] = { ...((out[head] as Record<string, unknown>) ?? {}), [field]: value };
  }
  return out;
}

/** What the audit event of a filing records about the decision: never a secret (facts are not). */
export function decisionDetails(decision: Decision): Record<string, unknown> {
  return {
    decision: decision.action,
    ...(decision.rule ? { rule: decision.rule } : {}),
    ...(decision.error ? { ruleError: decision.error } : {}),
    ...(Object.keys(decision.facts).length ? { facts: nested(decision.facts) } : {}),
  };
}

/**
 * Runs the resource's rules for a filing (request, extension or break-glass), logs a rule that
 * could not be evaluated, and turns a deny (or a fail-closed fallback with nobody to approve)
 * into the UserError the requester sees. Nothing has been stored when it throws.
 */
export async function decideFiling(ctx: OperationContext, resource: Resource, request: RuleRequest): Promise<Decision> {
  // The form field a refusal is shown on: the request form's resource, the extend form's duration.
  const field = request.extension ? 'duration' : 'resource';
  const decision = await decide(resource, request, requesterFacts(ctx, request.requesterId), { now: ctx.now() });
  const log = ctx.logger.child({ user: request.requesterId, resource: resource.id });
  if (decision.error)
    log.warn(
      { ruleError: decision.error, extension: request.extension },
      'an approval rule could not be evaluated; normal approval applies',
    );
  if (decision.action === 'deny') {
    log.info({ rule: decision.rule, extension: request.extension }, 'refused by an approval rule');
    throw new UserError(`Refused by the rule “${decision.rule}” of ${resource.id}: ${decision.reason} Nothing was filed.`, field);
  }
  const approvers = resource.approvers.users.length + resource.approvers.usergroups.length;
  if (decision.error && decision.action === 'approval' && approvers === 0) {
    throw new UserError(
      `${resource.id} could not check its approval rules right now, and it has no approvers to ask instead, so nothing was filed. Please try again in a minute.`,
      field,
    );
  }
  return decision;
}

/** `maxActiveGrantsPerUser`: refused at filing, before anything is stored. */
export async function requireUnderGrantLimit(ctx: OperationContext, requesterId: string): Promise<void> {
  const max = ctx.policy.maxActiveGrantsPerUser;
  if (max === undefined) return;
  const active = await activeGrantsOf(ctx, requesterId);
  if (active >= max) {
    throw new UserError(
      `You have ${active} active grant${active === 1 ? '' : 's'}, and the policy allows at most ${max} at a time, so nothing was filed. ` +
        'End one you no longer need with `/jit-access revoke <request-id>` (see `/jit-access list`), then request again.',
      'resource',
    );
  }
}
