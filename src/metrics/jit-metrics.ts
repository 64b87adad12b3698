import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { OperationMetrics, RequestOutcome, RevocationResult } from '../operations/metrics';
import type { ProviderCallObserver } from '../providers/measured-provider';
import { BoundedLabels, ResourceLabels } from './labels';

/** What the gauges read from MongoDB: the same for every replica, so they agree whichever is scraped. */
export interface StateSource {
  /** Grants by resource ID and state, for the states counted (`active`, `revoking`). */
  grantsByResource(): Promise<Array<{ resourceId: string; state: 'active' | 'revoking'; count: number }>>;
  /** Outbox items still owed to Slack (not given up). */
  outboxPending(): Promise<number>;
}

export interface MetricsOptions {
  /** How long one read of MongoDB serves scrapes (several Prometheus servers, several dashboards). */
  stateCacheMs: number;
}

export const DEFAULT_METRICS_OPTIONS: MetricsOptions = { stateCacheMs: 5000 };

/** Every metric this app registers (besides prom-client's default `process_` / `nodejs_` ones). */
export const METRIC_NAMES = [
  'jit_requests_total',
  'jit_grants_active',
  'jit_grants_revoking',
  'jit_revocations_total',
  'jit_revocation_lateness_seconds',
  'jit_provider_call_duration_seconds',
  'jit_outbox_pending',
  'jit_slack_api_errors_total',
  'jit_state_read_failures_total',
  'jit_policy_reloads_total',
] as const;

/**
 * The Prometheus side of jit-access (PRODUCT.md §8). Counters and histograms are this replica's
 * own (Prometheus sums replicas); the gauges are read from MongoDB at scrape time, cached briefly.
 * One registry per bot, so several bots in one process (tests) do not share series.
 */
export class JitMetrics implements OperationMetrics, ProviderCallObserver {
  readonly registry = new Registry();
  readonly resources = new ResourceLabels();
  private readonly slackMethods = new BoundedLabels(60);
  private readonly slackErrors = new BoundedLabels(60);
  private readonly requests: Counter<'resource' | 'outcome'>;
  private readonly revocations: Counter<'resource' | 'result'>;
  private readonly lateness: Histogram<'resource'>;
  private readonly providerCalls: Histogram<'provider' | 'action' | 'result'>;
  private readonly slackApiErrors: Counter<'method' | 'error'>;
  private readonly stateReadFailures: Counter;
  private readonly reloads: Counter<'result'>;
  private source?: StateSource;
  private policyResources: () => readonly string[] = () => [];
  private cached?: { at: number; read: Promise<StateSnapshot | undefined> };

