import type { z } from 'zod';

/*
 * The provider seam. A provider is one folder, src/providers/<type>/, exporting one
 * `defineProvider({...})` and listed once in src/providers/catalog.ts. From that list the policy
 * schema (targets, inline providers, identities), log redaction and the runtime registry are built.
 *
 * Shape (after common-fate/glide's targets and optional capability interfaces):
 * - a *target* is one configured connection (`targets:` in the policy, or an inline `provider:`,
 *   which is its own target). `create()` makes one instance per target: one pool, shared by every
 *   resource that names the target;
 * - each call takes the resource's own *access* settings (`role`, `mode`, …) and the subject;
 * - what a provider cannot do it declares, rather than stubbing: `extension` says what happens to
 *   an extension, `overlap` whether grants of one access can be told apart from standing access.
 *
 * Every call is idempotent (calling it twice is harmless) and honours its deadline; errors are
 * ProviderErrors whose text may reach Slack (the registry scrubs secret values from them as well).
 * test/providers/contract.ts is the suite every provider passes.
 */

/** Who the access is for, as resolved and stored when the request was filed. */
export interface ProviderUser {
  slackId: string;
  email?: string;
  /** Account in the target system (policy `identities`, or derived from an e-mail in `emailDomains`). */
  account?: string;
  /** What `validate()` resolved the account to when the request was filed (a user ID, an ARN). */
  principal?: string;
  /**
   * The requester's SSH public key (one OpenSSH line), registered with `/jit-access ssh-key` and
   * copied onto the request when it was filed; given to providers whose definition `needs` it.
   */
  sshPublicKey?: string;
}

/**
 * What a provider needs the requester to have registered with jit-access, beyond an account. The
 * operations layer looks it up when the request is filed (refusing, with how to register, when it
 * is missing), stores it on the request, shows it to approvers, and passes it in `subject.user`.
 */
export type RequesterNeed = 'sshPublicKey';

export interface FilingSubject {
  resourceId: string;
  user: ProviderUser;
}

export interface GrantSubject extends FilingSubject {
  /** The request ID; providers use it as an idempotency key. */
  requestId: string;
  reason: string;
  expiresAt: Date;
}

export interface ProviderCallOptions {
  /** Absolute time after which the call must give up and fail. */
  deadline: Date;
}

export interface CheckOptions extends ProviderCallOptions {
  /**
   * `operator`: `npm run check`, asked for. `start-up`: the bot's own warnings, at every start of
   * every replica. A probe that calls into someone else's code (a webhook receiver) runs only for an
   * operator; at start-up it reports nothing.
   */
  occasion: 'operator' | 'start-up';
}

export interface RevokeOptions extends ProviderCallOptions {
  /** What grant() returned as `details`, so revoke (and extend) can find what it created. */
  details?: Record<string, string>;
}

export interface ExtendOptions extends RevokeOptions {
  /** The extension's own ID: one extension, one idempotency key (`<requestId>:extend:<extensionId>`). */
  extensionId: string;
}

export interface GrantResult {
  /**
   * Secret details for the requester only (e.g. ephemeral database credentials).
   * Sent by DM, never logged, never stored.
   */
  secretForRequester?: { title: string; fields: Array<{ label: string; value: string }> };
  /** Non-secret details worth keeping on the request (e.g. the ephemeral role name). */
  details?: Record<string, string>;
  /**
   * Non-secret plain text the requester must know about the grant, shown in the "approved" DM
   * (e.g. "GitHub sent you an invitation: the access starts once you accept it").
   */
  notice?: string;
}

/** What `validate()` found when the request was filed; a refusal's reason is shown to the requester. */
export type FilingCheck = { ok: true; principal?: string } | { ok: false; reason: string };

