import { startTestBot, TestBot, waitUntil, defaultPolicy } from './harness';
import type { AccessRequest } from '../../src/domain/request';

let t: TestBot;
beforeAll(async () => {
  t = await startTestBot({
    policy: defaultPolicy(`
  - id: ext
    name: Extendable
    approvers: { users: [U0BOB, U0CAROL] }
    maxDuration: 1h
    maxTotalDuration: 90m
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: ext-short
    name: Extendable, short
    approvers: { users: [U0BOB] }
    maxTotalDuration: 4h
    extension: { requiredApprovals: 1 }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: glass
    name: Emergency DB
    approvers: { users: [U0BOB, U0CAROL], usergroups: [S0SRE] }
    requesters: { users: [U0BG1, U0BG2] }
    breakGlass: true
    breakGlassMaxDuration: 30m
    remindAfter: 1s
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: remind
    name: Reminded
    approvers: { users: [U0BOB, U0CAROL], usergroups: [S0SRE] }
    requiredApprovals: 2
    remindAfter: 1s
    pendingTimeout: 1h
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
`),
  });
});
afterAll(() => t.stop());
beforeEach(() => {
  t.fake.heal();
  t.hook.respondWith(200);
});

const requests = () => t.requests();
const byId = (id: string) => requests().findOne({ _id: id });
const forRequest = (id: string) => (c: { body: unknown }) => (c.body as { requestId?: string })?.requestId === id;
async function answerOf(res: { responseId: string; json: unknown }): Promise<string> {
  const inline = res.json as { text?: string } | undefined;
  if (inline?.text) return inline.text;
  return String((await t.fake.waitForResponse((r) => r.id === res.responseId)).body.text);
}
async function stateIs(id: string, state: string, timeoutMs = 5000): Promise<AccessRequest> {
  return waitUntil(
    async () => {
      const r = await byId(id);
      return r?.state === state ? r : undefined;
    },
    timeoutMs,
    `${id} ${state}`,
  );
}
async function grant(user: string, resource: string, duration: string): Promise<AccessRequest> {
  await t.slack.command(user, `${resource} ${duration} workflow test`);
  const req = await waitUntil(() => requests().findOne({ requesterId: user, resourceId: resource, state: 'pending' }), 5000, 'pending');
  await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
  if (resource === 'remind') await t.slack.blockAction('U0CAROL', { action_id: 'approve_request', value: req._id });
  return stateIs(req._id, 'active');
}

