import type * as resourceManager from '@google-cloud/resource-manager';
import type { ProjectsClient } from '@google-cloud/resource-manager';
import type * as googleAuth from 'google-auth-library';
import type { AuthClient, GoogleAuth, OAuth2Client } from 'google-auth-library';
import { boundedCall, deadlineSignal, messageOf, networkErrorText } from '../deadline';
import type { AttemptFailure } from '../deadline';
import type {
  ExtendOptions,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { GCP_ACCOUNT, gcpIamAccessSchema, gcpIamTargetSchema, memberOf } from './config';
import type { GcpIamAccess, GcpIamTargetConfig } from './config';
import { editBindings, expiryExpression, holdsUnconditionally, jitBinding, memberCount, ownBinding } from './policy-edit';
import type { IamBinding, IamPolicy, PolicyEdit } from './policy-edit';
import { z } from 'zod';

/*
 * A conditional IAM binding per grant on a project, folder or organization (README “Providers”), through
 * Cloud Resource Manager v3 over REST (`fallback: true`): read the policy with
 * requestedPolicyVersion 3, change only jit-access's own bindings, write it back with the etag it
 * was read with and version 3. A concurrent change makes the write fail (409 ABORTED, or 412), and
 * the whole read-modify-write is redone. The etag is never left out: without one IAM accepts a
 * version-1 write over a version-3 policy and drops every condition in it, everyone's.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];
/** IAM's limit on members named in one policy (each occurrence counts). */
const MAX_POLICY_MEMBERS = 1500;

/** What the three Resource Manager clients have in common: the IAM methods. */
type IamClient = Pick<ProjectsClient, 'getIamPolicy' | 'setIamPolicy' | 'testIamPermissions' | 'close'>;

/** The permissions the bot needs on `resource`, by its kind. */
function neededPermissions(resource: string): string[] {
  const kind = resource.startsWith('projects/') ? 'projects' : resource.startsWith('folders/') ? 'folders' : 'organizations';
  return [`resourcemanager.${kind}.getIamPolicy`, `resourcemanager.${kind}.setIamPolicy`];
}

class GcpIamProvider implements TargetProvider<GcpIamAccess> {
  private readonly timeoutMs: number;
  private readonly secrets: string[];
  /** Application Default Credentials or a key (GoogleAuth), or a fixed token (OAuth2Client). */
  private readonly auth: { adc: GoogleAuth } | { token: OAuth2Client };
  private readonly clients = new Map<string, IamClient>();
  private readonly intercepted = new WeakSet<object>();

  constructor(
    private readonly config: GcpIamTargetConfig,
    private readonly targetName: string,
  ) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.secrets = [...secretVariants(config.accessToken), ...secretVariants(config.credentials)];
    // Node's own fetch: gaxios would load node-fetch with a dynamic import(), which jest cannot run.
    const transporterOptions = { fetchImplementation: fetch };
    // Loaded when the first gcp-iam target is created, not by every start-up.
    const { GoogleAuth, OAuth2Client } = require('google-auth-library') as typeof googleAuth;
    if (config.accessToken !== undefined) {
      const client = new OAuth2Client({ transporterOptions });
      client.setCredentials({ access_token: config.accessToken });
      this.auth = { token: client };
    } else {
      const adc = new GoogleAuth({
        scopes: SCOPES,
        ...(config.credentials !== undefined ? { credentials: JSON.parse(config.credentials) } : {}),
        clientOptions: { transporterOptions },
      });
      // What the Resource Manager clients set on their auth when they are created; set here as well
      // because the deadline interceptor asks for the auth client first: a service-account key then
      // signs its own JWT for the API instead of exchanging it at oauth2.googleapis.com.
      adc.useJWTAccessWithScope = true;
      this.auth = { adc };
    }
  }

  async holds(access: GcpIamAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    const member = this.memberFor(subject);
    const policy = await this.readPolicy(access.resource, opts.deadline);
    return holdsUnconditionally(policy, access.role, member);
  }

  async grant(access: GcpIamAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    await this.putOwnBinding(access, subject, opts.deadline, 'grant');
    return {};
  }

  /** Replaces the grant's binding by one with the new expiry (in one write: access never lapses in between). */
  async extend(access: GcpIamAccess, subject: GrantSubject, opts: ExtendOptions): Promise<void> {
    await this.putOwnBinding(access, subject, opts.deadline, 'extend');
  }

  /**
   * Removes this grant's binding and any other binding this target made for the same member and
   * role: the operations layer revokes only when no other grant of that access is active, so such
   * bindings belong to grants that already ended while this one kept the access (their own revoke
   * left it in place) and would otherwise live on until their own expiry.
   */
  async revoke(access: GcpIamAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    const member = this.memberFor(subject);
    await this.modify(access.resource, member, opts.deadline, `revoke ${access.role} from ${member}`, () => ({
      release: (b) => {
        const own = ownBinding(b);
        return b.role === access.role && (own?.requestId === subject.requestId || own?.target === this.targetName);
      },
    }));
  }

  async check(access: GcpIamAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    const wanted = neededPermissions(access.resource);
    try {
      const [answer] = await this.call(access.resource, deadline, 'test the bot’s permissions', (client) =>
        client.testIamPermissions({ resource: access.resource, permissions: wanted }),
      );
      const held = new Set(answer.permissions ?? []);
      const missing = wanted.filter((p) => !held.has(p));
      // A missing or forbidden resource also answers with an empty set (not NOT_FOUND).
      if (missing.length)
        return [`${this.label}: on ${access.resource} the bot lacks ${missing.join(' and ')} (or the resource does not exist)`];
      await this.readPolicy(access.resource, deadline);
      return [];
    } catch (err) {
      return [messageOf(err)];
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close().catch(() => undefined)));
    this.clients.clear();
  }

  private get label(): string {
    return `gcp-iam target ${this.targetName}`;
  }

  private memberFor(subject: FilingSubject): string {
    const account = subject.user.account;
    if (account === undefined || !GCP_ACCOUNT.test(account)) {
      // The value is left out: it is attacker-influenced and ends up in Slack and logs.
      throw new ProviderError(`${this.label}: no valid Google account (user:<e-mail>) known for ${subject.user.slackId}`, false);
    }
    return memberOf(account);
  }

  /** Adds (or replaces) the request's own binding, expiring at `subject.expiresAt`. */
  private async putOwnBinding(access: GcpIamAccess, subject: GrantSubject, deadline: Date, action: 'grant' | 'extend'): Promise<void> {
    const member = this.memberFor(subject);
    if (subject.expiresAt.getTime() <= Date.now())
      throw new ProviderError(`${this.label}: ${action} for ${member}: the expiry is in the past`, false);
    const wanted = jitBinding({
      requestId: subject.requestId,
      target: this.targetName,
      resourceId: subject.resourceId,
      role: access.role,
      member,
      expiresAt: subject.expiresAt,
    });
    const expression = expiryExpression(subject.expiresAt);
    await this.modify(access.resource, member, deadline, `${action} ${access.role} to ${member}`, () => ({
      // The request's earlier binding (another expiry: a retried grant, an extension) makes way for the new one.
      release: (b) => b.role === access.role && ownBinding(b)?.requestId === subject.requestId && b.condition?.expression !== expression,
      add: wanted,
    }));
  }

  /** Read, edit, write with the etag read; the whole cycle again when someone else wrote in between. */
  private async modify(resource: string, member: string, deadline: Date, what: string, edit: () => PolicyEdit): Promise<void> {
    await boundedCall({
      what: `${this.label}: ${what} on ${resource}`,
      deadline,
      backoffMs: 200,
      classify: (err) => this.classify(err),
      attempt: async () => {
        const policy = await this.getPolicy(resource);
        const { bindings, changed } = editBindings(policy, member, edit(), new Date());
        if (!changed) return;
        if (memberCount(bindings) > MAX_POLICY_MEMBERS) {
          throw new ProviderError(
            `${this.label}: the IAM policy of ${resource} would name ${memberCount(bindings)} members, more than IAM allows (${MAX_POLICY_MEMBERS}); remove bindings there, or grant through groups`,
            false,
          );
        }
        if (policy.etag === undefined || policy.etag === null || policy.etag.length === 0) {
          // Never: a write without the etag may turn the policy into version 1 and drop every condition.
          throw new ProviderError(`${this.label}: the IAM policy of ${resource} came without an etag; refusing to write it`);
        }
        await this.client(resource).setIamPolicy(
          {
            resource,
            policy: { ...policy, version: 3, bindings: bindings.map(plainBinding), etag: policy.etag },
            updateMask: { paths: ['bindings', 'etag'] },
          },
          { retry: null },
        );
      },
    });
  }

  private async readPolicy(resource: string, deadline: Date): Promise<IamPolicy> {
    return this.call(resource, deadline, 'read the IAM policy', () => this.getPolicy(resource));
  }

  private async getPolicy(resource: string): Promise<IamPolicy> {
    await this.interceptOnce();
    const [policy] = await this.client(resource).getIamPolicy({ resource, options: { requestedPolicyVersion: 3 } }, { retry: null });
    return policy;
  }

  private async call<T>(resource: string, deadline: Date, what: string, work: (client: IamClient) => Promise<T>): Promise<T> {
    return boundedCall({
      what: `${this.label}: ${what} of ${resource}`,
      deadline,
      classify: (err) => this.classify(err),
      attempt: async () => {
        await this.interceptOnce();
        return work(this.client(resource));
      },
    });
  }

  private client(resource: string): IamClient {
    const kind = resource.split('/')[0]!;
    let client = this.clients.get(kind);
    if (!client) {
      const url = new URL(this.config.apiEndpoint);
      const protocol = url.protocol.replace(':', '');
      const options = {
        fallback: true as const,
        apiEndpoint: url.hostname,
        port: Number(url.port || (protocol === 'http' ? 80 : 443)),
        protocol,
        ...('adc' in this.auth ? { auth: this.auth.adc } : { authClient: this.auth.token }),
      };
      const { FoldersClient, OrganizationsClient, ProjectsClient } = require('@google-cloud/resource-manager') as typeof resourceManager;
      client =
        kind === 'projects'
          ? new ProjectsClient(options)
          : kind === 'folders'
            ? new FoldersClient(options)
            : new OrganizationsClient(options);
      this.clients.set(kind, client);
    }
    return client;
  }

  /**
   * The REST transport ignores gax's `timeout` and its promise cannot be cancelled: the deadline's
   * signal reaches each HTTP request through an interceptor on the auth client's transporter, which
   * every API (and token) request goes through.
   */
  private async interceptOnce(): Promise<void> {
    const signer: AuthClient = 'adc' in this.auth ? ((await this.auth.adc.getClient()) as AuthClient) : this.auth.token;
    if (this.intercepted.has(signer)) return;
    this.intercepted.add(signer);
    signer.transporter.interceptors.request.add({
      resolved: async (config) => {
        const signal = deadlineSignal();
        if (signal) config.signal = config.signal ? AbortSignal.any([config.signal as AbortSignal, signal]) : signal;
        return config;
      },
    });
  }

  private classify(err: unknown): AttemptFailure {
    const status = httpStatusOf(err);
    const { status: code, message } = googleErrorOf(err);
    const text = scrubSecrets(`${status ? `HTTP ${status}${code ? ` ${code}` : ''}: ` : ''}${message}`, this.secrets).slice(0, 400);
    if (status === undefined) return { retryable: true, message: scrubSecrets(networkErrorText(err), this.secrets).slice(0, 400) }; // refused, reset, DNS
    // 409 ABORTED: "There were concurrent policy changes"; 412: jit-groups treats it the same way.
    if (status === 409 || status === 412 || status === 429 || status >= 500) return { retryable: true, message: text };
    return { retryable: false, message: text };
  }
}

