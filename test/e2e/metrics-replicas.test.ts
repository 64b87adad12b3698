import { randomBytes } from 'node:crypto';
import { startTestBot, TestBot, waitUntil } from './harness';
import { scrape, sampleValue, type Sample } from '../metrics/scrape';

/*
 * Two bot replicas on one MongoDB: each exports its own counters, and their sum is exactly what
 * happened (each transition is won by one replica); the gauges, read from MongoDB, agree.
 */
let a: TestBot;
let b: TestBot;
beforeAll(async () => {
  const dbName = `jit_e2e_replicas_${randomBytes(4).toString('hex')}`;
  a = await startTestBot({ bot: { dbName, metrics: { stateCacheMs: 0 } } });
  b = await startTestBot({ bot: { dbName, metrics: { stateCacheMs: 0 } } });
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
});

const both = async (): Promise<[Sample[], Sample[]]> => [(await scrape(a.bot.port)).samples, (await scrape(b.bot.port)).samples];
const sum = ([x, y]: [Sample[], Sample[]], name: string, labels: Record<string, string>) =>
  sampleValue(x, name, labels) + sampleValue(y, name, labels);

it('counters summed over replicas count each event once; the gauges are the same on both', async () => {
  const users = ['U0REPA1', 'U0REPA2', 'U0REPA3', 'U0REPB1', 'U0REPB2', 'U0REPB3'];
  await Promise.all(users.map((user) => (user.startsWith('U0REPA') ? a : b).slack.command(user, 'self-serve 3s replicas')));
  await waitUntil(
    async () => (await a.requests().countDocuments({ requesterId: { $in: users }, state: 'active' })) === users.length,
    10_000,
    'six active grants',
  );
  let samples = await both();
  expect(sampleValue(samples[0], 'jit_grants_active', { resource: 'self-serve' })).toBe(6);
  expect(sampleValue(samples[1], 'jit_grants_active', { resource: 'self-serve' })).toBe(6);
  expect(sum(samples, 'jit_requests_total', { resource: 'self-serve', outcome: 'filed' })).toBe(6);
  expect(sum(samples, 'jit_requests_total', { resource: 'self-serve', outcome: 'auto_approved' })).toBe(6);

  await waitUntil(
    async () => (await a.requests().countDocuments({ requesterId: { $in: users }, state: 'expired' })) === users.length,
    15_000,
    'six expired',
  );
  await waitUntil(
    async () => sum(await both(), 'jit_revocations_total', { resource: 'self-serve', result: 'succeeded' }) === 6,
    3000,
    'six revocations counted',
  );
  samples = await both();
  expect(sum(samples, 'jit_revocation_lateness_seconds_count', { resource: 'self-serve' })).toBe(6);
  expect(sum(samples, 'jit_provider_call_duration_seconds_count', { provider: 'webhook', action: 'revoke', result: 'ok' })).toBe(6);
  expect(sampleValue(samples[0], 'jit_grants_active', { resource: 'self-serve' })).toBe(0);
  expect(sampleValue(samples[1], 'jit_grants_active', { resource: 'self-serve' })).toBe(0);
  // The outbox drains (the notices of six grants ending), and both replicas see it empty.
  await waitUntil(
    async () => {
      const [x, y] = await both();
      return sampleValue(x, 'jit_outbox_pending') === 0 && sampleValue(y, 'jit_outbox_pending') === 0;
    },
    15_000,
    'both replicas to report an empty outbox',
  );
}, 40_000);
