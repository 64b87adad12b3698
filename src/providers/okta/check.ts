/** One admin role assignment of the token's user, with the groups it is limited to ([]: every group). */
export interface AdminRole {
  type: string;
  groups: string[];
}

/** Roles whose holders may change any group's members (Okta's standard roles). */
const EVERY_GROUP = new Set(['SUPER_ADMIN', 'ORG_ADMIN']);
/** Standard roles that may change the members of the groups they target (all groups when untargeted). */
const TARGETED = new Set(['GROUP_MEMBERSHIP_ADMIN', 'USER_ADMIN']);

/**
 * check()'s verdict on the token's admin roles for one group: undefined when they may change its
 * members, or cannot be judged (a custom role's permissions are not read); else why not.
 */
export function rolesProblem(roles: AdminRole[], groupId: string): string | undefined {
  const may = roles.some((r) => EVERY_GROUP.has(r.type) || (TARGETED.has(r.type) && (r.groups.length === 0 || r.groups.includes(groupId))));
  if (may || roles.some((r) => r.type === 'CUSTOM')) return undefined;
  const held = roles.length ? roles.map((r) => (TARGETED.has(r.type) ? `${r.type} of other groups` : r.type)).join(', ') : 'no admin role';
  return `the token's user has ${held}, which cannot change this group's members: give it Group Membership Admin for the group (see the README)`;
}
