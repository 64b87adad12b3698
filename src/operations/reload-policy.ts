import type { Logger } from 'pino';
import type { Policy } from '../policy/policy';
import type { PolicyInForce } from '../policy/policy-in-force';
import { PolicyError } from '../policy/load';
import { feasibilityWarnings } from '../policy/feasibility';
import type { ProviderReload, ProvidersInForce } from '../providers/providers-in-force';

export interface PolicyReloadDeps {
  /** Reads and validates the policy file (throws PolicyError with one line per problem). */
  load(): Policy;
  policy: PolicyInForce;
  providers: ProvidersInForce;
  /** Resource IDs with open requests (pending, granting, active, revoking), on any replica. */
  openResources(): Promise<Set<string>>;
  logger: Logger;
  /** Called with a valid policy before anything of it is used or logged (its secrets join log redaction). */
  accepted?(next: Policy): void;
  metrics?: { policyReload(result: 'applied' | 'refused'): void };
}

export type ReloadOutcome =
  | { applied: true; added: string[]; removed: string[]; changed: string[]; providers: ProviderReload }
  | { applied: false; problems: string[] };

/**
 * SIGHUP (PRODUCT.md §8): re-reads the policy file. An invalid one is refused, its problems
 * logged one per line, and the running policy kept. A valid one replaces the policy and the
 * providers in one step for every request and click from then on; requests already filed keep
 * what was stored with them (limits, approvers needed, account). Targets whose settings changed
 * get a new instance, the old one closed once its calls finish; a resource removed with open
 * requests keeps its provider until they end (see ProvidersInForce).
 */
export async function reloadPolicy(deps: PolicyReloadDeps): Promise<ReloadOutcome> {
  const { logger } = deps;
  let next: Policy;
  try {
    next = deps.load();
  } catch (err) {
    const problems = err instanceof PolicyError ? err.problems : [(err as Error).message];
    return refuse(deps, problems);
  }
  deps.accepted?.(next);
  const previous = deps.policy.current;
  let open: Set<string>;
  try {
    open = await deps.openResources();
  } catch (err) {
    // Without it, the providers of removed resources with open grants could be closed too early.
    return refuse(deps, [`cannot read which resources have open requests from MongoDB: ${(err as Error).message}`]);
  }
  let providers: ProviderReload;
  try {
    // Both swaps in one tick: nothing runs between them.
    providers = deps.providers.reload(next, open);
    deps.policy.swap(next);
  } catch (err) {
    return refuse(deps, [`providers: ${(err as Error).message}`]);
  }
  const before = new Map(previous.resources.map((r) => [r.id, r]));
  const after = new Map(next.resources.map((r) => [r.id, r]));
  const added = [...after.keys()].filter((id) => !before.has(id));
  const removed = [...before.keys()].filter((id) => !after.has(id));
  const changed = [...after.keys()].filter((id) => before.has(id) && JSON.stringify(before.get(id)) !== JSON.stringify(after.get(id)));
  for (const warning of [...next.warnings, ...feasibilityWarnings(next)]) logger.warn({ policy: true }, `policy: ${warning}`);
  for (const id of providers.retained) {
    logger.warn(
      { resource: id, policy: true },
      `policy: resource ${id} was removed but has open requests: this process keeps its provider until they end; ` +
        'a restart before then leaves their revocation failing (and alerting) until the resource is back in the policy',
    );
  }
  logger.info(
    {
      resources: next.resources.length,
      added,
      removed,
      changed,
      targets: { created: providers.created, kept: providers.kept, closing: providers.closed },
    },
    'policy reloaded',
  );
  deps.metrics?.policyReload('applied');
  // New and changed targets get the start-up check (warnings only), as at start-up.
  if (providers.created.length) void deps.providers.check(logger, new Set(providers.created)).catch(() => undefined);
  return { applied: true, added, removed, changed, providers };
}

function refuse(deps: PolicyReloadDeps, problems: string[]): ReloadOutcome {
  for (const problem of problems) deps.logger.error({ policy: true }, `policy reload refused: ${problem}`);
  deps.logger.error({ problems: problems.length }, 'policy reload refused; the running policy is kept');
  deps.metrics?.policyReload('refused');
  return { applied: false, problems };
}

/** Reloads one at a time; a signal during a reload runs one more after it (the file may have changed again). */
export class PolicyReloader {
  private running?: Promise<ReloadOutcome>;
  private queued?: Promise<ReloadOutcome>;

  constructor(private readonly deps: PolicyReloadDeps) {}

  reload(): Promise<ReloadOutcome> {
    if (!this.running) return this.start();
    this.queued ??= this.running.then(() => {
      this.queued = undefined;
      return this.start();
    });
    return this.queued;
  }

  private start(): Promise<ReloadOutcome> {
    const run = reloadPolicy(this.deps).finally(() => {
      if (this.running === run) this.running = undefined;
    });
    this.running = run;
    return run;
  }
}