/** The binding as the client sends it (no response-only null fields). */
function plainBinding(b: IamBinding): IamBinding {
  const condition = b.condition?.expression
    ? {
        expression: b.condition.expression,
        ...(b.condition.title ? { title: b.condition.title } : {}),
        ...(b.condition.description ? { description: b.condition.description } : {}),
      }
    : undefined;
  return { role: b.role, members: b.members ?? [], ...(condition ? { condition } : {}) };
}

/** The HTTP status of a GaxiosError (or a gax GoogleError), undefined for network errors. */
function httpStatusOf(err: unknown): number | undefined {
  const e = err as { response?: { status?: unknown }; status?: unknown; code?: unknown } | null;
  const status = e?.response?.status ?? e?.status ?? e?.code;
  return typeof status === 'number' && status >= 100 && status < 600 ? status : undefined;
}

/** Google's error body `{"error":{"code","message","status"}}`, which the REST transport puts in the message. */
function googleErrorOf(err: unknown): { status?: string; message: string } {
  const raw = bodyText(messageOf(err));
  try {
    const parsed = JSON.parse(raw) as { error?: { message?: unknown; status?: unknown } };
    if (parsed?.error && typeof parsed.error.message === 'string') {
      return { message: parsed.error.message, ...(typeof parsed.error.status === 'string' ? { status: parsed.error.status } : {}) };
    }
  } catch {
    // Not JSON: an HTML error page or a network error's own text.
  }
  return { message: raw.replace(/\s+/g, ' ').trim() };
}

