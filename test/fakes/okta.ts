import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VendorFake } from './http-fake';
import type { FakeRequest, FakeResponse, HttpFake } from './http-fake';

/*
 * A local Okta management API (users, groups, group rules), as developer.okta.com documents it,
 * for @okta/okta-sdk-nodejs:
 *
 *   GET    /api/v1/users/{id or login}             a user, or 404 E0000007
 *   GET    /api/v1/users/{id}/groups               the user's groups
 *   GET    /api/v1/groups/{id}                     a group: type OKTA_GROUP | APP_GROUP | BUILT_IN
 *   GET    /api/v1/groups/{id}/users               its members
 *   PUT    /api/v1/groups/{id}/users/{userId}      204; only OKTA_GROUP memberships can be changed
 *   DELETE /api/v1/groups/{id}/users/{userId}      204
 *   GET    /api/v1/groups/rules                    group rules
 *   GET    /api/v1/users/me                        the user the token acts as (an SSWS token: its creator)
 *   GET    /api/v1/users/{id}/roles                that user's admin role assignments (403 E0000006
 *                                                  where the token may not read them)
 *   GET    /api/v1/users/{id}/roles/{roleId}/targets/groups   the groups a role is limited to ([]: all)
 *
 * - Lists are cursor-paginated (`limit`, `after`, `link: <…>; rel="next"`).
 * - `Authorization: SSWS <token>`; anything else is 401 E0000011.
 * - Group rules: a member the rule assigned who is removed through the API goes on the rule's
 *   exclusion list (okta/terraform-provider-okta#179); `runRules()` re-evaluates the rules as Okta
 *   does asynchronously, re-adding matching users who are not excluded.
 * - Rate limits (429 with X-Rate-Limit-Limit/-Remaining/-Reset and a Date header) are injected by tests.
 * - Every resource carries `_links.self.href`, which the SDK's default cache keys on.
 */

type GroupType = 'OKTA_GROUP' | 'APP_GROUP' | 'BUILT_IN';

interface User {
  id: string;
  login: string;
  status: string;
}

interface Group {
  id: string;
  name: string;
  type: GroupType;
  members: Set<string>;
}

/** An admin role assignment of a token's user; `groups` limits it to those groups (none: every group). */
interface RoleAssignment {
  id: string;
  type: string;
  groups: string[];
}

/** The admin user a token acts as; `roles` undefined: the token may not read its own roles. */
interface TokenOwner {
  user: User;
  roles?: RoleAssignment[];
}

interface Rule {
  id: string;
  name: string;
  status: 'ACTIVE' | 'INACTIVE';
  groupIds: string[];
  exclude: Set<string>;
  /** Whom the rule's expression matches (the fake does not evaluate Okta Expression Language). */
  matches: Set<string>;
}

const id = (prefix: string) => `${prefix}${randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 17)}`;

export class FakeOkta extends VendorFake {
  private readonly users = new Map<string, User>();
  private readonly groups = new Map<string, Group>();
  private readonly rules = new Map<string, Rule>();
  private readonly tokens = new Set<string>();
  private readonly owners = new Map<string, TokenOwner>();
  /** Who put each membership there: the API, or a rule (so removing it excludes the user from the rule). */
  private readonly assignedBy = new Map<string, string>();
  /** Refuse to list group rules (the token's admin role cannot read them). */
  rulesForbidden = false;

  static start(): Promise<FakeOkta> {
    return VendorFake.serve((http: HttpFake) => new FakeOkta(http));
  }

  /**
   * A token the API accepts, acting as an admin user of its own. `roles`: that user's admin role
   * assignments (types such as GROUP_MEMBERSHIP_ADMIN, limited to `groups` when given); without
   * them, reading its roles is refused (403), as for an admin without the right to read roles.
   */
  addToken(token: string, roles?: Array<{ type: string; groups?: string[] }>): void {
    this.tokens.add(token);
    const user = { id: id('00u'), login: `token-admin-${this.owners.size + 1}@example.com`, status: 'ACTIVE' };
    this.owners.set(token, { user, roles: roles?.map((r) => ({ id: id('ra'), type: r.type, groups: r.groups ?? [] })) });
  }

