import { createPublicKey, createVerify, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { VendorFake } from './http-fake';
import type { FakeRequest, FakeResponse, HttpFake } from './http-fake';

/*
 * A local GitHub REST API (the parts team and repository access need), as docs.github.com
 * describes it, for @octokit/rest and @octokit/auth-app:
 *
 * - PUT /orgs/{org}/teams/{team}/memberships/{user} is an upsert: an organization member becomes an
 *   `active` member (an existing membership gets the role asked for: a maintainer sent
 *   `role: member` is demoted); anyone else gets an organization invitation carrying the team, and
 *   the membership is `pending` until it is accepted. DELETE leaves a pending invitation in place
 *   (integrations/terraform-provider-github#307): only DELETE /orgs/{org}/invitations/{id} ends it.
 *   On a team synced with an identity provider both answer 403.
 * - PUT /repos/{o}/{r}/collaborators/{user} invites someone from outside the organization (201 and
 *   a repository invitation), and for a member or an existing collaborator sets the permission
 *   (204), silently raising or lowering it. A user's permission on a repository is the highest of
 *   their direct collaboration, the organization's base permission for members, admin for owners.
 * - Lists are paginated (`per_page`, `page`, a `link: <…>; rel="next"` header).
 * - Token auth (`authorization: token …`; a classic token's answers carry `x-oauth-scopes`), or a
 *   GitHub App: a JWT signed with the App's key buys an installation token at
 *   POST /app/installations/{id}/access_tokens, whose answer lists the installation's permissions.
 * - GET /orgs/{org}: the organization.
 * - Rate limits and outages are injected by tests through `http.inject` (403/429 with retry-after).
 */

type Permission = 'pull' | 'triage' | 'push' | 'maintain' | 'admin';
const LEVELS: Permission[] = ['pull', 'triage', 'push', 'maintain', 'admin'];
const ROLE_NAME: Record<Permission, string> = { pull: 'read', triage: 'triage', push: 'write', maintain: 'maintain', admin: 'admin' };
const LEGACY: Record<Permission, string> = { pull: 'read', triage: 'read', push: 'write', maintain: 'write', admin: 'admin' };

interface Team {
  id: number;
  slug: string;
  members: Map<string, 'member' | 'maintainer'>;
  /** Team synchronization with an IdP (group mappings) or EMU external groups: membership is the IdP's. */
  syncedGroups: Array<{ group_id: string; group_name: string; group_description: string }>;
}

interface OrgInvitation {
  id: number;
  login: string;
  teams: Set<string>;
  createdAt: string;
}

interface Repo {
  id: number;
  name: string;
  collaborators: Map<string, Permission>;
  invitations: Array<{ id: number; login: string; permission: Permission }>;
}

interface App {
  id: number;
  key: KeyObject;
  installationId: number;
  /** What its installation tokens may do (`permissions` of the access_tokens answer). */
  permissions: Record<string, string>;
}

export class FakeGitHub extends VendorFake {
  readonly org: string;
  private readonly users = new Map<string, number>();
  private readonly orgRoles = new Map<string, 'member' | 'admin'>();
  private readonly teams = new Map<string, Team>();
  private readonly repos = new Map<string, Repo>();
  private readonly invitations = new Map<number, OrgInvitation>();
  private readonly tokens = new Set<string>();
  private readonly scopes = new Map<string, string[]>();
  private readonly apps = new Map<number, App>();
  private nextId = 1000;
  /** The organization's base permission for members on every repository (`none` by default). */
  basePermission: Permission | 'none' = 'none';
  /** Whether the org has team sync / EMU external groups at all (else those routes are 404). */
  teamSyncAvailable = true;

  private constructor(http: HttpFake, org: string) {
    super(http);
    this.org = org;
  }

  static start(org = 'acme'): Promise<FakeGitHub> {
    return VendorFake.serve((http: HttpFake) => new FakeGitHub(http, org));
  }

  /**
   * A personal access token (or an installation token) the API accepts. With `scopes` it is a
   * classic token: every answer to it carries `x-oauth-scopes` (GitHub's header for classic tokens
   * and OAuth apps; fine-grained tokens get none).
   */
  addToken(token: string, scopes?: string[]): void {
    this.tokens.add(token);
    if (scopes) this.scopes.set(token, scopes);
  }

  /** A GitHub App with its public key, installed once on the organization. */
  addApp(
    appId: number,
    publicKeyPem: string,
    installationId: number,
    permissions: Record<string, string> = { members: 'write', administration: 'write', metadata: 'read' },
  ): void {
    this.apps.set(installationId, { id: appId, key: createPublicKey(publicKeyPem), installationId, permissions });
  }

  addUser(login: string): void {
    this.users.set(login.toLowerCase(), this.nextId++);
  }

  addOrgMember(login: string, role: 'member' | 'admin' = 'member'): void {
    if (!this.users.has(login.toLowerCase())) this.addUser(login);
    this.orgRoles.set(login.toLowerCase(), role);
  }

  addTeam(slug: string): void {
    this.teams.set(slug, { id: this.nextId++, slug, members: new Map(), syncedGroups: [] });
  }

  addRepo(name: string): void {
    this.repos.set(name, { id: this.nextId++, name, collaborators: new Map(), invitations: [] });
  }

  setTeamMember(slug: string, login: string, role: 'member' | 'maintainer' | undefined): void {
    const team = this.team(slug);
    if (role) team.members.set(login.toLowerCase(), role);
    else team.members.delete(login.toLowerCase());
  }

  /** The team is synced with an identity provider group: the API may no longer change its membership. */
  syncTeam(slug: string, synced = true): void {
    this.team(slug).syncedGroups = synced
      ? [{ group_id: '123', group_name: `okta-${slug}`, group_description: 'synced from the IdP' }]
      : [];
  }

  setCollaborator(repo: string, login: string, permission: Permission | undefined): void {
    const r = this.repo(repo);
    if (permission) r.collaborators.set(login.toLowerCase(), permission);
    else r.collaborators.delete(login.toLowerCase());
  }

  /** `active`, `pending` (an open invitation carries the team) or undefined, and the role. */
  teamMembership(slug: string, login: string): { state: 'active' | 'pending'; role: 'member' | 'maintainer' } | undefined {
    const role = this.team(slug).members.get(login.toLowerCase());
    if (role) return { state: 'active', role };
    if (this.openInvitation(login)?.teams.has(slug)) return { state: 'pending', role: 'member' };
    return undefined;
  }

  orgInvitationOf(login: string): { id: number; teams: string[] } | undefined {
    const inv = this.openInvitation(login);
    return inv ? { id: inv.id, teams: [...inv.teams] } : undefined;
  }

  orgRole(login: string): 'member' | 'admin' | undefined {
    return this.orgRoles.get(login.toLowerCase());
  }

  repoInvitationOf(repo: string, login: string): { id: number; permission: Permission } | undefined {
    const inv = this.repo(repo).invitations.find((i) => i.login === login.toLowerCase());
    return inv ? { id: inv.id, permission: inv.permission } : undefined;
  }

  /** The user accepts the organization invitation: an org member, on every team it carried. */
  acceptOrgInvitation(login: string): void {
    const inv = this.openInvitation(login);
    if (!inv) throw new Error(`fake github: no invitation for ${login}`);
    this.invitations.delete(inv.id);
    this.orgRoles.set(inv.login, 'member');
    for (const slug of inv.teams) this.team(slug).members.set(inv.login, 'member');
  }

  acceptRepoInvitation(repo: string, login: string): void {
    const r = this.repo(repo);
    const inv = r.invitations.find((i) => i.login === login.toLowerCase());
    if (!inv) throw new Error(`fake github: no invitation for ${login} to ${repo}`);
    r.invitations = r.invitations.filter((i) => i !== inv);
    r.collaborators.set(inv.login, inv.permission);
  }

  /** Someone's permission on `repo`, as GitHub computes it. */
  permissionOn(repo: string, login: string): Permission | 'none' {
    const who = login.toLowerCase();
    if (this.orgRoles.get(who) === 'admin') return 'admin';
    const levels = [
      this.repo(repo).collaborators.get(who),
      this.orgRoles.has(who) && this.basePermission !== 'none' ? this.basePermission : undefined,
    ].filter((p): p is Permission => p !== undefined);
    return levels.length ? levels.reduce((a, b) => (LEVELS.indexOf(a) >= LEVELS.indexOf(b) ? a : b)) : 'none';
  }

  private team(slug: string): Team {
    const t = this.teams.get(slug);
    if (!t) throw new Error(`fake github: no team ${slug}`);
    return t;
  }

  private repo(name: string): Repo {
    const r = this.repos.get(name);
    if (!r) throw new Error(`fake github: no repo ${name}`);
    return r;
  }

  private openInvitation(login: string): OrgInvitation | undefined {
    return [...this.invitations.values()].find((i) => i.login === login.toLowerCase());
  }

  private userJson(login: string) {
    const id = this.users.get(login.toLowerCase())!;
    return {
      login,
      id,
      node_id: `U_${id}`,
      type: 'User',
      site_admin: false,
      url: `${this.url}/users/${login}`,
      html_url: `https://github.com/${login}`,
    };
  }

  protected route(req: FakeRequest): FakeResponse {
    const app = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(req.path);
    if (app && req.method === 'POST') return this.installationToken(req, Number(app[1]));
    const auth = /^token (\S+)$/.exec(String(req.headers.authorization ?? ''));
    if (!auth || !this.tokens.has(auth[1]!)) return error(401, 'Bad credentials');
    const response = this.authorizedRoute(req);
    const scopes = this.scopes.get(auth[1]!);
    return scopes ? { ...response, headers: { ...response.headers, 'x-oauth-scopes': scopes.join(', ') } } : response;
  }

  private authorizedRoute(req: FakeRequest): FakeResponse {
    const p = req.path;
    let m: RegExpExecArray | null;
    if ((m = /^\/users\/([^/]+)$/.exec(p)) && req.method === 'GET') {
      return this.users.has(m[1]!.toLowerCase()) ? ok(this.userJson(m[1]!)) : error(404, 'Not Found');
    }
    if ((m = /^\/orgs\/([^/]+)$/.exec(p)) && req.method === 'GET') {
      // GET /orgs/{org}: the organization (the fields the API documents that matter here).
      return m[1] === this.org
        ? ok({ login: this.org, id: 1, node_id: 'O_1', url: `${this.url}/orgs/${this.org}`, type: 'Organization' })
        : error(404, 'Not Found');
    }
    if ((m = /^\/orgs\/([^/]+)\/(.*)$/.exec(p))) {
      if (m[1] !== this.org) return error(404, 'Not Found');
      return this.orgRoute(req, m[2]!);
    }
    if ((m = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(p))) {
      if (m[1] !== this.org || !this.repos.has(m[2]!)) return error(404, 'Not Found');
      return this.repoRoute(req, this.repos.get(m[2]!)!, m[3] ?? '');
    }
    return error(404, 'Not Found');
  }

  private orgRoute(req: FakeRequest, rest: string): FakeResponse {
    let m: RegExpExecArray | null;
    if (rest === 'invitations' && req.method === 'GET') {
      const list = [...this.invitations.values()].map((i) => ({
        id: i.id,
        login: i.login,
        email: null,
        role: 'direct_member',
        created_at: i.createdAt,
        team_count: i.teams.size,
        invitation_teams_url: `${this.url}/organizations/1/invitations/${i.id}/teams`,
        invitation_source: 'member',
      }));
      return this.page(req, list);
    }
    if ((m = /^invitations\/(\d+)\/teams$/.exec(rest)) && req.method === 'GET') {
      const inv = this.invitations.get(Number(m[1]));
      if (!inv) return error(404, 'Not Found');
      return this.page(
        req,
        [...inv.teams].map((slug) => ({ id: this.team(slug).id, slug, name: slug })),
      );
    }
    if ((m = /^invitations\/(\d+)$/.exec(rest)) && req.method === 'DELETE') {
      return this.invitations.delete(Number(m[1])) ? { status: 204 } : error(404, 'Not Found');
    }
    if (!(m = /^teams\/([^/]+)(\/.*)?$/.exec(rest))) return error(404, 'Not Found');
    const team = this.teams.get(m[1]!);
    if (!team) return error(404, 'Not Found');
    const sub = m[2] ?? '';
    if (sub === '' && req.method === 'GET')
      return ok({ id: team.id, slug: team.slug, name: team.slug, privacy: 'closed', permission: 'pull', parent: null });
    if (sub === '/team-sync/group-mappings' && req.method === 'GET')
      return this.teamSyncAvailable ? ok({ groups: team.syncedGroups }) : error(404, 'Not Found');
    if (sub === '/external-groups' && req.method === 'GET') return error(404, 'Not Found'); // not an Enterprise Managed Users org
    if (!(m = /^\/memberships\/([^/]+)$/.exec(sub))) return error(404, 'Not Found');
    const login = m[1]!.toLowerCase();
    if (!this.users.has(login)) return error(404, 'Not Found');
    const membershipJson = (state: string, role: string) => ({
      url: `${this.url}/organizations/1/team/${team.id}/memberships/${login}`,
      role,
      state,
    });
    if (req.method === 'GET') {
      const current = this.teamMembership(team.slug, login);
      return current ? ok(membershipJson(current.state, current.role)) : error(404, 'Not Found');
    }
    if (req.method === 'PUT' || req.method === 'DELETE') {
      if (team.syncedGroups.length)
        return error(403, 'This team is synchronized with an identity provider group; change its membership there.');
    }
    if (req.method === 'PUT') {
      const role = ((req.body as { role?: string } | undefined)?.role ?? 'member') as 'member' | 'maintainer';
      if (!['member', 'maintainer'].includes(role)) return error(422, 'Validation Failed');
      if (this.orgRoles.has(login)) {
        team.members.set(login, role); // an upsert: an existing maintainer gets the role asked for
        return ok(membershipJson('active', role));
      }
      const inv = this.openInvitation(login) ?? { id: this.nextId++, login, teams: new Set<string>(), createdAt: new Date().toISOString() };
      inv.teams.add(team.slug);
      this.invitations.set(inv.id, inv);
      return ok(membershipJson('pending', role));
    }
    if (req.method === 'DELETE') {
      if (team.members.delete(login)) return { status: 204 };
      // A pending membership is the invitation's: deleting the membership does not touch it (#307).
      return this.openInvitation(login)?.teams.has(team.slug) ? { status: 204 } : error(404, 'Not Found');
    }
    return error(404, 'Not Found');
  }

  private repoRoute(req: FakeRequest, repo: Repo, rest: string): FakeResponse {
    let m: RegExpExecArray | null;
    if (rest === '' && req.method === 'GET') {
      return ok({
        id: repo.id,
        name: repo.name,
        full_name: `${this.org}/${repo.name}`,
        private: true,
        permissions: { admin: true, maintain: true, push: true, triage: true, pull: true },
      });
    }
    if (rest === '/collaborators' && req.method === 'GET') {
      const affiliation = req.query.get('affiliation') ?? 'all';
      const logins = new Set<string>(repo.collaborators.keys());
      if (affiliation !== 'direct' && affiliation !== 'outside') for (const [login] of this.orgRoles) logins.add(login);
      const list = [...logins]
        .filter((l) => affiliation !== 'outside' || !this.orgRoles.has(l))
        .filter((l) => this.permissionOn(repo.name, l) !== 'none')
        .map((l) => ({
          ...this.userJson(l),
          permissions: flags(this.permissionOn(repo.name, l)),
          role_name: ROLE_NAME[this.permissionOn(repo.name, l) as Permission],
        }));
      return this.page(req, list);
    }
    if (rest === '/invitations' && req.method === 'GET') {
      return this.page(
        req,
        repo.invitations.map((i) => ({
          id: i.id,
          repository: { id: repo.id, name: repo.name },
          invitee: this.userJson(i.login),
          permissions: ROLE_NAME[i.permission],
          expired: false,
        })),
      );
    }
    if ((m = /^\/invitations\/(\d+)$/.exec(rest)) && req.method === 'DELETE') {
      const before = repo.invitations.length;
      repo.invitations = repo.invitations.filter((i) => i.id !== Number(m![1]));
      return repo.invitations.length < before ? { status: 204 } : error(404, 'Not Found');
    }
    if ((m = /^\/collaborators\/([^/]+)\/permission$/.exec(rest)) && req.method === 'GET') {
      const login = m[1]!;
      if (!this.users.has(login.toLowerCase())) return error(404, `${login} is not a user`);
      const level = this.permissionOn(repo.name, login);
      return ok({
        permission: level === 'none' ? 'none' : LEGACY[level],
        role_name: level === 'none' ? 'none' : ROLE_NAME[level],
        user: { ...this.userJson(login), permissions: flags(level), role_name: level === 'none' ? 'none' : ROLE_NAME[level] },
      });
    }
    if ((m = /^\/collaborators\/([^/]+)$/.exec(rest))) {
      const login = m[1]!.toLowerCase();
      if (!this.users.has(login)) return error(404, 'Not Found');
      if (req.method === 'PUT') {
        const permission = ((req.body as { permission?: string } | undefined)?.permission ?? 'push') as Permission;
        if (!LEVELS.includes(permission)) return error(422, 'Validation Failed');
        if (this.orgRoles.has(login) || repo.collaborators.has(login)) {
          repo.collaborators.set(login, permission); // silently changes an existing collaborator's permission
          return { status: 204 };
        }
        let inv = repo.invitations.find((i) => i.login === login);
        if (inv) inv.permission = permission;
        else repo.invitations.push((inv = { id: this.nextId++, login, permission }));
        return {
          status: 201,
          body: {
            id: inv.id,
            repository: { id: repo.id, name: repo.name, full_name: `${this.org}/${repo.name}` },
            invitee: this.userJson(login),
            permissions: ROLE_NAME[permission],
            expired: false,
          },
        };
      }
      if (req.method === 'DELETE') {
        repo.collaborators.delete(login);
        return { status: 204 };
      }
    }
    return error(404, 'Not Found');
  }

  private installationToken(req: FakeRequest, installationId: number): FakeResponse {
    const app = this.apps.get(installationId);
    const jwt = /^bearer (\S+)$/i.exec(String(req.headers.authorization ?? ''))?.[1];
    if (!app || !jwt) return error(401, 'A JSON web token could not be decoded');
    const [header, claims, signature] = jwt.split('.');
    const verifier = createVerify('RSA-SHA256');
    verifier.update(`${header}.${claims}`);
    const payload = JSON.parse(Buffer.from(claims ?? '', 'base64url').toString()) as { iss?: unknown; exp?: number };
    if (
      !verifier.verify(app.key, Buffer.from(signature ?? '', 'base64url')) ||
      String(payload.iss) !== String(app.id) ||
      (payload.exp ?? 0) * 1000 < Date.now()
    ) {
      return error(401, "'Issuer' claim ('iss') must be an Integer");
    }
    const token = `ghs_${randomBytes(18).toString('hex')}`;
    this.tokens.add(token);
    return {
      status: 201,
      body: {
        token,
        expires_at: new Date(Date.now() + 3_600_000).toISOString(),
        permissions: app.permissions,
        repository_selection: 'all',
      },
    };
  }

  private page(req: FakeRequest, items: unknown[]): FakeResponse {
    const perPage = Math.min(100, Number(req.query.get('per_page') ?? 30));
    const page = Number(req.query.get('page') ?? 1);
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const headers: Record<string, string> = {};
    if (page * perPage < items.length) {
      const next = new URL(`${this.url}${req.path}`);
      req.query.forEach((v, k) => next.searchParams.set(k, v));
      next.searchParams.set('page', String(page + 1));
      next.searchParams.set('per_page', String(perPage));
      headers.link = `<${next}>; rel="next"`;
    }
    return { status: 200, body: slice, headers };
  }
}

function flags(level: Permission | 'none') {
  const at = level === 'none' ? -1 : LEVELS.indexOf(level);
  return { admin: at >= 4, maintain: at >= 3, push: at >= 2, triage: at >= 1, pull: at >= 0 };
}

const ok = (body: unknown): FakeResponse => ({ status: 200, body });
const error = (status: number, message: string): FakeResponse => ({
  status,
  body: { message, documentation_url: 'https://docs.github.com/rest', status: String(status) },
});

/** A secondary rate limit, as GitHub documents it (403 or 429, retry-after in seconds). */
export function secondaryRateLimit(retryAfterSeconds: number, status: 403 | 429 = 403): FakeResponse {
  return {
    status,
    headers: { 'retry-after': String(retryAfterSeconds), 'x-ratelimit-remaining': '4000' },
    body: {
      message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
      documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
      status: String(status),
    },
  };
}

/** The primary rate limit, exhausted until `resetEpochSeconds`. */
export function primaryRateLimit(resetEpochSeconds: number): FakeResponse {
  return {
    status: 403,
    headers: {
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(resetEpochSeconds),
      'x-ratelimit-resource': 'core',
    },
    body: {
      message: 'API rate limit exceeded for installation ID 1.',
      documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
      status: '403',
    },
  };
}
