/**
 * What a new user's trial broke (issue 13), through the real app over signed HTTP against the fake
 * Slack, which refuses what real Slack refuses (Block Kit limits): text that grows when escaped,
 * Slack refusing content, the App Home behind many requests, unapprovable requests, break-glass
 * for named people only, abuse and noise, and the smaller defects.
 */
import net from 'node:net';
import { startTestBot, TestBot, waitUntil, defaultPolicy } from './harness';
import { pendingRequest } from '../support/fixtures';
import type { AccessRequest } from '../../src/domain/request';
import type { SlackCall } from './support';

let t: TestBot;
beforeAll(async () => {
  t = await startTestBot({
    policy: defaultPolicy(`
  - id: solo
    name: One approver
    approvers: { users: [U0SOLO] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: other
    name: Someone else's
    approvers: { users: [U0OTH, U0OTH2] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: glass
    name: Emergency
    approvers: { users: [U0BOB, U0CAROL] }
    requesters: { users: [U0BG] }
    breakGlass: true
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: long-default
    name: Long default
    approvers: { users: [U0BOB, U0CAROL] }
    defaultDuration: 2h30m
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: three-keys
    name: Three approvals
    approvers: { users: [U0K1, U0K2, U0K3, U0K4] }
    requiredApprovals: 3
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: auto-ext
    name: Extensions are automatic
    approvers: { users: [U0BOB, U0CAROL] }
    extension: { requiredApprovals: 0 }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
`),
    env: { JIT_REQUEST_RATE_LIMIT: '3/1m', JIT_EXPIRY_WARNING: '1m' },
  });
});
afterAll(() => t?.stop());
beforeEach(() => {
  t.fake.heal();
  t.hook.respondWith(200);
});

const requests = () => t.requests();
const byId = (id: string) => requests().findOne({ _id: id });
const escapedBySlack = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const refusedContent = (c: SlackCall) =>
  !c.injected && ['invalid_blocks', 'invalid_arguments', 'msg_too_long'].includes(String(c.response.error));
const lines = () => t.logs.flatMap((l) => l.split('\n').filter(Boolean)).map((l) => JSON.parse(l) as Record<string, unknown>);

async function answerOf(res: { responseId: string; json: unknown }): Promise<string> {
  const inline = res.json as { text?: string } | undefined;
  if (inline?.text) return inline.text;
  return String((await t.fake.waitForResponse((r) => r.id === res.responseId)).body.text);
}
async function filed(user: string, text: string): Promise<AccessRequest> {
  const res = await t.slack.command(user, text);
  expect(res.status).toBe(200);
  return waitUntil(
    () => requests().findOne({ requesterId: user, state: { $in: ['pending', 'granting', 'active'] } }, { sort: { createdAt: -1 } }),
    5000,
    `${user}'s request`,
  );
}
async function stateIs(id: string, state: string): Promise<AccessRequest> {
  return waitUntil(
    async () => {
      const r = await byId(id);
      return r?.state === state ? r : undefined;
    },
    5000,
    `${id} ${state}`,
  );
}
function approvalPosts(id: string): SlackCall[] {
  return t.fake.calls.filter(
    (c) =>
      (c.method === 'chat.postMessage' || c.method === 'chat.update') &&
      !c.args.thread_ts &&
      JSON.stringify(c.args.blocks ?? '').includes(id),
  );
}
const current = (id: string) =>
  approvalPosts(id)
    .filter((c) => !c.failed)
    .at(-1);

