/**
 * Ack latency, throughput and memory footprint of the real app against a bare Bolt app.
 *
 *   npx tsx bench/ack-latency.ts [--rate=50] [--seconds=60] [--rounds=4] [--burst=500]
 *                                [--sat-seconds=10] [--concurrency=32]
 *   (or BENCH_RATE, BENCH_SECONDS, BENCH_ROUNDS, BENCH_BURST, BENCH_SAT_SECONDS,
 *    BENCH_CONCURRENCY; BENCH_SCALE=0.1 shrinks durations and the burst for a quick run)
 *
 * Processes: this one is the load generator only; the real bot ("ours"), a bare Bolt
 * app ("bare"), the fakes (FakeSlack + webhook receiver) and MongoDB (jongodb, or
 * MONGODB_URI) each run in their own process.
 *
 * Phases:
 *  1. idle RSS of both apps a few seconds after start;
 *  2. warm-up (not measured), then steady open-loop load at --rate for --seconds per
 *     app, in alternating rounds (ours, bare, ours, bare, ...). The mix: inline requests
 *     `deploy-hook 10m …` from distinct users 40%, `list` 20%, `help` 20%, Approve clicks
 *     on pending requests 20%. While one app is measured the other is SIGSTOPped, so
 *     neither's background work (ours: outbox, scheduler) lands on the other's figures
 *     (BENCH_PAUSE_OTHER=0 keeps both running);
 *  3. a burst of --burst requests written at once, to each app;
 *  4. saturation: closed loop with --concurrency senders for --sat-seconds, each app.
 * RSS of ours is sampled from /proc/<pid>/status throughout the steady rounds.
 */
import { MongoClient, Collection } from 'mongodb';
import { performance } from 'node:perf_hooks';
import {
  numberOption,
  scale,
  sleep,
  summarize,
  ms,
  ratio,
  table,
  emitResult,
  machineInfo,
  rssOf,
  cpuSecondsOf,
  startMongo,
  startFakes,
  startApp,
  benchDbName,
  AppUnderTest,
  Summary,
  mongoOps,
  probeApp,
  diffOps,
  describeOps,
  OpCounts,
} from './lib/common';
import { SlackLoad, Outgoing, Sample, isOk, openLoop, burst, closedLoop, Kind } from './lib/load';

const S = scale();
const RATE = numberOption('rate', 'BENCH_RATE', 50);
const SECONDS = numberOption('seconds', 'BENCH_SECONDS', 60) * S;
const ROUNDS = Math.max(1, Math.round(numberOption('rounds', 'BENCH_ROUNDS', 4)));
const BURST = Math.max(1, Math.round(numberOption('burst', 'BENCH_BURST', 500) * Math.min(1, S)));
const SAT_SECONDS = numberOption('sat-seconds', 'BENCH_SAT_SECONDS', 10) * S;
const CONCURRENCY = Math.max(1, Math.round(numberOption('concurrency', 'BENCH_CONCURRENCY', 32)));
const PAUSE_OTHER = process.env.BENCH_PAUSE_OTHER !== '0';
const IDLE_SECONDS = 5;
const WARMUP_SECONDS = Math.max(1, 3 * Math.min(1, S));
const APPROVER = 'U0BOB';

/** Where Approve clicks get their request IDs: pending requests nobody clicked yet, read from MongoDB. */
class PendingIds {
  private readonly queue: string[] = [];
  private readonly clicked: string[] = [];
  private readonly seen = new Set<string>();
  private timer?: NodeJS.Timeout;
  fallbacks = 0;
  constructor(private readonly requests?: Collection<{ _id: string; state: string; approvals: string[] }>) {}

