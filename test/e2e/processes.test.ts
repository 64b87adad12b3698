import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { FakeSlack, WebhookReceiver, SlackDriver } from './support';
import { defaultPolicy, SIGNING_SECRET, BOT_TOKEN, HOOK_SECRET, waitUntil } from './harness';
import { pendingRequest } from '../support/fixtures';
import type { AccessRequest } from '../../src/domain/request';

/** Real bot processes (the built `npm start` entry point), killed and restarted like in production. */
const root = path.join(__dirname, '../..');
const entry = path.join(root, 'dist/src/main.js');

let fake: FakeSlack;
let hook: WebhookReceiver;
let mongo: MongoClient;
let policyFile: string;
let dbUri: string;
const children: ChildProcess[] = [];

function freePortish(): number {
  return 20000 + Math.floor(Math.random() * 20000);
}

/** `viaNpm`: run `npm start` itself (it builds, then runs node) in its own process group. */
function startProcess(port: number, viaNpm = false): { child: ChildProcess; output: string[]; kill9(): void } {
  const output: string[] = [];
  const child = spawn(viaNpm ? 'npm' : process.execPath, viaNpm ? ['start', '--silent'] : [entry], {
    cwd: root,
    detached: viaNpm,
    env: {
      PATH: process.env.PATH,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
      MONGODB_URI: dbUri,
      JIT_POLICY_FILE: policyFile,
      PORT: String(port),
      LOG_LEVEL: 'info',
      JIT_RECONCILE_CRON: '*/2 * * * * *',
      HOOK_SECRET,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => output.push(d.toString()));
  child.stderr!.on('data', (d) => output.push(d.toString()));
  children.push(child);
  // npm's child node process must die too: kill the whole process group.
  const kill9 = () => (viaNpm ? process.kill(-child.pid!, 'SIGKILL') : child.kill('SIGKILL'));
  return { child, output, kill9 };
}

/** `npm start` builds before it starts (prestart), which takes tens of seconds on a busy 2-core machine. */
async function waitReady(port: number, timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return res?.status === 200;
    },
    timeoutMs,
    `bot on port ${port} to be ready`,
  );
}

beforeAll(async () => {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  fake = await FakeSlack.start();
  fake.users.set('U0ALICE', { email: 'alice@example.com', name: 'alice' });
  hook = await WebhookReceiver.start({ secret: HOOK_SECRET });
  const dir = mkdtempSync(path.join(tmpdir(), 'jit-proc-'));
  policyFile = path.join(dir, 'policy.yml');
  writeFileSync(policyFile, defaultPolicy().replace(/\{\{HOOK\}\}/g, hook.url));
  const base = process.env.JIT_TEST_MONGODB_URI ?? process.env.MONGODB_URI!;
  const url = new URL(base);
  url.pathname = `/jit_proc_${randomBytes(4).toString('hex')}`;
  dbUri = url.toString();
  mongo = new MongoClient(dbUri);
  await mongo.connect();
}, 60_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null) continue;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
  await mongo?.close();
  await hook?.stop();
  await fake?.stop();
});

const requests = () => mongo.db().collection<AccessRequest>('requests');

