import { startTestBot, TestBot, waitUntil } from './harness';
import { pendingRequest } from '../support/fixtures';
import type { AccessRequest } from '../../src/domain/request';
import { gapsBetween } from '../support/checks';

let t: TestBot;
beforeAll(async () => {
  t = await startTestBot();
});
afterAll(() => t.stop());
beforeEach(() => {
  t.fake.heal();
  t.hook.respondWith(200);
});

type Block = {
  type: string;
  block_id?: string;
  elements?: Array<{ action_id?: string; value?: string; style?: string; text?: unknown }>;
  text?: { text: string };
  fields?: Array<{ text: string }>;
};

const requests = () => t.requests();
async function latestRequest(user: string, resource: string) {
  return waitUntil(
    () => requests().findOne({ requesterId: user, resourceId: resource }, { sort: { createdAt: -1 } }),
    5000,
    `a request by ${user}`,
  );
}
function buttonsOf(blocks: Block[]) {
  return blocks.filter((b) => b.type === 'actions').flatMap((b) => b.elements ?? []);
}
function allText(blocks: Block[] | undefined): string {
  return JSON.stringify(blocks ?? '');
}
/** The approval message as it stands now: the post, then every update in order. */
function approvalMessages(requestId: string) {
  return t.fake.calls.filter(
    (c) =>
      (c.method === 'chat.postMessage' || c.method === 'chat.update') &&
      !c.failed &&
      JSON.stringify(c.args.blocks ?? '').includes(requestId) &&
      !c.args.thread_ts,
  );
}
async function waitForMessage(requestId: string, predicate: (blocks: Block[]) => boolean, what: string) {
  return waitUntil(
    async () => {
      const last = approvalMessages(requestId).at(-1);
      return last && predicate(last.args.blocks as Block[]) ? last : undefined;
    },
    5000,
    what,
  );
}
async function endOpen(user: string) {
  // Each test starts from a user with nothing open.
  await requests().updateMany({ requesterId: user, openKey: { $exists: true } }, { $set: { state: 'cancelled' }, $unset: { openKey: '' } });
}

