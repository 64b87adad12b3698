/**
 * Faults of the bot's dependencies, through the real app: MongoDB stopped or hanging (its own
 * jongodb per test file, stopped and restarted on the same port), a provider that never answers,
 * and the Slack Web API refusing calls at each call site.
 */
import { randomBytes } from 'node:crypto';
import { Collection } from 'mongodb';
import { repairUnrecorded, type BotOptions } from '../../src/bot';
import { TRY_AGAIN } from '../../src/slack/listeners/deps';
import type { AccessRequest } from '../../src/domain/request';
import { defaultPolicy, startTestBot, TestBot, waitUntil } from './harness';
import { jongodbBinary, startJongodb, RunningMongo } from '../support/mongo-server';
import { gapsBetween } from '../support/checks';

/** The harness's bot, on the MongoDB the test owns (so it can stop and restart it). */
function startBotOn(mongoUri: string, opts: { policy?: string; bot?: BotOptions } = {}): Promise<TestBot> {
  return startTestBot({ ...opts, mongoUri, env: { JIT_RECONCILE_CRON: '*/1 * * * * *' } });
}

type LogEntry = Record<string, unknown> & { msg?: string };

function entries(t: TestBot): LogEntry[] {
  return t.logs.flatMap((line) => line.split('\n').filter(Boolean)).map((line) => JSON.parse(line) as LogEntry);
}

/** The request's audit events once they include `action` (a state can be read before its event is appended). */
function eventsUntil(t: TestBot, id: string, action: string, timeoutMs = 5000) {
  return waitUntil(
    async () => {
      const events = await t.bot.ctx.store.audit.forRequest(id);
      return events.some((e) => e.action === action) ? events : undefined;
    },
    timeoutMs,
    `the ${action} event of ${id}`,
  );
}

/** Waits for a log line with all of `fields` (a RegExp value matches a string field). */
function logged(t: TestBot, fields: Record<string, unknown>, timeoutMs = 5000): Promise<LogEntry> {
  const matches = (e: LogEntry) =>
    Object.entries(fields).every(([k, v]) => (v instanceof RegExp ? typeof e[k] === 'string' && v.test(e[k] as string) : e[k] === v));
  return waitUntil(
    async () => entries(t).find(matches),
    timeoutMs,
    `a log line with ${JSON.stringify(fields, (_k, v) => (v instanceof RegExp ? String(v) : v))}`,
  );
}

const forRequest = (id: string) => (c: { body?: { requestId?: string } }) => c.body?.requestId === id;
const blocksMention = (id: string) => (c: { args: Record<string, unknown> }) => JSON.stringify(c.args.blocks ?? '').includes(id);

/** Nothing left to deliver, so a fault injected next meets the call it is meant for. */
async function settled(t: TestBot): Promise<void> {
  await waitUntil(async () => (await t.bot.db.collection('outbox').countDocuments({ due: true })) === 0, 10_000, 'the outbox to drain');
  await t.bot.notifier.idle();
}

async function filed(t: TestBot, user: string, text: string): Promise<AccessRequest> {
  const res = await t.slack.command(user, text);
  expect(res.status).toBe(200);
  const answer = await t.fake.waitForResponse((r) => r.id === res.responseId, 10_000);
  const id = /`(r[a-z0-9]{8})`/.exec(String(answer.body.text))?.[1];
  if (!id) throw new Error(`no request filed: ${String(answer.body.text)}`);
  return (await t.bot.ctx.store.get(id))!;
}

async function stateOf(t: TestBot, id: string, state: string, timeoutMs = 5000): Promise<AccessRequest> {
  return waitUntil(
    async () => {
      const r = await t.bot.ctx.store.get(id);
      return r?.state === state ? r : undefined;
    },
    timeoutMs,
    `${id} to be ${state}`,
  );
}

async function answerTo(t: TestBot, responseId: string, timeoutMs = 10_000): Promise<string> {
  const answer = await t.fake.waitForResponse((r) => r.id === responseId, timeoutMs);
  expect(answer.body).toMatchObject({ response_type: 'ephemeral' });
  return String(answer.body.text);
}

