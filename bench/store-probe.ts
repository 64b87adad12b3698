/**
 * Store calibration: how fast the MongoDB the benches use (jongodb, or MONGODB_URI) does
 * the bot's kind of operations as a collection grows. Every other figure depends on it.
 *
 *   npx tsx bench/store-probe.ts [--sizes=1000,5000]
 */
import { MongoClient } from 'mongodb';
import { performance } from 'node:perf_hooks';
import { emitResult, machineInfo, startMongo, benchDbName, table, ms, scale } from './lib/common';
import { activeGrant } from './lib/seed';
import type { AccessRequest } from '../src/domain/request';

const sizesArg = process.argv.find((a) => a.startsWith('--sizes='))?.slice('--sizes='.length) ?? process.env.BENCH_PROBE_SIZES;
const SIZES = (sizesArg ?? (scale() < 1 ? '200,1000' : '1000,5000'))
  .split(',')
  .map(Number)
  .filter((n) => n > 0);

async function timeOps(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  return (performance.now() - t) / n;
}

async function main(): Promise<void> {
  const machine = machineInfo();
  console.log(`# store-probe: MongoDB operation latency by collection size (${SIZES.join(', ')} request documents)`);
  console.log(`machine: ${machine.nproc} CPUs, ${machine.cpu}, node ${machine.node}`);
  const mongo = await startMongo();
  const client = new MongoClient(mongo.uri);
  await client.connect();
  const rows: Array<Array<string | number>> = [];
  const results: Record<string, Record<string, number>> = {};
  for (const size of SIZES) {
    const db = client.db(benchDbName('probe'));
    const requests = db.collection<AccessRequest>('requests');
    await requests.createIndex({ state: 1, expiresAt: 1 });
    await requests.createIndex({ openKey: 1 }, { unique: true, partialFilterExpression: { openKey: { $exists: true } } });
    const now = Date.now();
    const docs = Array.from({ length: size }, (_, i) => activeGrant(i, 'PROBE', new Date(now + 3_600_000 + i * 1000)));
    const insertMs = await timeOps(1, async () => {
      for (let i = 0; i < docs.length; i += 1000) await requests.insertMany(docs.slice(i, i + 1000), { ordered: false });
    });
    const reps = size > 2000 ? 10 : 30;
    const pick = (i: number) => (docs[(i * 7919) % size] as AccessRequest)._id;
    const r = {
      insertManyPerDoc: insertMs / size,
      findOneById: await timeOps(reps, (i) => requests.findOne({ _id: pick(i) })),
      updateOneById: await timeOps(reps, (i) =>
        requests.updateOne({ _id: pick(i), state: 'active' }, { $set: { touchedAt: new Date() }, $inc: { version: 1 } }),
      ),
      insertOne: await timeOps(reps, (i) =>
        db
          .collection<{ _id: string; at: Date; action: string }>('audit_events')
          .insertOne({ _id: `probe-${size}-${i}`, at: new Date(), action: 'probe' }),
      ),
      dueQuery: await timeOps(reps, () =>
        requests
          .find({ state: 'active', expiresAt: { $lte: new Date(now + 3_600_000 + 100_000) } })
          .sort({ expiresAt: 1 })
          .limit(200)
          .toArray(),
      ),
    };
    results[String(size)] = r;
    rows.push([size, ms(r.insertManyPerDoc, 2), ms(r.findOneById, 2), ms(r.updateOneById, 2), ms(r.insertOne, 2), ms(r.dueQuery, 2)]);
    await db.dropDatabase().catch(() => undefined);
  }
  await client.close();
  await mongo.stop();
  console.log(`\nstore: ${mongo.kind}`);
  console.log(
    table(
      [
        'documents',
        'insertMany (per doc)',
        'findOne by _id',
        'updateOne by _id',
        'insertOne (other collection)',
        'due query (sort, limit 200)',
      ],
      rows,
    ),
  );
  emitResult('store-probe', { mongo: mongo.kind, sizes: SIZES, results });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
