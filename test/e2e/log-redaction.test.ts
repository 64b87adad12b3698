/**
 * "Tokens, secrets and passwords never appear in the logs" (PRODUCT.md §1), checked on the
 * real bot at debug level: a full request (command -> approve -> grant -> revoke), failures
 * (webhook 500 on grant and on revoke, an unreachable postgres, Slack errors), and then every
 * captured JSON line is searched for every secret value the process knows.
 */
import { Writable } from 'node:stream';
import { createLogger, secretsOf } from '../../src/logger';
import { parsePolicy } from '../../src/policy/load';
import { startTestBot, TestBot, BOT_TOKEN, SIGNING_SECRET, HOOK_SECRET, waitUntil } from './harness';
import { freePort as closedPort } from '../support/ports';

// Secret values that reach the bot through the policy (${VAR} from the environment) or its URLs.
const HOOK_PATH_TOKEN = 'HookPathTok3n-9f8e7d6c5b4a3921';
const HOOK_QUERY_KEY = 'HookQueryK3y-1a2b3c4d5e6f7081';
const OTHER_HOOK_SECRET = 'other-webhook-secret-55aa66bb77cc';
const PG_PASSWORD = 'PgAdminPassw0rd-3c4d5e6f7a8b';
const PG_URL = `postgres://jit_admin:${PG_PASSWORD}@127.0.0.1:1/orders?sslmode=disable`;
const DEAD_HOOK_TOKEN = 'DeadHookT0ken-0a9b8c7d6e5f';

const SECRETS: Record<string, string> = {
  'bot token': BOT_TOKEN,
  'signing secret': SIGNING_SECRET,
  'webhook secret': HOOK_SECRET,
  'second webhook secret': OTHER_HOOK_SECRET,
  'webhook URL path token': HOOK_PATH_TOKEN,
  'webhook URL query key': HOOK_QUERY_KEY,
  'unreachable webhook URL token': DEAD_HOOK_TOKEN,
  'postgres password': PG_PASSWORD,
  'postgres URL': PG_URL,
};

const POLICY = (deadPort: number) => `
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
    approvers: { users: [U0BOB] }
    provider:
      type: webhook
      url: "{{HOOK}}/t/${HOOK_PATH_TOKEN}?api_key=${HOOK_QUERY_KEY}"
      secret: "\${HOOK_SECRET}"
      timeoutMs: 2000
  - id: dead-hook
    name: Tooling that is down
    approvers: { users: [U0BOB] }
    provider:
      type: webhook
      url: "http://127.0.0.1:${deadPort}/jit/${DEAD_HOOK_TOKEN}?token=${DEAD_HOOK_TOKEN}"
      secret: "\${OTHER_HOOK_SECRET}"
      timeoutMs: 1000
  - id: orders-db
    name: Orders DB
    approvers: { users: [U0BOB] }
    provider:
      type: postgres
      url: "\${PROD_PG_ADMIN_URL}"
      role: orders_readonly
      timeoutMs: 1000
`;

let t: TestBot;
beforeAll(async () => {
  t = await startTestBot({
    policy: POLICY(await closedPort()),
    env: { OTHER_HOOK_SECRET, PROD_PG_ADMIN_URL: PG_URL },
    bot: { settings: { grantAttempts: 2 } },
  });
});
afterAll(() => t?.stop());

type Line = Record<string, unknown> & { msg?: string; level?: string };
function parsedLogs(): Line[] {
  return t.logs
    .join('')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Line);
}
const requests = () => t.requests();
async function stateOf(id: string, state: string, timeoutMs = 10_000) {
  return waitUntil(
    async () => {
      const r = await requests().findOne({ _id: id });
      return r?.state === state ? r : undefined;
    },
    timeoutMs,
    `request ${id} to be ${state}`,
  );
}
async function file(user: string, text: string, resource: string) {
  const res = await t.slack.command(user, text);
  expect(res.status).toBe(200);
  return waitUntil(
    () => requests().findOne({ requesterId: user, resourceId: resource }, { sort: { createdAt: -1 } }),
    5000,
    `a request by ${user}`,
  );
}

