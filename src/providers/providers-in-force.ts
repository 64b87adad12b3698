import type { Logger } from 'pino';
import type { Policy, Target } from '../policy/policy';
import { ProviderError, type TargetProvider } from './provider';
import { ProviderRegistry, type ResourceProvider } from './registry';
import { measuredProvider, type ProviderCallObserver } from './measured-provider';

const CALLS = ['validate', 'grant', 'revoke', 'extend', 'holds', 'check'] as const;

/**
 * A target's instance with its calls in flight counted, so a reload can close it once they are
 * done. A call that reaches it after it was retired (an operation that held the old binding between
 * two attempts) goes to the instance that replaced it, or fails retryably when the target is gone.
 */
class TrackedInstance {
  readonly provider: TargetProvider<unknown>;
  private inFlight = 0;
  private drained?: () => void;
  private retired = false;
  successor?: TrackedInstance;

  constructor(
    readonly target: Target,
    readonly inner: TargetProvider<unknown>,
  ) {
    const provider: Record<string, unknown> = {};
    for (const name of CALLS) {
      // Only what the instance has: the registry checks capabilities by the methods present.
      if (typeof inner[name] !== 'function') continue;
      provider[name] = (...args: unknown[]) => this.call(name, args);
    }
    provider.close = () => this.close();
    this.provider = provider as unknown as TargetProvider<unknown>;
  }

