/**
 * Self-tests of the e2e harness: the fake Slack Web API, the Slack-side driver
 * and the webhook receiver. They exercise the harness against the real
 * @slack/web-api client and a tiny real Bolt app, not against jit-access.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel, isValidSlackRequest } from '@slack/bolt';
import { WebClient, ErrorCode } from '@slack/web-api';
import { FakeSlack } from './support/fake-slack';
import { SlackDriver, modalValues, denyReasonValues, signSlackRequest } from './support/slack-driver';
import { WebhookReceiver, signWebhook } from './support/webhook-receiver';

const SIGNING_SECRET = 'test-signing-secret';

function client(fake: FakeSlack, opts: { rejectRateLimitedCalls?: boolean } = {}): WebClient {
  return new WebClient('xoxb-test', {
    slackApiUrl: fake.apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: opts.rejectRateLimitedCalls ?? false,
    logLevel: LogLevel.ERROR,
  });
}

describe('FakeSlack', () => {
  let fake: FakeSlack;
  beforeEach(async () => {
    fake = await FakeSlack.start();
  });
  afterEach(async () => {
    await fake.stop();
  });

  it('serves auth.test and records the bearer token', async () => {
    const res = await client(fake).auth.test();
    expect(res).toMatchObject({
      ok: true,
      user_id: 'UBOT',
      bot_id: 'BBOT',
      team_id: 'T0TEAM',
      team: 'Test',
      url: 'https://test.slack.com/',
    });
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]).toMatchObject({ method: 'auth.test', token: 'xoxb-test', failed: false });
    expect(fake.apiUrl).toBe(`${fake.url}/api/`);
  });

  it('answers chat.postMessage with increasing ts and parses form-encoded blocks back into objects', async () => {
    const web = client(fake);
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*hello*' } }];
    const first = await web.chat.postMessage({
      channel: 'C0APPROVALS',
      text: 'hello',
      blocks,
      metadata: { event_type: 'jit', event_payload: { id: 'r1' } },
    });
    const second = await web.chat.postMessage({ channel: 'C0APPROVALS', text: 'again' });
    expect(first.ok).toBe(true);
    expect(first.channel).toBe('C0APPROVALS');
    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(second.ts)).toBeGreaterThan(Number(first.ts));
    expect(first.message?.text).toBe('hello');

    const call = await fake.waitFor('chat.postMessage', (c) => c.args.text === 'hello');
    expect(call.contentType).toContain('application/x-www-form-urlencoded');
    expect(Array.isArray(call.args.blocks)).toBe(true);
    expect(call.args.blocks).toEqual(blocks);
    expect(call.args.metadata).toEqual({ event_type: 'jit', event_payload: { id: 'r1' } });
    expect(typeof call.at).toBe('number');
    expect(fake.callsTo('chat.postMessage')).toHaveLength(2);

    await web.chat.update({ channel: 'C0APPROVALS', ts: first.ts as string, text: 'decided', blocks: [] });
    const stored = fake.message('C0APPROVALS', first.ts as string);
    expect(stored?.text).toBe('decided');
    expect(stored?.history).toHaveLength(2);
  });

  it('accepts JSON bodies too', async () => {
    const res = await fetch(`${fake.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8', Authorization: 'Bearer xoxb-json' },
      body: JSON.stringify({ channel: 'U0ALICE', text: 'dm', blocks: [{ type: 'divider' }] }),
    });
    const body = (await res.json()) as { ok: boolean; channel: string };
    expect(body).toMatchObject({ ok: true, channel: 'DU0ALICE' });
    expect(fake.lastCall('chat.postMessage')).toMatchObject({ token: 'xoxb-json', args: { blocks: [{ type: 'divider' }] } });
  });

  it('answers the other built-in methods like Slack', async () => {
    const web = client(fake);
    fake.users.set('U0ALICE', { email: 'alice@example.com', name: 'alice', realName: 'Alice A.' });
    fake.usergroups.set('S0SRE', ['U0BOB', 'U0CAROL']);
    fake.socketUrl = 'ws://127.0.0.1:1234/link';

    const user = await web.users.info({ user: 'U0ALICE' });
    expect(user.user).toMatchObject({ id: 'U0ALICE', name: 'alice', profile: { email: 'alice@example.com', real_name: 'Alice A.' } });
    await expect(web.users.info({ user: 'U0NOBODY' })).rejects.toMatchObject({
      code: ErrorCode.PlatformError,
      data: { ok: false, error: 'user_not_found' },
    });

    expect((await web.usergroups.users.list({ usergroup: 'S0SRE' })).users).toEqual(['U0BOB', 'U0CAROL']);
    await expect(web.usergroups.users.list({ usergroup: 'S0NONE' })).rejects.toMatchObject({ data: { error: 'no_such_subteam' } });

    expect((await web.conversations.open({ users: 'U0ALICE' })).channel?.id).toBe('DU0ALICE');
    expect(await web.chat.postEphemeral({ channel: 'C0GENERAL', user: 'U0ALICE', text: 'psst' })).toMatchObject({
      ok: true,
      message_ts: expect.any(String),
    });

    const opened = await web.views.open({
      trigger_id: '1.2.3',
      view: { type: 'modal', callback_id: 'jit_request', title: { type: 'plain_text', text: 'x' }, blocks: [] },
    });
    expect(opened.view).toMatchObject({ id: expect.stringMatching(/^V/), callback_id: 'jit_request', type: 'modal' });
    const updated = await web.views.update({
      view_id: opened.view?.id as string,
      view: { type: 'modal', callback_id: 'jit_request', title: { type: 'plain_text', text: 'y' }, blocks: [] },
    });
    expect(updated.view?.id).toBe(opened.view?.id);
    const published = await web.views.publish({ user_id: 'U0ALICE', view: { type: 'home', blocks: [{ type: 'divider' }] } });
    expect(published.view).toMatchObject({ id: expect.stringMatching(/^V/), type: 'home' });
    expect(fake.homeViews.get('U0ALICE')).toMatchObject({ type: 'home', blocks: [{ type: 'divider' }] });
    expect(fake.lastCall('views.publish')?.args.view).toMatchObject({ type: 'home' });

    expect(await web.apps.connections.open()).toMatchObject({ ok: true, url: 'ws://127.0.0.1:1234/link' });
    await expect(web.apiCall('no.such.method')).rejects.toMatchObject({ data: { ok: false, error: 'unknown_method' } });
  });

  it('injects a 429 with Retry-After that a rejectRateLimitedCalls WebClient rejects, then heals', async () => {
    fake.failNext('chat.postMessage', { status: 429, retryAfter: 7 });
    const web = client(fake, { rejectRateLimitedCalls: true });
    await expect(web.chat.postMessage({ channel: 'C1', text: 'x' })).rejects.toMatchObject({
      code: ErrorCode.RateLimitedError,
      retryAfter: 7,
    });
    await expect(web.chat.postMessage({ channel: 'C1', text: 'x' })).resolves.toMatchObject({ ok: true });
    const calls = fake.callsTo('chat.postMessage');
    expect(calls.map((c) => [c.status, c.failed, c.injected])).toEqual([
      [429, true, true],
      [200, false, false],
    ]);
    expect(calls[0]?.response).toEqual({ ok: false, error: 'ratelimited' });

    // raw HTTP check of the 429 shape
    fake.failNext('chat.update', { status: 429, retryAfter: 3 });
    const res = await fetch(`${fake.apiUrl}chat.update`, {
      method: 'POST',
      headers: { Authorization: 'Bearer x' },
      body: 'channel=C1&ts=1.2',
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    expect(await res.json()).toEqual({ ok: false, error: 'ratelimited' });
  });

  it('injects ok:false errors, HTTP 500s, repeated and permanent faults, and delays', async () => {
    const web = client(fake);
    fake.failNext('chat.update', { error: 'message_not_found', times: 2 });
    await expect(web.chat.update({ channel: 'C1', ts: '1.1', text: 'a' })).rejects.toMatchObject({
      code: ErrorCode.PlatformError,
      data: { error: 'message_not_found' },
    });
    await expect(web.chat.update({ channel: 'C1', ts: '1.1', text: 'a' })).rejects.toMatchObject({ data: { error: 'message_not_found' } });
    await expect(web.chat.update({ channel: 'C1', ts: '1.1', text: 'a' })).resolves.toMatchObject({ ok: true });

    fake.failNext('users.info', { status: 500 });
    await expect(web.users.info({ user: 'U1' })).rejects.toMatchObject({ code: ErrorCode.HTTPError, statusCode: 500 });

    fake.failAlways('views.publish', { error: 'not_enabled' });
    for (let i = 0; i < 3; i++)
      await expect(web.views.publish({ user_id: 'U1', view: { type: 'home', blocks: [] } })).rejects.toMatchObject({
        data: { error: 'not_enabled' },
      });
    fake.heal('views.publish');
    await expect(web.views.publish({ user_id: 'U1', view: { type: 'home', blocks: [] } })).resolves.toMatchObject({ ok: true });
    expect(fake.callsTo('views.publish').filter((c) => c.failed)).toHaveLength(3);

    fake.slow('auth.test', 300);
    const t0 = Date.now();
    await web.auth.test();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    fake.heal();

    fake.handle('conversations.info', (args) => ({ channel: { id: args.channel, name: 'custom' } }));
    expect((await web.conversations.info({ channel: 'C9' })).channel?.name).toBe('custom');
  });

  it('waitFor resolves on past and future calls and times out with a useful message', async () => {
    const web = client(fake);
    await web.chat.postMessage({ channel: 'C1', text: 'one' });
    await expect(fake.waitFor('chat.postMessage')).resolves.toMatchObject({ args: { text: 'one' } });
    const later = fake.waitForCount('chat.postMessage', 3, (c) => c.args.channel === 'C1', 2000);
    setTimeout(() => {
      void web.chat.postMessage({ channel: 'C1', text: 'two' });
      void web.chat.postMessage({ channel: 'C1', text: 'three' });
    }, 50);
    expect((await later).map((c) => c.args.text)).toEqual(['one', 'two', 'three']);
    await expect(fake.waitFor('chat.postMessage', (c) => c.args.text === 'never', 100)).rejects.toThrow(
      /Timed out after 100 ms.*chat\.postMessage.*one/,
    );
    fake.clear();
    expect(fake.calls).toHaveLength(0);
  });

  it('records response_url posts and can fail them', async () => {
    const url = fake.responseUrl('abc');
    const waiting = fake.waitForResponse((r) => r.id === 'abc');
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'done', replace_original: true }),
    });
    expect(res.status).toBe(200);
    expect(await waiting).toMatchObject({ id: 'abc', body: { text: 'done', replace_original: true }, status: 200 });
    fake.failResponses(404);
    expect((await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status).toBe(404);
    expect(fake.responsesTo(url)).toHaveLength(2);
  });
});

describe('SlackDriver', () => {
  it('signs with the same algorithm Bolt verifies', () => {
    const body = 'command=%2Fjit-access&text=hello';
    const ts = Math.floor(Date.now() / 1000);
    const signature = signSlackRequest(SIGNING_SECRET, ts, body);
    expect(signature).toMatch(/^v0=[0-9a-f]{64}$/);
    expect(
      isValidSlackRequest({
        signingSecret: SIGNING_SECRET,
        body,
        headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': ts },
      }),
    ).toBe(true);
    expect(
      isValidSlackRequest({ signingSecret: 'other', body, headers: { 'x-slack-signature': signature, 'x-slack-request-timestamp': ts } }),
    ).toBe(false);
    expect(
      isValidSlackRequest({
        signingSecret: SIGNING_SECRET,
        body,
        headers: { 'x-slack-signature': signSlackRequest(SIGNING_SECRET, ts - 600, body), 'x-slack-request-timestamp': ts - 600 },
      }),
    ).toBe(false);
  });

  it('builds Slack-shaped modal state values', () => {
    expect(modalValues({ resource: 'prod-db', duration: '1h', reason: 'incident', ticket: 'INC-1' })).toEqual({
      resource: {
        resource: {
          type: 'static_select',
          selected_option: { value: 'prod-db', text: { type: 'plain_text', text: 'prod-db', emoji: true } },
        },
      },
      duration: { duration: { type: 'plain_text_input', value: '1h' } },
      reason: { reason: { type: 'plain_text_input', value: 'incident' } },
      ticket: { ticket: { type: 'plain_text_input', value: 'INC-1' } },
    });
    expect(modalValues({ reason: 'x' })).toEqual({ reason: { reason: { type: 'plain_text_input', value: 'x' } } });
    expect(denyReasonValues('no')).toEqual({ deny_reason: { deny_reason: { type: 'plain_text_input', value: 'no' } } });
  });

  describe('against a real Bolt app', () => {
    let fake: FakeSlack;
    let app: App;
    let driver: SlackDriver;
    const seen: { kind: string; body: unknown; retryNum?: number }[] = [];

    beforeAll(async () => {
      fake = await FakeSlack.start();
      fake.users.set('U0ALICE', { name: 'alice', email: 'alice@example.com' });
      app = new App({
        token: 'xoxb-test',
        signingSecret: SIGNING_SECRET,
        clientOptions: { slackApiUrl: fake.apiUrl, retryConfig: { retries: 0 } },
        logLevel: LogLevel.ERROR,
      });
      app.command('/jit-access', async ({ ack, body, respond, client: web, context }) => {
        seen.push({ kind: 'command', body, retryNum: context.retryNum });
        if (body.text === 'modal') {
          await ack();
          await web.views.open({
            trigger_id: body.trigger_id,
            view: { type: 'modal', callback_id: 'jit_request', title: { type: 'plain_text', text: 'Request' }, blocks: [] },
          });
          return;
        }
        await ack({ response_type: 'ephemeral', text: `got: ${body.text}` });
        await respond({ text: `later: ${body.text}` });
      });
      app.action('approve', async ({ ack, body, respond }) => {
        await ack();
        seen.push({ kind: 'action', body });
        if ('response_url' in body && body.response_url) await respond({ text: 'approved', replace_original: true });
      });
      app.view('jit_request', async ({ ack, view }) => {
        const reason = view.state.values.reason?.reason?.value;
        seen.push({ kind: 'view', body: view });
        if (!reason) await ack({ response_action: 'errors', errors: { reason: 'Say why.' } });
        else await ack();
      });
      app.event('app_home_opened', async ({ event, client: web }) => {
        seen.push({ kind: 'event', body: event });
        await web.views.publish({ user_id: event.user, view: { type: 'home', blocks: [] } });
      });
      const server = (await app.start(0)) as Server;
      const { port } = server.address() as AddressInfo;
      driver = new SlackDriver({ baseUrl: `http://127.0.0.1:${port}`, signingSecret: SIGNING_SECRET, fake });
    });

    afterAll(async () => {
      await app.stop();
      await fake.stop();
    });

    it('sends slash commands Bolt accepts, with a working response_url', async () => {
      const res = await driver.command('U0ALICE', 'list', { retryNum: 1 });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ response_type: 'ephemeral', text: 'got: list' });
      expect(res.ms).toBeGreaterThan(0);
      const posted = await fake.waitForResponse((r) => r.id === res.responseId);
      expect(posted.body).toEqual({ text: 'later: list' });
      const cmd = seen.find((s) => s.kind === 'command');
      expect(cmd?.body).toMatchObject({
        user_id: 'U0ALICE',
        user_name: 'alice',
        command: '/jit-access',
        text: 'list',
        team_id: 'T0TEAM',
        channel_id: 'C0GENERAL',
        api_app_id: 'A0APP',
        response_url: res.responseUrl,
        trigger_id: res.triggerId,
      });
      expect(cmd?.retryNum).toBe(1);
      // Bolt verified the token with auth.test on the fake
      expect(fake.callsTo('auth.test').length).toBeGreaterThanOrEqual(1);
    });

    it('opens a modal with the trigger_id and submits it (errors and success)', async () => {
      const res = await driver.command('U0ALICE', 'modal');
      expect(res.status).toBe(200);
      const open = await fake.waitFor('views.open', (c) => c.args.trigger_id === res.triggerId);
      expect(open.args.view).toMatchObject({ callback_id: 'jit_request' });

      const bad = await driver.viewSubmission('U0ALICE', {
        callback_id: 'jit_request',
        state: { values: modalValues({ resource: 'prod-db', duration: '1h' }) },
      });
      expect(bad.status).toBe(200);
      expect(bad.json).toEqual({ response_action: 'errors', errors: { reason: 'Say why.' } });

      const good = await driver.viewSubmission('U0ALICE', {
        callback_id: 'jit_request',
        private_metadata: '{"c":"C1"}',
        state: { values: modalValues({ resource: 'prod-db', duration: '1h', reason: 'incident' }) },
      });
      expect(good.status).toBe(200);
      expect(good.body).toBe('');
      const view = seen.filter((s) => s.kind === 'view').pop()?.body;
      expect(view).toMatchObject({
        callback_id: 'jit_request',
        private_metadata: '{"c":"C1"}',
        state: { values: { resource: { resource: { selected_option: { value: 'prod-db' } } } } },
      });
    });

    it('sends block_actions from a message and from the Home tab', async () => {
      const res = await driver.blockAction(
        'U0ALICE',
        { action_id: 'approve', value: 'req-1' },
        { channel: 'C0APPROVALS', messageTs: '1700000000.000100', message: { text: 'approval' } },
      );
      expect(res.status).toBe(200);
      await fake.waitForResponse((r) => r.id === res.responseId && (r.body as { text?: string }).text === 'approved');
      const body = seen.filter((s) => s.kind === 'action').pop()?.body;
      expect(body).toMatchObject({
        type: 'block_actions',
        user: { id: 'U0ALICE', username: 'alice' },
        channel: { id: 'C0APPROVALS' },
        container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C0APPROVALS' },
        message: { ts: '1700000000.000100', text: 'approval' },
        actions: [{ action_id: 'approve', value: 'req-1', type: 'button' }],
      });

      const home = await driver.blockAction('U0ALICE', { action_id: 'approve', value: 'req-2' }, { view: {} });
      expect(home.status).toBe(200);
      const homeBody = seen.filter((s) => s.kind === 'action').pop()?.body;
      expect(homeBody).toMatchObject({
        container: { type: 'view', view_id: 'VHOMEU0ALICE' },
        view: { type: 'home', id: 'VHOMEU0ALICE' },
        actions: [{ value: 'req-2' }],
      });
      expect(homeBody).not.toHaveProperty('response_url');
    });

    it('sends Events API callbacks', async () => {
      const res = await driver.appHomeOpened('U0ALICE');
      expect(res.status).toBe(200);
      await fake.waitFor('views.publish', (c) => c.args.user_id === 'U0ALICE');
      expect(seen.filter((s) => s.kind === 'event').pop()?.body).toMatchObject({ type: 'app_home_opened', user: 'U0ALICE', tab: 'home' });
    });

    it('is rejected with 401 when forged, stale or unsigned', async () => {
      const responseUrl = fake.responseUrl('raw-1');
      const body = new URLSearchParams({
        command: '/jit-access',
        text: 'x',
        user_id: 'U0ALICE',
        team_id: 'T0TEAM',
        response_url: responseUrl,
      }).toString();
      expect((await driver.raw(body, {}, { badSignature: true })).status).toBe(401);
      expect((await driver.raw(body, {}, { staleSeconds: 6 * 60 })).status).toBe(401);
      expect((await driver.raw(body, {}, { signature: 'v0=deadbeef' })).status).toBe(401);
      expect((await driver.raw(body, {}, { unsigned: true })).status).toBe(401);
      // the same body correctly signed is accepted
      expect((await driver.raw(body, {})).status).toBe(200);
      await fake.waitForResponse((r) => r.id === 'raw-1'); // let the listener finish before teardown
      expect(seen.filter((s) => s.kind === 'command' && (s.body as { text?: string }).text === 'x')).toHaveLength(1);
    });
  });
});

describe('WebhookReceiver', () => {
  let hook: WebhookReceiver;
  beforeEach(async () => {
    hook = await WebhookReceiver.start({ secret: 'hook-secret' });
  });
  afterEach(async () => {
    await hook.stop();
  });

  async function post(action: string, secret = 'hook-secret'): Promise<number> {
    const body = JSON.stringify({ action, requestId: 'r1', resource: { id: 'deploy-hook' } });
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'X-JIT-Timestamp': ts,
        'X-JIT-Signature': signWebhook(secret, ts, body),
        'Idempotency-Key': `r1:${action}`,
      },
      body,
    });
    await res.text();
    return res.status;
  }

  it('verifies correct signatures and flags wrong ones', async () => {
    expect(await post('grant')).toBe(200);
    expect(await post('revoke', 'wrong-secret')).toBe(200);
    const grant = await hook.waitFor('grant');
    expect(grant.signatureValid).toBe(true);
    expect(grant.body).toMatchObject({ action: 'grant', requestId: 'r1' });
    expect(grant.headers['idempotency-key']).toBe('r1:grant');
    expect((await hook.waitFor('revoke')).signatureValid).toBe(false);
    expect(hook.calls()).toHaveLength(2);
    expect(hook.calls('grant')).toHaveLength(1);
  });

  it('answers configured statuses, sequences and hangs', async () => {
    hook.respondSequence([500, 503]);
    expect([await post('grant'), await post('grant'), await post('grant')]).toEqual([500, 503, 200]);
    hook.respondWith(502);
    expect(await post('revoke')).toBe(502);
    hook.respondWith(200);
    expect((await hook.waitForCount('grant', 3)).map((c) => c.status)).toEqual([500, 503, 200]);

    hook.hang(400, 1);
    const t0 = Date.now();
    const pending = post('extend');
    const seen = await hook.waitFor('extend', undefined, 1000);
    expect(seen.at - t0).toBeLessThan(300); // recorded on arrival, before the hang ends
    expect(await pending).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(380);

    // a client that gives up on a hanging target
    hook.hang(5000);
    await expect(fetch(hook.url, { method: 'POST', body: '{"action":"grant"}', signal: AbortSignal.timeout(200) })).rejects.toThrow();
    hook.reset();
    expect(await post('grant')).toBe(200);
  });
});
