/**
 * Runs every benchmark, one after the other, each as its own process, and prints a
 * summary table with the machine it ran on.
 *
 *   npx tsx bench/run-all.ts            full scale (about 10 minutes)
 *   BENCH_SCALE=0.1 npx tsx bench/run-all.ts   a quick smoke run
 *
 * Options are passed on to every bench through the environment (see each file's header):
 * BENCH_RATE, BENCH_SECONDS, BENCH_BURST, BENCH_GRANTS, BENCH_BACKLOG_GRANTS, MONGODB_URI, …
 * The summary is also written to $TMPDIR/jit-access-bench/summary.md.
 */
import { spawn, execSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_DIR, OUT_DIR, ROOT, machineInfo, ms, ratio, table } from './lib/common';
import { ForeignCpu } from './lib/foreign-cpu';

type Result = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Step {
  label: string;
  script: string;
  env?: Record<string, string>;
}

const STEPS: Step[] = [
  { label: 'store-probe', script: 'store-probe.ts' },
  { label: 'rules', script: 'rules.ts' },
  { label: 'ack-latency', script: 'ack-latency.ts' },
  { label: 'revocation-lateness', script: 'revocation-lateness.ts' },
  // The specified size; the store (jongodb) cannot finish it, so the wait is bounded…
  {
    label: 'startup-backlog',
    script: 'startup-backlog.ts',
    env: { BENCH_BACKLOG_TIMEOUT_SECONDS: process.env.BENCH_BACKLOG_TIMEOUT_SECONDS ?? '90' },
  },
  // …and a size it can, to see the bot's own behaviour (pacing, coalescing) end to end.
  { label: 'provider-latency', script: 'provider-latency.ts' },
  { label: 'metrics-scrape', script: 'metrics-scrape.ts' },
  { label: 'check', script: 'check.ts' },
  {
    label: 'startup-backlog-small',
    script: 'startup-backlog.ts',
    env: {
      BENCH_BACKLOG_GRANTS: process.env.BENCH_BACKLOG_SMALL_GRANTS ?? '500',
      BENCH_BACKLOG_TIMEOUT_SECONDS: '120',
      BENCH_OBSERVE_SECONDS: '20',
    },
  },
];

interface StepOutcome {
  result?: Result;
  code: number | null;
  seconds: number;
  /** Mean CPU of other processes on the machine during the step, in cores. */
  foreignCores: number;
}

function run(step: Step): Promise<StepOutcome> {
  const started = performance.now();
  const foreign = new ForeignCpu();
  foreign.start();
  return new Promise((resolve) => {
    console.log(`\n======================== ${step.label} ========================`);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, step.script), ...process.argv.slice(2)], {
      cwd: ROOT,
      env: { ...process.env, ...step.env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let result: Result | undefined;
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith('BENCH_RESULT ')) result = JSON.parse(line.slice('BENCH_RESULT '.length)) as Result;
        else process.stdout.write(`${line}\n`);
      }
    });
    child.on('exit', (code) => {
      const { foreignCores } = foreign.stop();
      console.log(`(other processes on the machine used ${(foreignCores * 100).toFixed(0)}% of one core on average during ${step.label})`);
      resolve({ result, code, seconds: (performance.now() - started) / 1000, foreignCores });
    });
  });
}

