import { formatDuration } from '../domain/duration';
import type { CompiledRule } from './rules';

/**
 * One configured connection of a provider type: an entry of `targets:`, or a resource's inline
 * `provider:` (its own target, named after the resource). One provider instance (one pool) each.
 */
export interface Target {
  name: string;
  type: string;
  /** The provider's target settings, validated against its schema (defaults applied). */
  settings: Record<string, unknown>;
  /** True for a resource's inline `provider:`. */
  inline: boolean;
}

/** Where a resource's access is granted: a target and the resource's own settings for it. */
export interface ResourceProviderConfig {
  target: string;
  type: string;
  /** The provider's access settings (role, mode, …), validated against its schema. */
  access: Record<string, unknown>;
}

/** `identities` values: one account everywhere, or per target name / provider type / `default`. */
export type IdentityEntry = string | Record<string, string>;

/** A resource with every limit filled in from the policy defaults and the built-in ones. */
export interface Resource {
  id: string;
  name: string;
  description?: string;
  approvers: { users: string[]; usergroups: string[] };
  requesters?: { users: string[]; usergroups: string[] };
  approvalChannel: string;
  autoApprove: boolean;
  breakGlass: boolean;
  minDuration: number;
  maxDuration: number;
  defaultDuration: number;
  pendingTimeout: number;
  remindAfter: number;
  maxTotalDuration: number;
  breakGlassMaxDuration: number;
  requiredApprovals: number;
  extensionApprovals: number;
  /** Approval rules, compiled, in order: the first that matches decides (src/policy/decide.ts). */
  rules: CompiledRule[];
  provider: ResourceProviderConfig;
}

/** Where rules read who is on call (section 3.2); tokens are secrets. */
export interface OncallConfig {
  pagerduty?: { token: string; apiUrl: string };
  opsgenie?: { apiKey: string; apiUrl: string; schedules: string[] };
}

export interface Policy {
  approvalChannel: string;
  admins: string[];
  /** Domains whose Slack e-mails may yield an account (lower case); empty: accounts come from identities only. */
  emailDomains: string[];
  identities: Record<string, IdentityEntry>;
  targets: Record<string, Target>;
  resources: Resource[];
  oncall?: OncallConfig;
  /** Filing is refused while the requester has this many active grants. */
  maxActiveGrantsPerUser?: number;
  /** The Slack user groups the policy names (approvers, requesters, literals in rules): `requester.usergroups` reads only these. */
  namedUsergroups: string[];
  /** Every secret value in the provider settings (and its URL parts), for log and error scrubbing. */
  secrets: string[];
  /** Problems worth a start-up warning that do not stop it (no way to derive accounts, unused targets). */
  warnings: string[];
}

/** Resolves Slack user groups to member IDs; implemented with `usergroups.users.list`. */
export interface Directory {
  usergroupMembers(usergroupId: string): Promise<string[]>;
}

export function findResource(policy: Policy, resourceId: string): Resource | undefined {
  return policy.resources.find((r) => r.id === resourceId);
}

async function isListed(people: { users: string[]; usergroups: string[] }, userId: string, directory: Directory): Promise<boolean> {
  if (people.users.includes(userId)) return true;
  for (const group of people.usergroups) {
    if ((await directory.usergroupMembers(group)).includes(userId)) return true;
  }
  return false;
}

export async function mayRequest(resource: Resource, userId: string, directory: Directory): Promise<boolean> {
  return resource.requesters ? isListed(resource.requesters, userId, directory) : true;
}

/** An approver of the resource, and never for their own request. */
export async function mayApprove(resource: Resource, userId: string, requesterId: string, directory: Directory): Promise<boolean> {
  if (userId === requesterId) return false;
  return isListed(resource.approvers, userId, directory);
}

export async function isApprover(resource: Resource, userId: string, directory: Directory): Promise<boolean> {
  return isListed(resource.approvers, userId, directory);
}

export function isAdmin(policy: Policy, userId: string): boolean {
  return policy.admins.includes(userId);
}

/** The requester may end their own grant; policy admins may end anyone's. */
export function mayRevoke(policy: Policy, request: { requesterId: string }, userId: string): boolean {
  return request.requesterId === userId || isAdmin(policy, userId);
}

export function requiredApprovals(resource: Resource): number {
  return resource.autoApprove ? 0 : resource.requiredApprovals;
}

/** Why a duration is outside the resource's limits, with how to fix it; undefined when it is fine. */
export function durationProblem(resource: Resource, ms: number): string | undefined {
  if (ms < resource.minDuration || ms > resource.maxDuration) {
    return `${resource.id} can be requested for ${formatDuration(resource.minDuration)} to ${formatDuration(resource.maxDuration)}; you asked for ${formatDuration(ms)}.`;
  }
  return undefined;
}
