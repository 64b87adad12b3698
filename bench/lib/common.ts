/**
 * Shared plumbing of the benchmarks: child processes (the app under test, the fakes),
 * MongoDB, statistics, /proc readings, machine info and output formatting.
 *
 * The app under test and the fakes (FakeSlack + WebhookReceiver) each run in their own
 * process, so the load generator's timing is not distorted by their CPU work.
 */
import { spawn, ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startJongodb, RunningMongo } from '../../test/support/mongo-server';

export const ROOT = path.resolve(__dirname, '..', '..');
export const BENCH_DIR = path.join(ROOT, 'bench');
import { HOOK_SECRET } from './constants';

/** Where child process logs go (outside the repository). */
export const OUT_DIR = path.join(os.tmpdir(), 'jit-access-bench');

// ------------------------------------------------------------------ env / args

/** A number from `--name=value`, else env NAME, else the fallback. */
export function numberOption(argName: string, envName: string, fallback: number): number {
  const prefix = `--${argName}=`;
  const arg = process.argv.find((a) => a.startsWith(prefix));
  const raw = arg ? arg.slice(prefix.length) : process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${arg ? prefix : envName}: expected a non-negative number, got ${raw}`);
  return n;
}

/** BENCH_SCALE (or --scale=) shrinks every bench's size and duration for a quick debugging run. */
export function scale(): number {
  return numberOption('scale', 'BENCH_SCALE', 1) || 1;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ------------------------------------------------------------------ statistics

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array. */
function rank(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50: rank(sorted, 50),
    p90: rank(sorted, 90),
    p99: rank(sorted, 99),
    max: sorted.length ? (sorted[sorted.length - 1] as number) : NaN,
    mean: sorted.length ? sum / sorted.length : NaN,
  };
}

export function ms(v: number, digits = 1): string {
  if (!Number.isFinite(v)) return 'n/a';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(digits)} ms`;
}

export function ratio(a: number, b: number): string {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a';
}

/** A plain text table (Markdown-compatible). */
export function table(header: string[], rows: Array<Array<string | number>>): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(cells[0] as string[]), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}

/**
 * Each bench ends with one `BENCH_RESULT {json}` line, which run-all.ts collects.
 * The human-readable figures are printed above it.
 */
export function emitResult(name: string, result: Record<string, unknown>): void {
  process.stdout.write(`BENCH_RESULT ${JSON.stringify({ name, ...result })}\n`);
}

// ------------------------------------------------------------------ machine and process info

export function machineInfo(): { nproc: number; cpu: string; node: string; memGiB: number; kernel: string } {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = (m[1] as string).trim();
  } catch {
    // not Linux
  }
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu,
    node: process.version,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
  };
}

