import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FakeSlack, WebhookReceiver } from './support';
import { defaultPolicy, SIGNING_SECRET, BOT_TOKEN, HOOK_SECRET, waitUntil } from './harness';
import { scrape, sampleValue } from '../metrics/scrape';

/** SIGHUP to the real bot process (`node dist/src/main.js`, PID 1 in the container) reloads JIT_POLICY_FILE. */
const root = path.join(__dirname, '../..');
let fake: FakeSlack;
let hook: WebhookReceiver;
let child: ChildProcess | undefined;
const output: string[] = [];

beforeAll(async () => {
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  fake = await FakeSlack.start();
  hook = await WebhookReceiver.start({ secret: HOOK_SECRET });
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await hook?.stop();
  await fake?.stop();
});

const lines = () => output.join('').split('\n').filter(Boolean);
const logged = (text: string) => lines().filter((l) => l.includes(text));

it('SIGHUP: an invalid policy file is refused (one line per problem, the bot keeps running); a valid one is applied', async () => {
  const policyFile = path.join(mkdtempSync(path.join(tmpdir(), 'jit-reload-')), 'policy.yml');
  const good = defaultPolicy().replace(/\{\{HOOK\}\}/g, hook.url);
  writeFileSync(policyFile, good);
  const base = new URL(process.env.JIT_TEST_MONGODB_URI ?? process.env.MONGODB_URI!);
  base.pathname = `/jit_reload_${randomBytes(4).toString('hex')}`;
  const port = 20000 + Math.floor(Math.random() * 20000);
  child = spawn(process.execPath, [path.join(root, 'dist/src/main.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: fake.apiUrl,
      MONGODB_URI: base.toString(),
      JIT_POLICY_FILE: policyFile,
      PORT: String(port),
      LOG_LEVEL: 'info',
      HOOK_SECRET,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => output.push(d.toString()));
  child.stderr!.on('data', (d) => output.push(d.toString()));
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 20_000, 'bot ready');

  // Two problems: two lines, each naming where.
  writeFileSync(
    policyFile,
    good.replace('requiredApprovals: 2', 'requiredApprovals: 0').replace('name: Staging logs', 'name: Staging logs\n    colour: blue'),
  );
  child.kill('SIGHUP');
  await waitUntil(async () => logged('policy reload refused; the running policy is kept').length === 1, 10_000, 'the refusal');
  const problems = logged('policy reload refused: ').map((l) => JSON.parse(l).msg as string);
  expect(problems).toEqual([
    expect.stringMatching(/^policy reload refused: resources\[1\]\.requiredApprovals: /),
    expect.stringMatching(/^policy reload refused: resources\[2\]: unknown key "colour"/),
  ]);
  expect(child.exitCode).toBeNull();
  expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

  writeFileSync(
    policyFile,
    `${good}
  - id: added-by-sighup
    name: Added by SIGHUP
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "${hook.url}", secret: "\${HOOK_SECRET}" }
`,
  );
  child.kill('SIGHUP');
  await waitUntil(async () => logged('"policy reloaded"').length === 1, 10_000, 'the reload');
  expect(JSON.parse(logged('"policy reloaded"')[0]!)).toMatchObject({ added: ['added-by-sighup'], resources: 4 });
  const { samples } = await scrape(port);
  expect(sampleValue(samples, 'jit_policy_reloads_total', { result: 'refused' })).toBe(1);
  expect(sampleValue(samples, 'jit_policy_reloads_total', { result: 'applied' })).toBe(1);
  expect(sampleValue(samples, 'jit_grants_active', { resource: 'added-by-sighup' })).toBe(0);
  expect(lines().join('\n')).not.toContain(HOOK_SECRET);

  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child!.once('exit', (c) => resolve(c)));
  expect(code).toBe(0);
}, 60_000);
