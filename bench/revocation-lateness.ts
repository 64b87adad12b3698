/**
 * Revocation lateness: how long after its expiry each grant's revocation reaches the target.
 *
 *   npx tsx bench/revocation-lateness.ts [--grants=1000] [--spread=60]
 *   (or BENCH_GRANTS, BENCH_SPREAD_SECONDS; BENCH_SCALE=0.1 for a quick run)
 *
 * 1,000 active grants whose expiries are spread evenly over 60 s are seeded into MongoDB,
 * then the real bot starts (its own process; production settings: scheduler concurrency
 * 16, reconcile cron every 15 s). Lateness = time the webhook receiver got the `revoke`
 * call minus the grant's expiresAt. Target: p99 < 1 s.
 */
import { MongoClient } from 'mongodb';
import { performance } from 'node:perf_hooks';
import {
  numberOption,
  scale,
  sleep,
  summarize,
  ms,
  table,
  emitResult,
  machineInfo,
  startMongo,
  startFakes,
  startApp,
  benchDbName,
  mongoOps,
  describeOps,
  totalOps,
  cpuSecondsOf,
} from './lib/common';
import { activeGrant, seedGrants } from './lib/seed';

const S = scale();
const GRANTS = Math.max(10, Math.round(numberOption('grants', 'BENCH_GRANTS', 1000) * S));
const SPREAD_S = Math.max(5, numberOption('spread', 'BENCH_SPREAD_SECONDS', 60) * S);
/** The first expiry is this long after seeding, so the bot is up before it. */
const LEAD_S = 8;

async function main(): Promise<void> {
  const machine = machineInfo();
  const wall = performance.now();
  console.log(`# revocation-lateness: ${GRANTS} grants expiring over ${SPREAD_S} s`);
  console.log(`machine: ${machine.nproc} CPUs, ${machine.cpu}, node ${machine.node}`);
  const mongo = await startMongo();
  const dbName = benchDbName('late');
  const fakes = await startFakes('late-fakes');

  const first = Date.now() + LEAD_S * 1000;
  const grants = Array.from({ length: GRANTS }, (_, i) =>
    activeGrant(i, 'LATE', new Date(first + Math.round((i * SPREAD_S * 1000) / GRANTS))),
  );
  await seedGrants(mongo.uri, dbName, grants);
  const expiry = new Map(grants.map((g) => [g._id, g.expiresAt!.getTime()]));

  const bot = await startApp({ kind: 'ours', name: 'late-ours', fakes, mongoUri: mongo.uri, dbName });
  const startedIn = Date.now() - (first - LEAD_S * 1000);
  const t0 = Date.now();
  const cpu0 = { bot: cpuSecondsOf(bot.pid), mongo: mongo.pid ? cpuSecondsOf(mongo.pid) : NaN };
  console.log(`mongo: ${mongo.kind}; bot up ${startedIn} ms after seeding (first expiry at +${LEAD_S} s); log: ${bot.logFile}`);

  // Wait for every revoke (or give up 30 s after the last expiry).
  const last = first + SPREAD_S * 1000;
  for (;;) {
    const stats = await fakes.stats();
    if ((stats.hook.byAction.revoke ?? 0) >= GRANTS) break;
    if (Date.now() > last + 30_000) break;
    await sleep(500);
  }
  const stats = await fakes.stats({ hooks: true });
  const elapsedS = (Date.now() - t0) / 1000;
  const cpu = {
    bot: (cpuSecondsOf(bot.pid) - cpu0.bot) / elapsedS,
    mongo: mongo.pid ? (cpuSecondsOf(mongo.pid) - cpu0.mongo) / elapsedS : NaN,
  };
  const ops = await mongoOps(bot);
  const client = new MongoClient(mongo.uri);
  await client.connect();
  const expiredInDb = await client.db(dbName).collection('requests').countDocuments({ state: 'expired' });
  await client.close();
  await bot.stop();
  await fakes.child.stop();
  await mongo.stop();

  const firstRevoke = new Map<string, number>();
  let duplicates = 0;
  for (const [action, requestId, at] of stats.hooks ?? []) {
    if (action !== 'revoke') continue;
    if (firstRevoke.has(requestId)) duplicates++;
    else firstRevoke.set(requestId, at);
  }
  const lateness: number[] = [];
  let early = 0;
  for (const [id, at] of firstRevoke) {
    const exp = expiry.get(id);
    if (exp === undefined) continue;
    if (at < exp) early++;
    lateness.push(at - exp);
  }
  const missing = GRANTS - lateness.length;
  const s = summarize(lateness);
  console.log('\n## Lateness (webhook revoke received − expiresAt)');
  console.log(
    table(
      ['grants', 'revoked', 'p50', 'p90', 'p99', 'max', 'early', 'missing', 'duplicate revokes'],
      [[GRANTS, lateness.length, ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), early, missing, duplicates]],
    ),
  );
  console.log(`requests in state expired: ${expiredInDb}/${GRANTS}`);
  console.log(
    `CPU while expiring (share of one core): bot ${(cpu.bot * 100).toFixed(0)}%${mongo.pid ? `, MongoDB (jongodb) ${(cpu.mongo * 100).toFixed(0)}%` : ''}`,
  );
  console.log(`bot's MongoDB operations: ${describeOps(ops, GRANTS, 'grant')}`);
  const met = s.p99 < 1000 && missing === 0 && early === 0;
  console.log(`\ntarget p99 < 1 s (all revoked, none early): ${met ? 'MET' : 'MISSED'}`);
  console.log(`wall time ${((performance.now() - wall) / 1000).toFixed(0)} s`);
  emitResult('revocation-lateness', {
    config: { grants: GRANTS, spreadSeconds: SPREAD_S, mongo: mongo.kind },
    lateness: s,
    missing,
    early,
    duplicates,
    expiredInDb,
    cpu,
    mongoOpsPerGrant: totalOps(ops) / GRANTS,
    ops,
    target: met,
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