function git(): string {
  try {
    const commit = execSync('git rev-parse --short HEAD', { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execSync('git status --porcelain -- src', { cwd: ROOT, encoding: 'utf8' }).trim()
      ? ' (src/ has uncommitted changes)'
      : '';
    return `${commit}${dirty}`;
  } catch {
    return 'unknown';
  }
}

const verdict = (ok: boolean | undefined) => (ok === undefined ? 'n/a' : ok ? 'met' : 'MISSED');
const mib = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 'n/a' : `${v.toFixed(0)} MiB`);

async function main(): Promise<void> {
  const machine = machineInfo();
  const command = `${process.env.BENCH_SCALE ? `BENCH_SCALE=${process.env.BENCH_SCALE} ` : ''}npx tsx bench/run-all.ts${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  const startedAt = new Date();
  const results: Record<string, StepOutcome> = {};
  for (const step of STEPS) results[step.label] = await run(step);

  const ack = results['ack-latency']?.result;
  const late = results['revocation-lateness']?.result;
  const backlog = results['startup-backlog']?.result;
  const small = results['startup-backlog-small']?.result;
  const probe = results['store-probe']?.result;
  const rows: Array<Array<string | number>> = [];
  if (ack) {
    const c = ack.config;
    rows.push([
      `ack, steady ${c.rate}/s open loop (${c.seconds} s per app, ${c.rounds} alternating rounds)`,
      `ours p50 ${ms(ack.steady.ours.p50)} / p99 ${ms(ack.steady.ours.p99)} / max ${ms(ack.steady.ours.max)}; bare Bolt p50 ${ms(ack.steady.bare.p50)} / p99 ${ms(ack.steady.bare.p99)} / max ${ms(ack.steady.bare.max)}; ours/bare ${ratio(ack.steady.ours.p50, ack.steady.bare.p50)} / ${ratio(ack.steady.ours.p99, ack.steady.bare.p99)} / ${ratio(ack.steady.ours.max, ack.steady.bare.max)}; errors ${ack.steadyErrors.ours}`,
      'p99 ≤ 1.5 × bare and < 50 ms',
      verdict(ack.targets.steady),
    ]);
    rows.push([
      `ack, burst of ${c.burst} at once`,
      `ours p50 ${ms(ack.burst.ours.p50)} / p99 ${ms(ack.burst.ours.p99)} / max ${ms(ack.burst.ours.max)}; ${ack.burstOver3s.ours} over 3 s; ${ack.burstErrors.ours} errors (bare max ${ms(ack.burst.bare.max)})`,
      'none over 3 s, no errors',
      verdict(ack.targets.burst),
    ]);
    rows.push([
      `saturation, ${c.concurrency} senders closed loop`,
      `ours ${ack.saturation.ours.rps.toFixed(0)} req/s (p99 ${ms(ack.saturation.ours.p99)}); bare Bolt ${ack.saturation.bare.rps.toFixed(0)} req/s (p99 ${ms(ack.saturation.bare.p99)})`,
      '(measured)',
      '',
    ]);
    rows.push([
      'footprint (VmRSS of the bot process)',
      `idle ${mib(ack.footprint.idleOursMiB)} (bare Bolt ${mib(ack.footprint.idleBareMiB)}); steady load mean ${mib(ack.footprint.steadyMeanMiB)}, max ${mib(ack.footprint.steadyMaxMiB)}; peak ${mib(ack.footprint.peakMiB)}`,
      '(measured)',
      '',
    ]);
  }
  if (late)
    rows.push([
      `revocation lateness, ${late.config.grants} grants over ${late.config.spreadSeconds} s`,
      `p50 ${ms(late.lateness.p50)} / p99 ${ms(late.lateness.p99)} / max ${ms(late.lateness.max)}; missing ${late.missing}, early ${late.early}, duplicate revokes ${late.duplicates}`,
      'p99 < 1 s',
      verdict(late.target),
    ]);
  for (const [label, b] of [
    ['startup backlog', backlog],
    ['startup backlog (small)', small],
  ] as const) {
    if (!b) continue;
    const posts = Object.entries(b.posts as Record<string, { total: number; fixed: number; sliding: number }>)
      .map(([ch, p]) => `${ch} ${p.total} posts, max ${p.fixed}/s aligned, ${p.sliding} sliding`)
      .join('; ');
    rows.push([
      `${label}, ${b.config.grants} expired grants`,
      `${b.allRevokedMs !== null ? `all revoked in ${ms(b.allRevokedMs)}` : `${b.distinctRevoked} of ${b.config.grants} revoked before the bench gave up`}; bot CPU ${(b.cpu.bot * 100).toFixed(0)}%, MongoDB CPU ${Number.isFinite(b.cpu.mongo) ? `${(b.cpu.mongo * 100).toFixed(0)}%` : 'n/a'}`,
      'all within 60 s',
      verdict(b.targets.revoked60s),
    ]);
    rows.push([
      `${label}: Slack posts per channel`,
      `${posts || 'no channel posts'}; DMs max ${b.dmMaxPerSecond}/s per DM channel; outbox ${!b.notificationsObserved ? 'not observed' : b.outboxEmptyMs !== null ? `empty at ${ms(b.outboxEmptyMs)}` : 'not empty at the end'}`,
      '≈ 1 post/s per channel',
      verdict(b.targets.postsPerSecond),
    ]);
  }
  const providers = results['provider-latency']?.result;
  for (const r of (providers?.results ?? []) as Array<{
    label: string;
    calls: number;
    provider: Record<string, { p50: number; p99: number }>;
    bare: Record<string, { p50: number; p99: number }>;
  }>) {
    const part = (a: string) =>
      `${a} ${ms(r.provider[a]!.p50, 2)} / ${ms(r.provider[a]!.p99, 2)} (bare ${ms(r.bare[a]!.p50, 2)} / ${ms(r.bare[a]!.p99, 2)})`;
    rows.push([`provider latency, ${r.label}, ${r.calls} calls (p50 / p99)`, `${part('grant')}; ${part('revoke')}`, '(measured)', '']);
  }
  const check = results['check']?.result;
  if (check) {
    rows.push([
      `npm run check, 20 resources with reachable targets, as a process (${check.rounds} rounds)`,
      `p50 ${ms(check.twenty.p50)} / max ${ms(check.twenty.max)}; baseline 1 webhook resource p50 ${ms(check.baseline.p50)} / max ${ms(check.baseline.max)}`,
      'under 10 s',
      verdict(check.target),
    ]);
  }
  const rules = results['rules']?.result;
  if (rules) {
    const us = (v: number) => `${(v * 1000).toFixed(0)} µs`;
    const s = (k: string) => `p50 ${us(rules[k].p50)} / p99 ${us(rules[k].p99)}`;
    rows.push([
      `rule evaluation per request, ${rules.config.perCase} requests per case (decide())`,
      `no rules ${s('noRules')}; 10 rules, none matches ${s('tenNoneMatch')}; first matches ${s('tenFirstMatches')}; one under the watchdog ${s('tenOneWatched')}`,
      '(measured)',
      '',
    ]);
  }
  if (probe) {
    const parts = Object.entries(probe.results as Record<string, { updateOneById: number; findOneById: number }>).map(
      ([n, r]) => `${n} docs: updateOne ${ms(r.updateOneById)}, findOne ${ms(r.findOneById)}`,
    );
    rows.push([`store calibration (${probe.mongo})`, parts.join('; '), '(measured)', '']);
  }

  const header = [
    `# jit-access benchmarks — ${startedAt.toISOString()}`,
    '',
    `machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memGiB} GiB RAM, ${machine.kernel}; node ${machine.node}`,
    `commit: ${git()}; store: ${ack?.config.mongo ?? late?.config.mongo ?? 'n/a'}`,
    `command: ${command}`,
    `durations: ${Object.entries(results)
      .map(([k, v]) => `${k} ${v.seconds.toFixed(0)} s${v.code ? ` (exit ${v.code})` : ''}`)
      .join(', ')}`,
    `other processes' CPU during each step (cores; should be ≈ 0): ${Object.entries(results)
      .map(([k, v]) => `${k} ${v.foreignCores.toFixed(2)}`)
      .join(', ')}`,
  ];
  const summary = [...header, '', table(['benchmark', 'result', 'target', 'verdict'], rows)].join('\n');
  console.log(`\n\n${summary}`);
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(
    path.join(OUT_DIR, 'summary.md'),
    `${summary}\n\n<!-- raw results -->\n\`\`\`json\n${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.result])), null, 1)}\n\`\`\`\n`,
  );
  console.log(`\n(also written to ${path.join(OUT_DIR, 'summary.md')})`);
  if (Object.values(results).some((r) => r.code)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
