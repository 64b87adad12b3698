import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier as ident } from 'pg';
import type { LatencyCase } from '../lib/provider-latency';

/**
 * PostgreSQL grant mode on the local server (JIT_BENCH_PG_URL, default the trust-auth superuser at
 * 127.0.0.1:5432): the provider checks the roles and the account, GRANTs, and on revoke REVOKEs,
 * verifies and ends the account's sessions. The bare client does GRANT, then REVOKE and
 * pg_terminate_backend, on its own connection.
 */
const SUPERUSER_URL = process.env.JIT_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const run = randomBytes(4).toString('hex');
const db = `jit_bench_${run}`;
const role = `jit_bench_reader_${run}`;
const admin = `jit_bench_admin_${run}`;
const account = `jit_bench_acct_${run}`;
const password = `bench-${run}-pw`;
let bare: Client | undefined;

async function superuser(database: string, work: (c: Client) => Promise<void>): Promise<void> {
  const url = new URL(SUPERUSER_URL);
  url.pathname = `/${database}`;
  const c = new Client({ connectionString: url.toString(), connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    await work(c);
  } finally {
    await c.end();
  }
}

const latencyCase: LatencyCase = {
  label: 'postgres (grant mode)',
  async setUp() {
    await superuser('postgres', async (c) => {
      await c.query(`CREATE DATABASE ${ident(db)}`);
      await c.query(`CREATE ROLE ${ident(role)} NOLOGIN`);
      await c.query(`CREATE ROLE ${ident(account)} LOGIN`);
      await c.query(`CREATE ROLE ${ident(admin)} LOGIN CREATEROLE PASSWORD '${password}'`);
      await c.query(`GRANT ${ident(role)} TO ${ident(admin)} WITH ADMIN OPTION`);
      await c.query(`GRANT pg_signal_backend TO ${ident(admin)}`);
    });
    const url = new URL(SUPERUSER_URL);
    const adminUrl = `postgres://${admin}:${password}@${url.hostname}:${url.port || 5432}/${db}`;
    bare = new Client({ connectionString: adminUrl });
    await bare.connect();
    const policy = [
      'approvalChannel: C0BENCH',
      'identities: { U0BENCH: ' + account + ' }',
      'resources:',
      '  - id: bench-db',
      '    name: bench',
      '    approvers: { users: [U0APPROVER] }',
      '    provider: { type: postgres, url: "${BENCH_PG_ADMIN_URL}", role: ' + role + ' }',
    ].join('\n');
    return { policy, resourceId: 'bench-db', env: { BENCH_PG_ADMIN_URL: adminUrl } };
  },
  async subject(i) {
    return {
      requestId: `rbench${String(i).padStart(3, '0')}`,
      resourceId: 'bench-db',
      user: { slackId: 'U0BENCH', account },
      reason: 'bench',
      expiresAt: new Date(Date.now() + 3_600_000),
    };
  },
  async bareGrant() {
    await bare!.query(`GRANT ${ident(role)} TO ${ident(account)}`);
  },
  async bareRevoke() {
    await bare!.query(`REVOKE ${ident(role)} FROM ${ident(account)}`);
    await bare!.query('SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [
      account,
    ]);
  },
  async tearDown() {
    await bare?.end().catch(() => undefined);
    await superuser('postgres', async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${ident(db)} WITH (FORCE)`);
      for (const r of [account, admin, role]) await c.query(`DROP ROLE IF EXISTS ${ident(r)}`);
    });
  },
};

export default latencyCase;