/** One target's connection (a pool, a client); its calls take a resource's access settings. */
export interface TargetProvider<Access> {
  /**
   * Optional: checks the subject when the request is filed, before anyone is asked to approve
   * (the account exists, can log in, is not a group role), and may resolve it to a principal
   * stored on the request. Refusals are `{ ok: false }`; a thrown error means "could not check".
   */
  validate?(access: Access, subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck>;
  grant(access: Access, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult>;
  revoke(access: Access, subject: GrantSubject, opts: RevokeOptions): Promise<void>;
  /** Required when the definition says `extension: 'native'`; moves an active grant's expiry. */
  extend?(access: Access, subject: GrantSubject, opts: ExtendOptions): Promise<void>;
  /**
   * Required when the definition's `overlap.standing` is `'inspected'`: does the account hold this
   * access right now, whoever gave it? Asked once, before a request's first grant attempt.
   */
  holds?(access: Access, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean>;
  /**
   * Optional probe of one resource on this target with the bot's own credentials, for `npm run check`
   * and the start-up warnings: reachable, allowed to grant and revoke, the role / group / permission
   * set exists. One problem per string (prefixed with the provider's label), empty when fine. It must
   * change nothing in the target (nothing granted), finish by `opts.deadline`, and report rather than
   * throw what it finds, an unreachable target included.
   */
  check?(access: Access, opts: CheckOptions): Promise<string[]>;
  close?(): Promise<void>;
}

/** How a target names people, and what a request needs (README “Who gets the access”). */
export interface AccountRule<Access> {
  /**
   * The account derived from a Slack e-mail in `emailDomains` when `identities` names none: its
   * local part (databases, LDAP, SSH principals), the whole address (cloud identity providers), or
   * never (identities only, e.g. GitHub logins).
   */
  derive: 'local-part' | 'email' | 'never';
  /**
   * `required`: a request without an account is refused when it is filed. `optional`: the provider
   * works without one (a webhook sends what it has). May depend on the resource's settings.
   */
  need: 'required' | 'optional' | ((access: Access) => 'required' | 'optional');
  /** What an account looks like in this target; checked on `identities` at load and on derived ones at filing. */
  format: z.ZodType<string>;
}

/**
 * The account rule of a database provider with a grant mode and an ephemeral mode: the e-mail's
 * local part, required to grant a role to it; optional in ephemeral mode, which creates the login
 * (the account, when there is one, only names it).
 */
export function grantOrEphemeralAccount<Access extends { mode: string }>(format: z.ZodType<string>): AccountRule<Access> {
  return { derive: 'local-part', need: (access) => (access.mode === 'ephemeral' ? 'optional' : 'required'), format };
}

/**
 * Standing access and overlapping grants (README “Standing access and overlapping grants”), kept by the operations layer with the
 * store (see src/operations/access-bookkeeping.ts); the provider only says what its grants are:
 * - `key(access)`: what a grant gives inside the target (`role:orders_readonly`), the same for two
 *   resources that give the same access; `undefined` when every grant creates its own (an
 *   ephemeral login), which can neither overlap nor be standing;
 * - `standing: 'inspected'`: `holds()` reads whether the account already has it;
 *   `'not-inspectable'`: the target cannot say, so access someone held before may be revoked.
 * `'none'`: the target keeps its own books (a webhook receiver gets every call with its request ID).
 *
 * @public
 */
export type OverlapRule<Access> = { key(access: Access): string | undefined; standing: 'inspected' | 'not-inspectable' } | 'none';

/**
 * What jit-access hands a provider's `create()` besides its config.
 *
 * @public
 */
export interface ProviderEnv {
  /** The target's name (the resource ID for an inline provider), for messages. */
  targetName: string;
}

export interface ProviderDefinition<T extends z.ZodObject = z.ZodObject, A extends z.ZodObject = z.ZodObject> {
  /** The `type:` in the policy: lowercase letters, digits and dashes. */
  type: string;
  /** Connection settings, written once per target. Mark secrets with `secret()`. */
  target: T;
  /** Each resource's own settings (the role, the group). Mark secrets with `secret()`. */
  access: A;
  account: AccountRule<z.output<A>>;
  /** What requesters must have registered (see RequesterNeed); default none. */
  needs?: readonly RequesterNeed[];
  /**
   * An approved extension: `native` calls extend(); `regrant` calls grant() again with the new
   * expiry (a new certificate); `refuse` refuses extensions when they are requested.
   */
  extension: 'native' | 'regrant' | 'refuse';
  overlap: OverlapRule<z.output<A>>;
  /**
   * Optional: what approvers must know about this kind of access that its revocation does not
   * undo (e.g. cloud sessions that outlive the grant). Shown on every approval message of its
   * resources, as plain text.
   */
  caveat?: string;
  create(target: z.output<T>, env: ProviderEnv): TargetProvider<z.output<A>>;
}

/** Any provider's definition, as the catalog holds them. */
export type AnyProviderDefinition = ProviderDefinition<any, any>;

const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;

/**
 * Declares a provider. Checks what can be checked without a target (the type's spelling, target
 * and access keys apart); the instance's capabilities are checked by the registry when created.
 */
export function defineProvider<T extends z.ZodObject, A extends z.ZodObject>(
  definition: ProviderDefinition<T, A>,
): ProviderDefinition<T, A> {
  if (!TYPE_PATTERN.test(definition.type))
    throw new Error(`provider type ${JSON.stringify(definition.type)}: expected lowercase letters, digits and dashes`);
  const both = Object.keys(definition.target.shape).filter((key) => key in definition.access.shape);
  if (both.length) throw new Error(`provider ${definition.type}: ${both.join(', ')} cannot be both a target key and an access key`);
  for (const reserved of ['type', 'target']) {
    if (reserved in definition.target.shape || reserved in definition.access.shape) {
      throw new Error(`provider ${definition.type}: "${reserved}" is reserved for the policy`);
    }
  }
  return definition;
}

/** The capabilities a definition declares that its instance must implement. */
export function missingCapabilities(definition: AnyProviderDefinition, instance: TargetProvider<unknown>): string[] {
  const missing: string[] = [];
  if (definition.extension === 'native' && typeof instance.extend !== 'function')
    missing.push("extend() (it declares extension: 'native')");
  if (definition.overlap !== 'none' && definition.overlap.standing === 'inspected' && typeof instance.holds !== 'function') {
    missing.push("holds() (it declares overlap.standing: 'inspected')");
  }
  return missing;
}

/** A failure the provider reports; `retryable: false` stops retries early (e.g. bad identity). */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly retryable = true,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}