describe('log redaction on the real bot (debug level)', () => {
  it('runs a full request, failures included, at debug level', async () => {
    // 1. command -> approve -> grant -> revoke, with one failed revoke attempt on the way.
    const req = await file('U0ALICE', 'deploy-hook 30m ship the hotfix INC-7', 'deploy-hook');
    await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'C0APPROVALS' && JSON.stringify(c.args.blocks ?? '').includes(req._id),
    );
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    const grant = await t.hook.waitFor('grant', (c) => c.body?.requestId === req._id);
    // The provider really called the URL with its path token and query key.
    expect(grant.path).toContain(HOOK_PATH_TOKEN);
    await stateOf(req._id, 'active');
    t.hook.respondWith(500);
    await t.slack.command('U0ALICE', `revoke ${req._id}`);
    await t.hook.waitFor('revoke', (c) => c.body?.requestId === req._id);
    await waitUntil(async () => parsedLogs().some((l) => l.msg === 'revocation failed; will retry'), 5000, 'a failed revocation log');
    t.hook.respondWith(200);
    await stateOf(req._id, 'revoked');

    // 2. The webhook answers 500 to every grant: the request fails after retries.
    t.hook.respondWith(500);
    const failing = await file('U0CAROL', 'deploy-hook 10m will fail', 'deploy-hook');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: failing._id });
    await stateOf(failing._id, 'failed');
    t.hook.respondWith(200);

    // 3. A webhook that cannot be reached at all (the URL carries a token).
    const dead = await file('U0DAVE', 'dead-hook 10m tooling is down', 'dead-hook');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: dead._id });
    await stateOf(dead._id, 'failed');

    // 4. A postgres request against a server that is not there (its admin URL has a password): the
    //    account cannot be checked when the request is filed, so it is refused with the error.
    const refused = await t.slack.command('U0ALICE', 'orders-db 10m read the orders');
    const answer = await t.fake.waitForResponse((r) => r.id === refused.responseId);
    expect(String(answer.body.text)).toMatch(/Could not check your account in orders-db right now .*ECONNREFUSED/);
    await waitUntil(
      async () => parsedLogs().some((l) => l.msg === 'could not check the requester’s account'),
      5000,
      'the failed check in the logs',
    );

    // 5. Slack refusing calls, and an unexpected click payload.
    t.fake.failNext('chat.postMessage', { error: 'not_in_channel', times: 3 });
    await file('U0ERIN', 'deploy-hook 5m slack says no', 'deploy-hook');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: 'r-does-not-exist' });
    await new Promise((r) => setTimeout(r, 500));

    const lines = parsedLogs();
    expect(lines.length).toBeGreaterThan(20);
    expect(lines.some((l) => l.level === 'debug')).toBe(true);
    for (const msg of [
      'request filed',
      'approval recorded',
      'access granted',
      'revocation failed; will retry',
      'access ended',
      'grant failed',
    ]) {
      expect(lines.map((l) => l.msg)).toContain(msg);
    }
  });

  it.each(Object.entries(SECRETS))('the %s never appears in any log line', (_what, secret) => {
    const all = t.logs.join('');
    const leaks = all.split('\n').filter((l) => l.includes(secret));
    expect(leaks).toEqual([]);
    // Nor in a JSON-escaped or URL-encoded form.
    expect(all).not.toContain(encodeURIComponent(secret));
    expect(all).not.toContain(JSON.stringify(secret).slice(1, -1));
  });

  it('the secrets were really in play (the redaction is not vacuous)', () => {
    const all = t.logs.join('');
    // The provider failures were logged, saying which target failed, without its secret parts.
    const failures = parsedLogs().filter(
      (l) => l.msg === 'grant failed' || l.msg === 'grant attempt failed' || l.msg === 'revocation failed; will retry',
    );
    expect(failures.length).toBeGreaterThan(0);
    expect(all).toContain('127.0.0.1');
    expect(all).toMatch(/HTTP 500/);
  });

  it('lines about a request carry requestId, resource and user', () => {
    const lines = parsedLogs();
    const about = lines.filter((l) =>
      [
        'request filed',
        'approval recorded',
        'access granted',
        'grant attempt failed',
        'grant failed',
        'revocation failed; will retry',
        'access ended',
      ].includes(String(l.msg)),
    );
    expect(about.length).toBeGreaterThanOrEqual(7);
    for (const line of about) {
      expect(line).toMatchObject({
        requestId: expect.stringMatching(/\S/),
        resource: expect.stringMatching(/\S/),
        user: expect.stringMatching(/^U0/),
      });
    }
    // Every line that names a request names its resource and requester too.
    const withRequest = lines.filter((l) => typeof l.requestId === 'string' && l.requestId !== 'r-does-not-exist');
    const missing = withRequest.filter((l) => typeof l.resource !== 'string' || typeof l.user !== 'string');
    expect(missing.map((l) => `${l.msg} ${JSON.stringify(Object.keys(l))}`)).toEqual([]);
  });
});