async function dmTo(t: TestBot, user: string, since: number, text: RegExp, timeoutMs = 10_000): Promise<string> {
  const dm = await t.fake.waitFor(
    'chat.postMessage',
    (c) => !c.failed && c.at >= since && c.args.channel === `D${user}` && text.test(String(c.args.text)),
    timeoutMs,
  );
  return String(dm.args.text);
}

// =====================================================================================================
// These stop, pause and restart their own jongodb, whose binary exists on Linux x64 only.
const withOwnMongo = jongodbBinary() ? describe : describe.skip;

withOwnMongo('MongoDB unreachable, then answering again at the same address', () => {
  let mongo: RunningMongo;
  let port: number;
  let t: TestBot;

  beforeAll(async () => {
    mongo = await startJongodb(0);
    port = Number(new URL(mongo.uri).port);
    t = await startBotOn(mongo.uri, {
      // Short client timeouts and leases, so a hanging MongoDB is noticed in test time.
      bot: {
        mongo: { serverSelectionTimeoutMS: 1500, connectTimeoutMS: 1000, socketTimeoutMS: 1500, heartbeatFrequencyMS: 500 },
        settings: { leaseMs: 1500 },
        // A delivery cut off by the outage keeps its claim until the lease lapses.
        notifier: { leaseMs: 2000 },
      },
    });
  }, 30_000);
  afterAll(async () => {
    mongo.process?.kill('SIGCONT');
    await t?.stop();
    await mongo?.stop();
  });

  it('stopped: /readyz 503, every action that needs it is answered "try again" and half-does nothing; restarted (empty): /readyz 200 and new requests work, without restarting the bot', async () => {
    const before = await filed(t, 'U0ALICE', 'deploy-hook 30m filed before the outage');
    await t.fake.waitFor('chat.postMessage', blocksMention(before._id));
    await t.bot.notifier.idle();

    await mongo.stop();
    const since = Date.now();
    const ready = await t.slack.get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json).toEqual({ status: 'mongodb unavailable' });
    expect(ready.ms).toBeLessThan(1000);
    expect((await t.slack.get('/healthz')).status).toBe(200);

    // A command that files a request, one that reads, a click, a modal submission, a Deny click.
    const request = await t.slack.command('U0CAROL', 'deploy-hook 30m filed during the outage');
    expect(request.status).toBe(200);
    expect(request.ms).toBeLessThan(1000);
    expect(await answerTo(t, request.responseId)).toBe(TRY_AGAIN);
    const list = await t.slack.command('U0ALICE', 'list');
    expect(await answerTo(t, list.responseId)).toBe(TRY_AGAIN);
    const approve = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: before._id });
    expect(approve.status).toBe(200);
    expect(await answerTo(t, approve.responseId)).toBe(TRY_AGAIN);
    const deny = await t.slack.blockAction('U0BOB', { action_id: 'deny_request', value: before._id });
    expect(await answerTo(t, deny.responseId)).toBe(TRY_AGAIN);
    const modal = await t.slack.viewSubmission('U0DAN', {
      callback_id: 'request_modal',
      state: { values: t.slack.modalValues({ resource: 'deploy-hook', duration: '1h', reason: 'modal during the outage' }) },
    });
    expect(modal.status).toBe(200);
    expect(await dmTo(t, 'U0DAN', since, /./)).toBe(TRY_AGAIN);
    await logged(t, { msg: 'database unavailable', user: 'U0CAROL', command: 'request' });
    await logged(t, { msg: 'database unavailable', user: 'U0BOB', requestId: before._id, action: 'approve' });

    // Nothing half-done: no grant, no deny modal, no approval message for anything filed meanwhile.
    expect(t.hook.calls()).toHaveLength(0);
    expect(t.fake.callsTo('views.open').filter((c) => c.at >= since)).toHaveLength(0);
    expect(t.fake.callsTo('chat.postMessage').filter((c) => c.at >= since && c.args.channel === 'C0APPROVALS')).toHaveLength(0);

    // Answering again at the same address. jongodb keeps data in memory, so it comes back
    // empty: recovery is what is tested here (the paused case below keeps the data).
    mongo = await startJongodb(port);
    await waitUntil(async () => (await t.slack.get('/readyz')).status === 200, 10_000, '/readyz 200 again');
    expect(await t.requests().countDocuments({})).toBe(0);
    await logged(t, { msg: 'MongoDB answers again; re-asserting indexes' });

    const after = await filed(t, 'U0ALICE', 'deploy-hook 30m filed after the outage');
    await t.fake.waitFor('chat.postMessage', blocksMention(after._id));
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: after._id });
    await t.hook.waitFor('grant', forRequest(after._id));
    await stateOf(t, after._id, 'active');
    // The indexes came back with it: still one open request per person and resource.
    await waitUntil(
      async () => (await t.requests().indexes()).some((i) => i.name === 'one_open_request_per_user_and_resource'),
      5000,
      'the unique index',
    );
    const again = await t.slack.command('U0ALICE', 'deploy-hook 30m a second one');
    expect(await answerTo(t, again.responseId)).toMatch(/already have request/);
    expect(await t.requests().countDocuments({ requesterId: 'U0ALICE' })).toBe(1);
  }, 60_000);

  it('hanging (paused mid-grant): /readyz 503 within 1 s, people are told to try again, and once it answers the grant is finished exactly once', async () => {
    const request = await filed(t, 'U0GRACE', 'deploy-hook 30m paused mid-grant');
    await t.fake.waitFor('chat.postMessage', blocksMention(request._id));
    await t.bot.notifier.idle();
    t.hook.hang(800, 1);
    const click = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: request._id });
    await t.hook.waitFor('grant', forRequest(request._id));
    // The provider call is in flight; MongoDB stops answering (the process is paused, its port open).
    mongo.process!.kill('SIGSTOP');
    try {
      // A probe already in flight when the process stopped may still get its answer: the next ones say 503.
      const ready = await waitUntil(
        async () => {
          const r = await t.slack.get('/readyz');
          return r.status === 503 ? r : undefined;
        },
        3000,
        '/readyz 503',
      );
      expect(ready.ms).toBeLessThan(1200);
      const list = await t.slack.command('U0HAL', 'list');
      expect(list.ms).toBeLessThan(1000);
      expect(await answerTo(t, list.responseId, 5000)).toBe(TRY_AGAIN);
      // The approval may have been recorded before MongoDB hung: the approver is told to try again, or that it is recorded and to click again.
      expect(await answerTo(t, click.responseId)).toMatch(/try again|Approve again/i);
    } finally {
      mongo.process!.kill('SIGCONT');
    }
    await waitUntil(async () => (await t.slack.get('/readyz')).status === 200, 10_000, '/readyz 200 again');
    // Either the write to `active` sent into the hang was lost, and the scheduler takes the grant
    // over once its lease lapses; or MongoDB applied it on waking, unanswered, and the recovery
    // records it. Either way: active, granted once, recorded once, shown as it is.
    const active = await stateOf(t, request._id, 'active', 15_000);
    expect(active.approvals).toEqual(['U0BOB']);
    const events = await eventsUntil(t, request._id, 'granted', 8000);
    expect(events.filter((e) => e.action === 'approval_recorded')).toHaveLength(1);
    expect(events.filter((e) => e.action === 'granted')).toHaveLength(1);
    const grants = t.hook.calls('grant').filter(forRequest(request._id));
    expect(new Set(grants.map((c) => c.headers['idempotency-key']))).toEqual(new Set([`${request._id}:grant`]));
    expect(t.hook.calls('revoke').filter(forRequest(request._id))).toHaveLength(0);
    await waitUntil(
      async () => {
        const message = t.fake.calls
          .filter(
            (c) =>
              !c.failed &&
              (c.method === 'chat.postMessage' || c.method === 'chat.update') &&
              !c.args.thread_ts &&
              blocksMention(request._id)(c),
          )
          .at(-1);
        return message && JSON.stringify(message.args.blocks).includes('Access until');
      },
      8000,
      'the approval message to show the grant',
    );
  }, 60_000);
});

