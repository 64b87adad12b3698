/**
 * Start-up backlog: 10,000 grants already expired when the bot starts.
 *
 *   npx tsx bench/startup-backlog.ts [--grants=10000] [--observe=60]
 *   (or BENCH_BACKLOG_GRANTS, BENCH_OBSERVE_SECONDS; BENCH_SCALE=0.1 for a quick run)
 *
 * The grants (half in each of two approval channels, each with its approval message
 * posted) are seeded into MongoDB, then the real bot starts in its own process with
 * production settings (scheduler concurrency 16 unless BENCH_SCHEDULER_CONCURRENCY).
 * Measured: time until every grant's revoke reached the webhook, and until every grant
 * is `expired` in MongoDB; Slack chat.postMessage posts per channel per second
 * (max over 1-s windows, from the fake Slack's records) while the bot works through the
 * notifications, observed until its outbox is empty or --observe seconds after the last
 * revocation. Targets: all revoked within 60 s; about one post per second per channel.
 */
import { MongoClient } from 'mongodb';
import { performance } from 'node:perf_hooks';
import {
  numberOption,
  scale,
  sleep,
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
  OpCounts,
} from './lib/common';
import { activeGrant, seedGrants } from './lib/seed';

const S = scale();
const GRANTS = Math.max(20, Math.round(numberOption('grants', 'BENCH_BACKLOG_GRANTS', 10_000) * S));
const OBSERVE_S = numberOption('observe', 'BENCH_OBSERVE_SECONDS', 60) * Math.min(1, Math.max(S, 0.25));
/** Give up waiting for the revocations after this long (the target is 60 s). */
const REVOKE_TIMEOUT_S = numberOption('timeout', 'BENCH_BACKLOG_TIMEOUT_SECONDS', 150);