  private async call(name: (typeof CALLS)[number], args: unknown[]): Promise<unknown> {
    if (this.retired) {
      if (this.successor) return (this.successor.provider[name] as (...a: unknown[]) => Promise<unknown>)(...args);
      throw new ProviderError(`target ${this.target.name} was removed from the policy by a reload`);
    }
    this.inFlight++;
    try {
      return await (this.inner[name] as (...a: unknown[]) => Promise<unknown>).apply(this.inner, args);
    } finally {
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  /** Takes no new calls; closes the connection once the calls in flight have finished. */
  async retire(): Promise<void> {
    this.retired = true;
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    await this.inner.close?.();
  }

  close(): Promise<void> {
    return this.retire();
  }
}

/** What a reload did to the providers, for the log. */
export interface ProviderReload {
  /** Targets whose instance was created anew (new, or their settings changed). */
  created: string[];
  /** Targets whose running instance (and pool) was kept. */
  kept: string[];
  /** Targets whose old instance is closed once its calls in flight finish. */
  closed: string[];
  /** Resources removed from the policy with requests still open: served by their old provider. */
  retained: string[];
}

/**
 * The providers of the policy in force (PRODUCT.md §8, policy reload). A reload builds a new
 * registry over the new policy, keeping the running instance of every target whose type and
 * settings are unchanged (one pool, no reconnect), creating the others, and closing replaced
 * instances once their calls finish.
 *
 * A resource removed from the policy while it has open requests keeps its old binding (and that
 * binding's instance stays open), so its grants still expire and are revoked with the provider they
 * were granted with. Settings are never stored in MongoDB (they hold secrets), so this lasts as
 * long as the process: after a restart, such a grant's revocation fails loudly and is retried
 * until the resource is put back into the policy (the reload logs a warning saying so).
 */
export class ProvidersInForce {
  private registry: ProviderRegistry;
  private policy: Policy;
  private running = new Map<string, TrackedInstance>();
  /** Removed resources with open requests: their old binding and the instance it uses. */
  private readonly retained = new Map<string, { binding: ResourceProvider; instance: TrackedInstance }>();
  private readonly measured = new WeakMap<ResourceProvider, ResourceProvider>();
  /** Settles once the instances the last reload or sweep replaced are closed. */
  closing: Promise<void> = Promise.resolve();

  constructor(
    policy: Policy,
    private readonly observer?: ProviderCallObserver,
  ) {
    this.policy = policy;
    const built = this.build(policy, new Map());
    this.registry = built.registry;
    this.running = built.running;
  }

  forResource(resourceId: string): ResourceProvider {
    const retained = this.policy.resources.some((r) => r.id === resourceId) ? undefined : this.retained.get(resourceId);
    return this.withMetrics(retained ? retained.binding : this.registry.forResource(resourceId));
  }

  /**
   * Swaps in the providers of `next` (synchronously: the caller swaps the policy in the same tick);
   * `openResources` are the resource IDs with open requests, on any replica. Throws, changing
   * nothing, when a target's instance cannot be created.
   */
  reload(next: Policy, openResources: ReadonlySet<string>): ProviderReload {
    const previous = { registry: this.registry, policy: this.policy, running: this.running };
    const fresh = new Map<string, TrackedInstance>();
    let built: { registry: ProviderRegistry; running: Map<string, TrackedInstance> };
    try {
      built = this.build(next, previous.running, fresh);
    } catch (err) {
      for (const instance of fresh.values()) void instance.retire().catch(() => undefined);
      throw err;
    }
    const report: ProviderReload = { created: [...fresh.keys()], kept: [], closed: [], retained: [] };
    for (const [name, instance] of built.running) if (previous.running.get(name) === instance) report.kept.push(name);
    const stillIn = new Set(next.resources.map((r) => r.id));
    for (const id of [...this.retained.keys()]) if (stillIn.has(id) || !openResources.has(id)) this.retained.delete(id);
    for (const resource of previous.policy.resources) {
      if (stillIn.has(resource.id) || !openResources.has(resource.id)) continue;
      const instance = previous.running.get(resource.provider.target);
      if (instance) this.retained.set(resource.id, { binding: previous.registry.forResource(resource.id), instance });
    }
    report.retained.push(...this.retained.keys());
    // New clicks and the scheduler see the old set or the new, never a mix.
    this.registry = built.registry;
    this.running = built.running;
    this.policy = next;
    report.closed.push(...this.retireUnused(previous.running));
    return report;
  }

  /** Drops retained bindings of resources without open requests any more, closing their instances. */
  sweep(openResources: ReadonlySet<string>): string[] {
    const before = new Map([...this.retained.values()].map((r) => [r.instance.target.name, r.instance]));
    for (const id of [...this.retained.keys()]) if (!openResources.has(id)) this.retained.delete(id);
    return this.retireUnused(before);
  }

  /** Resources removed from the policy whose open requests this process still serves. */
  retainedResources(): string[] {
    return [...this.retained.keys()];
  }

  async closeAll(): Promise<void> {
    const all = new Set([...this.running.values(), ...[...this.retained.values()].map((r) => r.instance)]);
    await Promise.all([...all].map((i) => i.retire()));
  }

  /** Start-up checks (warnings only); after a reload, `onlyTargets` are the targets it created. */
  check(logger: Logger, onlyTargets?: ReadonlySet<string>): Promise<void> {
    return this.registry.check(logger, onlyTargets);
  }

  private withMetrics(binding: ResourceProvider): ResourceProvider {
    if (!this.observer) return binding;
    let wrapped = this.measured.get(binding);
    if (!wrapped) this.measured.set(binding, (wrapped = measuredProvider(binding, this.observer)));
    return wrapped;
  }

  /** A registry over `policy` that reuses `reusable` instances of unchanged targets; new ones go into `fresh`. */
  private build(
    policy: Policy,
    reusable: Map<string, TrackedInstance>,
    fresh = new Map<string, TrackedInstance>(),
  ): { registry: ProviderRegistry; running: Map<string, TrackedInstance> } {
    const running = new Map<string, TrackedInstance>();
    const registry = new ProviderRegistry(policy, (target, create) => {
      const old = reusable.get(target.name);
      const instance = old && sameTarget(old.target, target) ? old : new TrackedInstance(target, create());
      if (instance !== old) fresh.set(target.name, instance);
      running.set(target.name, instance);
      return instance.provider;
    });
    return { registry, running };
  }

  /** Closes the instances of `candidates` that neither the policy in force nor a retained binding uses. */
  private retireUnused(candidates: Map<string, TrackedInstance>): string[] {
    const inUse = new Set([...this.running.values(), ...[...this.retained.values()].map((r) => r.instance)]);
    const closing: Array<Promise<void>> = [];
    const names: string[] = [];
    for (const [name, instance] of candidates) {
      if (inUse.has(instance)) continue;
      instance.successor = this.running.get(name);
      names.push(name);
      closing.push(instance.retire());
    }
    // Not awaited by the reload: a call in flight may take up to its deadline.
    this.closing = Promise.all(closing).then(() => undefined);
    return names;
  }
}

/** Same type and the same settings, key order aside. */
function sameTarget(a: Target, b: Target): boolean {
  return a.type === b.type && stableJson(a.settings) === stableJson(b.settings);
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}