describe('text that grows when escaped (item 2)', () => {
  it('a reason of `<&>` × 333, sent HTML-escaped as Slack sends it, is posted, shown escaped once and cut with an ellipsis; denied, its buttons go', async () => {
    const reason = '<&>'.repeat(333);
    const req = await filed('U0ESC1', escapedBySlack(`deploy-hook 10m ${reason}`));
    expect(req.reason).toBe(reason);
    const posted = await waitUntil(async () => current(req._id), 5000, 'the approval message');
    expect(posted.method).toBe('chat.postMessage');
    const text = JSON.stringify(posted.args.blocks);
    expect(text).toContain('&lt;&amp;&gt;'.repeat(100));
    expect(text).not.toContain('&amp;lt;');
    expect(text).toContain('…');

    const click = await t.slack.blockAction(
      'U0BOB',
      { action_id: 'deny_request', value: req._id },
      { channel: 'C0APPROVALS', messageTs: String(posted.response.ts) },
    );
    const modal = await t.fake.waitFor('views.open', (c) => c.args.trigger_id === click.triggerId && !c.failed);
    // The deny form names the requester as a mention, not a raw ID.
    expect(JSON.stringify(modal.args.view)).toContain("<@U0ESC1>'s request");
    await t.slack.viewSubmission('U0BOB', {
      callback_id: 'deny_modal',
      private_metadata: req._id,
      state: { values: t.slack.denyReasonValues('<&>'.repeat(333)) },
    });
    await waitUntil(
      async () => {
        const now = current(req._id);
        return (
          now &&
          now.method === 'chat.update' &&
          JSON.stringify(now.args.blocks).includes('Denied by <@U0BOB>') &&
          !JSON.stringify(now.args.blocks).includes('approve_request')
        );
      },
      5000,
      'the denied message, without buttons',
    );
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.failed && c.args.channel === 'DU0ESC1' && String(c.args.text).includes('was denied'),
    );
    expect(t.fake.calls.filter(refusedContent)).toEqual([]);
  });

  it('Slack refusing the approval message’s content (invalid_blocks): a plain message takes its place; no "invite the bot"', async () => {
    t.fake.failNext('chat.postMessage', { error: 'invalid_blocks' });
    const req = await filed('U0ESC2', 'deploy-hook 10m refused once');
    const plain = await waitUntil(async () => current(req._id), 5000, 'the plain approval message');
    expect(JSON.stringify(plain.args.blocks)).toContain('Slack refused the full message');
    expect(JSON.stringify(plain.args.blocks)).toContain('approve_request');
    const gaveUp = lines().find((l) => l.requestId === req._id && /refused the approval message’s content/.test(String(l.msg)));
    expect(gaveUp).toMatchObject({ err: 'invalid_blocks', diagnosis: expect.stringMatching(/defect in jit-access/) });
    expect(String(gaveUp?.diagnosis)).not.toMatch(/invite/i);
    expect(t.fake.callsTo('chat.postMessage').filter((c) => c.args.channel === 'DU0ESC2')).toHaveLength(0);
  });

  it('refused twice (full and plain): the requester is told it is a defect, not to invite the bot; the request stays approvable', async () => {
    t.fake.failNext('chat.postMessage', { error: 'invalid_blocks', times: 2 });
    const req = await filed('U0ESC3', 'deploy-hook 10m refused twice');
    const dm = await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.failed && c.args.channel === 'DU0ESC3' && String(c.args.text).includes('could not be posted'),
      8000,
    );
    expect(String(dm.args.text)).toMatch(/defect in jit-access/);
    expect(String(dm.args.text)).not.toMatch(/invite/i);
    expect((await byId(req._id))!.state).toBe('pending');
  });

  it('the decided message refused (invalid_blocks) is replaced by the plain one, so no live buttons stay behind', async () => {
    const req = await filed('U0ESC4', 'deploy-hook 10m update refused');
    await waitUntil(async () => current(req._id), 5000, 'the approval message');
    await t.bot.notifier.idle();
    t.fake.failNext('chat.update', { error: 'invalid_blocks' });
    await t.slack.blockAction('U0CAROL', { action_id: 'approve_request', value: req._id });
    await stateIs(req._id, 'active');
    await waitUntil(
      async () => {
        const now = current(req._id);
        return (
          now?.method === 'chat.update' &&
          JSON.stringify(now.args.blocks).includes('Now *active*') &&
          !JSON.stringify(now.args.blocks).includes('approve_request')
        );
      },
      5000,
      'the plain, decided message',
    );
  });
});

