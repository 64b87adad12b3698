import { readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { parse } from 'yaml';
import { JitMetrics, METRIC_NAMES } from '../../src/metrics/jit-metrics';

/*
 * The shipped Grafana dashboard and the example alert rules may only query metrics the app
 * registers: a renamed metric must fail here, not show an empty panel or a silent alert.
 */
const root = path.join(__dirname, '../..');
const dashboard = JSON.parse(readFileSync(path.join(root, 'deploy/grafana/jit-access-dashboard.json'), 'utf8'));
const alerts = parse(readFileSync(path.join(root, 'deploy/prometheus/alerts.yml'), 'utf8'));

/** Series names the app exports: each registered metric, with a histogram's _bucket/_sum/_count. */
async function exportedSeries(): Promise<Set<string>> {
  const metrics = new JitMetrics(pino({ level: 'silent' }));
  const names = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
  }
  return names;
}

/** Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or label values. */
function metricsIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const withoutLabels = withoutStrings
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const withoutRanges = withoutLabels.replace(/\[[^\]]*\]/g, '[]');
  const words = withoutRanges.match(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\{|\[|\)|$|\s|>|<|=|!|\*|\/|\+|-|,))/g) ?? [];
  const notMetrics = new Set([
    'sum',
    'max',
    'min',
    'avg',
    'count',
    'rate',
    'increase',
    'irate',
    'deriv',
    'absent',
    'histogram_quantile',
    'min_over_time',
    'max_over_time',
    'and',
    'or',
    'unless',
    'le',
    'offset',
    'bool',
  ]);
  return words.filter((w) => !notMetrics.has(w) && !/^\$/.test(w));
}

function panelExpressions(): Array<{ panel: string; expr: string }> {
  return (dashboard.panels as Array<{ title: string; targets?: Array<{ expr: string }> }>).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
  );
}

describe('deploy/grafana dashboard', () => {
  it('has the panels operators need', () => {
    const titles = (dashboard.panels as Array<{ title: string }>).map((p) => p.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        'Requests by outcome',
        'Active grants',
        'Revocation lateness (p50, p99)',
        'Failing revocations',
        'Provider latency (p95)',
        'Provider errors',
        'Outbox depth',
        'Slack API errors',
      ]),
    );
    const lateness = panelExpressions()
      .filter((e) => e.panel === 'Revocation lateness (p50, p99)')
      .map((e) => e.expr);
    expect(lateness).toEqual([expect.stringContaining('histogram_quantile(0.5,'), expect.stringContaining('histogram_quantile(0.99,')]);
  });

  it('queries only metrics the app registers (or the default process_/nodejs_ ones it also exports)', async () => {
    const exported = await exportedSeries();
    const used = panelExpressions().flatMap((e) => metricsIn(e.expr).map((m) => ({ ...e, metric: m })));
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((u) => !exported.has(u.metric))).toEqual([]);
    // Every jit_ metric of the app shows up somewhere on the dashboard.
    const shown = new Set(used.map((u) => u.metric.replace(/_(bucket|sum|count)$/, '')));
    expect(METRIC_NAMES.filter((m) => !shown.has(m) && m !== 'jit_state_read_failures_total')).toEqual([]);
  });

  it('the check itself catches a misspelt metric', async () => {
    const exported = await exportedSeries();
    expect(metricsIn('sum by (resource) (rate(jit_revocation_total{result="failed"}[5m]))').filter((m) => !exported.has(m))).toEqual([
      'jit_revocation_total',
    ]);
  });

  it('gauges read from MongoDB are combined with max, not summed over replicas', () => {
    for (const { expr } of panelExpressions()) {
      for (const gauge of ['jit_grants_active', 'jit_grants_revoking', 'jit_outbox_pending']) {
        if (expr.includes(gauge)) expect(expr).toMatch(new RegExp(`max(\\s+by\\s*\\([^)]*\\))?\\s*\\(${gauge}`));
      }
    }
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  const rules = (
    alerts.groups as Array<{ rules: Array<{ alert: string; expr: string; for?: string; labels?: Record<string, string> }> }>
  ).flatMap((g) => g.rules);

  it('has the example alerts of the README: revocations failing, lateness p99 over 5 s, outbox growing', () => {
    const byName = Object.fromEntries(rules.map((r) => [r.alert, r]));
    expect(byName.JitAccessRevocationsFailing?.expr).toContain('jit_revocations_total{result="failed"}');
    expect(byName.JitAccessRevocationLate?.expr).toMatch(/histogram_quantile\(0\.99, .*jit_revocation_lateness_seconds_bucket.*\) > 5$/);
    expect(byName.JitAccessOutboxGrowing?.expr).toContain('jit_outbox_pending');
    for (const rule of rules) expect(rule.labels?.severity).toMatch(/^(critical|warning)$/);
  });

  it('uses only metrics the app registers (and Prometheus’s own `up`)', async () => {
    const exported = await exportedSeries();
    exported.add('up');
    const unknown = rules.flatMap((r) =>
      metricsIn(r.expr)
        .filter((m) => !exported.has(m))
        .map((m) => `${r.alert}: ${m}`),
    );
    expect(unknown).toEqual([]);
  });

  it('is what the README shows', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Dashboard and alerts'));
    const block = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    const shown = (parse(block).groups as Array<{ rules: Array<{ alert: string; expr: string }> }>)
      .flatMap((g) => g.rules)
      .map((r) => [r.alert, r.expr]);
    expect(shown).toEqual(rules.map((r) => [r.alert, r.expr]));
  });

  it('is balanced PromQL (brackets and quotes)', () => {
    for (const { alert, expr } of rules) {
      const opened = (c: string) => expr.split(c).length - 1;
      expect([alert, opened('('), opened('['), opened('{')]).toEqual([alert, opened(')'), opened(']'), opened('}')]);
      expect(opened('"') % 2).toBe(0);
    }
  });
});
