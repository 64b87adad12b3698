import type { OncallConfig } from '../policy/policy';
import type { Fetch } from './http';
import { OpsgenieOncall } from './opsgenie';
import { PagerDutyOncall } from './pagerduty';

/** How long an answer is reused: PRODUCT.md section 3.2 allows at most 60 s. */
const ONCALL_CACHE_MS = 60_000;

/** Memoizes answers for `ttlMs`; a failure is not kept, and callers at the same moment share one call. */
class TtlCache<T> {
  private readonly entries = new Map<string, { at: number; value: Promise<T> }>();
  constructor(
    private readonly ttlMs: number,
    private readonly clock: () => number,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && this.clock() - hit.at < this.ttlMs) return hit.value;
    const value = load();
    this.entries.set(key, { at: this.clock(), value });
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    if (this.entries.size > 5000) this.entries.delete(this.entries.keys().next().value!);
    return value;
  }
}

/**
 * `requester.oncall`: IDs of the PagerDuty schedules and escalation policies, and names of the
 * Opsgenie schedules, on which the person with this e-mail is on call now. Any source failing
 * fails the whole look-up: a partial answer could hide the on-call that a rule asks about.
 */
export class OncallDirectory {
  private readonly pagerduty?: PagerDutyOncall;
  private readonly opsgenie?: OpsgenieOncall;
  private readonly schedules: string[];
  private readonly byEmail: TtlCache<string[]>;
  private readonly bySchedule: TtlCache<string[]>;

  constructor(config: OncallConfig, options: { fetch?: Fetch; timeoutMs?: number; cacheMs?: number; clock?: () => number } = {}) {
    const cacheMs = Math.min(options.cacheMs ?? ONCALL_CACHE_MS, ONCALL_CACHE_MS);
    const clock = options.clock ?? Date.now;
    if (config.pagerduty) this.pagerduty = new PagerDutyOncall(config.pagerduty, options.fetch, options.timeoutMs);
    if (config.opsgenie) this.opsgenie = new OpsgenieOncall(config.opsgenie, options.fetch, options.timeoutMs);
    this.schedules = config.opsgenie?.schedules ?? [];
    this.byEmail = new TtlCache(cacheMs, clock);
    this.bySchedule = new TtlCache(cacheMs, clock);
  }

  /**
   * For `npm run check`: one line per problem with the configured sources (a token refused, an
   * endpoint that does not answer, an Opsgenie schedule that does not exist). Reads only.
   */
  async check(): Promise<string[]> {
    const [pd, og] = await Promise.all([this.pagerduty?.check() ?? Promise.resolve([]), this.opsgenie?.check() ?? Promise.resolve([])]);
    return [...pd, ...og];
  }

  async oncallOf(email: string): Promise<string[]> {
    const wanted = email.trim().toLowerCase();
    const [pd, og] = await Promise.all([
      this.pagerduty ? this.byEmail.get(wanted, () => this.pagerduty!.oncallIds(wanted)) : Promise.resolve([]),
      Promise.all(
        this.schedules.map(async (name) =>
          (await this.bySchedule.get(name, () => this.opsgenie!.recipients(name))).includes(wanted) ? [name] : [],
        ),
      ),
    ]);
    return [...new Set([...pd, ...og.flat()])];
  }
}

const directories = new WeakMap<OncallConfig, OncallDirectory>();

/** One directory (and cache) per loaded policy's `oncall:` section; a reloaded policy gets a fresh one. */
export function oncallDirectoryFor(config: OncallConfig): OncallDirectory {
  let found = directories.get(config);
  if (!found) directories.set(config, (found = new OncallDirectory(config)));
  return found;
}

/** `npm run check`'s on-call probe: the policy's sources, each read once; [] when none is configured. */
export function oncallProblems(config: OncallConfig | undefined, options: { fetch?: Fetch; timeoutMs?: number } = {}): Promise<string[]> {
  return config ? new OncallDirectory(config, options).check() : Promise.resolve([]);
}