describe('the App Home shows what the viewer can act on (item 3)', () => {
  it('an approver of one resource sees its request behind 160 older ones for another; counts and "N more" show; within 100 blocks', async () => {
    const old = new Date(Date.now() - 3_600_000);
    for (let i = 0; i < 160; i++) {
      await t.bot.ctx.store.create(
        pendingRequest({ requesterId: `U0MANY${i}`, resourceId: 'deploy-hook', createdAt: new Date(old.getTime() + i) }),
        `U0MANY${i}`,
      );
    }
    const mine = await filed('U0ASK', 'other 10m behind the crowd');
    const asked = Date.now();
    await t.slack.appHomeOpened('U0OTH');
    const home = await t.fake.waitFor('views.publish', (c) => c.args.user_id === 'U0OTH' && !c.failed && c.at >= asked, 5000);
    expect(JSON.stringify(home.args.view)).toContain(mine._id);
    expect(JSON.stringify(home.args.view)).toContain('Waiting for your approval (1)');

    const opened = Date.now();
    await t.slack.appHomeOpened('U0CAROL');
    const carol = await t.fake.waitFor('views.publish', (c) => c.args.user_id === 'U0CAROL' && !c.failed && c.at >= opened, 5000);
    const view = carol.args.view as { blocks: unknown[] };
    expect(view.blocks.length).toBeLessThanOrEqual(100);
    const waiting = await requests().countDocuments({ resourceId: 'deploy-hook', state: 'pending', requesterId: { $ne: 'U0CAROL' } });
    expect(JSON.stringify(view)).toContain(`Waiting for your approval (${waiting})`);
    expect(JSON.stringify(view)).toContain(`${waiting - 20} more waiting for you — see \`/jit-access list\``);
    expect(JSON.stringify(view)).not.toContain(mine._id);
    // `list` shows them too, oldest first.
    const list = await answerOf(await t.slack.command('U0CAROL', 'list'));
    expect(list).toContain(`*Waiting for your approval* (${waiting})`);
    expect(list.indexOf('U0MANY0')).toBeLessThan(list.indexOf('U0MANY1>'));
    expect(t.fake.calls.filter(refusedContent)).toEqual([]);
    await requests().updateMany({ requesterId: /^U0MANY/ }, { $set: { state: 'cancelled' }, $unset: { openKey: '' } });
  });
});

describe('requests that could only time out are refused (item 4)', () => {
  it('the sole listed approver asking for the resource: refused when filed, by command and in the form; nothing stored, nobody asked', async () => {
    const answer = await answerOf(await t.slack.command('U0SOLO', 'solo 10m I approve this myself'));
    expect(answer).toMatch(/Nobody but you can approve solo/);
    const form = await t.slack.viewSubmission('U0SOLO', {
      callback_id: 'request_modal',
      state: { values: t.slack.modalValues({ resource: 'solo', duration: '10m', reason: 'via the form' }) },
    });
    expect(form.json).toMatchObject({
      response_action: 'errors',
      errors: { resource: expect.stringMatching(/Nobody but you can approve solo/) },
    });
    expect(await requests().countDocuments({ requesterId: 'U0SOLO' })).toBe(0);
    // Anyone else may.
    await filed('U0NOTSOLO', 'solo 10m someone else');
  });
});

describe('break-glass is for named requesters only (item 5)', () => {
  it('a named break-glass requester gets access at once; anyone else is refused, nothing stored', async () => {
    expect(await answerOf(await t.slack.command('U0INTRUDER', 'glass 10m let me in --break-glass'))).toMatch(
      /not allowed to request glass/,
    );
    expect(await requests().countDocuments({ requesterId: 'U0INTRUDER' })).toBe(0);
    const req = await filed('U0BG', 'glass 10m prod is down --break-glass');
    expect((await stateIs(req._id, 'active')).breakGlass).toBe(true);
  });
});

