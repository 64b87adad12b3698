import { Collection } from 'mongodb';
import { startTestBot, TestBot, waitUntil, defaultPolicy } from './harness';
import { pendingRequest } from '../support/fixtures';
import type { AccessRequest } from '../../src/domain/request';
import { gapsBetween } from '../support/checks';

let t: TestBot;
beforeAll(async () => {
  t = await startTestBot({
    policy: defaultPolicy(`
  - id: quick
    name: Quick demo
    approvers: { users: [U0BOB] }
    pendingTimeout: 2s
    remindAfter: 1h
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 1000 }
`),
    env: { JIT_EXPIRY_WARNING: '2s' },
    // Slack's real per-channel pace: the coalescing test measures it.
    bot: { notifier: { channelIntervalMs: 1000 } },
  });
});
afterAll(() => t.stop());
beforeEach(() => {
  t.fake.heal();
  t.hook.respondWith(200);
});

const requests = () => t.requests();
const forRequest = (id: string) => (c: { body: unknown }) => (c.body as { requestId?: string })?.requestId === id;

async function approvedGrant(user: string, duration: string, resource = 'deploy-hook'): Promise<AccessRequest> {
  await t.slack.command(user, `${resource} ${duration} expiry test`);
  const req = await waitUntil(() => requests().findOne({ requesterId: user, state: 'pending' }), 5000, 'pending');
  await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
  return waitUntil(
    async () => {
      const r = await requests().findOne({ _id: req._id });
      return r?.state === 'active' ? r : undefined;
    },
    5000,
    'active',
  );
}

/** Active grants written straight to the store, as if granted earlier (by this or another replica). */
async function seedActive(n: number, expiresAt: Date, over: Partial<AccessRequest> = {}): Promise<AccessRequest[]> {
  const out: AccessRequest[] = [];
  for (let i = 0; i < n; i++) {
    const r = pendingRequest({
      requesterId: `U0SEED${Math.random().toString(36).slice(2, 10).toUpperCase()}`,
      state: 'active',
      grantedAt: new Date(),
      expiresAt,
      ...over,
    });
    out.push(await t.bot.ctx.store.create(r, 'system'));
  }
  t.bot.scheduler.scheduleChanged(expiresAt);
  return out;
}

