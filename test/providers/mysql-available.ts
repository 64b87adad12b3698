import { createConnection } from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { serviceAvailable } from './service-available';

/**
 * The shared test MariaDB: 127.0.0.1:3306, user root, no password (JIT_TEST_MYSQL_URL to change).
 * Reachability is decided synchronously at import time because jest needs to know before
 * `describe` runs whether to skip. Tests use root only to set things up and to look; the provider
 * itself always connects as the least-privilege account of the README's recipe (mysql-fixture.ts).
 */
export const MYSQL_ROOT_URL = process.env.JIT_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

const mysqlAvailable = serviceAvailable({
  server: 'MariaDB/MySQL',
  tests: 'MySQL provider tests',
  url: MYSQL_ROOT_URL,
  // Proves that root can log in, which a port check would not.
  probeScript: `
    const mysql = require('mysql2/promise');
    mysql.createConnection({ uri: process.argv[1], connectTimeout: 3000 })
      .then(async (c) => { await c.query('SELECT 1'); await c.end(); process.exit(0); },
            (e) => { console.error(e.message); process.exit(1); });`,
});
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