describe('extend', () => {
  it('an approved extension calls the webhook `extend` with the new expiry and revocation happens at the new time', async () => {
    const g = await grant('U0EXT1', 'ext-short', '2s');
    const res = await t.slack.command('U0EXT1', `extend ${g._id} 2s need a bit more`);
    expect(await answerOf(res)).toMatch(/waiting for 1 approval/);
    await waitUntil(async () => (await byId(g._id))?.extension, 3000, 'extension stored');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_extension', value: g._id });
    const ext = await t.hook.waitFor('extend', forRequest(g._id));
    expect(ext.signatureValid).toBe(true);
    const newExpiry = g.expiresAt!.getTime() + 2000;
    expect(new Date((ext.body as { expiresAt: string }).expiresAt).getTime()).toBe(newExpiry);
    await waitUntil(async () => (await byId(g._id))?.expiresAt?.getTime() === newExpiry, 3000, 'expiry moved');
    const revoke = await t.hook.waitFor('revoke', forRequest(g._id), 8000);
    expect(revoke.at).toBeGreaterThanOrEqual(newExpiry);
    expect(revoke.at - newExpiry).toBeLessThan(1000);
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0EXT1' && String(c.args.text).includes('extended until'));
  });

  it('each extension reaches the webhook with its own Idempotency-Key, <requestId>:extend:<extensionId>', async () => {
    const g = await grant('U0EXTK', 'ext-short', '10m');
    const keys: string[] = [];
    for (const n of [1, 2]) {
      await t.slack.command('U0EXTK', `extend ${g._id} 1m round ${n}`);
      const filed = await waitUntil(async () => (await byId(g._id))?.extension, 3000, 'extension stored');
      await t.slack.blockAction('U0BOB', { action_id: 'approve_extension', value: g._id });
      await waitUntil(async () => t.hook.calls('extend').filter(forRequest(g._id)).length === n, 3000, `extend call ${n}`);
      keys.push(`${g._id}:extend:${filed.id}`);
      await waitUntil(async () => !(await byId(g._id))?.extension, 3000, 'extension applied');
    }
    const sent = t.hook
      .calls('extend')
      .filter(forRequest(g._id))
      .map((c) => c.headers['idempotency-key']);
    expect(sent).toEqual(keys);
    expect(new Set(sent).size).toBe(2);
    const grantKey = t.hook
      .calls('grant')
      .filter(forRequest(g._id))
      .map((c) => c.headers['idempotency-key']);
    expect(grantKey).toEqual([`${g._id}:grant`]);
  });

  it('the Extend button opens a modal; bad input is answered in the modal; a good one files the extension', async () => {
    const g = await grant('U0EXTM', 'ext-short', '10m');
    // Someone else's button: refused, no modal.
    const foreign = await t.slack.blockAction('U0BOB', { action_id: 'extend_grant', value: g._id });
    expect(String((await t.fake.waitForResponse((r) => r.id === foreign.responseId)).body.text)).toMatch(/Only the requester can extend/);
    expect(t.fake.callsTo('views.open').filter((c) => c.args.trigger_id === foreign.triggerId)).toHaveLength(0);

    const click = await t.slack.blockAction('U0EXTM', { action_id: 'extend_grant', value: g._id });
    const opened = await t.fake.waitFor('views.open', (c) => c.args.trigger_id === click.triggerId);
    const view = opened.args.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe('extend_modal');
    expect(view.private_metadata).toBe(g._id);

    const submit = (duration: string, reason: string) =>
      t.slack.viewSubmission('U0EXTM', {
        callback_id: 'extend_modal',
        private_metadata: g._id,
        state: { values: t.slack.modalValues({ duration, reason }) },
      });
    const bad = await submit('9 parsecs', '   ');
    expect(bad.json).toMatchObject({
      response_action: 'errors',
      errors: { duration: expect.stringContaining('not a duration'), reason: expect.any(String) },
    });
    expect((await byId(g._id))!.extension).toBeUndefined();

    // A forged request ID in the modal's metadata names nothing: said in the form, which stays open; nothing changes.
    const forged = await t.slack.viewSubmission('U0EXTM', {
      callback_id: 'extend_modal',
      private_metadata: '{"$ne":null}',
      state: { values: t.slack.modalValues({ duration: '30m', reason: 'forged' }) },
    });
    expect(forged.status).toBe(200);
    expect(forged.json).toMatchObject({ response_action: 'errors', errors: { duration: expect.stringMatching(/not a request ID/) } });

    const good = await submit('30m', 'the migration is slower than planned');
    expect(good.status).toBe(200);
    const filed = await waitUntil(async () => (await byId(g._id))?.extension, 5000, 'extension filed');
    expect(filed).toMatchObject({ durationMs: 30 * 60_000, reason: 'the migration is slower than planned' });
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0EXTM' && String(c.args.text).includes('waiting for 1 approval'));
    await t.slack.blockAction('U0BOB', { action_id: 'approve_extension', value: g._id });
    const ext = await t.hook.waitFor('extend', forRequest(g._id));
    expect(new Date((ext.body as { expiresAt: string }).expiresAt).getTime()).toBe(g.expiresAt!.getTime() + 30 * 60_000);
  });

  it('refuses an extension past maxTotalDuration, and one by someone else', async () => {
    const g = await grant('U0EXT2', 'ext', '1h');
    expect(await answerOf(await t.slack.command('U0EXT2', `extend ${g._id} 1h more`))).toMatch(
      /at most 1h 30m in total.*extend by at most 30m/,
    );
    expect(await answerOf(await t.slack.command('U0BOB', `extend ${g._id} 10m more`))).toMatch(/Only the requester can extend/);
    expect((await byId(g._id))!.extension).toBeUndefined();
    // Two approvals (the request's rule) for the extension here.
    expect(await answerOf(await t.slack.command('U0EXT2', `extend ${g._id} 30m fine`))).toMatch(/waiting for 1 approval/);
  });

  it('a pending extension does not survive the original expiry', async () => {
    const g = await grant('U0EXT3', 'ext-short', '2s');
    await t.slack.command('U0EXT3', `extend ${g._id} 1h please`);
    await waitUntil(async () => (await byId(g._id))?.extension, 3000, 'extension pending');
    const revoke = await t.hook.waitFor('revoke', forRequest(g._id), 8000);
    expect(revoke.at - g.expiresAt!.getTime()).toBeLessThan(1000);
    const ended = await stateIs(g._id, 'expired');
    expect(ended.extension).toBeUndefined();
    const late = await t.slack.blockAction('U0BOB', { action_id: 'approve_extension', value: g._id });
    expect(String((await t.fake.waitForResponse((r) => r.id === late.responseId)).body.text)).toMatch(/no extension waiting/);
    expect(t.hook.calls('extend').filter(forRequest(g._id))).toHaveLength(0);
    const events = (await t.bot.ctx.store.audit.forRequest(g._id)).find((e) => e.action === 'expiring');
    expect(events?.details).toMatchObject({ extensionLapsed: expect.any(String) });
  });
});

