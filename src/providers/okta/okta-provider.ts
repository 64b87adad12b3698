import type * as okta from '@okta/okta-sdk-nodejs';
import { z } from 'zod';
import { boundedCall, deadlineSignal, messageOf, networkErrorText, resetInMs } from '../deadline';
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
import { rolesProblem } from './check';
import type { AdminRole } from './check';
import { OKTA_LOGIN, OKTA_USER_ID, oktaAccessSchema, oktaTargetSchema } from './config';
import type { OktaAccess, OktaTargetConfig } from './config';

/*
 * Membership of an Okta group (README “Providers”), with @okta/okta-sdk-nodejs. The login is resolved to
 * the user's ID when the request is filed (and refused if Okta has no such active user); grant and
 * revoke are PUT and DELETE /api/v1/groups/{groupId}/users/{userId}.
 * - Only OKTA_GROUP groups can change membership through the API (APP_GROUP ones are imported from
 *   an app such as Active Directory, BUILT_IN is Everyone): check() says so at start-up.
 * - Group rules assign members on their own: check() warns when one targets the group (Okta puts a
 *   rule-assigned user that the API removes on the rule's exclusion list, and a rule can re-add one).
 * - 429 with X-Rate-Limit-Reset is retryable: waited out when the reset fits in the call's deadline.
 * The SDK is configured explicitly in every respect: it would otherwise merge ~/.okta/okta.yaml,
 * ./okta.yaml and OKTA_CLIENT_* into the client, cache single resources forever in memory (a group's
 * type, a user's status), and retry a 429 for as long as the reset takes.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
/** Okta's users that cannot use a membership: jit-access refuses them at filing. */
const UNUSABLE_STATUS = new Set(['DEPROVISIONED', 'SUSPENDED']);

/**
 * The SDK, loaded when the first okta target is created: it takes seconds to load, which every
 * start-up (and every bot without an okta target) would otherwise pay.
 */
function oktaSdk(): typeof okta {
  return require('@okta/okta-sdk-nodejs') as typeof okta;
}

/** The SDK's plain executor (no retries of its own), with the bounded call's abort signal on every request. */
function deadlineRequestExecutor(sdk: typeof okta): okta.RequestExecutor {
  return new (class extends sdk.RequestExecutor {
    override fetch(request: Parameters<okta.RequestExecutor['fetch']>[0]) {
      const signal = deadlineSignal();
      // node-fetch takes `signal` in its options; the SDK's RequestOptions type leaves it out.
      if (signal) (request as { signal?: AbortSignal }).signal = signal;
      return super.fetch(request);
    }
  })();
}

class OktaProvider implements TargetProvider<OktaAccess> {
  /** The SDK's client (named so the Slack scope scan of src/ does not take its calls for Web API ones). */
  private readonly sdk: okta.Client;
  private readonly timeoutMs: number;
  private readonly secrets: string[];