// =====================================================================================================
describe('a provider that hangs past its deadline, and Slack refusing calls', () => {
  let t: TestBot;
  beforeAll(async () => {
    t = await startTestBot({
      policy: defaultPolicy(`
  - id: slow-hook
    name: A target that may hang
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 300 }
  - id: oncall-db
    name: On-call database
    approvers: { usergroups: [S0ONCALL] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
`),
      // Filing resolves the group too (can anyone else approve?): a short cache lets the click ask Slack again.
      bot: { usergroupCacheMs: 100 },
    });
    t.fake.usergroups.set('S0ONCALL', ['U0ONC1']);
  });
  afterAll(() => t?.stop());
  beforeEach(async () => {
    t.fake.heal();
    t.hook.reset();
    await settled(t);
  });

  describe('provider', () => {
    it('hangs on every call: each attempt gives up at the deadline, is retried, and the request ends failed, never stuck', async () => {
      const request = await filed(t, 'U0PIA', 'slow-hook 30m the target hangs');
      t.hook.hang(10_000);
      const clicked = Date.now();
      await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: request._id });
      const failed = await stateOf(t, request._id, 'failed', 8000);
      // 3 attempts of 300 ms, backoff, and a compensating revoke of 300 ms: well inside 4 s.
      expect(Date.now() - clicked).toBeLessThan(4000);
      expect(failed.lastError).toMatch(/no answer within 300ms/);
      const grants = t.hook.calls('grant').filter(forRequest(request._id));
      expect(grants).toHaveLength(3);
      for (const gap of gapsBetween(grants.map((g) => g.at))) expect(gap).toBeGreaterThanOrEqual(290);
      // A timed-out grant may have landed: it is taken back before "failed" (and that revoke hung too).
      expect(t.hook.calls('revoke').filter(forRequest(request._id))).toHaveLength(1);
      const events = await eventsUntil(t, request._id, 'grant_failed');
      expect(events.filter((e) => e.action === 'grant_attempt_failed').map((e) => e.details?.attempt)).toEqual([1, 2, 3]);
      expect(events.find((e) => e.action === 'grant_failed')?.details).toMatchObject({
        cleanup: expect.stringMatching(/compensating revoke failed: .*no answer within 300ms/),
      });
      await dmTo(t, 'U0PIA', clicked, /fail/i);
      await logged(t, { msg: 'grant attempt failed', requestId: request._id, user: 'U0PIA', attempt: 3 });
    });

    it('hangs once: the first attempt gives up at the deadline and the retry grants', async () => {
      const request = await filed(t, 'U0QUIN', 'slow-hook 30m the target hangs once');
      t.hook.hang(10_000, 1);
      await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: request._id });
      await stateOf(t, request._id, 'active', 5000);
      const grants = t.hook.calls('grant').filter(forRequest(request._id));
      expect(grants).toHaveLength(2);
      expect(grants.map((c) => c.headers['idempotency-key'])).toEqual([`${request._id}:grant`, `${request._id}:grant`]);
      const events = await eventsUntil(t, request._id, 'granted');
      expect(events.map((e) => e.action).filter((a) => a.startsWith('grant'))).toEqual(['grant_attempt_failed', 'granted']);
    });
  });

  describe('Slack answering ok:false', () => {
    it('chat.postMessage refuses the approval message (channel_not_found): logged with the request and requester, the requester is told, and the request stays approvable', async () => {
      t.fake.failNext('chat.postMessage', { error: 'channel_not_found', times: 5 });
      const since = Date.now();
      const request = await filed(t, 'U0KIM', 'deploy-hook 30m the channel is gone');
      await logged(t, { msg: /giving up/, requestId: request._id, user: 'U0KIM', err: 'channel_not_found', kind: 'sync' }, 8000);
      const told = await dmTo(t, 'U0KIM', since, /could not be posted/);
      expect(told).toContain(request._id);
      expect(told).toContain('<#C0APPROVALS>');
      expect(told).toContain('channel_not_found');
      expect((await t.bot.ctx.store.get(request._id))?.state).toBe('pending');
      // An approver decides from the App Home (no response_url there).
      await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: request._id }, { view: { type: 'home' } });
      await t.hook.waitFor('grant', forRequest(request._id));
      await stateOf(t, request._id, 'active');
      // Slack takes posts again: the approval message appears, showing the outcome.
      const posted = await t.fake.waitFor(
        'chat.postMessage',
        (c) => !c.failed && c.args.channel === 'C0APPROVALS' && blocksMention(request._id)(c),
      );
      expect(JSON.stringify(posted.args.blocks)).toContain('Approved by <@U0BOB>');
    });

    it('chat.update refuses the decided message (not_in_channel): logged with context; the grant and the requester’s DM are unaffected', async () => {
      const request = await filed(t, 'U0LOU', 'deploy-hook 30m update refused');
      await t.fake.waitFor('chat.postMessage', blocksMention(request._id));
      await settled(t);
      t.fake.failAlways('chat.update', { error: 'not_in_channel' });
      const since = Date.now();
      await t.slack.blockAction('U0CAROL', { action_id: 'approve_request', value: request._id });
      await stateOf(t, request._id, 'active');
      await dmTo(t, 'U0LOU', since, /granted until/);
      await logged(t, {
        msg: 'notification failed; will retry',
        requestId: request._id,
        user: 'U0LOU',
        err: 'not_in_channel',
        kind: 'sync',
      });
      await logged(t, { msg: /giving up/, requestId: request._id, user: 'U0LOU', err: 'not_in_channel' }, 8000);
      expect((await t.bot.ctx.store.get(request._id))?.state).toBe('active');
    });

    it('conversations.open refuses the requester’s DM once (invalid_auth): logged with context, retried, delivered', async () => {
      const request = await filed(t, 'U0MEG', 'deploy-hook 30m dm refused once');
      await t.fake.waitFor('chat.postMessage', blocksMention(request._id));
      await settled(t);
      t.fake.failNext('conversations.open', { error: 'invalid_auth' });
      const since = Date.now();
      await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: request._id });
      await stateOf(t, request._id, 'active');
      await logged(t, { msg: 'notification failed; will retry', requestId: request._id, user: 'U0MEG', err: 'invalid_auth', kind: 'dm' });
      await dmTo(t, 'U0MEG', since, /granted until/);
      expect(t.fake.callsTo('conversations.open').filter((c) => c.at >= since && c.failed)).toHaveLength(1);
    });

    it('conversations.open refuses the DM that answers a modal submission: the request is filed all the same, and the failure logged', async () => {
      t.fake.failAlways('conversations.open', { error: 'invalid_auth' });
      const res = await t.slack.viewSubmission('U0NED', {
        callback_id: 'request_modal',
        state: { values: t.slack.modalValues({ resource: 'deploy-hook', duration: '1h', reason: 'nobody can DM me' }) },
      });
      expect(res.status).toBe(200);
      const request = await waitUntil(() => t.requests().findOne({ requesterId: 'U0NED' }), 5000, 'the modal request');
      expect(request.state).toBe('pending');
      await logged(t, { msg: 'could not tell the requester', user: 'U0NED', err: /invalid_auth/ });
      await t.fake.waitFor('chat.postMessage', blocksMention(request._id));
    });

    it('views.open refuses the request modal (invalid_auth): the user is told it was not done, and why', async () => {
      t.fake.failNext('views.open', { error: 'invalid_auth' });
      const before = await t.requests().countDocuments({});
      const res = await t.slack.command('U0OLA', '');
      expect(res.status).toBe(200);
      expect(await answerTo(t, res.responseId)).toMatch(/Slack refused .*`invalid_auth`.*not done.*try again/);
      await logged(t, { msg: 'Slack refused a call', user: 'U0OLA', slackError: 'invalid_auth' });
      expect(await t.requests().countDocuments({})).toBe(before);
    });

    it('views.open refuses the deny modal (expired_trigger_id): the approver is told, the request stays pending and can be denied', async () => {
      const request = await filed(t, 'U0PAM', 'deploy-hook 30m deny modal refused');
      t.fake.failNext('views.open', { error: 'expired_trigger_id' });
      const refused = await t.slack.blockAction('U0CAROL', { action_id: 'deny_request', value: request._id });
      expect(await answerTo(t, refused.responseId)).toMatch(/`expired_trigger_id`.*not done/);
      await logged(t, { msg: 'Slack refused a call', requestId: request._id, user: 'U0CAROL', slackError: 'expired_trigger_id' });
      expect((await t.bot.ctx.store.get(request._id))?.state).toBe('pending');
      const again = await t.slack.blockAction('U0CAROL', { action_id: 'deny_request', value: request._id });
      await t.fake.waitFor('views.open', (c) => !c.failed && c.args.trigger_id === again.triggerId);
      await t.slack.viewSubmission('U0CAROL', {
        callback_id: 'deny_modal',
        private_metadata: request._id,
        state: { values: t.slack.denyReasonValues('not now') },
      });
      await stateOf(t, request._id, 'denied');
    });

    it('usergroups.users.list refuses during an approval click (invalid_auth): an ephemeral explanation, no approval recorded; it counts once Slack answers', async () => {
      const request = await filed(t, 'U0RAY', 'oncall-db 30m approvers are a user group');
      await settled(t);
      await new Promise((r) => setTimeout(r, 200));
      const events = await t.auditEvents().countDocuments({ requestId: request._id });
      t.fake.failNext('usergroups.users.list', { error: 'invalid_auth' });
      const refused = await t.slack.blockAction('U0ONC1', { action_id: 'approve_request', value: request._id });
      expect(await answerTo(t, refused.responseId)).toMatch(/Slack refused .*`invalid_auth`.*not done/);
      await logged(t, { msg: /could not read a user group/, usergroup: 'S0ONCALL', err: 'invalid_auth' });
      await logged(t, { msg: 'Slack refused a call', requestId: request._id, user: 'U0ONC1', action: 'approve' });
      const now = await t.bot.ctx.store.get(request._id);
      expect([now?.state, now?.approvals]).toEqual(['pending', []]);
      expect(await t.auditEvents().countDocuments({ requestId: request._id })).toBe(events);
      expect(t.hook.calls().filter(forRequest(request._id))).toHaveLength(0);

      await t.slack.blockAction('U0ONC1', { action_id: 'approve_request', value: request._id });
      await stateOf(t, request._id, 'active');
    });

    it('users.info refuses when the request is filed (invalid_auth): logged with the user, and a webhook grant, which needs no account, goes ahead without the e-mail', async () => {
      t.fake.users.set('U0SAL', { email: 'sal@example.com', name: 'sal' });
      // The e-mail (and any account derived from it) is read when the request is filed, and stored.
      t.fake.failAlways('users.info', { error: 'invalid_auth' });
      const request = await filed(t, 'U0SAL', 'deploy-hook 30m no profile');
      expect(request.email).toBeUndefined();
      await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: request._id });
      const grant = await t.hook.waitFor('grant', forRequest(request._id));
      expect(grant.body?.user).toEqual({ slackId: 'U0SAL', email: null, account: null });
      await stateOf(t, request._id, 'active');
      await logged(t, { msg: /could not read a user from Slack/, user: 'U0SAL', err: 'invalid_auth' });
    });
  });

  /** U0BOB denies the request; the update lands, its answer does not (a timeout, a dropped connection, a paused server). */
  async function denyWithAnswerLost(t: TestBot, requestId: string, denyReason: string): Promise<void> {
    const store = t.bot.store;
    const real = Collection.prototype.updateOne;
    let lostOne = false;
    // The denial's write to the requests collection lands; its answer does not.
    const lost = jest.spyOn(Collection.prototype, 'updateOne').mockImplementation(async function (
      this: Collection,
      ...args: Parameters<typeof real>
    ) {
      const result = await real.apply(this, args);
      const denies = (args[1] as { $set?: { state?: string } } | undefined)?.$set?.state === 'denied';
      if (this.collectionName !== 'requests' || !denies || lostOne) return result;
      lostOne = true;
      throw Object.assign(new Error('connection 7 to 127.0.0.1:27017 timed out'), { name: 'MongoNetworkTimeoutError' });
    } as never);
    try {
      await expect(
        store.transition(requestId, 'pending', 'denied', { actor: 'U0BOB', action: 'denied', set: { decidedBy: 'U0BOB', denyReason } }),
      ).rejects.toThrow(/timed out/);
    } finally {
      lost.mockRestore();
    }
  }

  describe('a write MongoDB applied but never confirmed', () => {
    it('is recorded in the audit log afterwards, from the event the change wrote with itself', async () => {
      const store = t.bot.store;
      const request = await filed(t, 'U0TESS', 'deploy-hook 30m the answer is lost');
      await denyWithAnswerLost(t, request._id, 'no');
      const denied = await store.get(request._id);
      expect(denied?.state).toBe('denied');
      expect((await store.audit.forRequest(request._id)).map((e) => e.action)).toEqual(['requested']);
      // Changes younger than the settle time may still be recording themselves: left alone.
      expect((await store.repairUnrecordedChanges()).map((r) => r._id)).not.toContain(request._id);
      const later = new Date(Date.now() + 3000);
      expect((await store.repairUnrecordedChanges(later)).map((r) => r._id)).toContain(request._id);
      const events = await store.audit.forRequest(request._id);
      expect(events.map((e) => [e.action, e.actor, e.from, e.to, e.version])).toEqual([
        ['requested', 'U0TESS', undefined, 'pending', 0],
        ['denied', 'U0BOB', 'pending', 'denied', denied!.version],
      ]);
      expect((await store.repairUnrecordedChanges(later)).map((r) => r._id)).not.toContain(request._id);
    });
  });

  describe('an operation interrupted between its change and telling people', () => {
    it('the repair tells them (the requester is told of the denial), once, however many replicas repair', async () => {
      const store = t.bot.store;
      const request = await filed(t, 'U0UMA', 'deploy-hook 30m denied in a lost write');
      await denyWithAnswerLost(t, request._id, 'not during the freeze');
      const deniedDm = (c: { args: Record<string, unknown> }) => c.args.channel === 'DU0UMA' && /was denied/.test(String(c.args.text));
      await new Promise((r) => setTimeout(r, 300));
      expect(t.fake.callsTo('chat.postMessage').filter(deniedDm)).toHaveLength(0);
      const later = new Date(Date.now() + 3000);
      // Two replicas repairing at once: one records the event, and only that one tells the requester.
      await Promise.all([
        repairUnrecorded(store, t.bot.notifier, t.bot.ctx.logger, later),
        repairUnrecorded(store, t.bot.notifier, t.bot.ctx.logger, later),
      ]);
      await t.fake.waitFor('chat.postMessage', deniedDm);
      await t.bot.notifier.idle();
      await new Promise((r) => setTimeout(r, 300));
      expect(t.fake.callsTo('chat.postMessage').filter(deniedDm)).toHaveLength(1);
      expect(String(t.fake.callsTo('chat.postMessage').find(deniedDm)!.args.text)).toContain('not during the freeze');
      await logged(t, { msg: /recorded a change MongoDB applied/, requestId: request._id });
    });
  });

  describe('a notification that can never be rendered', () => {
    it('is given up after a few attempts, loudly, instead of being retried forever', async () => {
      // A malformed request written behind the bot's back (no requester): rendering it throws.
      const id = `r${randomBytes(8)
        .toString('hex')
        .replace(/[^a-z2-9]/g, 'x')
        .slice(0, 8)}`;
      const now = new Date();
      await t.requests().insertOne({
        _id: id,
        resourceId: 'deploy-hook',
        durationMs: 60_000,
        reason: 'x',
        state: 'pending',
        approvals: [],
        requiredApprovals: 1,
        createdAt: now,
        updatedAt: now,
        pendingUntil: new Date(now.getTime() + 3_600_000),
        approvalChannel: 'C0APPROVALS',
        version: 1,
      } as unknown as AccessRequest);
      await t.bot.notifier.requestChanged((await t.bot.ctx.store.get(id))!);
      const gaveUp = await logged(t, { msg: /giving up/, requestId: id, kind: 'sync', err: /^internal error/ }, 8000);
      expect(gaveUp.attempts).toBe(5);
      const item = await t.bot.db.collection('outbox').findOne({ _id: `sync:${id}` as never });
      expect(item).toMatchObject({ due: false, dead: true });
    });
  });
});