  addUser(login: string, status = 'ACTIVE'): string {
    const user = { id: id('00u'), login, status };
    this.users.set(user.id, user);
    return user.id;
  }

  setUserStatus(userId: string, status: string): void {
    this.users.get(userId)!.status = status;
  }

  addGroup(name: string, type: GroupType = 'OKTA_GROUP'): string {
    const group = { id: id('00g'), name, type, members: new Set<string>() };
    this.groups.set(group.id, group);
    return group.id;
  }

  setGroupType(groupId: string, type: GroupType): void {
    this.groups.get(groupId)!.type = type;
  }

  /** A group rule assigning to `groupIds` the users it `matches`. */
  addRule(name: string, groupIds: string[], matches: string[] = [], status: Rule['status'] = 'ACTIVE'): string {
    const rule = { id: id('0pr'), name, status, groupIds, exclude: new Set<string>(), matches: new Set(matches) };
    this.rules.set(rule.id, rule);
    return rule.id;
  }

  ruleExclusions(ruleId: string): string[] {
    return [...this.rules.get(ruleId)!.exclude];
  }

  /** What Okta does in the background: active rules (re-)assign the users they match and do not exclude. */
  runRules(): void {
    for (const rule of this.rules.values()) {
      if (rule.status !== 'ACTIVE') continue;
      for (const userId of rule.matches) {
        if (rule.exclude.has(userId)) continue;
        for (const groupId of rule.groupIds) {
          const group = this.groups.get(groupId)!;
          if (!group.members.has(userId)) {
            group.members.add(userId);
            this.assignedBy.set(`${groupId}/${userId}`, rule.id);
          }
        }
      }
    }
  }

  isMember(groupId: string, userId: string): boolean {
    return this.groups.get(groupId)?.members.has(userId) ?? false;
  }

  /** Someone else adds the user (an admin in the console). */
  addMember(groupId: string, userId: string): void {
    this.groups.get(groupId)!.members.add(userId);
    this.assignedBy.set(`${groupId}/${userId}`, 'admin');
  }

  private self(path: string): { self: { href: string } } {
    return { self: { href: `${this.url}${path}` } };
  }

  private userJson(u: User) {
    return {
      id: u.id,
      status: u.status,
      created: '2026-01-01T00:00:00.000Z',
      lastUpdated: '2026-01-01T00:00:00.000Z',
      type: { id: 'oty1' },
      profile: { login: u.login, email: u.login.includes('@') ? u.login : `${u.login}@example.com`, firstName: u.login, lastName: 'Test' },
      _links: this.self(`/api/v1/users/${u.id}`),
    };
  }

  private groupJson(g: Group) {
    return {
      id: g.id,
      created: '2026-01-01T00:00:00.000Z',
      lastUpdated: '2026-01-01T00:00:00.000Z',
      lastMembershipUpdated: '2026-01-01T00:00:00.000Z',
      objectClass: [g.type === 'APP_GROUP' ? 'okta:windows_security_principal' : 'okta:user_group'],
      type: g.type,
      profile: { name: g.name, description: `${g.name} (fake)` },
      _links: this.self(`/api/v1/groups/${g.id}`),
    };
  }

  private findUser(idOrLogin: string): User | undefined {
    return this.users.get(idOrLogin) ?? [...this.users.values()].find((u) => u.login.toLowerCase() === idOrLogin.toLowerCase());
  }