/** VmRSS and VmHWM (peak) of a process, in MiB; undefined when /proc is not readable. */
export function rssOf(pid: number): { rssMiB: number; hwmMiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** User+system CPU seconds a process has used so far (from /proc/<pid>/stat). */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

// ------------------------------------------------------------------ MongoDB

export interface BenchMongo {
  uri: string;
  /** 'jongodb' or 'MONGODB_URI'. */
  kind: string;
  pid?: number;
  stop(): Promise<void>;
}

export async function startMongo(): Promise<BenchMongo> {
  if (process.env.MONGODB_URI) return { uri: process.env.MONGODB_URI, kind: 'MongoDB (MONGODB_URI)', stop: async () => {} };
  installCleanup();
  const running: RunningMongo = await startJongodb();
  if (running.process) started.add(running.process);
  // Diagnostic: BENCH_NICE_STORE=1 lowers the store's CPU priority, to see how much of a figure is CPU contention with it.
  if (process.env.BENCH_NICE_STORE === '1' && running.process?.pid) os.setPriority(running.process.pid, 19);
  return { uri: running.uri, kind: 'jongodb (in-memory)', pid: running.process?.pid, stop: running.stop };
}

export function benchDbName(prefix: string): string {
  return `jit_bench_${prefix}_${randomBytes(4).toString('hex')}`;
}

// ------------------------------------------------------------------ child processes

/**
 * The child scripts are bundled with esbuild (src/ and test/ included, node_modules
 * left external) and run with plain `node`, as production runs compiled JS: memory
 * readings then include no TypeScript loader. Falls back to `node --import tsx`.
 */
function runnable(script: string): string[] {
  const source = path.join(BENCH_DIR, script);
  const outDir = path.join(BENCH_DIR, '.build');
  const out = path.join(outDir, script.replace(/\.ts$/, '.js'));
  if (process.env.BENCH_NO_BUNDLE !== '1') {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const esbuild = require('esbuild') as typeof import('esbuild');
      mkdirSync(outDir, { recursive: true });
      esbuild.buildSync({
        entryPoints: [source],
        outfile: out,
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        packages: 'external',
        logLevel: 'warning',
        sourcemap: false,
      });
      return [out];
    } catch (err) {
      process.stderr.write(`bench: could not bundle ${script} (${(err as Error).message.split('\n')[0]}); running it through tsx\n`);
    }
  }
  return ['--import', 'tsx', source];
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The first message of type `ready` (or the readyType asked for). */
  ready: Record<string, unknown>;
  /** Resolves with the first message of that type (past or future). */
  waitFor(type: string, timeoutMs: number): Promise<Record<string, unknown>>;
  /** Messages received so far (the child sends e.g. `starting`, `ready`). */
  messages: Array<Record<string, unknown>>;
  logFile: string;
  /** Sends a message and waits for the child's answer of type `${type}:done`. */
  request(msg: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>>;
  pause(): void;
  resume(): void;
  /** SIGTERM, then SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<number | null>;
}

const started = new Set<ChildProcess>();
let cleanupInstalled = false;
function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const killAll = () => {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

/**
 * Spawns bench/<script> with an IPC channel; resolves once it sends {type:'ready'}.
 * Its stdout/stderr (e.g. the bot's JSON logs) go to a file in OUT_DIR.
 */
async function spawnChild(
  script: string,
  name: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
  readyType = 'ready',
): Promise<Child> {
  installCleanup();
  mkdirSync(OUT_DIR, { recursive: true });
  const logFile = path.join(OUT_DIR, `${name}.log`);
  const fd = openSync(logFile, 'w');
  // e.g. BENCH_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the children.
  const nodeArgs = (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeArgs, ...runnable(script)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', fd, fd, 'ipc'],
  });
  closeSync(fd);
  started.add(proc);
  const messages: Array<Record<string, unknown>> = [];
  const waiters = new Map<string, (m: Record<string, unknown>) => void>();
  proc.on('message', (m: Record<string, unknown>) => {
    messages.push(m);
    const w = waiters.get(String(m.type));
    if (w) {
      waiters.delete(String(m.type));
      w(m);
    }
  });
  const waitFor = (type: string, ms: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = messages.find((m) => m.type === type);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`${name}: no '${type}' message within ${ms} ms (log: ${logFile})`)), ms);
      timer.unref();
      const onExit = (code: number | null) =>
        reject(new Error(`${name} exited (${code}) before '${type}' (log: ${logFile}):\n${tail(logFile)}`));
      proc.once('exit', onExit);
      waiters.set(type, (m) => {
        clearTimeout(timer);
        proc.off('exit', onExit);
        resolve(m);
      });
    });
  const ready = await waitFor(readyType, timeoutMs);
  return {
    proc,
    pid: proc.pid as number,
    ready,
    waitFor,
    messages,
    logFile,
    request: async (msg, ms = 60_000) => {
      const answer = waitFor(`${String(msg.type)}:done`, ms);
      proc.send(msg);
      const m = await answer;
      // Allow the same request type again later.
      messages.splice(messages.indexOf(m), 1);
      return m;
    },
    pause: () => void proc.kill('SIGSTOP'),
    resume: () => void proc.kill('SIGCONT'),
    stop: (graceMs = 20_000) =>
      new Promise<number | null>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode);
        proc.kill('SIGCONT');
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        proc.once('exit', (code) => {
          clearTimeout(timer);
          started.delete(proc);
          resolve(code);
        });
        proc.kill('SIGTERM');
      }),
  };
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

// ------------------------------------------------------------------ the fakes process

export interface Fakes {
  child: Child;
  apiUrl: string;
  fakeUrl: string;
  hookUrl: string;
  controlUrl: string;
  stats(detail?: { posts?: boolean; hooks?: boolean }): Promise<FakeStats>;
}