  start(): void {
    if (!this.requests || this.timer) return;
    const poll = async () => {
      try {
        const docs = await this.requests!.find({ state: 'pending', approvals: { $size: 0 } }, { projection: { _id: 1 } })
          .sort({ createdAt: -1 })
          .limit(300)
          .toArray();
        for (const d of docs)
          if (!this.seen.has(d._id)) {
            this.seen.add(d._id);
            this.queue.push(d._id);
          }
      } catch {
        // next poll
      }
      if (this.timer) this.timer = setTimeout(() => void poll(), 300);
    };
    this.timer = setTimeout(() => void poll(), 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  take(): string {
    const id = this.queue.shift();
    if (id) {
      this.clicked.push(id);
      return id;
    }
    // None left: a second click on one already clicked (answered "already decided"), else an unknown ID.
    this.fallbacks++;
    return this.clicked[Math.floor(Math.random() * this.clicked.length)] ?? `r${Math.random().toString(36).slice(2, 10).padEnd(8, 'a')}`;
  }
}

/** The request mix, in a fixed repeating order: request, list, request, help, approve, ×2. */
const PATTERN: Kind[] = ['request', 'list', 'request', 'help', 'approve', 'request', 'list', 'request', 'help', 'approve'];

class Mix {
  private users = 0;
  private readonly recent: string[] = [];
  constructor(
    private readonly load: SlackLoad,
    private readonly ids: PendingIds,
    private readonly tag: string,
  ) {}

  next = (i: number): Outgoing => {
    const kind = PATTERN[i % PATTERN.length] as Kind;
    switch (kind) {
      case 'request': {
        const user = `U0${this.tag}${(++this.users).toString(36).toUpperCase()}`;
        this.recent.push(user);
        if (this.recent.length > 50) this.recent.shift();
        return this.load.command(user, 'deploy-hook 10m benchmark load: investigate INC-1234', 'request');
      }
      case 'list':
        return this.load.command(this.recent[Math.floor(Math.random() * this.recent.length)] ?? 'U0LISTER', 'list', 'list');
      case 'help':
        return this.load.command('U0HELPER', 'help', 'help');
      case 'approve':
        return this.load.approve(APPROVER, this.ids.take());
    }
  };
}

interface Side {
  name: 'ours' | 'bare';
  app: AppUnderTest;
  load: SlackLoad;
  mix: Mix;
  ids: PendingIds;
}

function errorsOf(samples: Sample[]): number {
  return samples.filter((s) => !isOk(s)).length;
}

function describeErrors(samples: Sample[]): string {
  const counts = new Map<string, number>();
  for (const s of samples) if (!isOk(s)) counts.set(s.error ?? `HTTP ${s.status}`, (counts.get(s.error ?? `HTTP ${s.status}`) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v}× ${k}`).join(', ') || 'none';
}

function row(label: string, s: Summary, errors: number): Array<string | number> {
  return [label, s.n, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), errors];
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const wall = performance.now();
  console.log(
    `# ack-latency: rate ${RATE}/s, ${SECONDS}s per app in ${ROUNDS} rounds, burst ${BURST}, saturation ${CONCURRENCY} senders × ${SAT_SECONDS}s`,
  );
  console.log(`machine: ${machine.nproc} CPUs, ${machine.cpu}, node ${machine.node}`);

  const mongo = await startMongo();
  const dbName = benchDbName('ack');
  const fakes = await startFakes('ack-fakes');
  const ours = await startApp({ kind: 'ours', name: 'ack-ours', fakes, mongoUri: mongo.uri, dbName });
  const bare = await startApp({ kind: 'bare', name: 'ack-bare', fakes });
  console.log(`mongo: ${mongo.kind}; app logs: ${ours.logFile}, ${bare.logFile}`);
  const client = new MongoClient(mongo.uri);
  await client.connect();
  const db = client.db(dbName);

  const oursIds = new PendingIds(db.collection('requests'));
  const bareIds = new PendingIds();
  const sides: Record<'ours' | 'bare', Side> = {
    ours: { name: 'ours', app: ours, load: new SlackLoad(ours.baseUrl, fakes.fakeUrl), mix: undefined as unknown as Mix, ids: oursIds },
    bare: { name: 'bare', app: bare, load: new SlackLoad(bare.baseUrl, fakes.fakeUrl), mix: undefined as unknown as Mix, ids: bareIds },
  };
  sides.ours.mix = new Mix(sides.ours.load, oursIds, 'O');
  sides.bare.mix = new Mix(sides.bare.load, bareIds, 'B');

  /** Runs fn against one side with the other paused (when PAUSE_OTHER). */
  const only = async <T>(side: Side, fn: () => Promise<T>): Promise<T> => {
    const other = side.name === 'ours' ? sides.bare : sides.ours;
    if (PAUSE_OTHER) other.app.pause();
    side.app.resume();
    if (side.name === 'ours') oursIds.start();
    try {
      return await fn();
    } finally {
      oursIds.stop();
      if (PAUSE_OTHER) other.app.resume();
    }
  };

  // 1. Idle footprint.
  await sleep(IDLE_SECONDS * 1000);
  const idle = { ours: rssOf(ours.pid), bare: rssOf(bare.pid) };

  // 2. Warm-up, then the steady rounds.
  for (const side of [sides.ours, sides.bare]) await only(side, () => openLoop(side.load, RATE, WARMUP_SECONDS, side.mix.next));
  await sleep(500);
  const steady: Record<'ours' | 'bare', Sample[]> = { ours: [], bare: [] };
  const rss: number[] = [];
  let cpuOurs = 0;
  let cpuMongo = 0;
  let oursSeconds = 0;
  const steadyOps: OpCounts = {};
  const loopP99: number[] = [];
  let loopMax = 0;
  const perRound: Array<Array<string | number>> = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const side of [sides.ours, sides.bare]) {
      const samples = await only(side, async () => {
        if (side.name === 'bare') return openLoop(side.load, RATE, SECONDS / ROUNDS, side.mix.next);
        await sleep(300); // let a just-resumed process catch up on its timers
        const sampler = setInterval(() => {
          const m = rssOf(ours.pid);
          if (m) rss.push(m.rssMiB);
        }, 500);
        const ops0 = await mongoOps(ours);
        const cpu0 = cpuSecondsOf(ours.pid);
        const mcpu0 = mongo.pid ? cpuSecondsOf(mongo.pid) : NaN;
        const t0 = performance.now();
        try {
          return await openLoop(side.load, RATE, SECONDS / ROUNDS, side.mix.next);
        } finally {
          clearInterval(sampler);
          oursSeconds += (performance.now() - t0) / 1000;
          cpuOurs += cpuSecondsOf(ours.pid) - cpu0;
          if (mongo.pid) cpuMongo += cpuSecondsOf(mongo.pid) - mcpu0;
          const probe = await probeApp(ours);
          loopP99.push(probe.eventLoop.p99);
          loopMax = Math.max(loopMax, probe.eventLoop.max);
          const d = diffOps(probe.ops, ops0);
          for (const [k, v] of Object.entries(d)) steadyOps[k] = (steadyOps[k] ?? 0) + v;
        }
      });
      steady[side.name].push(...samples);
      const s = summarize(samples.filter(isOk).map((x) => x.ms));
      perRound.push([`${r + 1}`, side.name, ms(s.p50), ms(s.p99), ms(s.max), errorsOf(samples)]);
      await sleep(300);
    }
  }
  const backlogAfterSteady = await db.collection('outbox').countDocuments({ due: true });