/**
 * The body as text. Where the response's bytes come from another realm than gaxios' own (jest's
 * module sandbox, with Node's fetch), gaxios stringifies them as `123,34,101,…`: decode that.
 */
function bodyText(message: string): string {
  if (!/^\d{1,3}(,\d{1,3})+$/.test(message)) return message;
  return Buffer.from(message.split(',').map(Number)).toString('utf8');
}

/**
 * The gcp-iam provider: a conditional role binding per grant, which Google itself ends at the
 * expiry. Accounts are the requester's Google identity (`user:<e-mail>`; the whole e-mail when
 * derived).
 */
export const gcpIamProvider = defineProvider({
  type: 'gcp-iam',
  target: gcpIamTargetSchema,
  access: gcpIamAccessSchema,
  account: {
    derive: 'email',
    need: 'required',
    format: z
      .string()
      .regex(
        GCP_ACCOUNT,
        'expected a Google account e-mail (alice@example.com or user:alice@example.com); groups and service accounts are not accepted',
      ),
  },
  extension: 'native',
  overlap: {
    // Standing access is an unconditional binding of the role; jit-access's own bindings are per grant.
    key: (access) => `binding:${access.resource}:${access.role}`,
    standing: 'inspected',
  },
  create: (target, env) => new GcpIamProvider(target, env.targetName),
});
