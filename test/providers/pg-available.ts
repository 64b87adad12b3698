import { spawnSync } from 'node:child_process';
import { Client } from 'pg';

/**
 * The shared test PostgreSQL: 127.0.0.1:5432, user postgres, trust auth. Reachability is decided
 * synchronously at import time because jest needs to know before `describe` runs whether to skip.
 */
export const PG_SUPERUSER_URL = process.env.JIT_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function probe(): string | undefined {
  // A child process, because the check must be synchronous and pg is asynchronous; it also proves
  // that the superuser can log in, which pg_isready would not.
  const script = `
    const { Client } = require('pg');
    const c = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
    c.connect().then(() => c.query('SELECT 1')).then(() => c.end()).then(
      () => process.exit(0),
      (e) => { console.error(e.message); process.exit(1); });`;
  const result = spawnSync(process.execPath, ['-e', script, PG_SUPERUSER_URL], { encoding: 'utf8', timeout: 10_000, cwd: __dirname });
  if (result.status === 0) return undefined;
  return (result.stderr || result.error?.message || `probe exited with ${result.status}`).trim();
}

const unavailableReason = probe();
if (unavailableReason !== undefined) {
  const where = PG_SUPERUSER_URL.replace(/\/\/[^@/]*@/, '//');
  if (process.env.CI === 'true') {
    throw new Error(`PostgreSQL is required in CI but ${where} is unreachable: ${unavailableReason}`);
  }
  console.warn(`Skipping PostgreSQL provider tests: ${where} is unreachable (${unavailableReason})`);
}

export const pgAvailable = unavailableReason === undefined;
/** `describe` when the test PostgreSQL answers, `describe.skip` otherwise (outside CI). */
export const describeWithPostgres = pgAvailable ? describe : describe.skip;

/** Runs `work` on a superuser connection to `database` of the shared test PostgreSQL, then closes it. */
export async function superuser<T>(database: string, work: (c: Client) => Promise<T>): Promise<T> {
  const url = new URL(PG_SUPERUSER_URL);
  url.pathname = `/${database}`;
  const c = new Client({ connectionString: url.toString() });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}