  constructor(
    config: OktaTargetConfig,
    private readonly targetName: string,
  ) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.secrets = secretVariants(config.token);
    const sdk = oktaSdk();
    const settings: ConstructorParameters<typeof okta.Client>[0] & { userAgent: string } = {
      orgUrl: config.orgUrl.replace(/\/$/, ''),
      token: config.token,
      authorizationMode: 'SSWS',
      userAgent: 'jit-access',
      cacheMiddleware: null,
      requestExecutor: deadlineRequestExecutor(sdk),
    };
    try {
      this.sdk = new sdk.Client(settings);
    } catch (err) {
      // E.g. a malformed ~/.okta/okta.yaml or ./okta.yaml, which the SDK reads whatever it is given.
      // First line only: the YAML parser quotes the file's lines after it, which may hold a token.
      const why = scrubSecrets(messageOf(err).split('\n')[0]!.trim(), this.secrets);
      throw new Error(`${this.label}: the Okta SDK refused to start (${why}); check ~/.okta/okta.yaml and ./okta.yaml, which it reads`);
    }
  }

  /** At filing: the login must be an Okta user who can use the membership; stores their user ID. */
  async validate(_access: OktaAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck> {
    const login = subject.user.account;
    if (login === undefined || !OKTA_LOGIN.test(login))
      return {
        ok: false,
        reason: `There is no valid Okta login for you in ${this.targetName}. Ask a policy admin to add yours to \`identities\`.`,
      };
    const user = await this.findUser(login, opts.deadline);
    if (!user)
      return {
        ok: false,
        reason: `Okta (${this.targetName}) has no user \`${login}\`. Ask a policy admin to map you to your Okta login in \`identities\`.`,
      };
    if (UNUSABLE_STATUS.has(user.status ?? ''))
      return {
        ok: false,
        reason: `Your Okta user \`${login}\` in ${this.targetName} is ${user.status}: a group membership would not let it sign in.`,
      };
    return { ok: true, principal: user.id! };
  }

  async holds(access: OktaAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    const userId = await this.userIdOf(subject, opts.deadline);
    if (userId === undefined) return false;
    return this.call(`read the groups of user ${userId}`, opts.deadline, async () => {
      for await (const group of await this.sdk.userApi.listUserGroups({ userId })) if (group?.id === access.groupId) return true;
      return false;
    });
  }

  async grant(access: OktaAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    const userId = await this.userIdOf(subject, opts.deadline);
    if (userId === undefined)
      throw new ProviderError(`${this.label}: Okta has no user ${subject.user.account ?? '(none)'} any more`, false);
    // Adding an existing member answers 204 again: retries are harmless.
    await this.call(`add user ${userId} to group ${access.groupId}`, opts.deadline, () =>
      this.sdk.groupApi.assignUserToGroup({ groupId: access.groupId, userId }),
    );
    return {};
  }

  /** A membership has no expiry in Okta: the bot's own timer ends it. */
  async extend(): Promise<void> {}

  async revoke(access: OktaAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    const userId = await this.userIdOf(subject, opts.deadline);
    if (userId === undefined) return; // no such user: no membership
    await this.call(`remove user ${userId} from group ${access.groupId}`, opts.deadline, () =>
      this.sdk.groupApi
        .unassignUserFromGroup({ groupId: access.groupId, userId })
        .catch((err: unknown) => (statusOf(err) === 404 ? undefined : Promise.reject(err))),
    );
  }

  async check(access: OktaAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    try {
      const group = await this.call(`read group ${access.groupId}`, deadline, () =>
        this.sdk.groupApi
          .getGroup({ groupId: access.groupId })
          .catch((err: unknown) => (statusOf(err) === 404 ? undefined : Promise.reject(err))),
      );
      if (!group) return [`${this.label}: no group ${access.groupId} (or the token cannot see it)`];
      const name = group.profile?.name ?? access.groupId;
      if (group.type !== 'OKTA_GROUP') {
        return [
          `${this.label}: group ${name} (${access.groupId}) is of type ${group.type}: only OKTA_GROUP memberships can be changed through the API (APP_GROUP members come from the app's imports, BUILT_IN is Everyone)`,
        ];
      }
      return [...(await this.checkRoles(access.groupId, name, deadline)), ...(await this.checkRules(access.groupId, name, deadline))];
    } catch (err) {
      return [messageOf(err)];
    }
  }

  private get label(): string {
    return `okta target ${this.targetName}`;
  }

  /** Whether the token's user may change the group's members, where its roles can be read (else nothing to say). */
  private async checkRoles(groupId: string, name: string, deadline: Date): Promise<string[]> {
    const roles = await this.call("read the token's admin roles", deadline, async () => {
      const me = await this.sdk.userApi.getUser({ userId: 'me' });
      const found: AdminRole[] = [];
      try {
        for await (const role of await this.sdk.roleAssignmentApi.listAssignedRolesForUser({ userId: me.id! })) {
          const r = role as { id?: string; type?: string };
          const groups: string[] = [];
          if (r.type === 'GROUP_MEMBERSHIP_ADMIN' || r.type === 'USER_ADMIN') {
            for await (const g of await this.sdk.roleTargetApi.listGroupTargetsForRole({ userId: me.id!, roleId: r.id! }))
              if (g?.id) groups.push(g.id);
          }
          found.push({ type: r.type ?? '?', groups });
        }
      } catch (err) {
        if (statusOf(err) === 403) return undefined; // the token may not read roles: nothing to judge
        throw err;
      }
      return found;
    });
    const problem = roles && rolesProblem(roles, groupId);
    return problem ? [`${this.label}: group ${name} (${groupId}): ${problem}`] : [];
  }

  private async checkRules(groupId: string, name: string, deadline: Date): Promise<string[]> {
    let rules: string[];
    try {
      rules = await this.call('list the group rules', deadline, async () => {
        const found: string[] = [];
        for await (const rule of await this.sdk.groupApi.listGroupRules({ limit: 200 })) {
          if (rule?.status === 'ACTIVE' && rule.actions?.assignUserToGroups?.groupIds?.includes(groupId))
            found.push(rule.name ?? rule.id ?? '?');
        }
        return found;
      });
    } catch (err) {
      return [
        `${this.label}: could not read the group rules (${messageOf(err)}); if a rule assigns users to ${name}, it can add them back after a revoke`,
      ];
    }
    if (!rules.length) return [];
    return [
      `${this.label}: group rule(s) ${rules.join(', ')} assign users to ${name} (${groupId}): a user a rule added before the grant keeps the membership (standing access), ` +
        'but a rule can add a revoked user back, and Okta puts a rule-assigned user that jit-access removes on the rule’s exclusion list',
    ];
  }

  /** The user's ID: as resolved at filing, else (a request filed before that existed) looked up by login now. */
  private async userIdOf(subject: FilingSubject, deadline: Date): Promise<string | undefined> {
    const principal = subject.user.principal;
    if (principal !== undefined && OKTA_USER_ID.test(principal)) return principal;
    const login = subject.user.account;
    if (login === undefined || !OKTA_LOGIN.test(login))
      throw new ProviderError(`${this.label}: no valid Okta login known for ${subject.user.slackId}`, false);
    return (await this.findUser(login, deadline))?.id;
  }

  private findUser(login: string, deadline: Date): Promise<okta.User | undefined> {
    return this.call(`look up the user ${login}`, deadline, () =>
      this.sdk.userApi.getUser({ userId: login }).catch((err: unknown) => (statusOf(err) === 404 ? undefined : Promise.reject(err))),
    );
  }

  private call<T>(what: string, deadline: Date, work: () => Promise<T>): Promise<T> {
    return boundedCall({ what: `${this.label}: ${what}`, deadline, attempt: work, classify: (err) => this.classify(err) });
  }

  private classify(err: unknown): AttemptFailure {
    const status = statusOf(err);
    const e = err as {
      errorCode?: unknown;
      errorSummary?: unknown;
      errorCauses?: Array<{ errorSummary?: string }>;
      headers?: { get?(name: string): string | null };
    };
    const summary =
      typeof e.errorSummary === 'string'
        ? `${String(e.errorCode ?? '')} ${e.errorSummary}${e.errorCauses?.length ? `: ${e.errorCauses.map((c) => c.errorSummary).join('; ')}` : ''}`.trim()
        : networkErrorText(err).replace(/\s+/g, ' ');
    const message = scrubSecrets(`${status ? `HTTP ${status}: ` : ''}${summary}`, this.secrets).slice(0, 400);
    if (status === 429) return { retryable: true, message, retryAfterMs: rateLimitWaitMs(e.headers) };
    if (status === undefined || status >= 500) return { retryable: true, message };
    return { retryable: false, message };
  }
}

/**
 * Until X-Rate-Limit-Reset, measured against the server's own clock (its Date header) as Okta's SDK
 * does, so a skewed local clock neither hammers nor stalls.
 */
function rateLimitWaitMs(headers: { get?(name: string): string | null } | undefined): number | undefined {
  const reset = headers?.get?.('x-rate-limit-reset');
  const serverNow = Date.parse(headers?.get?.('date') ?? '');
  return resetInMs(reset, Number.isNaN(serverNow) ? Date.now() : serverNow);
}

function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The okta provider: membership of one Okta group per resource, by user ID. Accounts are Okta
 * logins (the whole e-mail when derived), resolved to the user's ID when the request is filed.
 */
export const oktaProvider = defineProvider({
  type: 'okta',
  target: oktaTargetSchema,
  access: oktaAccessSchema,
  account: {
    derive: 'email',
    need: 'required',
    format: z.string().regex(OKTA_LOGIN, 'expected an Okta login (no spaces or slashes, at most 100 characters)'),
  },
  extension: 'native',
  overlap: { key: (access) => `group:${access.groupId}`, standing: 'inspected' },
  create: (target, env) => new OktaProvider(target, env.targetName),
});