describe('abuse and noise (item 6)', () => {
  it('filing is limited per person (JIT_REQUEST_RATE_LIMIT=3/1m here): the next gets "slow down" and changes nothing, by command and in the form', async () => {
    await filed('U0FAST', 'deploy-hook 10m one');
    expect(await answerOf(await t.slack.command('U0FAST', 'other 10m two'))).toContain('waiting for');
    expect(await answerOf(await t.slack.command('U0FAST', 'deploy-hook 10m three'))).toMatch(/already have/);
    const before = await requests().countDocuments({ requesterId: 'U0FAST' });
    const fourth = await t.slack.command('U0FAST', 'long-default 10m four');
    expect(await answerOf(fourth)).toMatch(/^Slow down: you filed 3 requests or extensions in the last 1m.*try again in/);
    const form = await t.slack.viewSubmission('U0FAST', {
      callback_id: 'request_modal',
      state: { values: t.slack.modalValues({ resource: 'long-default', duration: '10m', reason: 'five' }) },
    });
    expect(form.json).toMatchObject({ response_action: 'errors', errors: { resource: expect.stringMatching(/^Slow down/) } });
    expect(await requests().countDocuments({ requesterId: 'U0FAST' })).toBe(before);
    // Others are not affected.
    await filed('U0SLOW', 'deploy-hook 10m unaffected');
  });

  it('forged and unsigned requests are refused with 401 and logged once a minute per source, not once each', async () => {
    const before = lines().filter((l) => /refused a request to \/slack\/events/.test(String(l.msg))).length;
    for (let i = 0; i < 25; i++) {
      const res = await t.slack.raw(`payload=${i}`, {}, i % 2 ? { unsigned: true } : { badSignature: true });
      expect(res.status).toBe(401);
    }
    const after = lines().filter((l) => /refused a request to \/slack\/events/.test(String(l.msg))).length;
    expect(after - before).toBeLessThanOrEqual(1);
  });

  it('a request whose body never completes, or whose headers never do, is closed within a few seconds', async () => {
    const hang = (first: string) =>
      new Promise<number>((resolve, reject) => {
        const started = Date.now();
        const socket = net.connect(t.bot.port, '127.0.0.1', () => socket.write(first));
        socket.on('error', () => undefined);
        let answer = '';
        socket.on('data', (d) => (answer += String(d)));
        // The server answers 408 and ends the connection.
        socket.on('end', () => {
          expect(answer).toMatch(/^HTTP\/1\.1 408/);
          resolve(Date.now() - started);
          socket.destroy();
        });
        setTimeout(() => reject(new Error('still open after 12 s')), 12_000).unref();
      });
    const [body, headers] = await Promise.all([
      hang(
        'POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\npayload=%7B',
      ),
      hang('POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Slack-Signature: v0='),
    ]);
    expect(body).toBeLessThan(8000);
    expect(headers).toBeLessThan(8000);
    expect((await t.slack.get('/healthz')).status).toBe(200);
  });

  it('a request that ended before its approval message could be posted is not posted', async () => {
    t.fake.down();
    try {
      const req = await filed('U0GONE', 'deploy-hook 10m cancelled during an outage');
      const res = await t.slack.command('U0GONE', `cancel ${req._id}`);
      expect(res.status).toBe(200);
      await stateIs(req._id, 'cancelled');
      t.fake.up();
      await waitUntil(
        async () => (await t.bot.db.collection('outbox').countDocuments({ requestId: req._id, kind: 'sync' })) === 0,
        8000,
        'the sync to be settled',
      );
      expect(approvalPosts(req._id).filter((c) => !c.failed)).toEqual([]);
    } finally {
      t.fake.up();
    }
  });
});