describe('cancel', () => {
  it('the requester cancels; anyone else is refused; the message shows it with no buttons', async () => {
    await t.slack.command('U0CAN1', 'deploy-hook 10m maybe');
    const req = await waitUntil(
      () => requests().findOne({ requesterId: 'U0CAN1', state: 'pending', approvalMessage: { $exists: true } }),
      5000,
      'pending, with its approval message',
    );
    expect(await answerOf(await t.slack.command('U0BOB', `cancel ${req._id}`))).toMatch(/Only the requester can cancel/);
    expect((await byId(req._id))!.state).toBe('pending');
    // The Cancel button on the App Home does the same.
    await t.slack.blockAction('U0CAN1', { action_id: 'cancel_request', value: req._id }, { view: { type: 'home' } });
    await stateIs(req._id, 'cancelled');
    // Posted or updated: the message as it now stands shows the cancellation and no buttons.
    const shown = await t.fake.waitFor(
      'chat.postMessage',
      (c) => !c.args.thread_ts && JSON.stringify(c.args.blocks ?? '').includes(req._id),
    );
    await waitUntil(
      async () => {
        const m = t.fake.message(String(shown.args.channel), String(shown.response.ts));
        const blocks = JSON.stringify(m?.blocks ?? '');
        return blocks.includes('Cancelled by the requester') && !blocks.includes('approve_request');
      },
      5000,
      'cancelled message',
    );
  });
});

describe('break-glass', () => {
  it('is granted without approval, capped, announced loudly with Acknowledge, flagged until acknowledged', async () => {
    const res = await t.slack.command('U0BG1', 'glass 20m prod is down --break-glass');
    expect(res.status).toBe(200);
    const req = await waitUntil(() => requests().findOne({ requesterId: 'U0BG1' }), 5000, 'request');
    await t.hook.waitFor('grant', forRequest(req._id));
    const active = await stateIs(req._id, 'active');
    expect(active.breakGlass).toBe(true);
    const posted = await t.fake.waitFor(
      'chat.postMessage',
      (c) => JSON.stringify(c.args.blocks ?? '').includes(req._id) && !c.args.thread_ts,
    );
    const text = JSON.stringify(posted.args.blocks);
    expect(text).toContain('<@U0BOB>');
    expect(text).toContain('<!subteam^S0SRE>');
    const current = () => JSON.stringify(t.fake.message(String(posted.args.channel), String(posted.response.ts))?.blocks ?? '');
    await waitUntil(
      async () => current().includes('acknowledge_break_glass') && current().includes('Break-glass'),
      5000,
      'Acknowledge button',
    );
    const list = await answerOf(await t.slack.command('U0BG1', 'list'));
    expect(list).toContain('break-glass');
    expect((await t.bot.ctx.store.audit.forRequest(req._id)).map((e) => e.action)).toContain('break_glass');
    // Reminded until acknowledged.
    const nag = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.thread_ts === posted.response.ts && String(c.args.text).includes(':bell:'),
      5000,
    );
    expect(String(nag.args.text)).toContain('not acknowledged yet');
    // The requester cannot acknowledge their own; an approver can.
    const own = await t.slack.blockAction('U0BG1', { action_id: 'acknowledge_break_glass', value: req._id });
    expect(String((await t.fake.waitForResponse((r) => r.id === own.responseId)).body.text)).toMatch(/Only approvers/);
    await t.slack.blockAction('U0CAROL', { action_id: 'acknowledge_break_glass', value: req._id });
    await waitUntil(async () => (await byId(req._id))?.breakGlassAck?.by === 'U0CAROL', 3000, 'acknowledged');
    expect((await byId(req._id))!.remindAt).toBeUndefined();
    await waitUntil(
      async () => current().includes('Acknowledged by <@U0CAROL>') && !current().includes('acknowledge_break_glass'),
      5000,
      'acknowledged message',
    );
  });

  it('is refused on a resource without breakGlass, and capped at breakGlassMaxDuration', async () => {
    expect(await answerOf(await t.slack.command('U0BG2', 'deploy-hook 10m x --break-glass'))).toMatch(/does not allow --break-glass/);
    expect(await answerOf(await t.slack.command('U0BG2', 'glass 45m x --break-glass'))).toMatch(/capped at 30m/);
    expect(await requests().countDocuments({ requesterId: 'U0BG2' })).toBe(0);
  });
});

