import { spawnSync } from 'node:child_process';
import Redis from 'ioredis';

/**
 * The shared test Redis: 127.0.0.1:6379, its `default` user (JIT_TEST_REDIS_URL to change).
 * Reachability is decided synchronously at import time because jest needs to know before
 * `describe` runs whether to skip. Tests use that user only to set things up and to look; the
 * provider always connects as the README's least-privilege ACL user (redis-fixture.ts).
 */
export const REDIS_ROOT_URL = process.env.JIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function probe(): string | undefined {
  // A child process, because the check must be synchronous and ioredis is asynchronous.
  const script = `
    const Redis = require('ioredis');
    const c = new Redis(process.argv[1], { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    c.call('ACL', 'WHOAMI').then(() => { c.disconnect(); process.exit(0); }, (e) => { console.error(e.message); process.exit(1); });`;
  const result = spawnSync(process.execPath, ['-e', script, REDIS_ROOT_URL], { encoding: 'utf8', timeout: 10_000, cwd: __dirname });
  if (result.status === 0) return undefined;
  return (result.stderr || result.error?.message || `probe exited with ${result.status}`).trim();
}

/** Why this machine cannot start private redis-server nodes (for multi-node and restart tests), or undefined. */
function serverBinaryProblem(): string | undefined {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return found.status === 0 ? undefined : 'redis-server is not on PATH';
}

const unavailableReason = probe() ?? serverBinaryProblem();
if (unavailableReason !== undefined) {
  const where = REDIS_ROOT_URL.replace(/\/\/[^@/]*@/, '//');
  if (process.env.CI === 'true') {
    throw new Error(`Redis is required in CI but ${where} is unusable: ${unavailableReason}`);
  }
  console.warn(`Skipping Redis provider tests: ${where} is unusable (${unavailableReason})`);
}

export const redisAvailable = unavailableReason === undefined;
/** `describe` when the test Redis answers and redis-server can be started, `describe.skip` otherwise (outside CI). */
export const describeWithRedis = redisAvailable ? describe : describe.skip;

/** A client of `url` that gives up at once instead of reconnecting; the caller disconnects it. */
export function redisClient(url: string, opts: { username?: string; password?: string } = {}): Redis {
  const client = new Redis(url, { ...opts, lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false, disconnectTimeout: 200 });
  client.on('error', () => undefined);
  return client;
}

/** Runs `work` with a client of the shared Redis's `default` user (or of `url`), then disconnects it. */
export async function asRedisRoot<T>(work: (c: Redis) => Promise<T>, url = REDIS_ROOT_URL): Promise<T> {
  const c = redisClient(url);
  try {
    return await work(c);
  } finally {
    c.disconnect();
  }
}
