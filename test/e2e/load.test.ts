import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startTestBot, TestBot, waitUntil } from './harness';

// A real collection before each sample, so the heap figures mean something.
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Steady load of requests, approvals and expiries through the real app. In `npm test`
 * it is a short smoke run; `LOAD_SECONDS=600 npx jest test/e2e/load.test.ts` is the
 * 10-minute soak (rate: LOAD_RATE requests per second, default 4).
 */
const SECONDS = Number(process.env.LOAD_SECONDS ?? 12);
const RATE = Number(process.env.LOAD_RATE ?? 4);

let t: TestBot;
beforeAll(async () => {
  t = await startTestBot({ env: { LOG_LEVEL: 'info' } });
});
afterAll(() => t.stop());

describe(`load: ${RATE}/s for ${SECONDS}s`, () => {
  it(
    'holds: no errors, every grant revoked, memory flat, one audit event per transition',
    async () => {
      const heap: number[] = [];
      const users: string[] = [];
      const failures: string[] = [];
      const errors: string[] = [];
      const started = Date.now();
      let n = 0;
      const pending: Promise<void>[] = [];
      while (Date.now() - started < SECONDS * 1000) {
        const user = `U0LOAD${String(n++).padStart(5, '0')}`;
        users.push(user);
        pending.push(
          (async () => {
            const res = await t.slack.command(user, 'deploy-hook 2s load test');
            if (res.status !== 200) failures.push(`command ${res.status}`);
            const req = await waitUntil(() => t.requests().findOne({ requesterId: user }), 10_000, `request of ${user}`);
            const click = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
            if (click.status !== 200) failures.push(`click ${click.status}`);
          })().catch((err) => void failures.push(String(err))),
        );
        if (n % RATE === 0) {
          // The harness records every log line and Slack call; keep only what the checks need.
          errors.push(...t.logs.filter((l) => /"level":"(error|fatal)"/.test(l)));
          t.logs.length = 0;
          t.fake.clear();
          gc();
          heap.push(process.memoryUsage().heapUsed);
        }
        await new Promise((r) => setTimeout(r, 1000 / RATE));
      }
      await Promise.all(pending);
      const requests = t.requests();
      try {
        await waitUntil(
          async () => (await requests.countDocuments({ requesterId: { $in: users }, state: 'expired' })) === users.length,
          30_000,
          'every grant expired',
        );
      } catch (err) {
        const byState = await requests
          .aggregate([{ $match: { requesterId: { $in: users } } }, { $group: { _id: '$state', n: { $sum: 1 } } }])
          .toArray();
        const stuck = await requests
          .find({ requesterId: { $in: users }, state: { $ne: 'expired' } })
          .limit(3)
          .toArray();
        throw new Error(
          `${(err as Error).message}: ${JSON.stringify(byState)}; e.g. ${JSON.stringify(stuck)}; warnings: ${t.logs
            .filter((l) => /"level":"(warn|error)"/.test(l))
            .slice(0, 5)
            .join('')}`,
        );
      }
      expect(failures).toEqual([]);
      // Every grant granted once and revoked once at the target.
      const revokes = t.hook.calls('revoke');
      const ids = new Set((await requests.find({ requesterId: { $in: users } }).toArray()).map((r) => r._id));
      expect(revokes.filter((c) => ids.has((c.body as { requestId: string }).requestId))).toHaveLength(users.length);
      // One audit event per change: a request at version v has exactly v + 1 events.
      for (const r of await requests.find({ requesterId: { $in: users } }).toArray()) {
        expect([r._id, await t.auditEvents().countDocuments({ requestId: r._id })]).toEqual([r._id, r.version + 1]);
      }
      // No error-level log lines.
      errors.push(...t.logs.filter((l) => /"level":"(error|fatal)"/.test(l)));
      expect(errors).toEqual([]);
      // Memory: the last third of the run is not materially above the first third.
      const third = Math.max(1, Math.floor(heap.length / 3));
      const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const early = avg(heap.slice(0, third));
      const late = avg(heap.slice(-third));
      process.stdout.write(
        `load: ${users.length} grants in ${SECONDS}s; heap early ${(early / 1e6).toFixed(1)} MB, late ${(late / 1e6).toFixed(1)} MB\n`,
      );
      expect(late).toBeLessThan(early * 1.2 + 10e6);
    },
    (Number(process.env.LOAD_SECONDS ?? 12) + 90) * 1000,
  );
});