describe('smaller defects (item 7)', () => {
  it('the audit counts each approval as it was made, even when approvers click at the same moment', async () => {
    const req = await filed('U0COUNT', 'three-keys 10m count us');
    await Promise.all(['U0K1', 'U0K2', 'U0K3'].map((u) => t.slack.blockAction(u, { action_id: 'approve_request', value: req._id })));
    await stateIs(req._id, 'active');
    const recorded = (await t.bot.ctx.store.audit.forRequest(req._id)).filter((e) => e.action === 'approval_recorded');
    expect(recorded.map((e) => (e.details as { approvals: number }).approvals).sort()).toEqual([1, 2, 3]);
  });

  it('an extension applied at once (extension.requiredApprovals: 0) is answered once: no second DM', async () => {
    const req = await filed('U0AEXT', 'auto-ext 10m extend me');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    const active = await stateIs(req._id, 'active');
    await t.bot.notifier.idle();
    const since = Date.now();
    await t.slack.viewSubmission('U0AEXT', {
      callback_id: 'extend_modal',
      private_metadata: req._id,
      state: { values: t.slack.modalValues({ duration: '5m', reason: 'a bit more' }) },
    });
    await waitUntil(async () => (await byId(req._id))?.expiresAt?.getTime() === active.expiresAt!.getTime() + 300_000, 5000, 'extended');
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.at >= since && c.args.channel === 'DU0AEXT' && String(c.args.text).includes('now ends'),
    );
    await new Promise((r) => setTimeout(r, 500));
    await t.bot.notifier.idle();
    const aboutTheExtension = t.fake
      .callsTo('chat.postMessage')
      .filter((c) => c.at >= since && c.args.channel === 'DU0AEXT' && /now ends|extended until/.test(String(c.args.text)));
    expect(aboutTheExtension.map((c) => String(c.args.text).slice(0, 60))).toEqual([expect.stringContaining('now ends')]);
  });

  it('the request form pre-fills the chosen resource’s defaultDuration; its errors are plain text; what fails before it closes is said in it', async () => {
    const opened = await t.slack.command('U0FORM', '');
    const modal = await t.fake.waitFor('views.open', (c) => c.args.trigger_id === opened.triggerId && !c.failed);
    const view = modal.args.view as { blocks: Array<{ block_id?: string; element?: { initial_value?: string } }> };
    expect(view.blocks.find((b) => b.block_id === 'duration')?.element?.initial_value).toBeUndefined();
    await t.slack.blockAction(
      'U0FORM',
      {
        action_id: 'resource',
        type: 'static_select',
        selected_option: { value: 'long-default', text: { type: 'plain_text', text: 'Long default' } },
      },
      { view: { id: 'V0FORM', type: 'modal', callback_id: 'request_modal' } },
    );
    const updated = await t.fake.waitFor('views.update', (c) => c.args.view_id === 'V0FORM' && !c.failed);
    const blocks = (updated.args.view as typeof view).blocks;
    const duration = blocks.find((b) => b.block_id?.startsWith('duration'));
    expect(duration).toMatchObject({ block_id: 'duration.long-default', element: { initial_value: '2h30m' } });

    const unknown = await t.slack.viewSubmission('U0FORM', {
      callback_id: 'request_modal',
      state: { values: t.slack.modalValues({ resource: 'nope', duration: '1h', reason: 'x' }) },
    });
    const error = (unknown.json as { errors: Record<string, string> }).errors.resource;
    expect(error).toMatch(/See \/jit-access resources/);
    expect(error).not.toContain('`');

    const values = {
      ...t.slack.modalValues({ resource: 'long-default', reason: 'first' }),
      'duration.long-default': { duration: { type: 'plain_text_input', value: '2h30m' } },
    };
    const first = await t.slack.viewSubmission('U0FORM', { callback_id: 'request_modal', state: { values } });
    expect(first.body).toBe('');
    const req = await waitUntil(() => requests().findOne({ requesterId: 'U0FORM', state: 'pending' }), 5000, 'the form’s request');
    expect(req.durationMs).toBe(2.5 * 3_600_000);
    const again = await t.slack.viewSubmission('U0FORM', { callback_id: 'request_modal', state: { values } });
    expect(again.json).toMatchObject({
      response_action: 'errors',
      errors: { resource: expect.stringMatching(new RegExp(`already have request ${req._id}`)) },
    });
  });

  it('request IDs are case-insensitive, and may be pasted with the backticks `list` shows them in', async () => {
    const req = await filed('U0CASE', 'deploy-hook 10m case');
    expect(await answerOf(await t.slack.command('U0CASE', `cancel ${req._id.toUpperCase()}`))).toMatch(/is cancelled/);
    const again = await filed('U0CASE', 'deploy-hook 10m case again');
    expect(await answerOf(await t.slack.command('U0CASE', `cancel \`${again._id}\``))).toMatch(/is cancelled/);
  });

  it('flags count only as whole words after the duration; after a lone `--` everything is reason; --ticket sets the ticket', async () => {
    const quoted = await filed('U0FLAG1', 'deploy-hook 10m about -- the --break-glass flag');
    expect([quoted.reason, quoted.breakGlass, quoted.state]).toEqual(['about the --break-glass flag', undefined, 'pending']);
    const ticketed = await filed('U0FLAG2', 'other 10m deploy fix --ticket INC-7 please');
    expect([ticketed.reason, ticketed.ticket]).toEqual(['deploy fix please', 'INC-7']);
    const shown = await waitUntil(async () => current(ticketed._id), 5000, 'the approval message');
    expect(JSON.stringify(shown.args.blocks)).toContain('*Ticket*\\nINC-7');
    expect(await answerOf(await t.slack.command('U0FLAG3', 'deploy-hook 10m fix --breakglass'))).toMatch(/Unknown flag `--breakglass`/);
    expect(await answerOf(await t.slack.command('U0FLAG3', '--break-glass deploy-hook 10m x'))).toMatch(
      /Flags go after the resource and the duration/,
    );
    expect(await answerOf(await t.slack.command('U0FLAG3', 'deploy-hook 10m x --ticket'))).toMatch(/`--ticket` needs the ticket/);
    expect(await requests().countDocuments({ requesterId: 'U0FLAG3' })).toBe(0);
  });

  it('grants no longer than JIT_EXPIRY_WARNING (1m here) get no instant "expires soon" DM; longer ones get it 1m before', async () => {
    const short = await filed('U0WARN1', 'long-default 30s short');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: short._id });
    const active = await stateIs(short._id, 'active');
    expect(active.warnAt).toBeUndefined();
    const long = await filed('U0WARN2', 'long-default 2m longer');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: long._id });
    const longActive = await stateIs(long._id, 'active');
    expect(longActive.expiresAt!.getTime() - longActive.warnAt!.getTime()).toBe(60_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(
      t.fake.callsTo('chat.postMessage').filter((c) => c.args.channel === 'DU0WARN1' && /expires/.test(String(c.args.text))),
    ).toHaveLength(0);
  });
});