describe('createLogger: what key-based redaction alone would miss', () => {
  function capture(secrets: string[] = []) {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return {
      logger: createLogger('debug', sink, secrets),
      text: () => lines.join(''),
      json: () =>
        lines
          .join('')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Line),
    };
  }

  it('censors sensitive keys at any depth, in child bindings too, and keeps the rest', () => {
    const { logger, json } = capture();
    logger.child({ resource: 'db', provider: { type: 'postgres', url: PG_URL, nested: { password: 'pw-123456', role: 'ro' } } }).info(
      {
        headers: { Authorization: 'Bearer abcdefgh', 'X-JIT-Signature': 'v1=abc' },
        details: { webhookUrl: 'https://ops.example.com/hook/tok', accessToken: 't0ken-123456' },
      },
      'deep',
    );
    const [line] = json();
    expect(line).toMatchObject({
      resource: 'db',
      provider: { type: 'postgres', url: '[REDACTED]', nested: { password: '[REDACTED]', role: 'ro' } },
      headers: { Authorization: '[REDACTED]', 'X-JIT-Signature': '[REDACTED]' },
      details: { webhookUrl: '[REDACTED]', accessToken: '[REDACTED]' },
      msg: 'deep',
    });
  });

  it('scrubs known secret values and secret-looking text from messages, errors and interpolations', () => {
    const { logger, text, json } = capture([HOOK_SECRET]);
    logger.error(new Error(`failed with ${HOOK_SECRET} and ${BOT_TOKEN}`));
    logger.warn({ err: new Error(`connect to ${PG_URL} failed`) }, 'with err');
    logger.info('interpolated %s and %j', HOOK_SECRET, { nested: `x ${HOOK_SECRET} y` });
    logger.debug(
      `Received a message on the WebSocket: {"envelope_id":"e1","payload":{"token":"verification-tok","response_url":"https://hooks.slack.com/commands/T0/1/AbCdEf123456"}}`,
    );
    logger.debug('http request result: {"ok":true,"url":"wss://wss-primary.slack.com/link/?ticket=7a8b9c0d-1111&app_id=A0APP"}');
    logger.info('libpq style: host=db password=hunter2secret user=admin; header Authorization: Bearer abc.def.ghi');
    const all = text();
    for (const leak of [
      HOOK_SECRET,
      BOT_TOKEN,
      PG_PASSWORD,
      'verification-tok',
      'AbCdEf123456',
      '7a8b9c0d-1111',
      'hunter2secret',
      'abc.def.ghi',
    ]) {
      expect(all).not.toContain(leak);
    }
    const lines = json();
    // The Error is still logged (type, message, stack), only without the secret.
    expect(lines[0]).toMatchObject({
      level: 'error',
      err: { type: 'Error', message: 'failed with [REDACTED] and [REDACTED]' },
      msg: 'failed with [REDACTED] and [REDACTED]',
    });
    expect(lines[1]).toMatchObject({ err: { message: expect.stringContaining('postgres://jit_admin:[REDACTED]@127.0.0.1:1/orders') } });
    expect(lines[4]!.msg).toContain('"ok":true');
    expect(lines[5]!.msg).toContain('host=db');
  });

  it('secretsOf() lists the config and policy secrets main.ts hands to the logger', () => {
    const policy = parsePolicy(POLICY(9999).replace(/\{\{HOOK\}\}/g, 'http://127.0.0.1:9/hook'), {
      HOOK_SECRET,
      OTHER_HOOK_SECRET,
      PROD_PG_ADMIN_URL: PG_URL,
    });
    const secrets = secretsOf(
      { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, MONGODB_URI: 'mongodb://jit:M0ngoPassw0rd@db:27017/jit' },
      policy,
    );
    for (const s of [
      BOT_TOKEN,
      SIGNING_SECRET,
      'M0ngoPassw0rd',
      HOOK_SECRET,
      OTHER_HOOK_SECRET,
      HOOK_PATH_TOKEN,
      HOOK_QUERY_KEY,
      DEAD_HOOK_TOKEN,
      PG_PASSWORD,
      PG_URL,
    ]) {
      expect(secrets).toContain(s);
    }
    const { logger, text } = capture(secrets);
    logger.info(`the hook ${HOOK_PATH_TOKEN} and ${OTHER_HOOK_SECRET}`);
    expect(text()).not.toMatch(new RegExp(`${HOOK_PATH_TOKEN}|${OTHER_HOOK_SECRET}`));
  });
});
