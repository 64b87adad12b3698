import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { stringify } from 'yaml';
import { z } from 'zod';
import { checkPolicy, parseArgs, problemLine, runCheck } from '../../src/cli/check';
import { PROVIDERS } from '../../src/providers/catalog';
import { defineProvider } from '../../src/providers/provider';
import { parsePolicy } from '../../src/policy/load';
import { WebhookReceiver } from '../e2e/support';
import { FakePagerDuty } from '../fakes/pagerduty';
import { PgFixture } from '../support/pg-fixture';
import { RedisFixture } from '../support/redis-fixture';
import { pgAvailable } from '../providers/pg-available';
import { redisAvailable } from '../providers/redis-available';

/*
 * `npm run check` as a whole process (node + tsx on src/cli/check.ts, as `npm run check` runs its
 * build): against the real PostgreSQL and Redis here and a real HTTP receiver, on a good policy and
 * on a bad one. Spawned asynchronously: the receiver answers from this process.
 */
const cli = path.join(__dirname, '../../src/cli/check.ts');
const HOOK_SECRET = 'check-cli-webhook-secret-0123456789';
const describeWithServices = pgAvailable && redisAvailable ? describe : describe.skip;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function runProcess(args: string[], env: Record<string, string>): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', require.resolve('tsx/cjs'), cli, ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      cwd: os.tmpdir(),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const resource = (id: string, provider: Record<string, unknown>) => ({ id, name: id, approvers: { users: ['U0BOB'] }, provider });

