/**
 * What a Prometheus scrape costs: GET /metrics on the real bot (a process of its own) with N active
 * grants in MongoDB, uncached (every scrape reads the grants and the outbox) and with the default
 * 5 s cache, against GET /readyz (one MongoDB ping) and GET /healthz (no MongoDB) in the same run.
 *
 *   npx tsx bench/metrics-scrape.ts [--grants=1000] [--scrapes=100]
 */
import { MongoClient } from 'mongodb';
import { performance } from 'node:perf_hooks';
import {
  benchDbName,
  emitResult,
  machineInfo,
  ms,
  numberOption,
  scale,
  startApp,
  startFakes,
  startMongo,
  summarize,
  table,
} from './lib/common';
import { activeGrant } from './lib/seed';

const GRANTS = numberOption('grants', 'BENCH_METRICS_GRANTS', Math.round(1000 * scale()));
const SCRAPES = numberOption('scrapes', 'BENCH_METRICS_SCRAPES', 100);

async function timeGets(url: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(url);
    await res.text();
    if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
    out.push(performance.now() - t);
  }
  return out;
}

async function main(): Promise<void> {
  const machine = machineInfo();
  console.log(`# metrics-scrape: GET /metrics with ${GRANTS} active grants, ${SCRAPES} scrapes each`);
  console.log(`machine: ${machine.nproc} CPUs, ${machine.cpu}, node ${machine.node}`);
  const mongo = await startMongo();
  const fakes = await startFakes();
  const dbName = benchDbName('metrics');
  const client = new MongoClient(mongo.uri);
  await client.connect();
  const expiresAt = new Date(Date.now() + 3_600_000);
  const docs = Array.from({ length: GRANTS }, (_, i) => activeGrant(i, 'MET', expiresAt));
  for (let i = 0; i < docs.length; i += 1000)
    await client
      .db(dbName)
      .collection('requests')
      .insertMany(docs.slice(i, i + 1000) as never[], { ordered: false });
  const rows: Array<Array<string | number>> = [];
  const results: Record<string, unknown> = {};
  for (const [label, cacheMs] of [
    ['uncached', '0'],
    ['cached (5 s, default)', '5000'],
  ] as const) {
    const app = await startApp({
      kind: 'ours',
      name: `app-${cacheMs}`,
      fakes,
      mongoUri: mongo.uri,
      dbName,
      env: { BENCH_METRICS_CACHE_MS: cacheMs, JIT_RECONCILE_CRON: '0 0 1 1 *' },
    });
    const body = await (await fetch(`${app.baseUrl}/metrics`)).text();
    const active = [...body.matchAll(/^jit_grants_active\{resource="[^"]+"\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    if (active !== GRANTS) throw new Error(`jit_grants_active sums to ${active}, expected ${GRANTS}`);
    // Warm-up, then the measured runs, interleaved per endpoint in one process.
    await timeGets(`${app.baseUrl}/metrics`, 5);
    const metrics = summarize(await timeGets(`${app.baseUrl}/metrics`, SCRAPES));
    const ready = summarize(await timeGets(`${app.baseUrl}/readyz`, SCRAPES));
    const health = summarize(await timeGets(`${app.baseUrl}/healthz`, SCRAPES));
    results[label] = { metrics, readyz: ready, healthz: health, bytes: body.length };
    rows.push([label, ms(metrics.p50), ms(metrics.p99), ms(ready.p50), ms(ready.p99), ms(health.p50), ms(health.p99), body.length]);
    await app.stop();
  }
  await client
    .db(dbName)
    .dropDatabase()
    .catch(() => undefined);
  await client.close();
  await fakes.child.stop();
  await mongo.stop();
  console.log(`\nstore: ${mongo.kind}`);
  console.log(table(['/metrics', 'p50', 'p99', '/readyz p50', '/readyz p99', '/healthz p50', '/healthz p99', 'body bytes'], rows));
  emitResult('metrics-scrape', { mongo: mongo.kind, grants: GRANTS, scrapes: SCRAPES, results });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
