/**
 * `npm run check` on a policy of 20 resources with reachable targets, as a whole process (the
 * built `node dist/src/cli/check.js`, what `npm run check` runs after building), beside a baseline
 * in the same run: the same process on a policy of one webhook resource (node start-up, module
 * loading, policy loading: what no probe can go below). Rounds alternate, so a busy machine slows
 * both alike.
 *
 *   npx tsx bench/check.ts                 5 rounds
 *   BENCH_ROUNDS=10 npx tsx bench/check.ts
 *
 * The 20 resources: 4 on PostgreSQL (grant and ephemeral mode), 4 on MariaDB, 4 on Redis (the real
 * servers here, each set up by its provider-latency case in bench/providers/ as the README's
 * least-privilege account), 4 webhooks (a real HTTP receiver),
 * 2 GitHub teams and 2 Okta groups (the local fakes of test/fakes). Target: under 10 s.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parse, stringify } from 'yaml';
import { providerDefinition } from '../src/providers/catalog';
import { FakeGitHub } from '../test/fakes/github';
import { FakeOkta } from '../test/fakes/okta';
import { WebhookReceiver } from '../test/e2e/support';
import { ROOT, emitResult, ms, numberOption, ratio, summarize, table } from './lib/common';
import type { LatencyCase } from './lib/provider-latency';
import postgresCase from './providers/postgres';
import mysqlCase from './providers/mysql';
import redisCase from './providers/redis';

const HOOK_SECRET = 'bench-check-webhook-secret-0123456789';
const GITHUB_TOKEN = 'ghp_bench_check_token_0123456789';
const OKTA_TOKEN = 'ssws-bench-check-token-0123';
const TARGET_MS = 10_000;

interface Run {
  code: number | null;
  ms: number;
  stdout: string;
}

function runCheck(policyFile: string, env: Record<string, string>): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/src/cli/check.js')], {
      cwd: os.tmpdir(),
      env: { PATH: process.env.PATH ?? '', JIT_POLICY_FILE: policyFile, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ms: performance.now() - started, stdout }));
  });
}

const resource = (id: string, provider: Record<string, unknown>) => ({ id, name: id, approvers: { users: ['U0BOB'] }, provider });

/**
 * A provider-latency case's server, set up by its own recipe (the README's least-privilege
 * account), as a target plus the access settings of its one resource.
 */
async function fromCase(
  c: LatencyCase,
): Promise<{ target: Record<string, unknown>; access: Record<string, unknown>; env: Record<string, string> }> {
  const { policy, env } = await c.setUp();
  const { type, ...settings } = (parse(policy) as { resources: Array<{ provider: Record<string, unknown> }> }).resources[0]!.provider;
  const accessKeys = Object.keys(providerDefinition(String(type))!.access.shape);
  const target: Record<string, unknown> = { type };
  const access: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) (accessKeys.includes(key) ? access : target)[key] = value;
  return { target, access, env: Object.fromEntries(Object.entries(env ?? {}).map(([k, v]) => [k, String(v)])) };
}