interface FakeStats {
  slack: {
    total: number;
    failed: number;
    byMethod: Record<string, number>;
    failedByMethod: Record<string, number>;
    responses: number;
    responsesFailed: number;
  };
  hook: { total: number; byAction: Record<string, number> };
  /** [channel, at] of every chat.postMessage that succeeded, when asked for. */
  posts?: Array<[string, number]>;
  /** [action, requestId, at] of every webhook call, when asked for. */
  hooks?: Array<[string, string, number]>;
}

export async function startFakes(name = 'fakes'): Promise<Fakes> {
  const child = await spawnChild('fakes-server.ts', name, { HOOK_SECRET });
  const r = child.ready as { apiUrl: string; fakeUrl: string; hookUrl: string; controlUrl: string };
  return {
    child,
    ...r,
    async stats(detail = {}) {
      const q = new URLSearchParams({ posts: detail.posts ? '1' : '0', hooks: detail.hooks ? '1' : '0' });
      const res = await fetch(`${r.controlUrl}/stats?${q}`);
      return (await res.json()) as FakeStats;
    },
  };
}

// ------------------------------------------------------------------ the app under test

/** The bench policy: two webhook resources, each with its own approval channel. */
function benchPolicy(hookUrl: string): string {
  return `
approvalChannel: C0APPROVALS
admins: [U0ADMIN]
defaults:
  minDuration: 1s
  maxDuration: 4h
resources:
  - id: deploy-hook
    name: Deploy pipeline admin
    approvers: { users: [U0BOB, U0CAROL] }
    provider: { type: webhook, url: "${hookUrl}", secret: "\${HOOK_SECRET}", timeoutMs: 5000 }
  - id: db-hook
    name: Orders database admin
    approvers: { users: [U0BOB, U0DAVE] }
    approvalChannel: C0DBA
    provider: { type: webhook, url: "${hookUrl}", secret: "\${HOOK_SECRET}", timeoutMs: 5000 }
`;
}

export interface AppOptions {
  kind: 'ours' | 'bare';
  name: string;
  fakes: Fakes;
  mongoUri?: string;
  dbName?: string;
  /** Extra environment, e.g. BENCH_SCHEDULER_CONCURRENCY. */
  env?: Record<string, string>;
  /** Resolve on the child's `starting` message instead of `ready` (startBot() may take long). */
  early?: boolean;
}

export interface AppUnderTest extends Child {
  port: number;
  baseUrl: string;
}

export async function startApp(opts: AppOptions): Promise<AppUnderTest> {
  const child = await spawnChild(
    'app-under-test.ts',
    opts.name,
    {
      BENCH_APP: opts.kind,
      BENCH_POLICY: benchPolicy(opts.fakes.hookUrl),
      BENCH_DB: opts.dbName ?? '',
      BENCH_MONGODB_URI: opts.mongoUri ?? '',
      SLACK_API_URL: opts.fakes.apiUrl,
      HOOK_SECRET,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
      ...opts.env,
    },
    180_000,
    opts.early ? 'starting' : 'ready',
  );
  const port = Number(child.ready.port);
  return { ...child, port, baseUrl: `http://127.0.0.1:${port}` };
}

// ------------------------------------------------------------------ MongoDB operations the bot issued

export type OpCounts = Record<string, number>;

/** The bot's MongoDB operation counts so far, per `collection.method` (see app-under-test.ts). */
export async function mongoOps(app: Child): Promise<OpCounts> {
  return (await probeApp(app)).ops;
}

/** Mongo op counts so far, and the event-loop delay (ms) since the previous probe. */
export async function probeApp(app: Child): Promise<{ ops: OpCounts; eventLoop: { p50: number; p99: number; max: number } }> {
  const answer = await app.request({ type: 'ops' }, 10_000);
  return {
    ops: (answer.ops ?? {}) as OpCounts,
    eventLoop: (answer.eventLoop ?? { p50: NaN, p99: NaN, max: NaN }) as { p50: number; p99: number; max: number },
  };
}

export function diffOps(after: OpCounts, before: OpCounts = {}): OpCounts {
  const out: OpCounts = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

export function totalOps(ops: OpCounts): number {
  return Object.values(ops).reduce((a, b) => a + b, 0);
}

/** "12.0 per grant (requests.updateOne 2.0, …)", largest first. */
export function describeOps(ops: OpCounts, per: number, unit: string, top = 8): string {
  const parts = Object.entries(ops)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]) => `${k} ${(v / per).toFixed(1)}`);
  return `${(totalOps(ops) / per).toFixed(1)} per ${unit} (${parts.join(', ')})`;
}