  // 2b. No load for a while: what ours does in the background with its notification backlog.
  const DRAIN_S = Math.max(3, 10 * Math.min(1, S));
  const drain = await only(sides.ours, async () => {
    const ops0 = await mongoOps(ours);
    const slack0 = (await fakes.stats()).slack;
    const cpu0 = cpuSecondsOf(ours.pid);
    await sleep(DRAIN_S * 1000);
    const slack1 = (await fakes.stats()).slack;
    return {
      ops: diffOps(await mongoOps(ours), ops0),
      slackCalls: slack1.total - slack0.total,
      posts: (slack1.byMethod['chat.postMessage'] ?? 0) - (slack0.byMethod['chat.postMessage'] ?? 0),
      cpu: (cpuSecondsOf(ours.pid) - cpu0) / DRAIN_S,
    };
  });

  // 3. Bursts.
  const bursts: Record<'ours' | 'bare', Sample[]> = { ours: [], bare: [] };
  for (const side of [sides.ours, sides.bare]) {
    bursts[side.name] = await only(side, async () => {
      await sleep(300);
      const b = await burst(side.load, BURST, side.mix.next);
      await sleep(2000);
      return b;
    });
  }

  // 4. Saturation: bare first, so ours' backlog from its own saturation cannot touch bare.
  const sat: Record<'ours' | 'bare', { samples: Sample[]; elapsedMs: number }> = {
    ours: { samples: [], elapsedMs: 1 },
    bare: { samples: [], elapsedMs: 1 },
  };
  for (const side of [sides.bare, sides.ours]) {
    sat[side.name] = await only(side, async () => {
      await sleep(300);
      return closedLoop(side.load, CONCURRENCY, SAT_SECONDS, side.mix.next);
    });
  }
  const peak = rssOf(ours.pid);
  const bareEnd = rssOf(bare.pid);

  // What ours still had to do afterwards (notifications waiting in the outbox).
  const outboxDue = await db.collection('outbox').countDocuments({ due: true });
  const states = await db
    .collection('requests')
    .aggregate<{ _id: string; n: number }>([{ $group: { _id: '$state', n: { $sum: 1 } } }])
    .toArray();
  const fakeStats = await fakes.stats();

  await client.close();
  await Promise.all([ours.stop(), bare.stop()]);
  await fakes.child.stop();
  await mongo.stop();