describe('approver reminders', () => {
  it('one reply in the thread after remindAfter, naming approvers who have not acted; none after the decision', async () => {
    await t.slack.command('U0REM1', 'remind 10m please look');
    const req = await waitUntil(() => requests().findOne({ requesterId: 'U0REM1', state: 'pending' }), 5000, 'pending');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    const withMessage = await waitUntil(async () => (await byId(req._id))?.approvalMessage, 5000, 'message');
    const reminder = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.thread_ts === withMessage.ts && String(c.args.text).includes(':bell:'),
      5000,
    );
    expect(String(reminder.args.text)).toContain('<@U0CAROL>');
    expect(String(reminder.args.text)).not.toContain('<@U0BOB>');
    expect(String(reminder.args.text)).toContain('<!subteam^S0SRE>');
    await t.slack.blockAction('U0CAROL', { action_id: 'approve_request', value: req._id });
    await stateIs(req._id, 'active');
    const after = Date.now();
    await new Promise((r) => setTimeout(r, 2500));
    const later = t.fake
      .callsTo('chat.postMessage')
      .filter((c) => c.args.thread_ts === withMessage.ts && String(c.args.text).includes(':bell:') && c.at > after);
    expect(later).toHaveLength(0);
  });
});

describe('App Home', () => {
  it('publishes the right sections for a requester and for an approver; Approve from Home grants; republished after a change', async () => {
    await t.slack.command('U0HOME', 'deploy-hook 10m from home');
    const req = await waitUntil(() => requests().findOne({ requesterId: 'U0HOME', state: 'pending' }), 5000, 'pending');
    await t.slack.appHomeOpened('U0HOME');
    const mine = await t.fake.waitFor('views.publish', (c) => c.args.user_id === 'U0HOME' && JSON.stringify(c.args.view).includes(req._id));
    const myView = JSON.stringify(mine.args.view);
    expect(myView).toContain('Your pending requests');
    expect(myView).toContain('cancel_request');
    expect(myView).not.toContain('approve_request');

    await t.slack.appHomeOpened('U0BOB');
    const bobs = await t.fake.waitFor('views.publish', (c) => c.args.user_id === 'U0BOB' && JSON.stringify(c.args.view).includes(req._id));
    expect(JSON.stringify(bobs.args.view)).toContain('Waiting for your approval');
    expect(JSON.stringify(bobs.args.view)).toContain('approve_request');
    const strangerView = await (async () => {
      await t.slack.appHomeOpened('U0STRANGE');
      return t.fake.waitFor('views.publish', (c) => c.args.user_id === 'U0STRANGE');
    })();
    expect(JSON.stringify(strangerView.args.view)).not.toContain(req._id);

    const publishesBefore = t.fake.callsTo('views.publish').filter((c) => c.args.user_id === 'U0HOME').length;
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id }, { view: { type: 'home' } });
    await t.hook.waitFor('grant', forRequest(req._id));
    await stateIs(req._id, 'active');
    const republished = await t.fake.waitFor(
      'views.publish',
      (c) => c.args.user_id === 'U0HOME' && JSON.stringify(c.args.view).includes('revoke_grant'),
      5000,
    );
    expect(t.fake.callsTo('views.publish').filter((c) => c.args.user_id === 'U0HOME').length).toBeGreaterThan(publishesBefore);
    expect(JSON.stringify(republished.args.view)).toContain('Your active grants');
    expect(JSON.stringify(republished.args.view)).toContain('extend_grant');
    // A stranger's Approve from Home is refused by DM (Home has no response_url).
    await t.slack.command('U0HOME2', 'deploy-hook 10m second');
    const second = await waitUntil(() => requests().findOne({ requesterId: 'U0HOME2', state: 'pending' }), 5000, 'pending');
    await t.slack.blockAction('U0STRANGE', { action_id: 'approve_request', value: second._id }, { view: { type: 'home' } });
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0STRANGE' && String(c.args.text).includes('Only approvers'));
    expect((await byId(second._id))!.approvals).toEqual([]);
  });
});

describe('audit timeline', () => {
  it('lists every transition of a request in order; refused for a stranger', async () => {
    const g = await grant('U0AUD', 'deploy-hook', '1h');
    await t.slack.command('U0AUD', `revoke ${g._id}`);
    await stateIs(g._id, 'revoked');
    const text = await answerOf(await t.slack.command('U0CAROL', `audit ${g._id}`));
    const order = ['requested', 'approval_recorded', 'approved', 'granted', 'revoke_requested', 'revoked'].map((a) =>
      text.indexOf(`*${a}*`),
    );
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(await answerOf(await t.slack.command('U0ADMIN', `audit ${g._id}`))).toContain('*granted*');
    expect(await answerOf(await t.slack.command('U0STRANGE', `audit ${g._id}`))).toMatch(/Only policy admins and approvers/);
    expect(await answerOf(await t.slack.command('U0AUD', `audit ${g._id}`))).toMatch(/Only policy admins and approvers/);
  });
});
