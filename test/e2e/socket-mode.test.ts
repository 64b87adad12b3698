/**
 * Socket Mode for real: the bot opens its connection through `apps.connections.open` on the
 * fake Web API (SLACK_API_URL), connects to the fake's WebSocket endpoint, waits for `hello`,
 * and then handles envelopes (slash commands, button clicks) arriving over the socket, acking
 * each by envelope_id. /healthz and /readyz are served on PORT in this mode too.
 */
import { scrape, sampleValue } from '../metrics/scrape';
import net from 'node:net';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config';
import { parsePolicy } from '../../src/policy/load';
import { createLogger } from '../../src/logger';
import { startBot, Bot } from '../../src/bot';
import type { AccessRequest } from '../../src/domain/request';
import { createSlackApp } from '../../src/slack/app';
import type { Config } from '../../src/config';
import { FakeSlack, WebhookReceiver, TEAM_ID, SlackCall } from './support';
import { BOT_TOKEN, HOOK_SECRET, defaultPolicy, waitUntil } from './harness';
import { freePort } from '../support/ports';

const APP_TOKEN = 'xapp-1-A0APP-1234567890-socketmodesecret0123456789';
/** The (legacy) verification token Slack puts in every payload: a credential too. */
const VERIFICATION_TOKEN = 'verif-tok-0a1b2c3d4e5f6a7b';

let fake: FakeSlack;
let hook: WebhookReceiver;
let bot: Bot;
let port: number;
let config: Config;
const logs: string[] = [];

beforeAll(async () => {
  fake = await FakeSlack.start();
  fake.users.set('U0SOCK', { email: 'sock@example.com', name: 'sock' });
  hook = await WebhookReceiver.start({ secret: HOOK_SECRET });
  port = await freePort();
  const env = {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_APP_TOKEN: APP_TOKEN,
    SLACK_API_URL: fake.apiUrl,
    PORT: String(port),
    LOG_LEVEL: 'debug',
    HOOK_SECRET,
  };
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  expect(loaded.config.SLACK_SIGNING_SECRET).toBeUndefined();
  config = loaded.config;
  const policy = parsePolicy(defaultPolicy().replace(/\{\{HOOK\}\}/g, hook.url), env);
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger('debug', sink, [BOT_TOKEN, APP_TOKEN]);
  bot = await startBot(loaded.config, policy, process.env.JIT_TEST_MONGODB_URI!, logger, {
    dbName: `jit_e2e_socket_${randomBytes(5).toString('hex')}`,
    settings: { retryBaseMs: 50, retryMaxMs: 500, providerTimeoutMs: 2000 },
    notifier: { retryBaseMs: 50, retryMaxMs: 1000, pollMs: 200, channelIntervalMs: 200 },
  });
});

afterAll(async () => {
  await bot?.stop();
  await hook?.stop();
  await fake?.stop();
});

function commandPayload(userId: string, text: string) {
  const responseId = `sock-${randomBytes(6).toString('hex')}`;
  return {
    responseId,
    payload: {
      token: VERIFICATION_TOKEN,
      team_id: TEAM_ID,
      team_domain: 'test',
      channel_id: 'C0GENERAL',
      channel_name: 'general',
      user_id: userId,
      user_name: userId.toLowerCase(),
      command: '/jit-access',
      text,
      api_app_id: 'A0APP',
      is_enterprise_install: 'false',
      response_url: fake.responseUrl(responseId),
      trigger_id: `${Date.now()}.1337.${randomBytes(8).toString('hex')}`,
    },
  };
}

const mentions = (c: SlackCall, id: string) => JSON.stringify(c.args.blocks ?? '').includes(id);