  // ---------------------------------------------------------------- report
  const st = { ours: summarize(steady.ours.filter(isOk).map((s) => s.ms)), bare: summarize(steady.bare.filter(isOk).map((s) => s.ms)) };
  const bu = { ours: summarize(bursts.ours.filter(isOk).map((s) => s.ms)), bare: summarize(bursts.bare.filter(isOk).map((s) => s.ms)) };
  const lag = summarize([...steady.ours, ...steady.bare].map((s) => s.lagMs));
  const throughput = (side: 'ours' | 'bare') => sat[side].samples.filter(isOk).length / (sat[side].elapsedMs / 1000);
  const sa = {
    ours: summarize(sat.ours.samples.filter(isOk).map((s) => s.ms)),
    bare: summarize(sat.bare.samples.filter(isOk).map((s) => s.ms)),
  };
  const over3s = (samples: Sample[]) => samples.filter((s) => isOk(s) && s.ms > 3000).length;

  console.log('\n## Steady open-loop load (time to HTTP 200)');
  console.log(
    table(
      ['app', 'n', 'p50', 'p90', 'p99', 'max', 'errors'],
      [
        row('ours', st.ours, errorsOf(steady.ours)),
        row('bare Bolt', st.bare, errorsOf(steady.bare)),
        [
          'ours/bare',
          '',
          ratio(st.ours.p50, st.bare.p50),
          ratio(st.ours.p90, st.bare.p90),
          ratio(st.ours.p99, st.bare.p99),
          ratio(st.ours.max, st.bare.max),
          '',
        ],
      ],
    ),
  );
  console.log('\nours by kind:');
  console.log(
    table(
      ['kind', 'n', 'p50', 'p90', 'p99', 'max', 'errors'],
      (['request', 'list', 'help', 'approve'] as Kind[]).map((k) =>
        row(
          k,
          summarize(steady.ours.filter((s) => s.kind === k && isOk(s)).map((s) => s.ms)),
          errorsOf(steady.ours.filter((s) => s.kind === k)),
        ),
      ),
    ),
  );
  console.log('\nper round:');
  console.log(table(['round', 'app', 'p50', 'p99', 'max', 'errors'], perRound));
  console.log(`generator send lag (how late requests left vs schedule): p50 ${ms(lag.p50)}, p99 ${ms(lag.p99)}, max ${ms(lag.max)}`);
  console.log(`Approve clicks without a fresh pending request (re-clicks): ${oursIds.fallbacks}`);
  console.log(
    `ours CPU during its steady rounds: ${((cpuOurs / oursSeconds) * 100).toFixed(0)}% of one core${mongo.pid ? `; MongoDB (jongodb) ${((cpuMongo / oursSeconds) * 100).toFixed(0)}%` : ''}`,
  );
  console.log(`ours event-loop delay during its steady rounds: p99 per round ${loopP99.map((v) => ms(v)).join(', ')}; max ${ms(loopMax)}`);
  console.log(`ours MongoDB operations during its steady rounds: ${describeOps(steadyOps, steady.ours.length, 'request')}`);
  console.log(`ours outbox backlog (notifications due, not yet delivered) after the steady rounds: ${backlogAfterSteady}`);
  console.log(
    `then ${DRAIN_S} s without load: ours used ${(drain.cpu * 100).toFixed(0)}% CPU, ${(drain.slackCalls / DRAIN_S).toFixed(1)} Slack calls/s (${(drain.posts / DRAIN_S).toFixed(1)} chat.postMessage/s), MongoDB ops ${describeOps(drain.ops, DRAIN_S, 's')}`,
  );

  console.log(`\n## Burst of ${BURST} at once`);
  console.log(
    table(
      ['app', 'n ok', 'p50', 'p90', 'p99', 'max', 'errors', '> 3 s'],
      [
        [...row('ours', bu.ours, errorsOf(bursts.ours)), over3s(bursts.ours)],
        [...row('bare Bolt', bu.bare, errorsOf(bursts.bare)), over3s(bursts.bare)],
      ],
    ),
  );
  if (errorsOf(bursts.ours)) console.log(`ours burst errors: ${describeErrors(bursts.ours)}`);

  console.log(`\n## Saturation: closed loop, ${CONCURRENCY} concurrent senders, ${SAT_SECONDS}s each`);
  console.log(
    table(
      ['app', 'requests/s', 'p50', 'p99', 'max', 'errors'],
      [
        ['ours', throughput('ours').toFixed(0), ms(sa.ours.p50), ms(sa.ours.p99), ms(sa.ours.max), errorsOf(sat.ours.samples)],
        ['bare Bolt', throughput('bare').toFixed(0), ms(sa.bare.p50), ms(sa.bare.p99), ms(sa.bare.max), errorsOf(sat.bare.samples)],
      ],
    ),
  );

