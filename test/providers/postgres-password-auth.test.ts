import { readFileSync } from 'node:fs';
import { Client, escapeIdentifier as ident } from 'pg';
import { PostgresProvider } from '../../src/providers/postgres/postgres-provider';
import type { PostgresAccess } from '../../src/providers/postgres/config';
import { bound } from './bound';
import type { GrantResult, GrantSubject } from '../../src/providers/provider';
import type { PrivateCluster } from './pg-private-cluster';
import { privateClusterUnavailableReason, startPrivateCluster } from './pg-private-cluster';

/*
 * PostgreSQL checks passwords and VALID UNTIL only during password authentication; the shared test
 * server trusts 127.0.0.1, so there an expired or revoked-but-existing role could still log in. This
 * file starts its own cluster where TCP logins need SCRAM passwords, to show that the credentials
 * jit-access hands out really work, and really stop working at expiry and on revoke.
 */

const unavailable = privateClusterUnavailableReason();
if (unavailable !== undefined) console.warn(`Skipping password-authentication tests: ${unavailable}`);
const describeWithCluster = unavailable === undefined ? describe : describe.skip;

const ADMIN_PASSWORD = 'admin-password-for-the-private-cluster';

describeWithCluster('PostgresProvider ephemeral credentials under password authentication', () => {
  let cluster: PrivateCluster;
  let p: ReturnType<typeof bound<PostgresAccess>>;

  beforeAll(async () => {
    cluster = await startPrivateCluster();
    const su = new Client({ host: cluster.socketDir, port: cluster.port, user: 'postgres', database: 'postgres' });
    await su.connect();
    try {
      await su.query('CREATE ROLE reader NOLOGIN');
      await su.query(`CREATE ROLE jit_admin LOGIN CREATEROLE PASSWORD '${ADMIN_PASSWORD}'`);
      await su.query('GRANT reader TO jit_admin WITH ADMIN OPTION');
      await su.query('GRANT pg_signal_backend TO jit_admin');
      await su.query('CREATE TABLE secret_t (v text)');
      await su.query("INSERT INTO secret_t VALUES ('the secret')");
      await su.query('REVOKE ALL ON secret_t FROM PUBLIC');
      await su.query('GRANT SELECT ON secret_t TO reader');
    } finally {
      await su.end();
    }
    // The admin itself also logs in with a SCRAM password over TCP, as in production.
    p = bound(new PostgresProvider({ url: `postgres://jit_admin:${ADMIN_PASSWORD}@127.0.0.1:${cluster.port}/postgres` }, 'prod-db'), {
      mode: 'ephemeral',
      role: 'reader',
    });
  });

  afterAll(async () => {
    await p?.close();
    cluster?.stop();
  });

  const subject = (requestId: string, expiresInMs: number): GrantSubject => ({
    requestId,
    resourceId: 'prod-db',
    user: { slackId: 'U0ALICE', account: 'alice' },
    reason: 'test',
    expiresAt: new Date(Date.now() + expiresInMs),
  });
  const soon = () => ({ deadline: new Date(Date.now() + 10_000) });
  const field = (result: GrantResult, label: string) => result.secretForRequester?.fields.find((f) => f.label === label)?.value ?? '';

  /** Logs in over TCP with the handed-out credentials and reads the protected table. */
  async function readWith(result: GrantResult, password = field(result, 'Password')): Promise<string> {
    const client = new Client({
      host: field(result, 'Host'),
      port: Number(field(result, 'Port')),
      database: field(result, 'Database'),
      user: field(result, 'User'),
      password,
      connectionTimeoutMillis: 5_000,
    });
    client.on('error', () => undefined);
    await client.connect();
    try {
      return (await client.query<{ v: string }>('SELECT v FROM secret_t')).rows[0]!.v;
    } finally {
      await client.end();
    }
  }

  it('hands out a password that works, and only that password', async () => {
    const s = subject('req-password', 3_600_000);
    const result = await p.grant(s, soon());
    await expect(readWith(result)).resolves.toBe('the secret');
    await expect(readWith(result, 'not-the-password')).rejects.toThrow(/password authentication failed/);

    // A retried grant issues a new password and the old one stops working.
    const retried = await p.grant(s, soon());
    await expect(readWith(retried)).resolves.toBe('the secret');
    await expect(readWith(retried, field(result, 'Password'))).rejects.toThrow(/password authentication failed/);

    await p.revoke(s, { ...soon(), details: retried.details });
    await expect(readWith(retried)).rejects.toThrow(/password authentication failed/);
  });

  it('is refused by the database itself once VALID UNTIL has passed, until extended', async () => {
    const s = subject('req-expiry', 2_000);
    const result = await p.grant(s, soon());
    await expect(readWith(result)).resolves.toBe('the secret');

    // The bot is "down": nothing revokes, yet the database stops accepting the login at expiry.
    await new Promise((resolve) => setTimeout(resolve, s.expiresAt.getTime() - Date.now() + 500));
    await expect(readWith(result)).rejects.toThrow(/password authentication failed/);

    await p.extend({ ...s, expiresAt: new Date(Date.now() + 60_000) }, soon());
    await expect(readWith(result)).resolves.toBe('the secret');

    await p.revoke(s, { ...soon(), details: result.details });
    await expect(readWith(result)).rejects.toThrow(/password authentication failed/);
  });

  it('sends only a SCRAM verifier, so the password is not in the server log', async () => {
    const s = subject('req-logged', 3_600_000);
    const result = await p.grant(s, soon());
    const log = readFileSync(cluster.logFile, 'utf8');
    expect(log).toContain(`CREATE ROLE ${ident(field(result, 'User'))} LOGIN PASSWORD 'SCRAM-SHA-256$4096:`);
    expect(log).not.toContain(field(result, 'Password'));
    await p.revoke(s, { ...soon(), details: result.details });
  });
});
