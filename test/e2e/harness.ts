import { Writable } from 'node:stream';
import type { Collection } from 'mongodb';
import type { AccessRequest } from '../../src/domain/request';
import type { AuditEvent } from '../../src/store/audit-log';
import { randomBytes } from 'node:crypto';
import { loadConfig, Config } from '../../src/config';
import { parsePolicy } from '../../src/policy/load';
import { createLogger, secretsOf } from '../../src/logger';
import { startBot, Bot, BotOptions } from '../../src/bot';
import { FakeSlack, SlackDriver, WebhookReceiver } from './support';

export const SIGNING_SECRET = 'e2e-signing-secret-0123456789';
export const BOT_TOKEN = 'xoxb-e2e-bot-token-0123456789';
export const HOOK_SECRET = 'e2e-webhook-secret-0123456789';

/** Everything an end-to-end test needs: the real bot over HTTP, a fake Slack, a webhook target. */
export interface TestBot {
  bot: Bot;
  fake: FakeSlack;
  hook: WebhookReceiver;
  slack: SlackDriver;
  logs: string[];
  config: Config;
  /** The bot's `requests` collection, for tests that read or seed state directly. */
  requests(): Collection<AccessRequest>;
  /** The bot's `audit_events` collection. */
  auditEvents(): Collection<AuditEvent>;
  stop(): Promise<void>;
}

/** A policy whose resources all grant through the test's webhook receiver. `{{HOOK}}` is replaced by its URL. */
export function defaultPolicy(extra = ''): string {
  return `
approvalChannel: C0APPROVALS
admins: [U0ADMIN]
defaults:
  minDuration: 1s
  maxDuration: 4h
identities:
  U0ALICE: alice
resources:
  - id: deploy-hook
    name: Deploy pipeline admin
    approvers: { users: [U0BOB, U0CAROL] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: two-keys
    name: Two-person rule
    approvers: { users: [U0BOB, U0CAROL, U0DAVE], usergroups: [S0SRE] }
    requiredApprovals: 2
    approvalChannel: C0DBA
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
  - id: self-serve
    name: Staging logs
    approvers: { users: [U0BOB] }
    autoApprove: true
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
${extra}`;
}

export interface StartOptions {
  policy?: string;
  env?: Record<string, string>;
  bot?: BotOptions;
  /** A MongoDB the test owns (to stop and restart it); default: the run's shared one. */
  mongoUri?: string;
  /** Runs after the fakes start and before the bot does (take Slack down, write grants into its database). */
  beforeStart?: (world: { fake: FakeSlack; hook: WebhookReceiver; mongoUri: string; dbName: string }) => Promise<void> | void;
}

export async function startTestBot(opts: StartOptions = {}): Promise<TestBot> {
  const fake = await FakeSlack.start();
  fake.users.set('U0ALICE', { email: 'alice@example.com', name: 'alice' });
  fake.users.set('U0BOB', { email: 'bob@example.com', name: 'bob' });
  fake.usergroups.set('S0SRE', ['U0SRE1', 'U0SRE2']);
  const hook = await WebhookReceiver.start({ secret: HOOK_SECRET });
  const env = {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: fake.apiUrl,
    PORT: '0',
    LOG_LEVEL: 'debug',
    JIT_RECONCILE_CRON: '*/2 * * * * *',
    HOOK_SECRET,
    ...opts.env,
  };
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  const policy = parsePolicy((opts.policy ?? defaultPolicy()).replace(/\{\{HOOK\}\}/g, hook.url), env);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger('debug', sink, secretsOf(loaded.config, policy));
  const uri = opts.mongoUri ?? process.env.JIT_TEST_MONGODB_URI ?? process.env.MONGODB_URI!;
  const dbName = opts.bot?.dbName ?? `jit_e2e_${randomBytes(5).toString('hex')}`;
  await opts.beforeStart?.({ fake, hook, mongoUri: uri, dbName });
  const bot = await startBot(loaded.config, policy, uri, logger, {
    ...opts.bot,
    dbName,
    connection: { retryBaseMs: 100, retryMaxMs: 500, ...opts.bot?.connection },
    settings: { retryBaseMs: 50, retryMaxMs: 500, providerTimeoutMs: 2000, ...opts.bot?.settings },
    notifier: { retryBaseMs: 50, retryMaxMs: 1000, pollMs: 200, channelIntervalMs: 200, ...opts.bot?.notifier },
  });
  const slack = new SlackDriver({ baseUrl: `http://127.0.0.1:${bot.port}`, signingSecret: SIGNING_SECRET, fake });
  return {
    bot,
    fake,
    hook,
    slack,
    logs,
    config: loaded.config,
    requests: () => bot.db.collection<AccessRequest>('requests'),
    auditEvents: () => bot.db.collection<AuditEvent>('audit_events'),
    async stop() {
      await bot.stop();
      await hook.stop();
      await fake.stop();
    },
  };
}

export async function waitUntil<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The text of the answer to `/jit-access <text>` from `user`: inline in the ack, or posted to the command's response_url. */
export async function commandAnswer(t: TestBot, user: string, text: string, timeoutMs = 10_000): Promise<string> {
  const res = await t.slack.command(user, text);
  if (res.status !== 200) throw new Error(`/jit-access ${text.slice(0, 40)}: HTTP ${res.status}`);
  const inline = res.json as { text?: string } | undefined;
  if (inline?.text) return inline.text;
  return String((await t.fake.waitForResponse((r) => r.id === res.responseId, timeoutMs)).body.text);
}