  const rssSteady = summarize(rss);
  console.log('\n## Footprint (VmRSS)');
  console.log(
    table(
      ['process', 'idle', 'steady load mean', 'steady load max', 'peak (VmHWM, incl. burst + saturation)'],
      [
        [
          'ours (bot)',
          `${idle.ours?.rssMiB.toFixed(0)} MiB`,
          `${rssSteady.mean.toFixed(0)} MiB`,
          `${rssSteady.max.toFixed(0)} MiB`,
          `${peak?.hwmMiB.toFixed(0)} MiB`,
        ],
        ['bare Bolt', `${idle.bare?.rssMiB.toFixed(0)} MiB`, '', '', `${bareEnd?.hwmMiB.toFixed(0)} MiB`],
      ],
    ),
  );

  const steadyOk = st.ours.p99 <= 1.5 * st.bare.p99 && st.ours.p99 < 50;
  const burstOk = over3s(bursts.ours) === 0 && errorsOf(bursts.ours) === 0;
  console.log('\n## Targets');
  console.log(
    `steady p99 ≤ 1.5 × bare and < 50 ms: ${steadyOk ? 'MET' : 'MISSED'} (ours ${ms(st.ours.p99)}, bare ${ms(st.bare.p99)}, ${ratio(st.ours.p99, st.bare.p99)})`,
  );
  console.log(
    `burst: zero acks over 3 s and zero errors: ${burstOk ? 'MET' : 'MISSED'} (${over3s(bursts.ours)} over 3 s, ${errorsOf(bursts.ours)} errors)`,
  );
  console.log(`\nafter the run: outbox items still due ${outboxDue}; requests by state ${states.map((s) => `${s._id} ${s.n}`).join(', ')}`);
  console.log(
    `fake Slack saw ${fakeStats.slack.total} Web API calls (${fakeStats.slack.failed} failed), ${fakeStats.slack.responses} response_url posts; webhook ${JSON.stringify(fakeStats.hook.byAction)}`,
  );
  console.log(`wall time ${((performance.now() - wall) / 1000).toFixed(0)} s`);

  emitResult('ack-latency', {
    config: {
      rate: RATE,
      seconds: SECONDS,
      rounds: ROUNDS,
      burst: BURST,
      satSeconds: SAT_SECONDS,
      concurrency: CONCURRENCY,
      pauseOther: PAUSE_OTHER,
      mongo: mongo.kind,
    },
    steady: st,
    steadyErrors: { ours: errorsOf(steady.ours), bare: errorsOf(steady.bare) },
    burst: bu,
    burstErrors: { ours: errorsOf(bursts.ours), bare: errorsOf(bursts.bare) },
    burstOver3s: { ours: over3s(bursts.ours), bare: over3s(bursts.bare) },
    saturation: {
      ours: { rps: throughput('ours'), ...sa.ours, errors: errorsOf(sat.ours.samples) },
      bare: { rps: throughput('bare'), ...sa.bare, errors: errorsOf(sat.bare.samples) },
    },
    footprint: {
      idleOursMiB: idle.ours?.rssMiB,
      idleBareMiB: idle.bare?.rssMiB,
      steadyMeanMiB: rssSteady.mean,
      steadyMaxMiB: rssSteady.max,
      peakMiB: peak?.hwmMiB,
    },
    cpu: { oursPct: (cpuOurs / oursSeconds) * 100, mongoPct: mongo.pid ? (cpuMongo / oursSeconds) * 100 : null },
    outboxDueAfterSteady: backlogAfterSteady,
    mongoOpsPerRequest: Object.values(steadyOps).reduce((a, b) => a + b, 0) / steady.ours.length,
    steadyOps,
    eventLoop: { p99PerRound: loopP99, max: loopMax },
    outboxDueAtEnd: outboxDue,
    drain: {
      seconds: DRAIN_S,
      mongoOpsPerS: Object.values(drain.ops).reduce((a, b) => a + b, 0) / DRAIN_S,
      slackCallsPerS: drain.slackCalls / DRAIN_S,
      postsPerS: drain.posts / DRAIN_S,
      cpuPct: drain.cpu * 100,
      ops: drain.ops,
    },
    targets: { steady: steadyOk, burst: burstOk },
    lag,
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
