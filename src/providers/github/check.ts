import type { GithubAccess } from './config';

/**
 * What the credentials may do, as far as GitHub says: a classic token's scopes come back in every
 * answer's `x-oauth-scopes` header; a GitHub App's installation token comes with its permissions; a
 * fine-grained token shows neither (its first grant is the proof).
 */
export type GithubRights =
  | { kind: 'classic'; scopes: string[] }
  | { kind: 'app'; permissions: Record<string, string | undefined> }
  | { kind: 'fine-grained' };

/**
 * check()'s verdict on those rights for one resource (GitHub's documented requirements): team
 * memberships need the `members` organization permission (write), or a classic token with
 * `admin:org` or `write:org`; repository collaborators need `administration` (write), or `repo`.
 */
export function rightsProblems(rights: GithubRights, access: GithubAccess): string[] {
  const team = access.team !== undefined;
  if (rights.kind === 'classic') {
    const has = (...any: string[]) => any.some((s) => rights.scopes.includes(s));
    const listed = rights.scopes.length ? rights.scopes.join(', ') : 'none';
    if (team && !has('admin:org', 'write:org'))
      return [`the token's scopes (${listed}) include neither admin:org nor write:org, which changing team memberships needs`];
    if (!team && !has('repo')) return [`the token's scopes (${listed}) do not include repo, which managing collaborators needs`];
    return [];
  }
  if (rights.kind === 'app') {
    const [permission, what] = team ? ['members', 'changing team memberships'] : ['administration', 'managing collaborators'];
    const level = rights.permissions[permission!];
    if (level !== 'write' && level !== 'admin')
      return [`the GitHub App's installation has ${permission}: ${level ?? 'none'}; ${what} needs ${permission}: write`];
    return [];
  }
  return [];
}