  constructor(
    private readonly logger: Logger,
    private readonly opts: MetricsOptions = DEFAULT_METRICS_OPTIONS,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers });
    const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
      new Histogram<L>({ name, help, labelNames, buckets, registers });
    const metrics = this;
    const grantsGauge = (name: string, help: string, state: 'active' | 'revoking') =>
      new Gauge({
        name,
        help,
        labelNames: ['resource'],
        registers,
        async collect() {
          await metrics.fillGrants(this, state);
        },
      });
    this.requests = counter(
      'jit_requests_total',
      'Requests by resource and outcome (filed, approved, auto_approved, break_glass, denied, cancelled, timed_out, failed).',
      ['resource', 'outcome'],
    );
    this.revocations = counter('jit_revocations_total', 'Revocation attempts by resource and result (succeeded, failed).', [
      'resource',
      'result',
    ]);
    this.lateness = histogram(
      'jit_revocation_lateness_seconds',
      'Time from a grant’s expiry to its revocation being confirmed by the provider.',
      ['resource'],
      [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
    );
    this.providerCalls = histogram(
      'jit_provider_call_duration_seconds',
      'Provider calls by provider type, action (validate, holds, grant, revoke, extend, check) and result (ok, error).',
      ['provider', 'action', 'result'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    );
    this.slackApiErrors = counter(
      'jit_slack_api_errors_total',
      'Failed Slack Web API calls by method and error (Slack’s error code, ratelimited, http_<status>, no_answer).',
      ['method', 'error'],
    );
    this.stateReadFailures = counter(
      'jit_state_read_failures_total',
      'Scrapes whose read of MongoDB for the gauges failed (the gauges then keep their last values).',
    );
    this.reloads = counter('jit_policy_reloads_total', 'Policy reloads (SIGHUP) by result (applied, refused).', ['result']);
    grantsGauge('jit_grants_active', 'Active grants by resource, read from MongoDB (the same on every replica).', 'active');
    grantsGauge(
      'jit_grants_revoking',
      'Grants being revoked (a revocation retried after failures stays here), by resource, read from MongoDB.',
      'revoking',
    );
    new Gauge({
      name: 'jit_outbox_pending',
      help: 'Slack notifications still owed (queued or being retried), read from MongoDB.',
      registers,
      async collect() {
        const state = await metrics.state();
        if (state) this.set(state.outboxPending);
      },
    });
  }

  /** Where the gauges read from, and the policy's resources (reported at 0 when they have none). */
  readFrom(source: StateSource, policyResources: () => readonly string[]): void {
    this.source = source;
    this.policyResources = policyResources;
  }

  // --- OperationMetrics ---------------------------------------------------------------

  requestOutcome(resourceId: string, outcome: RequestOutcome): void {
    this.requests.inc({ resource: this.resources.of(resourceId), outcome });
  }

  revocation(resourceId: string, result: RevocationResult, latenessMs?: number): void {
    const resource = this.resources.of(resourceId);
    this.revocations.inc({ resource, result });
    if (latenessMs !== undefined) this.lateness.observe({ resource }, Math.max(0, latenessMs) / 1000);
  }

  // --- ProviderCallObserver -----------------------------------------------------------

  providerCall(provider: string, action: string, ok: boolean, seconds: number): void {
    this.providerCalls.observe({ provider, action, result: ok ? 'ok' : 'error' }, seconds);
  }

  // --- the rest -------------------------------------------------------------------------

  slackApiError(method: string, error: string): void {
    this.slackApiErrors.inc({ method: this.slackMethods.of(method), error: this.slackErrors.of(error) });
  }

  policyReload(result: 'applied' | 'refused'): void {
    this.reloads.inc({ result });
  }

  /** The exposition text for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private async fillGrants(gauge: Gauge<'resource'>, state: 'active' | 'revoking'): Promise<void> {
    const snapshot = await this.state();
    if (!snapshot) return;
    gauge.reset();
    for (const id of this.policyResources()) gauge.set({ resource: this.resources.of(id) }, 0);
    for (const row of snapshot.grants) if (row.state === state) gauge.inc({ resource: this.resources.of(row.resourceId) }, row.count);
  }

  /** One MongoDB read shared by the gauges of a scrape and by scrapes within stateCacheMs. */
  private state(): Promise<StateSnapshot | undefined> {
    const source = this.source;
    if (!source) return Promise.resolve(undefined);
    const now = Date.now();
    if (!this.cached || now - this.cached.at >= this.opts.stateCacheMs) {
      const read = Promise.all([source.grantsByResource(), source.outboxPending()]).then(
        ([grants, outboxPending]) => ({ grants, outboxPending }),
        (err: Error) => {
          this.stateReadFailures.inc();
          this.logger.warn(
            { err: err.message },
            'metrics: could not read grants and outbox from MongoDB; the gauges keep their last values',
          );
          // A failed read is not cached: the next scrape tries again.
          if (this.cached?.read === read) this.cached = undefined;
          return undefined;
        },
      );
      this.cached = { at: now, read };
    }
    return this.cached.read;
  }
}

interface StateSnapshot {
  grants: Array<{ resourceId: string; state: 'active' | 'revoking'; count: number }>;
  outboxPending: number;
}
