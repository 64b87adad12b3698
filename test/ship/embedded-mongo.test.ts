import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort as closedPort } from '../support/ports';

/**
 * `npm start` without MONGODB_URI (PRODUCT.md §1): it runs on an embedded MongoDB, or, where
 * none can be had, exits within seconds with a message naming MONGODB_URI and docker compose.
 *
 * No mongod binary can be downloaded here (and none must be, wherever this runs): the download
 * points at a local port nothing listens on, and HOME, the working directory and the download
 * directory are fresh temporary ones, so no binary cached by an earlier run can be found either.
 */

const ROOT = path.join(__dirname, '..', '..');
const TSX = require.resolve('tsx/cjs', { paths: [ROOT] });
const MAIN = path.join(ROOT, 'src', 'main.ts');

const POLICY = `
approvalChannel: C0APPROVALS
resources:
  - id: deploy-hook
    name: Deploy pipeline admin
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef0123" }
`;

function filesUnder(d: string): string[] {
  try {
    return readdirSync(d, { recursive: true, encoding: 'utf8' });
  } catch {
    return [];
  }
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'jit-embedded-'));
  mkdirSync(path.join(dir, 'home'));
  writeFileSync(path.join(dir, 'policy.yml'), POLICY);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** `node -r tsx/cjs src/main.ts` with a valid configuration but no MONGODB_URI. */
function startWithoutMongo(extraEnv: Record<string, string>, timeoutMs = 30_000): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, ['-r', TSX, MAIN], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: path.join(dir, 'home'),
      SLACK_BOT_TOKEN: 'xoxb-x',
      SLACK_SIGNING_SECRET: 'x',
      SLACK_API_URL: 'http://127.0.0.1:9/api/',
      JIT_POLICY_FILE: path.join(dir, 'policy.yml'),
      JIT_DATA_DIR: path.join(dir, 'data'),
      PORT: '0',
      MONGOMS_DOWNLOAD_DIR: path.join(dir, 'mongodb-binaries'),
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d.toString()));
  child.stderr.on('data', (d) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function expectHelpfulFailure(run: Run): void {
  expect(run.signal).toBeNull(); // it exited by itself, not killed by the 30 s guard
  expect(run.code).not.toBe(0);
  expect(run.code).not.toBeNull();
  expect(run.stderr).toContain('MONGODB_URI');
  expect(run.stderr).toMatch(/docker compose|docker-compose/);
  expect(run.stderr).toContain('docker-compose.yml');
  // One readable message, not a library's stack trace.
  expect(run.stderr).not.toMatch(/^\s+at /m);
  // stdout carries JSON log lines only (the download library's console output included).
  for (const line of run.stdout.split('\n').filter((l) => l.trim())) expect(() => JSON.parse(line)).not.toThrow();
}

describe('npm start without MONGODB_URI, where no embedded MongoDB can be had', () => {
  it('fails within seconds when the MongoDB download cannot be reached, naming MONGODB_URI and docker compose', async () => {
    const port = await closedPort();
    const run = await startWithoutMongo({ MONGOMS_DOWNLOAD_MIRROR: `https://127.0.0.1:${port}`, LOG_LEVEL: 'debug' });
    expectHelpfulFailure(run);
    // At debug level the download library's own report is there, as a JSON log line.
    expect(run.stdout).toContain('"component":"embedded-mongo"');
    // It says what failed...
    expect(run.stderr).toContain(`127.0.0.1:${port}`);
    expect(run.stderr).toContain('ECONNREFUSED');
    // ...as soon as the failure is known: no retries with backoff, no waiting for the stall timeout.
    expect(run.stderr).not.toMatch(/no MongoDB within/);
    expect(run.ms).toBeLessThan(15_000);
    // Nothing was downloaded, and the bot never started.
    expect(filesUnder(path.join(dir, 'mongodb-binaries')).filter((f) => /mongod/.test(path.basename(f)))).toEqual([]);
    expect(run.stdout).not.toContain('jit-access started');
  }, 40_000);

  it('fails the same way with a full MONGOMS_DOWNLOAD_URL that cannot be reached', async () => {
    const port = await closedPort();
    const run = await startWithoutMongo({
      MONGOMS_DOWNLOAD_URL: `http://127.0.0.1:${port}/mongodb-linux-x86_64-ubuntu2204-8.2.6.tgz`,
      MONGOMS_USE_HTTP: 'true',
    });
    expectHelpfulFailure(run);
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(run.ms).toBeLessThan(15_000);
  }, 40_000);

  it('names a MONGOMS_SYSTEM_BINARY that does not exist', async () => {
    const missing = path.join(dir, 'no-such-mongod');
    const run = await startWithoutMongo({ MONGOMS_SYSTEM_BINARY: missing });
    expectHelpfulFailure(run);
    expect(run.stderr).toContain(missing);
    expect(run.ms).toBeLessThan(15_000);
  }, 40_000);
});
