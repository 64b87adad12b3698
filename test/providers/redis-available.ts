import { spawnSync } from 'node:child_process';
import Redis from 'ioredis';
import { serviceAvailable } from './service-available';

/**
 * The shared test Redis: 127.0.0.1:6379, its `default` user (JIT_TEST_REDIS_URL to change).
 * Reachability is decided synchronously at import time because jest needs to know before
 * `describe` runs whether to skip. Tests use that user only to set things up and to look; the
 * provider always connects as the README's least-privilege ACL user (redis-fixture.ts).
 */
export const REDIS_ROOT_URL = process.env.JIT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const redisAvailable = serviceAvailable({
  server: 'Redis',
  tests: 'Redis provider tests',
  url: REDIS_ROOT_URL,
  probeScript: `
    const Redis = require('ioredis');
    const c = new Redis(process.argv[1], { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    c.call('ACL', 'WHOAMI').then(() => { c.disconnect(); process.exit(0); }, (e) => { console.error(e.message); process.exit(1); });`,
  // The multi-node and restart tests start their own redis-server nodes.
  otherProblem: () => (spawnSync('redis-server', ['--version']).status === 0 ? undefined : 'redis-server is not on PATH'),
});
/** `describe` when the test Redis answers and redis-server can be started, `describe.skip` otherwise (outside CI). */
export const describeWithRedis = redisAvailable ? describe : describe.skip;

/** A client of `url` that gives up at once instead of reconnecting; the caller disconnects it. */
export function redisClient(url: string, opts: { username?: string; password?: string } = {}): Redis {
  const client = new Redis(url, {
    ...opts,
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableReadyCheck: false,
    disconnectTimeout: 200,
  });
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