  protected route(req: FakeRequest): FakeResponse {
    const auth = /^SSWS (\S+)$/.exec(String(req.headers.authorization ?? ''));
    if (!auth || !this.tokens.has(auth[1]!)) return oktaError(401, 'E0000011', 'Invalid token provided');
    const p = req.path;
    let m: RegExpExecArray | null;
    const owner = this.owners.get(auth[1]!)!;
    if (p === '/api/v1/users/me' && req.method === 'GET') return ok(this.userJson(owner.user));
    if ((m = /^\/api\/v1\/users\/([^/]+)\/roles$/.exec(p)) && req.method === 'GET') {
      if (m[1] !== owner.user.id && m[1] !== 'me')
        return oktaError(403, 'E0000006', 'You do not have permission to perform the requested action');
      if (!owner.roles) return oktaError(403, 'E0000006', 'You do not have permission to perform the requested action');
      return this.page(
        req,
        owner.roles.map((r) => this.roleJson(r, owner.user.id)),
      );
    }
    if ((m = /^\/api\/v1\/users\/([^/]+)\/roles\/([^/]+)\/targets\/groups$/.exec(p)) && req.method === 'GET') {
      const role = m[1] === owner.user.id ? owner.roles?.find((r) => r.id === m![2]) : undefined;
      if (!role) return oktaError(404, 'E0000007', `Not found: Resource not found: ${m[2]} (Role)`);
      return this.page(
        req,
        role.groups.flatMap((g) => (this.groups.has(g) ? [this.groupJson(this.groups.get(g)!)] : [])),
      );
    }
    if (p === '/api/v1/groups/rules' && req.method === 'GET') {
      if (this.rulesForbidden) return oktaError(403, 'E0000006', 'You do not have permission to perform the requested action');
      return this.page(
        req,
        [...this.rules.values()].map((r) => this.ruleJson(r)),
      );
    }
    if ((m = /^\/api\/v1\/users\/([^/]+)$/.exec(p)) && req.method === 'GET') {
      const user = this.findUser(m[1]!);
      return user ? ok(this.userJson(user)) : oktaError(404, 'E0000007', `Not found: Resource not found: ${m[1]} (User)`);
    }
    if ((m = /^\/api\/v1\/users\/([^/]+)\/groups$/.exec(p)) && req.method === 'GET') {
      const user = this.findUser(m[1]!);
      if (!user) return oktaError(404, 'E0000007', `Not found: Resource not found: ${m[1]} (User)`);
      return this.page(
        req,
        [...this.groups.values()].filter((g) => g.members.has(user.id)).map((g) => this.groupJson(g)),
      );
    }
    if ((m = /^\/api\/v1\/groups\/([^/]+)$/.exec(p)) && req.method === 'GET') {
      const group = this.groups.get(m[1]!);
      return group ? ok(this.groupJson(group)) : oktaError(404, 'E0000007', `Not found: Resource not found: ${m[1]} (UserGroup)`);
    }
    if ((m = /^\/api\/v1\/groups\/([^/]+)\/users$/.exec(p)) && req.method === 'GET') {
      const group = this.groups.get(m[1]!);
      if (!group) return oktaError(404, 'E0000007', `Not found: Resource not found: ${m[1]} (UserGroup)`);
      return this.page(
        req,
        [...group.members].map((u) => this.userJson(this.users.get(u)!)),
      );
    }
    if ((m = /^\/api\/v1\/groups\/([^/]+)\/users\/([^/]+)$/.exec(p)) && (req.method === 'PUT' || req.method === 'DELETE')) {
      const group = this.groups.get(m[1]!);
      const user = this.users.get(m[2]!);
      if (!group) return oktaError(404, 'E0000007', `Not found: Resource not found: ${m[1]} (UserGroup)`);
      if (!user) return oktaError(404, 'E0000007', `Not found: Resource not found: ${m[2]} (User)`);
      if (group.type !== 'OKTA_GROUP') {
        return oktaError(400, 'E0000001', 'Api validation failed: group', [
          { errorSummary: `You only can modify memberships for groups of the OKTA_GROUP type (this one is ${group.type}).` },
        ]);
      }
      const key = `${group.id}/${user.id}`;
      if (req.method === 'PUT') {
        if (!group.members.has(user.id)) {
          group.members.add(user.id);
          this.assignedBy.set(key, 'api');
        }
        return { status: 204 };
      }
      if (!group.members.has(user.id)) return oktaError(404, 'E0000007', `Not found: Resource not found: ${user.id} (GroupMembership)`);
      group.members.delete(user.id);
      const by = this.assignedBy.get(key);
      this.assignedBy.delete(key);
      const rule = by ? this.rules.get(by) : undefined;
      if (rule) rule.exclude.add(user.id); // terraform-provider-okta#179
      return { status: 204 };
    }
    return oktaError(404, 'E0000022', 'The endpoint does not support the provided HTTP method');
  }

