import type * as appAuth from '@octokit/auth-app';
import type * as rest from '@octokit/rest';
import type { Octokit } from '@octokit/rest';
import { z } from 'zod';
import { boundedCall, messageOf, networkErrorText, resetInMs, retryAfterMs } from '../deadline';
import type { AttemptFailure } from '../deadline';
import type {
  FilingCheck,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { withinDeadline } from '../deadline';
import { rightsProblems } from './check';
import type { GithubRights } from './check';
import { GITHUB_LOGIN, githubAccessSchema, githubTargetSchema, PERMISSIONS } from './config';
import type { GithubAccess, GithubTargetConfig, RepoPermission } from './config';

/*
 * Team membership or a repository permission in one GitHub organization, with @octokit/rest
 * (README “Providers”). What GitHub does that matters here:
 * - PUT team membership is an upsert: for someone outside the organization it sends an invitation
 *   and the membership is `pending` until accepted (the requester is told); for a maintainer it would
 *   set the role asked for, i.e. demote them: jit-access never sends it to an existing membership.
 * - Deleting a membership leaves a pending invitation alive (terraform-provider-github#307): revoke
 *   cancels the invitation the grant caused, and refuses to cancel one that also invites to teams
 *   jit-access did not ask for.
 * - PUT collaborator silently changes an existing collaborator's permission (up or down): a person
 *   who already has the permission or a higher one (directly, as an org owner, through the base
 *   permission) is left alone; a direct collaborator with a lower one is refused, since a revoke could
 *   not tell what to give back.
 * - Teams synced with an identity provider refuse membership changes (403): check() says so.
 * - Secondary rate limits (403/429 with retry-after) and the primary one (x-ratelimit-reset) are
 *   waited out when the wait fits in the call's deadline, else reported as retryable.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
/** Octokit's request log would print every failed request to the console. */
const QUIET = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
/** GitHub asks to wait at least a minute after a secondary rate limit that names no retry-after. */
const SECONDARY_LIMIT_WAIT_MS = 60_000;

type Membership = { state: string; role: string };

const rank = (p: RepoPermission) => PERMISSIONS.indexOf(p);
/** `role_name` and invitation `permissions` use read/write; the API's requests pull/push. */
function permissionNamed(name: string | undefined | null): RepoPermission | undefined {
  const aliases: Record<string, RepoPermission> = { read: 'pull', write: 'push' };
  const p = name ? (aliases[name] ?? name) : undefined;
  return (PERMISSIONS as readonly string[]).includes(p ?? '') ? (p as RepoPermission) : undefined;
}

class GithubProvider implements TargetProvider<GithubAccess> {
  private readonly octokit: Octokit;
  private readonly timeoutMs: number;
  private readonly secrets: string[];
  private readonly org: string;
  private readonly web: string;
  private readonly usesApp: boolean;

  constructor(
    config: GithubTargetConfig,
    private readonly targetName: string,
  ) {
    this.org = config.org;
    this.usesApp = config.token === undefined;
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.secrets = [...secretVariants(config.token), ...secretVariants(config.privateKey)];
    // Loaded when the first github target is created, not by every start-up.
    const { Octokit } = require('@octokit/rest') as typeof rest;
    const { createAppAuth } = require('@octokit/auth-app') as typeof appAuth;
    const common = { baseUrl: config.baseUrl.replace(/\/$/, ''), userAgent: 'jit-access', log: QUIET };
    this.octokit =
      config.token !== undefined
        ? new Octokit({ ...common, auth: config.token })
        : new Octokit({
            ...common,
            authStrategy: createAppAuth,
            auth: { appId: config.appId!, privateKey: config.privateKey!, installationId: config.installationId! },
          });
    const base = new URL(config.baseUrl);
    this.web = base.hostname === 'api.github.com' ? 'https://github.com' : `${base.protocol}//${base.host}`;
  }

  /** At filing: the login must be a GitHub user (a typo would otherwise be approved, then fail). */
  async validate(_access: GithubAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck> {
    const login = subject.user.account;
    if (login === undefined || !GITHUB_LOGIN.test(login))
      return {
        ok: false,
        reason: `There is no valid GitHub login for you in ${this.targetName}. Ask a policy admin to add yours to \`identities\`.`,
      };
    const user = await this.api(`look up the user ${login}`, opts.deadline, (request) =>
      orUndefined(this.octokit.rest.users.getByUsername({ username: login, request })),
    );
    if (!user)
      return {
        ok: false,
        reason: `There is no GitHub user \`${login}\` (${this.targetName}). Ask a policy admin to correct your login in \`identities\`.`,
      };
    return { ok: true };
  }

  async holds(access: GithubAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    const login = this.loginOf(subject);
    if (access.team !== undefined) return (await this.membership(access.team, login, opts.deadline)) !== undefined;
    return this.hasPermission(access.repo!, login, access.permission!, opts.deadline);
  }

  async grant(access: GithubAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    const login = this.loginOf(subject);
    return access.team !== undefined
      ? this.grantTeam(access.team, login, opts.deadline)
      : this.grantRepo(access.repo!, access.permission!, login, opts.deadline);
  }

  /** A membership or a permission has no expiry on GitHub: the bot's own timer ends it. */
  async extend(): Promise<void> {}

  async revoke(access: GithubAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    const login = subject.user.account;
    if (login === undefined || !GITHUB_LOGIN.test(login)) return; // grant() refuses these: nothing was given
    if (access.team !== undefined) await this.revokeTeam(access.team, login, opts.details, opts.deadline);
    else await this.revokeRepo(access.repo!, access.permission!, login, opts.details, opts.deadline);
  }

  async check(access: GithubAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    try {
      const allowed = rightsProblems(await this.rights(deadline), access).map((p) => `${this.label}: ${p}`);
      if (allowed.length) return allowed;
      if (access.team !== undefined) return await this.checkTeam(access.team, deadline);
      const repo = await this.api(`read ${this.org}/${access.repo}`, deadline, (request) =>
        orUndefined(this.octokit.rest.repos.get({ owner: this.org, repo: access.repo!, request })),
      );
      if (!repo) return [`${this.label}: no repository ${this.org}/${access.repo} (or the credentials cannot see it)`];
      // A user token shows its own permissions; an App's installation token shows none.
      if (repo.permissions && !repo.permissions.admin)
        return [`${this.label}: the credentials are not an admin of ${this.org}/${access.repo}, which managing collaborators needs`];
      return [];
    } catch (err) {
      return [messageOf(err)];
    }
  }

  private get label(): string {
    return `github target ${this.targetName}`;
  }

  /** What GitHub says the credentials may do (see ./check.ts); reading it also proves they work. */
  private async rights(deadline: Date): Promise<GithubRights> {
    if (this.usesApp) {
      const auth = (await withinDeadline(
        this.octokit.auth({ type: 'installation' }),
        deadline,
        `${this.label}: an installation token`,
      )) as { permissions?: Record<string, string> };
      return { kind: 'app', permissions: auth.permissions ?? {} };
    }
    const { headers } = await this.api(`read the organization ${this.org}`, deadline, (request) =>
      this.octokit.rest.orgs.get({ org: this.org, request }),
    );
    const scopes = headers['x-oauth-scopes'];
    return typeof scopes === 'string'
      ? {
          kind: 'classic',
          scopes: scopes
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        }
      : { kind: 'fine-grained' };
  }

  private loginOf(subject: FilingSubject): string {
    const login = subject.user.account;
    if (login === undefined || !GITHUB_LOGIN.test(login)) {
      throw new ProviderError(`${this.label}: no valid GitHub login known for ${subject.user.slackId}`, false);
    }
    return login;
  }

  private async checkTeam(team: string, deadline: Date): Promise<string[]> {
    const found = await this.api(`read the team ${team}`, deadline, (request) =>
      orUndefined(this.octokit.rest.teams.getByName({ org: this.org, team_slug: team, request })),
    );
    if (!found) return [`${this.label}: no team ${team} in ${this.org} (or the credentials cannot see it)`];
    const groups: string[] = [];
    // Team synchronization (group mappings) and Enterprise Managed Users (external groups); 404 or 403 where neither applies.
    for (const route of [
      'GET /orgs/{org}/teams/{team_slug}/team-sync/group-mappings',
      'GET /orgs/{org}/teams/{team_slug}/external-groups',
    ] as const) {
      const data = await this.api(`read ${team}'s identity provider groups`, deadline, (request) =>
        this.octokit.request(route, { org: this.org, team_slug: team, request }).then(
          (r) => r.data as { groups?: Array<{ group_name?: string }> },
          (err: unknown) => (statusOf(err) === 404 || statusOf(err) === 403 ? undefined : Promise.reject(err)),
        ),
      );
      for (const g of data?.groups ?? []) groups.push(g.group_name ?? '?');
    }
    if (groups.length) {
      return [
        `${this.label}: team ${team} is synced with identity provider group(s) ${groups.join(', ')}: GitHub refuses membership changes through the API; grant it through the IdP, or use a team that is not synced`,
      ];
    }
    return [];
  }

  private async grantTeam(team: string, login: string, deadline: Date): Promise<GrantResult> {
    const current = await this.membership(team, login, deadline);
    // A maintainer has more than jit-access gives; a PUT with role member would demote them.
    if (current?.role === 'maintainer') return {};
    let state = current?.state;
    if (current === undefined) {
      const { data } = await this.api(`add ${login} to the team ${team}`, deadline, (request) =>
        this.octokit.rest.teams.addOrUpdateMembershipForUserInOrg({
          org: this.org,
          team_slug: team,
          username: login,
          role: 'member',
          request,
        }),
      );
      state = data.state;
    }
    if (state !== 'pending') return {};
    const invitation = await this.orgInvitation(login, deadline);
    return {
      ...(invitation ? { details: { invitation: String(invitation.id) } } : {}),
      notice: `GitHub invited ${login} to the ${this.org} organization: the ${team} team membership starts once the invitation is accepted (${this.web}/orgs/${this.org}/invitation).`,
    };
  }

  private async revokeTeam(team: string, login: string, details: Record<string, string> | undefined, deadline: Date): Promise<void> {
    const current = await this.membership(team, login, deadline);
    // jit-access only ever makes members: a maintainer was made so by someone else.
    if (current?.role === 'maintainer') return;
    if (current?.state === 'active') {
      await this.api(`remove ${login} from the team ${team}`, deadline, (request) =>
        orUndefined(this.octokit.rest.teams.removeMembershipForUserInOrg({ org: this.org, team_slug: team, username: login, request })),
      );
    }
    // A pending membership is an organization invitation: removing the membership leaves it alive.
    const recorded = details?.invitation !== undefined ? Number(details.invitation) : undefined;
    const invitation = recorded !== undefined ? { id: recorded } : await this.orgInvitation(login, deadline);
    if (!invitation) return;
    const teams = await this.api(`read the teams of invitation ${invitation.id}`, deadline, (request) =>
      this.octokit
        .paginate(this.octokit.rest.orgs.listInvitationTeams, { org: this.org, invitation_id: invitation.id, per_page: 100, request })
        .catch((err: unknown) => (statusOf(err) === 404 ? undefined : Promise.reject(err))),
    );
    if (teams === undefined) return; // accepted or cancelled meanwhile
    const slugs = teams.map((t) => t.slug);
    if (recorded === undefined && !slugs.includes(team)) return; // somebody else's invitation, not for this team
    const others = slugs.filter((s) => s !== team);
    if (others.length) {
      throw new ProviderError(
        `${this.label}: ${login}'s pending invitation to ${this.org} also invites to team(s) ${others.join(', ')}; cancelling it would cancel those too. ` +
          `Cancel it by hand at ${this.web}/orgs/${this.org}/people/pending_invitations (revocation keeps retrying until it is gone)`,
      );
    }
    await this.api(`cancel ${login}'s invitation to ${this.org}`, deadline, (request) =>
      orUndefined(this.octokit.rest.orgs.cancelInvitation({ org: this.org, invitation_id: invitation.id, request })),
    );
  }

  private async grantRepo(repo: string, permission: RepoPermission, login: string, deadline: Date): Promise<GrantResult> {
    const where = `${this.org}/${repo}`;
    // Already that much or more (an owner, the base permission, a team, a collaborator): never downgraded.
    if (await this.hasPermission(repo, login, permission, deadline)) return {};
    const pending = await this.repoInvitation(repo, login, deadline);
    if (pending) {
      if (pending.permission !== permission) {
        throw new ProviderError(
          `${this.label}: ${login} has a pending invitation to ${where} with permission ${pending.permission ?? '?'}, not ${permission}; it was not sent by this grant`,
          false,
        );
      }
      return { details: { invitation: String(pending.id) }, notice: this.repoNotice(login, where, permission) };
    }
    const direct = await this.directCollaborator(repo, login, deadline);
    if (direct) {
      throw new ProviderError(
        `${this.label}: ${login} is already a direct collaborator of ${where} with permission ${direct}; jit-access does not raise an existing collaborator's permission, since revoking could not give the old one back. ` +
          `Remove that collaboration, or grant through a team`,
        false,
      );
    }
    const response = await this.api(`give ${login} ${permission} on ${where}`, deadline, (request) =>
      this.octokit.rest.repos.addCollaborator({ owner: this.org, repo, username: login, permission, request }),
    );
    if (response.status === 201 && response.data) {
      return { details: { invitation: String(response.data.id) }, notice: this.repoNotice(login, where, permission) };
    }
    return {};
  }

  private repoNotice(login: string, where: string, permission: RepoPermission): string {
    return `GitHub invited ${login} to ${where} (${permission}): the access starts once the invitation is accepted (${this.web}/${where}/invitations).`;
  }

  private async revokeRepo(
    repo: string,
    permission: RepoPermission,
    login: string,
    details: Record<string, string> | undefined,
    deadline: Date,
  ): Promise<void> {
    const where = `${this.org}/${repo}`;
    const recorded = details?.invitation !== undefined ? Number(details.invitation) : undefined;
    const pending =
      recorded !== undefined
        ? { id: recorded }
        : await this.repoInvitation(repo, login, deadline).then((i) => (i?.permission === permission ? i : undefined));
    if (pending) {
      await this.api(`cancel ${login}'s invitation to ${where}`, deadline, (request) =>
        orUndefined(this.octokit.rest.repos.deleteInvitation({ owner: this.org, repo, invitation_id: pending.id, request })),
      );
    }
    // Only the collaboration this grant made: a higher permission was given by someone else since.
    if ((await this.directCollaborator(repo, login, deadline)) === permission) {
      await this.api(`remove ${login} from ${where}`, deadline, (request) =>
        orUndefined(this.octokit.rest.repos.removeCollaborator({ owner: this.org, repo, username: login, request })),
      );
    }
  }

  private membership(team: string, login: string, deadline: Date): Promise<Membership | undefined> {
    return this.api(`read ${login}'s membership of the team ${team}`, deadline, (request) =>
      orUndefined(this.octokit.rest.teams.getMembershipForUserInOrg({ org: this.org, team_slug: team, username: login, request })),
    );
  }

  private async orgInvitation(login: string, deadline: Date): Promise<{ id: number } | undefined> {
    const all = await this.api(`list the pending invitations of ${this.org}`, deadline, (request) =>
      this.octokit.paginate(this.octokit.rest.orgs.listPendingInvitations, { org: this.org, per_page: 100, request }),
    );
    return all.find((i) => i.login?.toLowerCase() === login.toLowerCase());
  }

  private async repoInvitation(
    repo: string,
    login: string,
    deadline: Date,
  ): Promise<{ id: number; permission?: RepoPermission } | undefined> {
    const all = await this.api(`list the invitations to ${this.org}/${repo}`, deadline, (request) =>
      this.octokit.paginate(this.octokit.rest.repos.listInvitations, { owner: this.org, repo, per_page: 100, request }),
    );
    const found = all.find((i) => i.invitee?.login?.toLowerCase() === login.toLowerCase());
    return found ? { id: found.id, permission: permissionNamed(found.permissions) } : undefined;
  }

  /** The permission of `login`'s direct collaboration on `repo` (not through the organization or a team). */
  private async directCollaborator(repo: string, login: string, deadline: Date): Promise<RepoPermission | undefined> {
    const all = await this.api(`list the direct collaborators of ${this.org}/${repo}`, deadline, (request) =>
      this.octokit.paginate(this.octokit.rest.repos.listCollaborators, {
        owner: this.org,
        repo,
        affiliation: 'direct',
        per_page: 100,
        request,
      }),
    );
    const found = all.find((c) => c.login.toLowerCase() === login.toLowerCase());
    return found ? (permissionNamed(found.role_name) ?? highest(found.permissions)) : undefined;
  }

  private async hasPermission(repo: string, login: string, permission: RepoPermission, deadline: Date): Promise<boolean> {
    const level = await this.api(`read ${login}'s permission on ${this.org}/${repo}`, deadline, (request) =>
      this.octokit.rest.repos.getCollaboratorPermissionLevel({ owner: this.org, repo, username: login, request }),
    );
    const held = permissionNamed(level.data.role_name) ?? highest(level.data.user?.permissions);
    return held !== undefined && rank(held) >= rank(permission);
  }

  private api<T>(what: string, deadline: Date, work: (request: { signal: AbortSignal }) => Promise<T>): Promise<T> {
    return boundedCall({
      what: `${this.label}: ${what}`,
      deadline,
      attempt: (signal) => work({ signal }),
      classify: (err) => this.classify(err),
    });
  }

  private classify(err: unknown): AttemptFailure {
    const status = statusOf(err);
    const response = (err as { response?: { headers?: Record<string, string | undefined>; data?: { message?: unknown } } }).response;
    const headers = response?.headers ?? {};
    // Without a response (a network failure, which Octokit reports as status 500), the cause says what happened.
    const said = typeof response?.data?.message === 'string' ? response.data.message : networkErrorText(err);
    const message = scrubSecrets(`${status ? `HTTP ${status}: ` : ''}${said}`, this.secrets).slice(0, 400);
    if (status === undefined || status >= 500) return { retryable: true, message };
    if (status === 403 || status === 429) {
      const after = retryAfterMs(headers['retry-after']);
      if (after !== undefined) return { retryable: true, retryAfterMs: after, message };
      if (headers['x-ratelimit-remaining'] === '0')
        return { retryable: true, retryAfterMs: resetInMs(headers['x-ratelimit-reset']) ?? SECONDARY_LIMIT_WAIT_MS, message };
      if (status === 429 || /secondary rate limit/i.test(said)) return { retryable: true, retryAfterMs: SECONDARY_LIMIT_WAIT_MS, message };
      return {
        retryable: false,
        message: `${message} (the credentials lack the permission, or the team is synced with an identity provider, which refuses membership changes)`,
      };
    }
    return { retryable: false, message };
  }
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

/** The call's data, or undefined where GitHub answers 404 (no such membership, invitation, user). */
async function orUndefined<T>(call: Promise<{ data: T }>): Promise<T | undefined> {
  try {
    return (await call).data;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

function highest(flags: Partial<Record<RepoPermission, boolean>> | undefined | null): RepoPermission | undefined {
  return [...PERMISSIONS].reverse().find((p) => flags?.[p]);
}

/**
 * The github provider: team membership, or a repository collaborator permission, in one
 * organization. Logins come from `identities` only: a GitHub login cannot be derived from an e-mail.
 */
export const githubProvider = defineProvider({
  type: 'github',
  target: githubTargetSchema,
  access: githubAccessSchema,
  account: {
    derive: 'never',
    need: 'required',
    format: z.string().regex(GITHUB_LOGIN, 'expected a GitHub login (letters, digits and single dashes, at most 39 characters)'),
  },
  extension: 'native',
  overlap: {
    key: (access) => (access.team !== undefined ? `team:${access.team}` : `repo:${access.repo}:${access.permission}`),
    standing: 'inspected',
  },
  create: (target, env) => new GithubProvider(target, env.targetName),
});