async function main(): Promise<void> {
  const rounds = numberOption('rounds', 'BENCH_ROUNDS', 5);
  console.log('building (tsc -p tsconfig.build.json)…');
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);

  const cases = [postgresCase, mysqlCase, redisCase];
  const [pg, my, rd] = await Promise.all(cases.map(fromCase));
  const hook = await WebhookReceiver.start({ secret: HOOK_SECRET });
  const github = await FakeGitHub.start('acme');
  github.addToken(GITHUB_TOKEN);
  github.addTeam('oncall');
  github.addTeam('deployers');
  const okta = await FakeOkta.start();
  okta.addToken(OKTA_TOKEN);
  const oktaGroups = [okta.addGroup('prod-admins'), okta.addGroup('billing-admins')];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jit-bench-check-'));

  try {
    const targets = {
      'orders-pg': pg!.target,
      'orders-my': my!.target,
      cache: rd!.target,
      github: { type: 'github', org: 'acme', token: '${BENCH_GITHUB_TOKEN}', baseUrl: github.url },
      okta: { type: 'okta', orgUrl: okta.url, token: '${BENCH_OKTA_TOKEN}' },
    };
    const twenty = [
      ...[0, 1, 2, 3].map((i) => resource(`pg-${i}`, { target: 'orders-pg', ...pg!.access, ...(i % 2 ? { mode: 'ephemeral' } : {}) })),
      ...[0, 1, 2, 3].map((i) => resource(`my-${i}`, { target: 'orders-my', ...my!.access })),
      ...[0, 1, 2, 3].map((i) => resource(`cache-${i}`, { target: 'cache', ...rd!.access })),
      ...[0, 1, 2, 3].map((i) => resource(`hook-${i}`, { type: 'webhook', url: `${hook.url}/${i}`, secret: '${BENCH_HOOK_SECRET}' })),
      resource('gh-oncall', { target: 'github', team: 'oncall' }),
      resource('gh-deployers', { target: 'github', team: 'deployers' }),
      ...oktaGroups.map((groupId, i) => resource(`okta-${i}`, { target: 'okta', groupId })),
    ];
    const file = (name: string, resources: unknown[], t: Record<string, unknown>) => {
      const p = path.join(dir, name);
      writeFileSync(p, stringify({ approvalChannel: 'C0APPROVALS', emailDomains: ['example.com'], targets: t, resources }));
      return p;
    };
    const full = file('twenty.yml', twenty, targets);
    const one = file('one.yml', [resource('hook', { type: 'webhook', url: hook.url, secret: '${BENCH_HOOK_SECRET}' })], {});
    const env = {
      ...pg!.env,
      ...my!.env,
      ...rd!.env,
      BENCH_GITHUB_TOKEN: GITHUB_TOKEN,
      BENCH_OKTA_TOKEN: OKTA_TOKEN,
      BENCH_HOOK_SECRET: HOOK_SECRET,
    };

    // One unmeasured run each: the OS's file cache, the servers' first connections.
    for (const p of [one, full]) {
      const warm = await runCheck(p, env);
      if (warm.code !== 0) throw new Error(`npm run check failed on ${path.basename(p)} (exit ${warm.code}):\n${warm.stdout}`);
    }
    const times = { one: [] as number[], twenty: [] as number[] };
    const probes = { one: [] as number[], twenty: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      for (const [key, p] of [
        ['one', one],
        ['twenty', full],
      ] as const) {
        const run = await runCheck(p, env);
        if (run.code !== 0) throw new Error(`round ${r}: exit ${run.code}:\n${run.stdout}`);
        times[key].push(run.ms);
        // What the process itself says the check took, from loading the policy's providers to closing them.
        const inside = /\((\d+) ms\)\n$/.exec(run.stdout);
        if (inside) probes[key].push(Number(inside[1]));
      }
      console.log(`round ${r + 1}/${rounds}: 1 resource ${ms(times.one.at(-1)!)}, 20 resources ${ms(times.twenty.at(-1)!)}`);
    }
    const base = summarize(times.one);
    const twentyS = summarize(times.twenty);
    const probeBase = summarize(probes.one);
    const probeTwenty = summarize(probes.twenty);
    console.log(`\nnpm run check as a process, ${rounds} rounds (the build excluded)\n`);
    console.log(
      table(
        ['policy', 'process p50', 'process max', 'vs 1 resource (p50)', 'probes inside p50 / max'],
        [
          ['1 webhook resource (baseline)', ms(base.p50), ms(base.max), '1.0×', `${ms(probeBase.p50)} / ${ms(probeBase.max)}`],
          [
            '20 resources on 9 targets (postgres, mariadb, redis, 4 webhooks, github, okta)',
            ms(twentyS.p50),
            ms(twentyS.max),
            ratio(twentyS.p50, base.p50),
            `${ms(probeTwenty.p50)} / ${ms(probeTwenty.max)}`,
          ],
        ],
      ),
    );
    const met = twentyS.max < TARGET_MS;
    console.log(
      `\ntarget: 20 resources in under ${TARGET_MS / 1000} s: ${met ? 'met' : 'MISSED'} (max ${ms(twentyS.max)}); the probes add ${ms(twentyS.p50 - base.p50)} at p50 over the baseline`,
    );
    emitResult('check', {
      rounds,
      baseline: base,
      twenty: twentyS,
      probesInside: { baseline: probeBase, twenty: probeTwenty },
      target: met,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await hook.stop();
    await github.stop();
    await okta.stop();
    for (const c of cases) await c.tearDown().catch((err: unknown) => console.error(`tear-down of ${c.label}: ${String(err)}`));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