describe('real bot processes', () => {
  for (const code of ['invalid_auth', 'token_revoked']) {
    it(`a bot token Slack rejects (${code}) stops start-up with one line naming SLACK_BOT_TOKEN and a non-zero exit`, async () => {
      fake.failAlways('auth.test', { error: code });
      try {
        const port = freePortish();
        const proc = startProcess(port);
        const exit = await new Promise<number | null>((resolve) => proc.child.once('exit', (c) => resolve(c)));
        expect(exit).toBe(1);
        const out = proc.output.join('').split('\n').filter(Boolean);
        const naming = out.filter((l) => l.includes('SLACK_BOT_TOKEN'));
        expect(naming).toEqual([
          expect.stringMatching(new RegExp(`^config error: SLACK_BOT_TOKEN: Slack rejects the bot token \\(${code}\\)`)),
        ]);
        expect(out.join('\n')).not.toContain('jit-access started');
        expect(out.join('\n')).not.toContain(BOT_TOKEN);
        // Nothing was served.
        expect(await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined)).toBeUndefined();
      } finally {
        fake.heal('auth.test');
      }
    }, 30_000);
  }

  it('a bot killed with -9 while grants are active revokes all of them within seconds of restarting', async () => {
    const port = freePortish();
    const first = startProcess(port, true);
    await waitReady(port, 60_000);
    const slack = new SlackDriver({ baseUrl: `http://127.0.0.1:${port}`, signingSecret: SIGNING_SECRET, fake });
    const users = ['U0K1', 'U0K2', 'U0K3'];
    for (const user of users) {
      await slack.command(user, 'deploy-hook 3s crash test');
      const req = await waitUntil(() => requests().findOne({ requesterId: user, state: 'pending' }), 5000, 'pending');
      await slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    }
    await waitUntil(
      async () => (await requests().countDocuments({ requesterId: { $in: users }, state: 'active' })) === 3,
      8000,
      '3 active',
    );
    first.kill9();
    await new Promise((r) => (first.child.exitCode !== null || first.child.signalCode ? r(null) : first.child.once('exit', r)));
    await waitUntil(
      async () => !(await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined)),
      5000,
      'the killed bot to be gone',
    );
    const revokesBefore = hook.calls('revoke').length;
    // Expiries pass while no bot runs.
    await new Promise((r) => setTimeout(r, 4000));
    expect(hook.calls('revoke').length).toBe(revokesBefore);
    expect(await requests().countDocuments({ requesterId: { $in: users }, state: 'active' })).toBe(3);

    const restartedAt = Date.now();
    const second = startProcess(port);
    await waitUntil(
      async () => (await requests().countDocuments({ requesterId: { $in: users }, state: 'expired' })) === 3,
      15_000,
      'all 3 expired after restart',
    );
    const elapsed = Date.now() - restartedAt;
    expect(elapsed).toBeLessThan(10_000);
    const ids = (
      await requests()
        .find({ requesterId: { $in: users } })
        .toArray()
    ).map((r) => r._id);
    for (const id of ids) expect(hook.calls('revoke').filter((c) => (c.body as { requestId: string }).requestId === id)).toHaveLength(1);

    // SIGTERM: graceful, exit code 0.
    second.child.kill('SIGTERM');
    const code = await new Promise((r) => second.child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
  }, 100_000);

  it('three bot processes on one database revoke each of 200 grants exactly once', async () => {
    const expiresAt = new Date(Date.now() + 6000);
    const docs: AccessRequest[] = Array.from({ length: 200 }, (_, i) =>
      pendingRequest({ requesterId: `U0R${String(i).padStart(4, '0')}`, state: 'active', grantedAt: new Date(), expiresAt }),
    );
    await requests().insertMany(docs);
    const ports = [freePortish(), freePortish(), freePortish()];
    const procs = ports.map((p) => startProcess(p));
    await Promise.all(ports.map((port) => waitReady(port)));
    await waitUntil(
      async () => (await requests().countDocuments({ _id: { $in: docs.map((d) => d._id) }, state: 'expired' })) === 200,
      30_000,
      '200 expired',
    );
    await new Promise((r) => setTimeout(r, 1000));
    const ids = new Set(docs.map((d) => d._id));
    const revokes = hook.calls('revoke').filter((c) => ids.has((c.body as { requestId: string }).requestId));
    expect(revokes).toHaveLength(200);
    expect(new Set(revokes.map((c) => (c.body as { requestId: string }).requestId)).size).toBe(200);
    // 200 revocations at once on jongodb, whose updates slow down with collection size (see README,
    // Performance): the bound here is about exactly-once, not speed; lateness is benchmarked in bench/.
    const lateness = revokes.map((c) => c.at - expiresAt.getTime());
    expect(Math.min(...lateness)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...lateness)).toBeLessThan(15_000);
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.child.exitCode !== null ? r(null) : p.child.once('exit', r)))));
  }, 90_000);
});
