/*
 * The README's least-privilege ACL user for the redis provider: used by the tests and the
 * benchmark, so what they measure is what the README tells operators. (No jest here: bench/ imports it too.)
 */

/** The README's recipe: the ACL commands the provider sends, and ROLE and ACL DRYRUN for check(); no keys, no other commands. */
export function adminRules(password: string): string[] {
  return ['reset', 'on', `>${password}`, '+acl|setuser', '+acl|deluser', '+acl|save', '+role', '+acl|dryrun'];
}