describeWithServices('npm run check, as a process', () => {
  const pg = new PgFixture();
  const rd = new RedisFixture();
  let good: WebhookReceiver;
  let refusing: WebhookReceiver;
  let dir: string;
  let hanging: net.Server;
  let hangingPort: number;
  let closedPort: number;
  const sockets: net.Socket[] = [];

  beforeAll(async () => {
    await pg.setUp();
    await rd.setUp();
    good = await WebhookReceiver.start({ secret: HOOK_SECRET });
    refusing = await WebhookReceiver.start({ secret: HOOK_SECRET });
    refusing.respondWith(401);
    dir = mkdtempSync(path.join(os.tmpdir(), 'jit-check-'));
    hanging = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    hangingPort = (hanging.address() as net.AddressInfo).port;
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
  });

  afterAll(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise<void>((resolve) => hanging.close(() => resolve()));
    await good.stop();
    await refusing.stop();
    await rd.tearDown();
    await pg.tearDown();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The policy file, with its secrets in the environment as `${VAR}`s, the way operators write it. */
  function policyFile(name: string, resources: unknown[], targets: Record<string, unknown>): string {
    const file = path.join(dir, name);
    writeFileSync(file, stringify({ approvalChannel: 'C0APPROVALS', emailDomains: ['example.com'], targets, resources }));
    return file;
  }

  const env = () => ({ PG_URL: pg.adminUrl(), REDIS_URL: rd.adminUrl(), HOOK_SECRET });

  it('a good policy: one OK line, exit 0, every target probed (the webhook got its signed check call)', async () => {
    const file = policyFile(
      'good.yml',
      [
        resource('orders-db', { target: 'main-pg', role: pg.reader }),
        resource('orders-db-temp', { target: 'main-pg', role: pg.reader, mode: 'ephemeral' }),
        resource('cache', { type: 'redis', url: '${REDIS_URL}', rules: '~orders:* +@read' }),
        resource('deploy-hook', { type: 'webhook', url: good.url, secret: '${HOOK_SECRET}' }),
      ],
      { 'main-pg': { type: 'postgres', url: '${PG_URL}' } },
    );
    const run = await runProcess([], { ...env(), JIT_POLICY_FILE: file });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(
      new RegExp(
        `^check: OK: ${file.replace(/[.\\/]/g, '\\$&')} is valid; 4 resources on 3 targets answered, and no probe found a problem \\(\\d+ ms\\)\\n$`,
      ),
    );
    expect(run.code).toBe(0);
    expect(good.calls('check')).toHaveLength(1);
    expect(good.calls('check')[0]!.signatureValid).toBe(true);
  });

  it('a bad policy: one line per problem naming resource and target, exit 1, fast on a target that never answers, no secret printed', async () => {
    const file = policyFile(
      'bad.yml',
      [
        resource('orders-db', { target: 'main-pg', role: pg.reader }),
        resource('orders-read', { target: 'main-pg', role: 'orders_read' }),
        resource('old-pg', { type: 'postgres', url: pg.adminUrl(pg.admin, closedPort), role: pg.reader }),
        resource('stuck-pg', { type: 'postgres', url: pg.adminUrl(pg.admin, hangingPort), role: pg.reader }),
        resource('cache', { type: 'redis', url: rd.adminUrl(undefined, 'not-the-password-789'), rules: '~orders:* +@read' }),
        resource('deploy-hook', { type: 'webhook', url: refusing.url, secret: '${HOOK_SECRET}' }),
        resource('oncall', {
          type: 'github',
          org: 'acme',
          token: 'ghp_check_cli_token_0123456789',
          baseUrl: `http://127.0.0.1:${closedPort}`,
          team: 'oncall',
        }),
      ],
      { 'main-pg': { type: 'postgres', url: '${PG_URL}' } },
    );
    const run = await runProcess(['--timeout', '2s'], { ...env(), JIT_POLICY_FILE: file });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toEqual([
      // (The database's name is part of the target's secret URL, so it is scrubbed like the rest of it.)
      expect.stringMatching(/^resources\[1\] orders-read \(target main-pg\): role orders_read does not exist in database \S+$/),
      expect.stringMatching(/^resources\[2\] old-pg \(target old-pg\): .*ECONNREFUSED/),
      expect.stringMatching(/^resources\[3\] stuck-pg \(target stuck-pg\): .*(no answer|no connection|timeout|deadline)/i),
      expect.stringMatching(/^resources\[4\] cache \(target cache\): node 127\.0\.0\.1:6379: WRONGPASS/),
      expect.stringMatching(
        /^resources\[5\] deploy-hook \(target deploy-hook\): POST to 127\.0\.0\.1:\d+: the receiver refused the signed check call \(HTTP 401/,
      ),
      // A cloud API that refuses connections is named at once too: probes do not retry.
      expect.stringMatching(/^resources\[6\] oncall \(target oncall\): read the organization acme: .*ECONNREFUSED/),
      expect.stringMatching(/^check: 6 problems in .*bad\.yml \(7 resources on 6 targets, \d+ ms\)$/),
    ]);
    expect(run.code).toBe(1);
    // The probe of the target that never answers is the slowest: its deadline (2 s) plus start-up.
    expect(run.ms).toBeLessThan(2000 + 6000);
    for (const secret of [pg.adminPassword, 'not-the-password-789', rd.adminPassword, HOOK_SECRET, 'ghp_check_cli_token_0123456789'])
      expect(run.stdout + run.stderr).not.toContain(secret);
    // The webhook URL is a secret too (its path often carries a token): only its host is named.
    expect(run.stdout).not.toContain(refusing.url);
  });

  it('an invalid policy: the start-up loader’s lines, exit 1, nothing probed', async () => {
    const file = policyFile(
      'invalid.yml',
      [{ ...resource('deploy-hook', { type: 'webhook', url: good.url, secret: '${NOT_SET_ANYWHERE}' }), colour: 'red' }],
      {},
    );
    good.clear();
    const run = await runProcess([], { JIT_POLICY_FILE: file });
    expect(run.stdout).toContain('policy error: resources[0].provider.secret: environment variable NOT_SET_ANYWHERE is not set');
    expect(run.stdout).toMatch(/policy error: resources\[0\]: .*colour/);
    expect(run.stdout).toMatch(/check: .*invalid\.yml: 2 policy errors; no target probed\n$/);
    expect(run.code).toBe(1);
    expect(good.calls()).toHaveLength(0);

    const missing = await runProcess([], { JIT_POLICY_FILE: path.join(dir, 'nowhere.yml') });
    expect(missing.stdout).toMatch(/^policy error: JIT_POLICY_FILE: cannot read .*nowhere\.yml: ENOENT/);
    expect(missing.code).toBe(1);
  });
});

describe('npm run check: arguments and lines', () => {
  const streams = () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const text = { out: '', err: '' };
    out.on('data', (d: Buffer) => (text.out += d.toString()));
    err.on('data', (d: Buffer) => (text.err += d.toString()));
    return { out, err, text };
  };

  it('takes --timeout; refuses anything else with the usage, exit 2', async () => {
    expect(parseArgs([])).toEqual({ timeoutMs: 5000 });
    expect(parseArgs(['--timeout', '2s'])).toEqual({ timeoutMs: 2000 });
    expect(() => parseArgs(['--timeout'])).toThrow(/needs a duration/);
    expect(() => parseArgs(['--timeout', 'soon'])).toThrow(/expected a duration/);
    const s = streams();
    expect(await runCheck(['--verbose'], { env: {}, out: s.out, err: s.err })).toBe(2);
    expect(s.text.err).toContain('check: unknown argument "--verbose"');
    expect(s.text.err).toContain('usage: npm run check');
  });

  it('hands --explain and all its arguments to the explain command', async () => {
    const seen: string[][] = [];
    const s = streams();
    const argv = ['--explain', 'orders-db', '--user', 'U0ALICE', '--duration', '30m'];
    expect(await runCheck(argv, { env: {}, out: s.out, err: s.err, explain: async (a) => (seen.push(a), 0) })).toBe(0);
    expect(seen).toEqual([argv]);
    const none = streams();
    expect(await runCheck(argv, { env: {}, out: none.out, err: none.err })).toBe(2);
    expect(none.text.err).toContain('--explain is not available');
  });

  it('npm run check -- --explain, as a process: the entry point runs the explain command (rules evaluated, nothing probed)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'jit-check-explain-'));
    const file = path.join(dir, 'policy.yml');
    const rules = [{ name: 'short ones', when: 'request.duration <= duration("1h")', autoApprove: true }];
    // A webhook on a port nothing listens on: --explain must not probe it.
    const policy = {
      resources: [{ ...resource('orders-db', { type: 'webhook', url: 'http://127.0.0.1:9/hook', secret: HOOK_SECRET }), rules }],
    };
    writeFileSync(file, stringify({ approvalChannel: 'C0APPROVALS', ...policy }));
    const run = (duration: string) =>
      runProcess(['--explain', 'orders-db', '--user', 'U0ALICE', '--email', 'alice@example.com', '--duration', duration], {
        JIT_POLICY_FILE: file,
      });
    const short = await run('30m');
    expect(short.stderr).toBe('');
    expect(short.code).toBe(0);
    expect(short.stdout).toContain('"short ones" (auto-approve): matched');
    expect(short.stdout).toMatch(/decision: .*by the rule "short ones"/);
    const long = await run('2h');
    expect(long.code).toBe(0);
    expect(long.stdout).toContain('"short ones" (auto-approve): not matched');
    expect(long.stdout).not.toContain(HOOK_SECRET);
  });

  it('probes the on-call sources the rules read: a refused token is one line, the token never printed', async () => {
    const pd = await FakePagerDuty.start('pd-right-token');
    const hook = await WebhookReceiver.start({ secret: HOOK_SECRET });
    try {
      const withToken = (token: string) =>
        parsePolicy(
          stringify({
            approvalChannel: 'C0APPROVALS',
            oncall: { pagerduty: { token, apiUrl: pd.url } },
            resources: [
              {
                ...resource('orders-db', { type: 'webhook', url: hook.url, secret: HOOK_SECRET }),
                rules: [{ name: 'on call', when: '"PSCHED01" in requester.oncall', autoApprove: true }],
              },
            ],
          }),
          {},
        );
      expect((await checkPolicy(withToken('pd-right-token'), 2000)).problems).toEqual([]);
      const refused = await checkPolicy(withToken('pd-wrong-token-0123'), 2000);
      expect(refused.problems).toEqual(['oncall.pagerduty: PagerDuty answered HTTP 401 (check its token in the policy)']);
      expect(refused.problems.join('\n')).not.toContain('pd-wrong-token-0123');
    } finally {
      await pd.stop();
      await hook.stop();
    }
  });

  it('gives up on a probe that ignores its deadline, and says so on its line; the others are not held up', async () => {
    const stuck = defineProvider({
      type: 'stuck',
      target: z.object({ fine: z.boolean().default(false) }),
      access: z.object({}),
      account: { derive: 'never', need: 'optional', format: z.string() },
      extension: 'refuse',
      overlap: 'none',
      create: (target) => ({
        grant: async () => ({}),
        revoke: async () => undefined,
        check: (target as { fine: boolean }).fine ? async () => [] : () => new Promise<string[]>(() => undefined),
      }),
    });
    (PROVIDERS as unknown as unknown[]).push(stuck);
    try {
      const policy = parsePolicy(
        stringify({
          approvalChannel: 'C0APPROVALS',
          resources: [resource('never', { type: 'stuck' }), resource('quick', { type: 'stuck', fine: true })],
        }),
        {},
      );
      const started = Date.now();
      const report = await checkPolicy(policy, 300);
      expect(Date.now() - started).toBeLessThan(300 + 500 + 500);
      expect(report.problems).toEqual([
        expect.stringMatching(/^resources\[0\] never \(target never\): could not check: no answer within \d+ms \(check of never\)$/),
      ]);
    } finally {
      (PROVIDERS as unknown as unknown[]).pop();
    }
  });

  it('names the resource by its index and ID and the target, without repeating the provider’s label', () => {
    const policy = parsePolicy(
      stringify({
        approvalChannel: 'C0APPROVALS',
        targets: { 'main-pg': { type: 'postgres', url: 'postgres://bot@db:5432/orders' } },
        resources: [
          resource('a', { target: 'main-pg', role: 'x' }),
          resource('orders-db', { target: 'main-pg', role: 'orders_read' }),
          resource('c', { type: 'redis', url: 'redis://r:6379', rules: '+@read' }),
        ],
      }),
      {},
    );
    expect(problemLine(policy, 1, 'postgres target main-pg: role "orders_read" does not exist')).toBe(
      'resources[1] orders-db (target main-pg): role "orders_read" does not exist',
    );
    expect(problemLine(policy, 2, 'redis target c, node r:6379: WRONGPASS')).toBe('resources[2] c (target c): node r:6379: WRONGPASS');
    expect(problemLine(policy, 0, 'something else entirely')).toBe('resources[0] a (target main-pg): something else entirely');
  });
});