/** Max posts in any 1-s window: aligned to the second (fixed) and sliding (any 1,000 ms span). */
function perSecond(times: number[]): { fixed: number; sliding: number } {
  const sorted = [...times].sort((a, b) => a - b);
  const buckets = new Map<number, number>();
  for (const t of sorted) buckets.set(Math.floor(t / 1000), (buckets.get(Math.floor(t / 1000)) ?? 0) + 1);
  let sliding = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while ((sorted[hi] as number) - (sorted[lo] as number) >= 1000) lo++;
    sliding = Math.max(sliding, hi - lo + 1);
  }
  return { fixed: Math.max(0, ...buckets.values()), sliding };
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const wall = performance.now();
  console.log(`# startup-backlog: ${GRANTS} grants already expired at start-up`);
  console.log(`machine: ${machine.nproc} CPUs, ${machine.cpu}, node ${machine.node}`);
  const mongo = await startMongo();
  const dbName = benchDbName('backlog');
  const fakes = await startFakes('backlog-fakes');

  const now = Date.now();
  // Expired over the last hour, oldest first.
  const grants = Array.from({ length: GRANTS }, (_, i) =>
    activeGrant(i, 'BKLG', new Date(now - 3_600_000 + Math.round((i * 3_599_000) / GRANTS))),
  );
  const seedStart = performance.now();
  await seedGrants(mongo.uri, dbName, grants);
  console.log(`mongo: ${mongo.kind}; seeded ${GRANTS} expired grants in ${ms(performance.now() - seedStart)}`);

  const client = new MongoClient(mongo.uri);
  await client.connect();
  const db = client.db(dbName);
  const spawnedAt = Date.now();
  // startBot() returns only after its first reconcile pass, i.e. after the whole backlog: do not wait for it.
  const bot = await startApp({
    kind: 'ours',
    name: 'backlog-ours',
    fakes,
    mongoUri: mongo.uri,
    dbName,
    early: true,
    env: process.env.BENCH_SCHEDULER_CONCURRENCY ? { BENCH_SCHEDULER_CONCURRENCY: process.env.BENCH_SCHEDULER_CONCURRENCY } : {},
  });
  const startingAt = Number(bot.ready.at);
  const cpu0 = { bot: cpuSecondsOf(bot.pid), mongo: mongo.pid ? cpuSecondsOf(mongo.pid) : NaN };
  let readyAt: number | undefined;
  bot.waitFor('ready', 3_600_000).then(
    (m) => (readyAt = Number(m.at)),
    () => undefined,
  );

  // Until every grant has been revoked at the target and is `expired` in MongoDB.
  let allRevokedAt: number | undefined;
  let allExpiredAt: number | undefined;
  let opsAtRevoked: OpCounts | undefined;
  const progress: Array<[number, number]> = [];
  while (!(allRevokedAt && allExpiredAt)) {
    const [stats, expired] = await Promise.all([fakes.stats(), db.collection('requests').countDocuments({ state: 'expired' })]);
    const revokes = stats.hook.byAction.revoke ?? 0;
    progress.push([Date.now() - spawnedAt, revokes]);
    if (!allRevokedAt && revokes >= GRANTS) {
      allRevokedAt = Date.now();
      opsAtRevoked = await mongoOps(bot).catch(() => ({}));
    }
    if (!allExpiredAt && expired >= GRANTS) allExpiredAt = Date.now();
    if (Date.now() - spawnedAt > REVOKE_TIMEOUT_S * 1000) break;
    await sleep(250);
  }

  const revokePhaseS = (Date.now() - startingAt) / 1000;
  const cpu = {
    bot: (cpuSecondsOf(bot.pid) - cpu0.bot) / revokePhaseS,
    mongo: mongo.pid ? (cpuSecondsOf(mongo.pid) - cpu0.mongo) / revokePhaseS : NaN,
  };
  const revokedSoFar = (await fakes.stats()).hook.byAction.revoke ?? 0;
  opsAtRevoked ??= await mongoOps(bot).catch(() => ({}));

  // Then the notifications: until the outbox is empty, or the observation window ends.
  // (Not when the revocations did not even finish: the outbox is then far behind too.)
  const observeUntil = allRevokedAt ? allRevokedAt + OBSERVE_S * 1000 : 0;
  let outboxEmptyAt: number | undefined;
  while (allRevokedAt) {
    const due = await db.collection('outbox').countDocuments({ due: true });
    if (due === 0) {
      outboxEmptyAt = Date.now();
      break;
    }
    if (Date.now() > observeUntil) break;
    await sleep(500);
  }
  const dueItems = await db
    .collection('outbox')
    .find({ due: true }, { projection: { kind: 1, notice: 1 } })
    .toArray();
  const dueCounts = new Map<string, number>();
  for (const d of dueItems)
    dueCounts.set(`${d.kind}${d.notice ? `/${d.notice}` : ''}`, (dueCounts.get(`${d.kind}${d.notice ? `/${d.notice}` : ''}`) ?? 0) + 1);
  const outboxDue = [...dueCounts].map(([what, n]) => ({ what, n }));
  const stats = await fakes.stats({ posts: true, hooks: true });
  await client.close();
  await bot.stop();
  await fakes.child.stop();
  await mongo.stop();

  const revokes = (stats.hooks ?? []).filter(([a]) => a === 'revoke');
  const distinct = new Set(revokes.map(([, id]) => id)).size;
  const firstRevoke = Math.min(...revokes.map(([, , at]) => at));
  const lastRevoke = Math.max(...revokes.map(([, , at]) => at));
  const byChannel = new Map<string, number[]>();
  for (const [channel, at] of stats.posts ?? []) {
    const list = byChannel.get(channel) ?? [];
    list.push(at);
    byChannel.set(channel, list);
  }
  const approvalChannels = [...byChannel.keys()].filter((c) => c.startsWith('C')).sort();
  const dmChannels = [...byChannel.keys()].filter((c) => !c.startsWith('C'));
  const dmMax = Math.max(0, ...dmChannels.map((c) => perSecond(byChannel.get(c) ?? []).sliding));

  console.log('\n## Revocation of the backlog');
  console.log(
    table(
      [
        'grants',
        'revoked (distinct)',
        'revoke calls',
        'first revoke',
        'all revoked',
        'all `expired` in MongoDB',
        'startBot() returned',
        'revokes/s',
      ],
      [
        [
          GRANTS,
          distinct,
          revokes.length,
          `+${ms(firstRevoke - startingAt)}`,
          allRevokedAt ? `+${ms(lastRevoke - startingAt)}` : `${distinct} within ${REVOKE_TIMEOUT_S} s`,
          allExpiredAt ? `+${ms(allExpiredAt - startingAt)}` : 'no',
          readyAt ? `+${ms(readyAt - startingAt)}` : 'no',
          (distinct / ((lastRevoke - firstRevoke) / 1000)).toFixed(0),
        ],
      ],
    ),
  );
  console.log(`(times from the bot process's first line of code; node start-up before it took ${ms(startingAt - spawnedAt)})`);
  console.log(
    `CPU while revoking (share of one core): bot ${(cpu.bot * 100).toFixed(0)}%${mongo.pid ? `, MongoDB (jongodb) ${(cpu.mongo * 100).toFixed(0)}%` : ''}`,
  );
  console.log(
    `bot's MongoDB operations until then: ${revokedSoFar ? describeOps(opsAtRevoked, revokedSoFar, 'revoked grant') : describeOps(opsAtRevoked, revokePhaseS, 's')}`,
  );

  console.log('\n## Slack posts (chat.postMessage) per channel');
  console.log(
    table(
      ['channel', 'posts', 'max per 1-s window (aligned)', 'max per 1-s window (sliding)'],
      [
        ...approvalChannels.map((c) => {
          const p = perSecond(byChannel.get(c) ?? []);
          return [c, (byChannel.get(c) ?? []).length, p.fixed, p.sliding];
        }),
        [`${dmChannels.length} DM channels`, dmChannels.reduce((n, c) => n + (byChannel.get(c) ?? []).length, 0), '', dmMax],
      ],
    ),
  );
  const calls = Object.entries(stats.slack.byMethod)
    .map(([m, n]) => `${m} ${n}`)
    .join(', ');
  console.log(`Web API calls: ${calls}; failed ${stats.slack.failed}`);
  if (!allRevokedAt) console.log('(notifications not observed: the revocations did not finish)');
  else
    console.log(
      outboxEmptyAt
        ? `outbox empty (every notification delivered) at +${ms(outboxEmptyAt - startingAt)}`
        : `outbox NOT empty ${allRevokedAt ? `${OBSERVE_S} s after the last revocation` : 'when the bench gave up'}; still due: ${outboxDue.map((d) => `${d.what} ${d.n}`).join(', ')}`,
    );

  const revokedIn = allRevokedAt ? lastRevoke - startingAt : Infinity;
  const maxApprovalPerSec = Math.max(0, ...approvalChannels.map((c) => perSecond(byChannel.get(c) ?? []).fixed));
  const maxSliding = Math.max(0, ...approvalChannels.map((c) => perSecond(byChannel.get(c) ?? []).sliding));
  console.log('\n## Targets');
  console.log(`all revoked within 60 s: ${revokedIn <= 60_000 && distinct === GRANTS ? 'MET' : 'MISSED'} (${ms(revokedIn)})`);
  const postsOk = (stats.posts ?? []).length === 0 ? undefined : maxApprovalPerSec <= 1 && maxSliding <= 2 && dmMax <= 2;
  console.log(
    `about one post per second per channel: ${postsOk === undefined ? 'NOT MEASURED (no posts)' : postsOk ? 'MET' : 'MISSED'} (approval channels: max ${maxApprovalPerSec} per aligned second, ${maxSliding} per sliding second; DMs ${dmMax})`,
  );
  console.log(`wall time ${((performance.now() - wall) / 1000).toFixed(0)} s`);

  emitResult('startup-backlog', {
    config: {
      grants: GRANTS,
      observeSeconds: OBSERVE_S,
      mongo: mongo.kind,
      schedulerConcurrency: Number(process.env.BENCH_SCHEDULER_CONCURRENCY ?? 16),
    },
    allRevokedMs: Number.isFinite(revokedIn) ? revokedIn : null,
    allExpiredMs: allExpiredAt ? allExpiredAt - startingAt : null,
    startBotReturnedMs: readyAt ? readyAt - startingAt : null,
    firstRevokeMs: firstRevoke - startingAt,
    distinctRevoked: distinct,
    revokeCalls: revokes.length,
    posts: Object.fromEntries(
      approvalChannels.map((c) => [c, { total: (byChannel.get(c) ?? []).length, ...perSecond(byChannel.get(c) ?? []) }]),
    ),
    dmPosts: dmChannels.reduce((n, c) => n + (byChannel.get(c) ?? []).length, 0),
    dmMaxPerSecond: dmMax,
    outboxEmptyMs: outboxEmptyAt ? outboxEmptyAt - startingAt : null,
    notificationsObserved: !!allRevokedAt,
    outboxDue,
    slackCalls: stats.slack.byMethod,
    cpu,
    mongoOpsPerGrant: totalOps(opsAtRevoked) / Math.max(1, revokedSoFar),
    progress: progress.filter((_, i) => i % 4 === 0),
    targets: { revoked60s: revokedIn <= 60_000 && distinct === GRANTS, postsPerSecond: postsOk },
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