describe('Socket Mode', () => {
  it('connects with the app token through apps.connections.open on SLACK_API_URL, and no signing secret', async () => {
    const open = fake.callsTo('apps.connections.open');
    expect(open.length).toBeGreaterThanOrEqual(1);
    expect(open[0]!.token).toBe(APP_TOKEN);
    const conn = await fake.waitForSocket(1);
    expect(conn.open).toBe(true);
    expect(bot.port).toBe(port);
    expect(logs.join('')).toContain('"mode":"socket"');
  });

  it('serves GET /healthz and /readyz on PORT', async () => {
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
    expect((await fetch(`http://127.0.0.1:${port}/slack/events`, { method: 'POST' })).status).toBe(404);
  });

  it('a slash command envelope is acked by envelope_id, then filed: stored in MongoDB and posted for approval', async () => {
    const { payload, responseId } = commandPayload('U0SOCK', 'deploy-hook 10m via socket');
    const sentAt = Date.now();
    const envelopeId = await fake.sendEnvelope('slash_commands', payload, { acceptsResponsePayload: true });
    const ack = await fake.waitForAck(envelopeId);
    expect(ack.data).toMatchObject({ envelope_id: envelopeId });
    // Within Slack's 3-second limit.
    expect(ack.at - sentAt).toBeLessThan(3000);

    const req = await waitUntil(
      () => bot.db.collection<AccessRequest>('requests').findOne({ requesterId: 'U0SOCK', resourceId: 'deploy-hook' }),
      5000,
      'the stored request',
    );
    expect(req).toMatchObject({ state: 'pending', reason: 'via socket' });
    const posted = await fake.waitFor('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS' && mentions(c, req._id));
    expect(posted.token).toBe(BOT_TOKEN);
    expect(JSON.stringify(posted.args.blocks)).toContain('via socket');
    // The requester is told the request ID (ack payload or response_url, ephemeral either way).
    const ackText = JSON.stringify(ack.data?.payload ?? {});
    if (!ackText.includes(req._id)) {
      const answer = await fake.waitForResponse((r) => r.id === responseId);
      expect(String(answer.body.text)).toContain(req._id);
    }
  });

  it('an Approve click over the socket is acked and grants through the provider', async () => {
    const req = (await bot.db.collection<AccessRequest>('requests').findOne({ requesterId: 'U0SOCK', resourceId: 'deploy-hook' }))!;
    const posted = await fake.waitFor('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS' && mentions(c, req._id));
    const ts = String(posted.response.ts);
    const click = {
      type: 'block_actions',
      user: { id: 'U0BOB', username: 'bob', name: 'bob', team_id: TEAM_ID },
      api_app_id: 'A0APP',
      token: VERIFICATION_TOKEN,
      team: { id: TEAM_ID, domain: 'test' },
      enterprise: null,
      is_enterprise_install: false,
      trigger_id: `${Date.now()}.1337.${randomBytes(8).toString('hex')}`,
      container: { type: 'message', message_ts: ts, channel_id: 'C0APPROVALS', is_ephemeral: false },
      channel: { id: 'C0APPROVALS', name: 'c0approvals' },
      message: { type: 'message', user: 'UBOT', bot_id: 'BBOT', team: TEAM_ID, text: '', blocks: posted.args.blocks, ts },
      response_url: fake.responseUrl(),
      state: { values: {} },
      actions: [
        {
          type: 'button',
          action_id: 'approve_request',
          block_id: 'decide',
          value: req._id,
          action_ts: fake.nextTs(),
          text: { type: 'plain_text', text: 'Approve' },
        },
      ],
    };
    const envelopeId = await fake.sendEnvelope('interactive', click);
    await fake.waitForAck(envelopeId);
    const grant = await hook.waitFor('grant', (c) => c.body?.requestId === req._id);
    expect(grant.signatureValid).toBe(true);
    await waitUntil(
      async () => (await bot.db.collection<AccessRequest>('requests').findOne({ _id: req._id }))?.state === 'active',
      5000,
      'active',
    );
    await fake.waitFor('chat.update', (c) => c.args.ts === ts && mentions(c, req._id));
  });

  it('serves GET /metrics on PORT with the counts of what came over the socket', async () => {
    const { status, samples } = await scrape(port);
    expect(status).toBe(200);
    expect(sampleValue(samples, 'jit_requests_total', { resource: 'deploy-hook', outcome: 'filed' })).toBe(1);
    expect(sampleValue(samples, 'jit_requests_total', { resource: 'deploy-hook', outcome: 'approved' })).toBe(1);
    expect(sampleValue(samples, 'jit_grants_active', { resource: 'deploy-hook' })).toBe(1);
    expect(samples.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);
  });

  it('when Slack asks for a reconnect and apps.connections.open fails meanwhile, the bot reconnects and keeps working', async () => {
    const first = fake.socketConnections[0]!;
    const opensBefore = fake.callsTo('apps.connections.open').length;
    // Three HTTP 500s in a row: more than a short client-side retry would survive.
    fake.failNext('apps.connections.open', { status: 500, times: 3 });
    await first.disconnectMessage('refresh_requested');
    const second = await fake.waitForSocket(2, 25_000);
    await waitUntil(async () => !first.open, 5000, 'the old socket to close');
    expect(second.open).toBe(true);
    const opens = fake.callsTo('apps.connections.open').slice(opensBefore);
    expect(opens.filter((c) => c.failed)).toHaveLength(3);
    expect(opens.at(-1)!.failed).toBe(false);

    const { payload } = commandPayload('U0SOCK2', 'deploy-hook 5m after the reconnect');
    const envelopeId = await fake.sendEnvelope('slash_commands', payload, { connection: second });
    const ack = await fake.waitForAck(envelopeId);
    expect(ack.connection).toBe(2);
    const req = await waitUntil(
      () => bot.db.collection<AccessRequest>('requests').findOne({ requesterId: 'U0SOCK2' }),
      5000,
      'the request filed after the reconnect',
    );
    await fake.waitFor('chat.postMessage', (c) => c.args.channel === 'C0APPROVALS' && mentions(c, req._id));
  }, 30_000);

  it('the app token, bot token, verification token, response_urls and connection ticket never reach the logs', () => {
    const all = logs.join('');
    expect(all).toContain('Received a message on the WebSocket'); // the payloads were logged (debug)...
    expect(all).not.toContain(APP_TOKEN); // ...without their secrets
    expect(all).not.toContain(BOT_TOKEN);
    expect(all).not.toContain(VERIFICATION_TOKEN);
    expect(all).not.toContain(`${fake.url}/response/`);
    expect(all).not.toContain(new URL(fake.socketUrl).searchParams.get('ticket')!);
  });

  it('a busy PORT stops start-up with an error naming PORT, before Slack is contacted', async () => {
    const opensBefore = fake.callsTo('apps.connections.open').length;
    // `port` is held by the running bot's health server.
    const second = createSlackApp(
      { ...config, PORT: port },
      { ctx: bot.ctx, logger: bot.ctx.logger, refreshHome: async () => {} },
      { ready: async () => true },
      bot.connection,
    );
    await expect(second.start()).rejects.toThrow(new RegExp(`PORT ${port}.*EADDRINUSE`));
    await second.stop();
    expect(fake.callsTo('apps.connections.open').length).toBe(opensBefore);
  });

  it('stops cleanly: the socket is closed and PORT is released', async () => {
    const conn = fake.socketConnections.at(-1)!;
    expect(conn.open).toBe(true);
    await bot.stop();
    await waitUntil(async () => !conn.open, 5000, 'the socket to close');
    // Nothing listens on PORT any more.
    await waitUntil(
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          s.once('connect', () => {
            s.destroy();
            resolve(false);
          });
          s.once('error', () => resolve(true));
        }),
      5000,
      'PORT to be released',
    );
  });
});
