/**
 * A Slack (or DNS) outage never stops expiry (PRODUCT.md section 4): the real bot starts while the
 * fake Slack cuts every connection unanswered, or answers errors, revokes on time, queues its
 * notices, and delivers each of them once Slack answers again. The token Slack rejects is the one
 * Slack answer that stops start-up: see processes.test.ts.
 */
import { MongoClient } from 'mongodb';
import { startTestBot, TestBot, waitUntil } from './harness';
import { pendingRequest } from '../support/fixtures';
import type { AccessRequest } from '../../src/domain/request';

const forRequest = (id: string) => (c: { body: unknown }) => (c.body as { requestId?: string })?.requestId === id;
const lines = (t: TestBot) => t.logs.flatMap((l) => l.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>);

async function stateOf(t: TestBot, id: string, state: string, timeoutMs = 5000): Promise<AccessRequest> {
  return waitUntil(
    async () => {
      const r = await t.bot.ctx.store.get(id);
      return r?.state === state ? r : undefined;
    },
    timeoutMs,
    `${id} ${state}`,
  );
}

describe('the Slack Web API unreachable at start-up', () => {
  let t: TestBot;
  let grant: AccessRequest;
  let startedAt: number;

  beforeAll(async () => {
    startedAt = Date.now();
    t = await startTestBot({
      beforeStart: async ({ fake, mongoUri, dbName }) => {
        fake.down();
        // A grant given earlier, expiring a few seconds after this start.
        const client = new MongoClient(mongoUri);
        await client.connect();
        const now = new Date();
        grant = pendingRequest({
          requesterId: 'U0OUT1',
          state: 'active',
          grantedAt: now,
          expiresAt: new Date(now.getTime() + 3000),
          email: 'out1@example.com',
        });
        await client.db(dbName).collection<AccessRequest>('requests').insertOne(grant);
        await client.close();
      },
    });
  });
  afterAll(() => t?.stop());

  it('starts anyway, saying so, and serves Slack’s requests', async () => {
    expect(Date.now() - startedAt).toBeLessThan(10_000);
    expect(t.fake.callsTo('auth.test').length).toBeGreaterThanOrEqual(1);
    expect(t.fake.callsTo('auth.test').every((c) => c.failed)).toBe(true);
    expect(lines(t).some((l) => /does not answer \(auth\.test\); starting anyway/.test(String(l.msg)))).toBe(true);
    expect(lines(t).some((l) => l.msg === 'jit-access started')).toBe(true);
    expect((await t.slack.get('/healthz')).status).toBe(200);
    // Slack can still reach the bot (the outage may be on the bot's side): a request is filed.
    const res = await t.slack.command('U0OUT2', 'deploy-hook 10m filed while Slack does not answer');
    expect(res.status).toBe(200);
    await waitUntil(() => t.requests().findOne({ requesterId: 'U0OUT2', state: 'pending' }), 5000, 'the pending request');
  });

  it('revokes on time while Slack is unreachable; the notices wait in the outbox, uncounted', async () => {
    const revoke = await t.hook.waitFor('revoke', forRequest(grant._id), 8000);
    expect(revoke.at - grant.expiresAt!.getTime()).toBeGreaterThanOrEqual(0);
    expect(revoke.at - grant.expiresAt!.getTime()).toBeLessThan(1500);
    await stateOf(t, grant._id, 'expired');
    await new Promise((r) => setTimeout(r, 500));
    expect(t.fake.calls.filter((c) => !c.failed)).toHaveLength(0);
    const owed = await t.bot.db.collection('outbox').find({ requestId: grant._id, due: true }).toArray();
    expect(owed.map((i) => i._id).sort()).toEqual([`dm:${grant._id}:ended`, `sync:${grant._id}`, `thread:${grant._id}:ended`].sort());
    // A failed attempt while Slack is away is not an attempt: nothing is given up for it.
    expect(owed.every((i) => i.attempts === 0 && !i.dead)).toBe(true);
    // The background retry keeps asking Slack, not the outbox.
    const probes = t.fake.callsTo('auth.test').length;
    await waitUntil(async () => t.fake.callsTo('auth.test').length > probes, 3000, 'another auth.test');
  });

  it('delivers every queued notice, once, as soon as Slack answers again', async () => {
    const back = Date.now();
    t.fake.up();
    const dm = await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.failed && c.args.channel === 'DU0OUT1' && String(c.args.text).includes('has expired'),
      8000,
    );
    expect(dm.at - back).toBeLessThan(3000);
    const pending = await t.requests().findOne({ requesterId: 'U0OUT2' });
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.failed && !c.args.thread_ts && JSON.stringify(c.args.blocks ?? '').includes(pending!._id),
      5000,
    );
    const expiredMessage = await waitUntil(
      async () => (await t.bot.ctx.store.get(grant._id))?.approvalMessage,
      5000,
      'the expired grant’s message',
    );
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.failed && c.args.thread_ts === expiredMessage.ts && String(c.args.text).includes('expired'),
      5000,
    );
    await waitUntil(async () => (await t.bot.db.collection('outbox').countDocuments({ due: true })) === 0, 8000, 'the outbox to drain');
    const sent = t.fake.callsTo('chat.postMessage').filter((c) => !c.failed && c.args.channel === 'DU0OUT1');
    expect(sent).toHaveLength(1);
    expect(lines(t).some((l) => /answers again \(auth\.test\)/.test(String(l.msg)))).toBe(true);
    expect(t.bot.connection.botUserId).toBe('UBOT');
  });

  it('Slack going away later: grants go on, the requester’s DM waits and arrives once Slack is back', async () => {
    await t.bot.notifier.idle();
    await t.slack.command('U0OUT3', 'deploy-hook 10m granted during an outage');
    const req = await waitUntil(
      () => t.requests().findOne({ requesterId: 'U0OUT3', state: 'pending', approvalMessage: { $exists: true } }),
      5000,
      'pending, posted',
    );
    t.fake.down();
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    await stateOf(t, req._id, 'active');
    await waitUntil(async () => lines(t).some((l) => /stopped answering/.test(String(l.msg))), 5000, 'the outage noticed');
    await new Promise((r) => setTimeout(r, 500));
    expect(t.fake.callsTo('chat.postMessage').filter((c) => !c.failed && c.args.channel === 'DU0OUT3')).toHaveLength(0);
    t.fake.up();
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.failed && c.args.channel === 'DU0OUT3' && String(c.args.text).includes('granted until'),
      8000,
    );
    await t.bot.notifier.idle();
    expect(t.fake.callsTo('chat.postMessage').filter((c) => !c.failed && c.args.channel === 'DU0OUT3')).toHaveLength(1);
  });
});

describe('the Slack Web API answering errors at start-up', () => {
  let t: TestBot;
  afterAll(() => t?.stop());

  it('HTTP 503 and fatal_error are Slack’s trouble, not a bad token: the bot starts and asks again until Slack answers', async () => {
    t = await startTestBot({
      beforeStart: ({ fake }) => {
        fake.failNext('auth.test', { status: 503, times: 2 });
        fake.failNext('auth.test', { error: 'fatal_error' });
      },
    });
    expect(t.bot.connection.isReachable).toBe(false);
    await waitUntil(async () => t.bot.connection.isReachable, 5000, 'auth.test to succeed');
    expect(t.fake.callsTo('auth.test').map((c) => c.failed)).toEqual([true, true, true, false]);
    // Notices flow normally from then on.
    await t.slack.command('U0OUT4', 'deploy-hook 10m after the errors');
    await t.fake.waitFor('chat.postMessage', (c) => !c.failed && c.args.channel === 'C0APPROVALS', 5000);
  });
});