  private roleJson(r: RoleAssignment, userId: string) {
    return {
      id: r.id,
      label: r.type,
      type: r.type,
      status: 'ACTIVE',
      created: '2026-01-01T00:00:00.000Z',
      lastUpdated: '2026-01-01T00:00:00.000Z',
      assignmentType: 'USER',
      _links: { ...this.self(`/api/v1/users/${userId}/roles/${r.id}`), assignee: { href: `${this.url}/api/v1/users/${userId}` } },
    };
  }

  private ruleJson(r: Rule) {
    return {
      type: 'group_rule',
      id: r.id,
      status: r.status,
      name: r.name,
      created: '2026-01-01T00:00:00.000Z',
      lastUpdated: '2026-01-01T00:00:00.000Z',
      conditions: {
        people: { users: { exclude: [...r.exclude] }, groups: { exclude: [] } },
        expression: { value: 'user.department=="Engineering"', type: 'urn:okta:expression:1.0' },
      },
      actions: { assignUserToGroups: { groupIds: r.groupIds } },
    };
  }

  /** Okta's cursor pagination: `after` is the last ID of the previous page. */
  private page(req: FakeRequest, items: Array<{ id: string }>): FakeResponse {
    const limit = Math.min(200, Number(req.query.get('limit') ?? 200));
    const after = req.query.get('after');
    const start = after ? items.findIndex((i) => i.id === after) + 1 : 0;
    const slice = items.slice(start, start + limit);
    const self = new URL(`${this.url}${req.path}`);
    req.query.forEach((v, k) => self.searchParams.set(k, v));
    const links = [`<${self}>; rel="self"`];
    if (start + limit < items.length) {
      const next = new URL(self);
      next.searchParams.set('after', slice.at(-1)!.id);
      next.searchParams.set('limit', String(limit));
      links.push(`<${next}>; rel="next"`);
    }
    return { status: 200, body: slice, headers: { link: links.join(', ') } };
  }
}

const ok = (body: unknown): FakeResponse => ({ status: 200, body });

function oktaError(status: number, code: string, summary: string, causes: Array<{ errorSummary: string }> = []): FakeResponse {
  return {
    status,
    body: { errorCode: code, errorSummary: summary, errorLink: code, errorId: `oae${randomBytes(8).toString('hex')}`, errorCauses: causes },
  };
}

/** Okta's rate limit answer: 429 E0000047, reset at `resetEpochSeconds` (the SDK also reads the Date header). */
export function oktaRateLimit(resetEpochSeconds: number): FakeResponse {
  return {
    status: 429,
    headers: {
      'x-rate-limit-limit': '600',
      'x-rate-limit-remaining': '0',
      'x-rate-limit-reset': String(resetEpochSeconds),
      'x-okta-request-id': `req${randomBytes(6).toString('hex')}`,
    },
    body: {
      errorCode: 'E0000047',
      errorSummary: 'API call exceeded rate limit due to too many requests.',
      errorLink: 'E0000047',
      errorId: 'oae429',
      errorCauses: [],
    },
  };
}

/**
 * The Okta SDK reads ~/.okta/okta.yaml, ./okta.yaml and OKTA_CLIENT_* into every client it makes.
 * Tests see an empty home directory (os.homedir() is replaced: under jest, setting HOME does not move
 * it) and no OKTA_* variables, so a developer's own Okta configuration can neither leak into them nor
 * be used by them; `restore()` puts both back. A ./okta.yaml where the tests run is refused outright.
 */
export function isolateOktaConfig(): { home: string; restore(): void } {
  if (existsSync(join(process.cwd(), 'okta.yaml')))
    throw new Error(`an okta.yaml in ${process.cwd()} would configure the Okta SDK under test: move it away`);
  const saved = Object.entries(process.env).filter(([k]) => k.startsWith('OKTA_'));
  const home = mkdtempSync(join(tmpdir(), 'jit-okta-home-'));
  const spy = jest.spyOn(os, 'homedir').mockReturnValue(home);
  for (const [k] of saved) delete process.env[k];
  return {
    home,
    restore() {
      spy.mockRestore();
      for (const [k, v] of saved) process.env[k] = v;
    },
  };
}