describe('expiry engine', () => {
  it('revokes a grant of a few seconds within 1 s of its expiry; the thread notice and the DM arrive', async () => {
    const grant = await approvedGrant('U0EXP1', '3s');
    const revoke = await t.hook.waitFor('revoke', forRequest(grant._id), 8000);
    const lateness = revoke.at - grant.expiresAt!.getTime();
    expect(lateness).toBeGreaterThanOrEqual(0);
    expect(lateness).toBeLessThan(1000);
    await waitUntil(async () => (await requests().findOne({ _id: grant._id }))?.state === 'expired', 3000, 'expired');
    const ended = await requests().findOne({ _id: grant._id });
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.thread_ts === ended!.approvalMessage!.ts && String(c.args.text).includes('expired'),
    );
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0EXP1' && String(c.args.text).includes('has expired'));
    await t.fake.waitFor(
      'chat.update',
      (c) => c.args.ts === ended!.approvalMessage!.ts && JSON.stringify(c.args.blocks).includes('Access expired'),
    );
    const actions = (await t.bot.ctx.store.audit.forRequest(grant._id)).map((e) => [e.action, e.actor]);
    expect(actions).toEqual(
      expect.arrayContaining([
        ['expiring', 'system'],
        ['expired', 'system'],
      ]),
    );
  });

  it('sends the expiring-soon DM once', async () => {
    const grant = await approvedGrant('U0WARN', '4s');
    await t.hook.waitFor('revoke', forRequest(grant._id), 8000);
    await new Promise((r) => setTimeout(r, 300));
    const warnings = t.fake
      .callsTo('chat.postMessage')
      .filter((c) => c.args.channel === 'DU0WARN' && String(c.args.text).includes('expires'));
    expect(warnings).toHaveLength(1);
    const events = await t.bot.ctx.store.audit.forRequest(grant._id);
    expect(events.filter((e) => e.action === 'expiry_warning_sent')).toHaveLength(1);
  });

  it('keeps retrying a failing revocation, alerts the channel, keeps it listed; revokes once the target recovers', async () => {
    const grant = await approvedGrant('U0FAIL', '1s');
    t.hook.respondWith(503);
    // Attempts 1..3 fail; the third raises the alert in the channel.
    await t.hook.waitForCount('revoke', 3, 8000, forRequest(grant._id));
    const alert = await t.fake.waitFor(
      'chat.postMessage',
      (c) => String(c.args.text).includes('Revocation of') && String(c.args.text).includes(grant._id),
      8000,
    );
    expect(String(alert.args.reply_broadcast)).toBe('true');
    const stuck = await requests().findOne({ _id: grant._id });
    expect(stuck!.state).toBe('revoking');
    expect(stuck!.lastError).toMatch(/503/);
    const list = await t.slack.command('U0FAIL', 'list');
    const listed = await t.fake.waitForResponse((r) => r.id === list.responseId);
    expect(String(listed.body.text)).toContain(grant._id);
    expect(String(listed.body.text)).toContain('being revoked');

    t.hook.respondWith(200);
    await waitUntil(async () => (await requests().findOne({ _id: grant._id }))?.state === 'expired', 8000, 'expired after recovery');
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.failed && c.args.thread_ts === stuck!.approvalMessage!.ts && String(c.args.text).includes('Access ended'),
      8000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const notices = t.fake
      .callsTo('chat.postMessage')
      .filter((c) => !c.failed && c.args.thread_ts === stuck!.approvalMessage!.ts && String(c.args.text).includes('Access ended'));
    expect(notices).toHaveLength(1);
    const events = (await t.bot.ctx.store.audit.forRequest(grant._id)).map((e) => e.action);
    expect(events.filter((a) => a === 'revocation_failed').length).toBeGreaterThanOrEqual(3);
    expect(events.at(-1)).toBe('expired');
  });

  it('does not delay revocations while Slack answers 429 and 500; notices arrive afterwards exactly once', async () => {
    const grant = await approvedGrant('U0SLOW', '3s');
    await waitUntil(async () => (await requests().findOne({ _id: grant._id }))?.approvalMessage, 5000, 'approval message posted');
    await t.bot.notifier.idle();
    t.fake.failAlways('chat.postMessage', { status: 429, retryAfter: 1 });
    t.fake.failAlways('chat.update', { status: 500 });
    const revoke = await t.hook.waitFor('revoke', forRequest(grant._id), 8000);
    expect(revoke.at - grant.expiresAt!.getTime()).toBeLessThan(1000);
    await waitUntil(async () => (await requests().findOne({ _id: grant._id }))?.state === 'expired', 3000, 'expired');
    await new Promise((r) => setTimeout(r, 1500));
    t.fake.heal();
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.failed && c.args.channel === 'DU0SLOW' && String(c.args.text).includes('has expired'),
      10_000,
    );
    await t.fake.waitFor(
      'chat.update',
      (c) => !c.failed && JSON.stringify(c.args.blocks).includes(grant._id) && JSON.stringify(c.args.blocks).includes('Access expired'),
      10_000,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const dms = t.fake
      .callsTo('chat.postMessage')
      .filter((c) => !c.failed && c.args.channel === 'DU0SLOW' && String(c.args.text).includes('has expired'));
    expect(dms).toHaveLength(1);
    const threadNotices = t.fake
      .callsTo('chat.postMessage')
      .filter((c) => !c.failed && String(c.args.text).includes('Access ended') && String(c.args.text).includes('U0SLOW'));
    expect(threadNotices).toHaveLength(1);
  });

  it('coalesces 50 grants ending in one channel within the same second: about one post per second', async () => {
    // Far enough ahead that every approval message below is recorded before the first expiry.
    const expiresAt = new Date(Date.now() + 3000);
    const seeded = await seedActive(50, expiresAt, { approvalChannel: 'C0BULK', resourceId: 'deploy-hook' });
    // Give each its approval message, as the real flow would have.
    const messageTs = new Map<string, string>();
    for (const r of seeded) {
      const ts = t.fake.nextTs();
      messageTs.set(r._id, ts);
      await requests().updateOne({ _id: r._id }, { $set: { approvalMessage: { channel: 'C0BULK', ts } } });
    }
    await waitUntil(
      async () => (await requests().countDocuments({ _id: { $in: seeded.map((r) => r._id) }, state: 'expired' })) === 50,
      10_000,
      '50 expired',
    );
    await t.bot.notifier.idle();
    await new Promise((r) => setTimeout(r, 2500));
    const posts = t.fake.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0BULK' && !c.failed);
    // Listed in a coalesced post, or (one that ended after the last list went out) told in its own thread.
    const mentioned = new Set(
      seeded
        .map((r) => r._id)
        .filter((id) => posts.some((p) => String(p.args.text).includes(id) || p.args.thread_ts === messageTs.get(id))),
    );
    expect(mentioned.size).toBe(50);
    expect(posts.length).toBeLessThanOrEqual(5);
    const sorted = posts.map((p) => p.at).sort((a, b) => a - b);
    for (const gap of gapsBetween(sorted)) expect(gap).toBeGreaterThanOrEqual(900);
    expect(t.hook.calls('revoke').filter((c) => seeded.some((r) => forRequest(r._id)(c)))).toHaveLength(50);
  });

  it('a stream of expiries costs about three scheduler queries per grant, each revoked within 1 s', async () => {
    // 20 grants ending 150 ms apart: the timer wakes for each. A timer pass queries only the kinds
    // of work that are due and re-reads only the deadlines that work moves (not all eleven queries).
    const first = Date.now() + 1500;
    const grants: AccessRequest[] = [];
    for (let i = 0; i < 20; i++) {
      // Their own channel, approval messages already posted: their notices do not queue ahead of other tests'.
      const r = pendingRequest({
        requesterId: `U0STREAM${i}`,
        state: 'active',
        grantedAt: new Date(),
        expiresAt: new Date(first + i * 150),
        approvalChannel: 'C0STREAM',
        approvalMessage: { channel: 'C0STREAM', ts: t.fake.nextTs() },
      });
      grants.push(await t.bot.ctx.store.create(r, 'system'));
    }
    t.bot.scheduler.scheduleChanged(new Date(first));
    // Before the stream starts: the pass for the announcement above reads every deadline once.
    await new Promise((r) => setTimeout(r, 700));
    const DEADLINE_FIELDS = /"(expiresAt|leaseUntil|pendingUntil|warnAt|remindAt)"/;
    const find = jest.spyOn(Collection.prototype, 'find');
    try {
      await waitUntil(
        async () => (await requests().countDocuments({ _id: { $in: grants.map((g) => g._id) }, state: 'expired' })) === 20,
        10_000,
        'stream revoked',
      );
      const onRequests = (i: number) => (find.mock.contexts[i] as Collection).collectionName === 'requests';
      const schedulerQueries = find.mock.calls.filter(
        ([filter], i) => onRequests(i) && DEADLINE_FIELDS.test(JSON.stringify(filter ?? {})),
      ).length;
      // Eleven per pass before (six "due" queries and five "next deadline" queries); a cron pass may add twelve.
      expect(schedulerQueries).toBeLessThanOrEqual(20 * 4 + 12);
    } finally {
      find.mockRestore();
    }
    for (const g of grants) {
      const revoke = t.hook.calls('revoke').find(forRequest(g._id))!;
      expect(revoke.at - g.expiresAt!.getTime()).toBeGreaterThanOrEqual(0);
      expect(revoke.at - g.expiresAt!.getTime()).toBeLessThan(1000);
    }
  });

  it('times out an undecided request: timed_out, message updated, requester told', async () => {
    await t.slack.command('U0LATE', 'quick 10m nobody will answer');
    const req = await waitUntil(() => requests().findOne({ requesterId: 'U0LATE' }), 5000, 'request');
    await waitUntil(async () => (await requests().findOne({ _id: req._id }))?.state === 'timed_out', 5000, 'timed out');
    await t.fake.waitFor(
      'chat.update',
      (c) => JSON.stringify(c.args.blocks).includes(req._id) && JSON.stringify(c.args.blocks).includes('Timed out'),
    );
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0LATE' && String(c.args.text).includes('timed out'));
    const late = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    expect(String((await t.fake.waitForResponse((r) => r.id === late.responseId)).body.text)).toMatch(/timed out/);
  });

  it('revokes grants that expired while no scheduler was watching, at start-up', async () => {
    const past = await seedActive(3, new Date(Date.now() - 60_000));
    await t.bot.scheduler.reconcile();
    await waitUntil(
      async () => (await requests().countDocuments({ _id: { $in: past.map((r) => r._id) }, state: 'expired' })) === 3,
      5000,
      'backlog revoked',
    );
  });
});