describe('request and approval over signed HTTP', () => {
  it('inline request -> approval message -> Approve -> signed webhook grant -> message updated -> requester DM', async () => {
    const res = await t.slack.command('U0ALICE', 'deploy-hook 30m fix the release INC-42');
    expect(res.status).toBe(200);
    const req = await latestRequest('U0ALICE', 'deploy-hook');
    expect(req.state).toBe('pending');
    const posted = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'C0APPROVALS' && allText(c.args.blocks as Block[]).includes(req._id),
    );
    const buttons = buttonsOf(posted.args.blocks as Block[]);
    expect(buttons.map((b) => [b.action_id, b.style, b.value])).toEqual([
      ['approve_request', 'primary', req._id],
      ['deny_request', 'danger', req._id],
    ]);
    expect(allText(posted.args.blocks as Block[])).toContain('fix the release INC-42');
    expect(allText(posted.args.blocks as Block[])).toContain('0 of 1');
    // The filer is told the request ID, ephemerally.
    const answer = await t.fake.waitForResponse((r) => r.id === res.responseId);
    expect(answer.body).toMatchObject({ response_type: 'ephemeral' });
    expect(String(answer.body.text)).toContain(req._id);

    const click = await t.slack.blockAction(
      'U0BOB',
      { action_id: 'approve_request', value: req._id },
      { channel: 'C0APPROVALS', messageTs: String(posted.response.ts) },
    );
    expect(click.status).toBe(200);
    const grant = await t.hook.waitFor('grant');
    expect(grant.signatureValid).toBe(true);
    expect(grant.headers['idempotency-key']).toBe(`${req._id}:grant`);
    expect(grant.body).toMatchObject({
      action: 'grant',
      requestId: req._id,
      resource: { id: 'deploy-hook' },
      user: { slackId: 'U0ALICE', email: 'alice@example.com', account: 'alice' },
      reason: 'fix the release INC-42',
    });
    const active = await waitUntil(
      async () => {
        const r = await requests().findOne({ _id: req._id });
        return r?.state === 'active' ? r : undefined;
      },
      5000,
      'active',
    );
    expect(active.expiresAt!.getTime() - active.grantedAt!.getTime()).toBe(30 * 60_000);
    expect(new Date((grant.body as { expiresAt: string }).expiresAt).getTime()).toBe(active.expiresAt!.getTime());

    const updated = await waitForMessage(
      req._id,
      (b) => buttonsOf(b).length === 0 && allText(b).includes('Approved by <@U0BOB>') && allText(b).includes('Access until'),
      'the approved message',
    );
    expect(updated.method).toBe('chat.update');
    expect(updated.args.ts).toBe(posted.response.ts);
    expect(allText(updated.args.blocks as Block[])).toContain(`<!date^${Math.floor(active.expiresAt!.getTime() / 1000)}^`);
    const dm = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('granted until'),
    );
    expect(String(dm.args.text)).toContain(`<!date^${Math.floor(active.expiresAt!.getTime() / 1000)}^`);
  });

  it('modal path: empty command opens the modal; a bad duration gets field errors; a valid one files the request', async () => {
    await endOpen('U0ALICE');
    const res = await t.slack.command('U0ALICE', '');
    expect(res.status).toBe(200);
    const opened = await t.fake.waitFor('views.open', (c) => c.args.trigger_id === res.triggerId);
    const view = opened.args.view as { callback_id: string; blocks: Block[] };
    expect(view.callback_id).toBe('request_modal');
    expect(JSON.stringify(view.blocks)).toContain('deploy-hook');

    const bad = await t.slack.viewSubmission('U0ALICE', {
      callback_id: 'request_modal',
      state: { values: t.slack.modalValues({ resource: 'deploy-hook', duration: '9 parsecs', reason: 'x' }) },
    });
    expect(bad.status).toBe(200);
    expect(bad.json).toMatchObject({ response_action: 'errors', errors: { duration: expect.stringContaining('not a duration') } });
    const tooLong = await t.slack.viewSubmission('U0ALICE', {
      callback_id: 'request_modal',
      state: { values: t.slack.modalValues({ resource: 'deploy-hook', duration: '5h', reason: 'x' }) },
    });
    expect(tooLong.json).toMatchObject({ response_action: 'errors', errors: { duration: expect.stringContaining('1s to 4h') } });
    expect(await requests().countDocuments({ requesterId: 'U0ALICE', state: 'pending' })).toBe(0);

    const good = await t.slack.viewSubmission('U0ALICE', {
      callback_id: 'request_modal',
      state: { values: t.slack.modalValues({ resource: 'deploy-hook', duration: '1h', reason: 'via the modal', ticket: 'OPS-7' }) },
    });
    expect(good.status).toBe(200);
    expect(good.body).toBe('');
    const req = await waitUntil(
      () => requests().findOne({ requesterId: 'U0ALICE', state: 'pending', reason: 'via the modal' }),
      5000,
      'modal request',
    );
    expect(req.ticket).toBe('OPS-7');
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes(req._id));
  });

  it('25 requests filed at once in one channel: their approval messages go out one per slot, each once, without stalling', async () => {
    // The harness paces channels at one post per 200 ms (Slack: about one per second).
    const filed: AccessRequest[] = [];
    for (let i = 0; i < 25; i++)
      filed.push(await t.bot.ctx.store.create(pendingRequest({ requesterId: `U0PACE${i}`, approvalChannel: 'C0PACE' }), `U0PACE${i}`));
    const started = Date.now();
    await Promise.all(filed.map((r) => t.bot.notifier.requestChanged(r)));
    const posts = () => t.fake.callsTo('chat.postMessage').filter((c) => c.args.channel === 'C0PACE' && !c.failed);
    await waitUntil(async () => posts().length >= 25, 15_000, '25 approval messages');
    const at = posts()
      .map((p) => p.at)
      .sort((a, b) => a - b);
    // Arrival times at the fake carry this process's event-loop jitter (tens of ms on a busy machine);
    // two posts sharing one 200-ms slot would arrive almost together.
    for (const gap of gapsBetween(at)) expect(gap).toBeGreaterThanOrEqual(150);
    // Queued one slot apart, not bunched up and re-queued: close to 25 slots in all.
    expect((at.at(-1) ?? Infinity) - started).toBeLessThan(25 * 200 + 2500);
    await new Promise((r) => setTimeout(r, 500));
    for (const r of filed) expect(posts().filter((p) => JSON.stringify(p.args.blocks).includes(r._id))).toHaveLength(1);
    await waitUntil(
      async () => (await t.requests().countDocuments({ _id: { $in: filed.map((r) => r._id) }, approvalMessage: { $exists: true } })) === 25,
      5000,
      'messages recorded',
    );
  });

  it('two approvals required: the first updates the count, the same approver twice counts once, the second grants', async () => {
    const res = await t.slack.command('U0ERIN', 'two-keys 1h rotate keys');
    expect(res.status).toBe(200);
    const req = await latestRequest('U0ERIN', 'two-keys');
    const posted = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'C0DBA' && allText(c.args.blocks as Block[]).includes(req._id),
    );
    expect(allText(posted.args.blocks as Block[])).toContain('0 of 2');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id }, { channel: 'C0DBA' });
    await waitForMessage(req._id, (b) => allText(b).includes('1 of 2'), 'count 1 of 2');
    const again = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id }, { channel: 'C0DBA' });
    const told = await t.fake.waitForResponse((r) => r.id === again.responseId);
    expect(String(told.body.text)).toMatch(/already approved/);
    expect((await requests().findOne({ _id: req._id }))!.approvals).toEqual(['U0BOB']);
    // A member of the S0SRE user group, resolved at click time.
    await t.slack.blockAction('U0SRE1', { action_id: 'approve_request', value: req._id }, { channel: 'C0DBA' });
    await t.hook.waitFor('grant', (c) => (c.body as { requestId: string }).requestId === req._id);
    await waitUntil(async () => (await requests().findOne({ _id: req._id }))?.state === 'active', 5000, 'active');
    expect(t.fake.callsTo('usergroups.users.list').length).toBeGreaterThan(0);
  });

  it('the requester and a non-approver clicking Approve change nothing and get an ephemeral explanation', async () => {
    const res = await t.slack.command('U0FRANK', 'deploy-hook 10m check logs');
    expect(res.status).toBe(200);
    const req = await latestRequest('U0FRANK', 'deploy-hook');
    const own = await t.slack.blockAction('U0FRANK', { action_id: 'approve_request', value: req._id });
    const ownAnswer = await t.fake.waitForResponse((r) => r.id === own.responseId);
    expect(ownAnswer.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(String(ownAnswer.body.text)).toMatch(/cannot approve your own request/);
    const stranger = await t.slack.blockAction('U0MALLORY', { action_id: 'approve_request', value: req._id });
    const strangerAnswer = await t.fake.waitForResponse((r) => r.id === stranger.responseId);
    expect(String(strangerAnswer.body.text)).toMatch(/Only approvers of deploy-hook/);
    const denyByStranger = await t.slack.blockAction('U0MALLORY', { action_id: 'deny_request', value: req._id });
    expect(String((await t.fake.waitForResponse((r) => r.id === denyByStranger.responseId)).body.text)).toMatch(/Only approvers/);
    const now = await requests().findOne({ _id: req._id });
    expect([now!.state, now!.approvals]).toEqual(['pending', []]);
    expect(t.hook.calls().filter((c) => (c.body as { requestId: string }).requestId === req._id)).toHaveLength(0);
  });

  it('Deny asks for a reason; the message shows denied with the reason and the requester is DM’d', async () => {
    await t.slack.command('U0GINA', 'deploy-hook 10m please');
    const req = await latestRequest('U0GINA', 'deploy-hook');
    await waitForMessage(req._id, (b) => buttonsOf(b).length === 2, 'the approval message');
    const click = await t.slack.blockAction('U0CAROL', { action_id: 'deny_request', value: req._id });
    const modal = await t.fake.waitFor('views.open', (c) => c.args.trigger_id === click.triggerId);
    const view = modal.args.view as { callback_id: string; private_metadata: string };
    expect(view).toMatchObject({ callback_id: 'deny_modal', private_metadata: req._id });
    const empty = await t.slack.viewSubmission('U0CAROL', {
      callback_id: 'deny_modal',
      private_metadata: req._id,
      state: { values: t.slack.denyReasonValues('  ') },
    });
    expect(empty.json).toMatchObject({ response_action: 'errors' });
    await t.slack.viewSubmission('U0CAROL', {
      callback_id: 'deny_modal',
      private_metadata: req._id,
      state: { values: t.slack.denyReasonValues('use the read replica') },
    });
    await waitForMessage(
      req._id,
      (b) => buttonsOf(b).length === 0 && allText(b).includes('Denied by <@U0CAROL>: use the read replica'),
      'denied message',
    );
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0GINA' && String(c.args.text).includes('use the read replica'));
    expect((await requests().findOne({ _id: req._id }))!.state).toBe('denied');
  });

  it('two approvers clicking at the same moment, and a Slack retry of the click, grant exactly once', async () => {
    await t.slack.command('U0HANK', 'deploy-hook 10m race');
    const req = await latestRequest('U0HANK', 'deploy-hook');
    await Promise.all([
      t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id }),
      t.slack.blockAction('U0CAROL', { action_id: 'approve_request', value: req._id }),
      t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id }, { retryNum: 1 }),
    ]);
    await waitUntil(async () => (await requests().findOne({ _id: req._id }))?.state === 'active', 5000, 'active');
    await new Promise((r) => setTimeout(r, 300));
    expect(t.hook.calls('grant').filter((c) => (c.body as { requestId: string }).requestId === req._id)).toHaveLength(1);
    const events = await t.bot.ctx.store.audit.forRequest(req._id);
    expect(events.filter((e) => e.action === 'granted')).toHaveLength(1);
  });

  it('revoke: the requester ends the grant, a stranger is refused, a policy admin may', async () => {
    await endOpen('U0IVY');
    await t.slack.command('U0IVY', 'deploy-hook 1h needs revoking');
    const req = await latestRequest('U0IVY', 'deploy-hook');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    await waitUntil(async () => (await requests().findOne({ _id: req._id }))?.state === 'active', 5000, 'active');
    const stranger = await t.slack.command('U0MALLORY', `revoke ${req._id}`);
    expect(String((await t.fake.waitForResponse((r) => r.id === stranger.responseId)).body.text)).toMatch(
      /Only the requester or a policy admin/,
    );
    expect((await requests().findOne({ _id: req._id }))!.state).toBe('active');
    const own = await t.slack.command('U0IVY', `revoke ${req._id}`);
    expect(String((await t.fake.waitForResponse((r) => r.id === own.responseId)).body.text)).toMatch(/is revoked/);
    const revoke = await t.hook.waitFor('revoke', (c) => (c.body as { requestId: string }).requestId === req._id);
    expect(revoke.signatureValid).toBe(true);
    expect((await requests().findOne({ _id: req._id }))!.state).toBe('revoked');
    await waitForMessage(req._id, (b) => allText(b).includes('revoked by <@U0IVY>'), 'revoked message');
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0IVY' && String(c.args.text).includes('was revoked'));

    // An admin may revoke someone else's grant.
    await t.slack.command('U0IVY', 'deploy-hook 1h second grant');
    const second = await waitUntil(() => requests().findOne({ requesterId: 'U0IVY', reason: 'second grant' }), 5000, 'second');
    await t.slack.blockAction('U0CAROL', { action_id: 'approve_request', value: second._id });
    await waitUntil(async () => (await requests().findOne({ _id: second._id }))?.state === 'active', 5000, 'active');
    await t.slack.command('U0ADMIN', `revoke ${second._id}`);
    await waitUntil(async () => (await requests().findOne({ _id: second._id }))?.state === 'revoked', 5000, 'revoked by admin');
  });

  it('a forged or stale signature gets 401 and changes nothing', async () => {
    const before = await requests().countDocuments({});
    const body = new URLSearchParams({
      command: '/jit-access',
      text: 'deploy-hook 1h forged',
      user_id: 'U0EVE',
      team_id: 'T0TEAM',
      channel_id: 'C1',
      response_url: t.fake.responseUrl(),
      trigger_id: '1.2.3',
    }).toString();
    const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
    expect((await t.slack.raw(body, headers, { badSignature: true })).status).toBe(401);
    expect((await t.slack.raw(body, headers, { staleSeconds: 6 * 60 })).status).toBe(401);
    expect((await t.slack.raw(body, headers, { unsigned: true })).status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect(await requests().countDocuments({})).toBe(before);
  });

  it.each([
    ['deploy-hook', /Missing duration and reason/],
    ['deploy-hook 1h', /Missing reason/],
    ['nope 1h because', /Unknown resource "nope"/],
    ['deploy-hook forever because', /not a duration/],
    ['deploy-hook 0m because', /zero/],
    ['deploy-hook 5h because', /1s to 4h/],
    ['revoke', /Usage: `\/jit-access revoke <request-id>`/],
    ['revoke {"$ne":null}', /is not a request ID/],
    ['cancel rnothere1', /There is no request rnothere1/],
    ['deploy-hook 1h x --break-glass', /does not allow --break-glass/],
    ['list extra', /takes no arguments/],
  ])('malformed command %j gets an ephemeral fix-it message and stores nothing', async (text, message) => {
    const before = await requests().countDocuments({});
    const res = await t.slack.command('U0JUDY', text);
    expect(res.status).toBe(200);
    const inline = res.json as { text?: string; response_type?: string } | undefined;
    const answer = inline?.text ? inline : (await t.fake.waitForResponse((r) => r.id === res.responseId)).body;
    expect(answer).toMatchObject({ response_type: 'ephemeral' });
    expect(String(answer.text)).toMatch(message);
    expect(await requests().countDocuments({})).toBe(before);
  });

  it('help, list and resources answer ephemerally', async () => {
    const help = await t.slack.command('U0KIM', 'help');
    expect((help.json as { text: string }).text).toContain('/jit-access list');
    const list = await t.slack.command('U0KIM', 'list');
    expect(String((await t.fake.waitForResponse((r) => r.id === list.responseId)).body.text)).toMatch(/no pending requests/);
    const resources = await t.slack.command('U0KIM', 'resources');
    const text = String((await t.fake.waitForResponse((r) => r.id === resources.responseId)).body.text);
    expect(text).toContain('`deploy-hook`');
    expect(text).toContain('2 approvals');
    expect(text).toContain('auto-approved');
  });

  it('webhook answering 500 then 200: the grant is retried and succeeds', async () => {
    t.hook.respondSequence([500, 200]);
    await t.slack.command('U0LEO', 'deploy-hook 10m flaky target');
    const req = await latestRequest('U0LEO', 'deploy-hook');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    await waitUntil(async () => (await requests().findOne({ _id: req._id }))?.state === 'active', 5000, 'active after a retry');
    expect(t.hook.calls('grant').filter((c) => (c.body as { requestId: string }).requestId === req._id)).toHaveLength(2);
  });

  it('webhook answering 500 always: the request fails, the requester and the channel are told', async () => {
    t.hook.respondWith(500);
    await t.slack.command('U0MIA', 'deploy-hook 10m target down');
    const req = await latestRequest('U0MIA', 'deploy-hook');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    const failed = await waitUntil(
      async () => {
        const r = await requests().findOne({ _id: req._id });
        return r?.state === 'failed' ? r : undefined;
      },
      8000,
      'failed',
    );
    expect(failed.lastError).toMatch(/500/);
    expect(t.hook.calls('grant').filter((c) => (c.body as { requestId: string }).requestId === req._id)).toHaveLength(3);
    // The compensating revoke makes sure nothing is left half-granted.
    expect(t.hook.calls('revoke').filter((c) => (c.body as { requestId: string }).requestId === req._id).length).toBeGreaterThan(0);
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0MIA' && String(c.args.text).includes('granting failed'));
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'C0APPROVALS' && !!c.args.thread_ts && String(c.args.text).includes('failed'),
    );
    await waitForMessage(req._id, (b) => buttonsOf(b).length === 0 && allText(b).includes('Granting failed'), 'failed message');
  });

  it('user text cannot ping or forge links', async () => {
    await t.slack.command('U0NOAH', 'deploy-hook 10m <!channel> see <https://evil.example|click> and <@U0BOB> & co');
    const req = await latestRequest('U0NOAH', 'deploy-hook');
    const posted = await t.fake.waitFor('chat.postMessage', (c) => allText(c.args.blocks as Block[]).includes(req._id));
    const text = allText(posted.args.blocks as Block[]);
    expect(text).toContain('&lt;!channel&gt; see &lt;https://evil.example|click&gt; and &lt;@U0BOB&gt; &amp; co');
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil.example');
  });

  it('auto-approve grants at once and still posts the message', async () => {
    await t.slack.command('U0OLGA', 'self-serve 10m look at staging');
    const req = await latestRequest('U0OLGA', 'self-serve');
    await t.hook.waitFor('grant', (c) => (c.body as { requestId: string }).requestId === req._id);
    await waitForMessage(req._id, (b) => allText(b).includes('Auto-approved') && buttonsOf(b).length === 0, 'auto-approved message');
  });

  it('acknowledges every command and click before any database, provider or Web API work completes', async () => {
    const sentAt = Date.now();
    const res = await t.slack.command('U0PAT', 'deploy-hook 10m ordering');
    const ackAt = sentAt + res.ms;
    const req = await latestRequest('U0PAT', 'deploy-hook');
    const post = await t.fake.waitFor('chat.postMessage', (c) => allText(c.args.blocks as Block[]).includes(req._id));
    expect(post.at).toBeGreaterThanOrEqual(ackAt - 5);
    // The request was created after the ack left: its creation time is not before the ack.
    const clickSent = Date.now();
    const click = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    const clickAck = clickSent + click.ms;
    const grant = await t.hook.waitFor('grant', (c) => (c.body as { requestId: string }).requestId === req._id);
    expect(grant.at).toBeGreaterThanOrEqual(clickAck - 5);
    const events = await t.bot.ctx.store.audit.forRequest(req._id);
    const approval = events.find((e) => e.action === 'approval_recorded')!;
    expect(approval.at.getTime()).toBeGreaterThanOrEqual(clickAck - 5);
  });
});
