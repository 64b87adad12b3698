import { spawnSync } from 'node:child_process';
import { createConnection } from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';

/**
 * The shared test MariaDB: 127.0.0.1:3306, user root, no password (JIT_TEST_MYSQL_URL to change).
 * Reachability is decided synchronously at import time because jest needs to know before
 * `describe` runs whether to skip. Tests use root only to set things up and to look; the provider
 * itself always connects as the least-privilege account of the README's recipe (mysql-fixture.ts).
 */
export const MYSQL_ROOT_URL = process.env.JIT_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

function probe(): string | undefined {
  // A child process, because the check must be synchronous and mysql2 is asynchronous; it also
  // proves that root can log in, which a port check would not.
  const script = `
    const mysql = require('mysql2/promise');
    mysql.createConnection({ uri: process.argv[1], connectTimeout: 3000 })
      .then(async (c) => { await c.query('SELECT 1'); await c.end(); process.exit(0); },
            (e) => { console.error(e.message); process.exit(1); });`;
  const result = spawnSync(process.execPath, ['-e', script, MYSQL_ROOT_URL], { encoding: 'utf8', timeout: 10_000, cwd: __dirname });
  if (result.status === 0) return undefined;
  return (result.stderr || result.error?.message || `probe exited with ${result.status}`).trim();
}

const unavailableReason = probe();
if (unavailableReason !== undefined) {
  const where = MYSQL_ROOT_URL.replace(/\/\/[^@/]*@/, '//');
  if (process.env.CI === 'true') {
    throw new Error(`MariaDB/MySQL is required in CI but ${where} is unreachable: ${unavailableReason}`);
  }
  console.warn(`Skipping MySQL provider tests: ${where} is unreachable (${unavailableReason})`);
}

export const mysqlAvailable = unavailableReason === undefined;
/** `describe` when the test MariaDB answers, `describe.skip` otherwise (outside CI). */
export const describeWithMysql = mysqlAvailable ? describe : describe.skip;

/** Runs `work` on a root connection to the shared test server, then closes it. */
export async function asRoot<T>(work: (c: Connection) => Promise<T>): Promise<T> {
  const c = await createConnection({ uri: MYSQL_ROOT_URL, connectTimeout: 5000 });
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}
