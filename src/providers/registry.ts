import type { Logger } from 'pino';
import { accountRuleOf, ResourceAccountRule } from '../policy/identities';
import type { Policy, Resource, Target } from '../policy/policy';
import { providerDefinition } from './catalog';
import type {
  AnyProviderDefinition,
  CheckOptions,
  ExtendOptions,
  FilingCheck,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RequesterNeed,
  RevokeOptions,
  TargetProvider,
} from './provider';
import { missingCapabilities, ProviderError } from './provider';
import { withoutRetries } from './deadline';
import { scrubSecrets } from './secrets';

/**
 * A resource's view of its provider: the target's instance bound to the resource's own settings,
 * with what the definition declares. Everything the operations layer needs, nothing it must know
 * about a particular provider. Error texts are scrubbed of every secret of the policy.
 */
export interface ResourceProvider {
  readonly resourceId: string;
  readonly type: string;
  /** The target's name (the resource ID for an inline provider). */
  readonly target: string;
  readonly account: ResourceAccountRule;
  /** What the requester must have registered (the definition's `needs`). */
  readonly needs: readonly RequesterNeed[];
  readonly extension: AnyProviderDefinition['extension'];
  /** Whether holds() can tell standing access (the definition's `overlap.standing: 'inspected'`). */
  readonly inspectsStanding: boolean;
  /**
   * What a grant for `account` gives, the same for every resource and request that gives that same
   * access in this target; undefined when grants of this resource never overlap (see OverlapRule).
   */
  accessKey(account: string | undefined): string | undefined;
  /** The provider's filing-time check; `{ ok: true }` for a provider that has none. */
  validate(subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck>;
  holds(subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean>;
  grant(subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult>;
  revoke(subject: GrantSubject, opts: RevokeOptions): Promise<void>;
  /** `extension: 'native'` only; the operations layer re-grants or refuses for the others. */
  extend(subject: GrantSubject, opts: ExtendOptions): Promise<void>;
  /**
   * The provider's probe of this resource (see TargetProvider.check), bounded by `opts.deadline`
   * (default: CHECK_TIMEOUT_MS from now) and `opts.occasion` (default `operator`); problems come back
   * scrubbed of every secret of the policy. A provider without a probe has no problems to report.
   */
  check(opts?: Partial<CheckOptions>): Promise<string[]>;
  /** Whether the provider has a probe at all. */
  readonly checks: boolean;
}

/**
 * How a registry gets each target's instance: by default a new one; a policy reload passes the
 * running instance of a target whose settings did not change (src/providers/providers-in-force.ts).
 */
export type InstanceSource = (target: Target, create: () => TargetProvider<unknown>) => TargetProvider<unknown>;

/** How long one resource's probe may take when the caller gives no deadline. */
const CHECK_TIMEOUT_MS = 10_000;

/** One provider instance per target (one pool), created at start-up and closed on shutdown. */
export class ProviderRegistry {
  private readonly instances = new Map<string, TargetProvider<unknown>>();
  private readonly bindings = new Map<string, ResourceProvider>();

  constructor(
    private readonly policy: Policy,
    instanceFor: InstanceSource = (_target, create) => create(),
  ) {
    for (const target of Object.values(policy.targets)) {
      const definition = requireDefinition(target.type);
      const instance = instanceFor(
        target,
        () => definition.create(target.settings, { targetName: target.name }) as TargetProvider<unknown>,
      );
      const missing = missingCapabilities(definition, instance);
      // A bug in the provider, not in the policy: its definition promises what its instance lacks.
      if (missing.length) throw new Error(`provider ${definition.type} lacks ${missing.join(' and ')}`);
      this.instances.set(target.name, instance);
    }
  }

  forResource(resourceId: string): ResourceProvider {
    let binding = this.bindings.get(resourceId);
    if (!binding) {
      const resource = this.policy.resources.find((r) => r.id === resourceId);
      if (!resource) throw new ProviderError(`resource ${resourceId} is not in the policy`);
      binding = this.bind(resource);
      this.bindings.set(resourceId, binding);
    }
    return binding;
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.instances.values()].map((p) => p.close?.()));
  }

  /**
   * Start-up checks: problems are warnings, never a reason to refuse to start. One resource after
   * another, in policy order (tests and operators read the warnings in that order); each probe is
   * bounded, and makes one attempt per call, so a dead target costs little.
   */
  async check(logger: Logger, onlyTargets?: ReadonlySet<string>): Promise<void> {
    for (const resource of this.policy.resources) {
      if (onlyTargets && !onlyTargets.has(resource.provider.target)) continue;
      try {
        for (const problem of await this.forResource(resource.id).check({ occasion: 'start-up' }))
          logger.warn({ resource: resource.id }, `provider check: ${problem}`);
      } catch (err) {
        logger.warn({ resource: resource.id, err: (err as Error).message }, 'provider check failed');
      }
    }
  }

  private bind(resource: Resource): ResourceProvider {
    const { target, type, access } = resource.provider;
    const definition = requireDefinition(type);
    const instance = this.instances.get(target);
    if (!instance) throw new ProviderError(`target ${target} of resource ${resource.id} has no provider instance`);
    const secrets = this.policy.secrets;
    /** Every call's error, whatever threw it, as a ProviderError without secrets in its text. */
    const guarded = async <T>(call: () => Promise<T>): Promise<T> => {
      try {
        return await call();
      } catch (err) {
        const message = scrubSecrets(err instanceof Error ? err.message : String(err), secrets);
        throw new ProviderError(message, err instanceof ProviderError ? err.retryable : true);
      }
    };
    const overlap = definition.overlap;
    const key = overlap === 'none' ? undefined : overlap.key(access);
    return {
      resourceId: resource.id,
      type,
      target,
      account: accountRuleOf(resource.provider),
      needs: definition.needs ?? [],
      extension: definition.extension,
      inspectsStanding: overlap !== 'none' && overlap.standing === 'inspected' && key !== undefined,
      // JSON keeps the parts apart whatever characters an account may hold.
      accessKey: (account) => (key === undefined || account === undefined ? undefined : JSON.stringify([target, key, account])),
      validate: (subject, opts) =>
        guarded(async () => {
          const found = (await instance.validate?.(access, subject, opts)) ?? { ok: true };
          return found.ok ? found : { ok: false, reason: scrubSecrets(found.reason, secrets) };
        }),
      holds: (subject, opts) =>
        guarded(async () => {
          if (!instance.holds) throw new ProviderError(`${type} target ${target} cannot read what an account holds`, false);
          return instance.holds(access, subject, opts);
        }),
      grant: (subject, opts) => guarded(() => instance.grant(access, subject, opts)),
      revoke: (subject, opts) => guarded(() => instance.revoke(access, subject, opts)),
      extend: (subject, opts) =>
        guarded(async () => {
          if (!instance.extend)
            throw new ProviderError(`${type} target ${target} cannot extend a grant (extension: ${definition.extension})`, false);
          await instance.extend(access, subject, opts);
        }),
      checks: typeof instance.check === 'function',
      check: ({ deadline = new Date(Date.now() + CHECK_TIMEOUT_MS), occasion = 'operator' } = {}) =>
        // One attempt per call: a probe names a refused connection at once rather than at its deadline.
        guarded(async () =>
          ((await withoutRetries(async () => instance.check?.(access, { deadline, occasion }))) ?? []).map((problem) =>
            scrubSecrets(problem, secrets),
          ),
        ),
    };
  }
}

function requireDefinition(type: string): AnyProviderDefinition {
  const definition = providerDefinition(type);
  // The policy loader only lets known types through; this is a policy object built some other way.
  if (!definition) throw new Error(`unknown provider type ${JSON.stringify(type)}`);
  return definition;
}
