import { randomBytes } from 'node:crypto';
import { accountName, nativePasswordHash, sqlString } from '../../src/providers/mysql/dialect';
import { temporaryName } from '../../src/providers/temporary-name';
import type { LatencyCase } from '../lib/provider-latency';
import { MysqlBenchServer } from '../lib/mysql-bench';

/**
 * MySQL/MariaDB ephemeral mode on the local server, as the README's least-privilege account: the
 * provider checks the role, CREATEs the user with a hashed random password, GRANTs the role, sets
 * it as the default through the helper procedure, and looks for (or, where the event scheduler
 * runs, creates) the expiry event; on revoke it DROPs the user, KILLs its sessions, reads the
 * process list, and drops the event if there is one. The bare client does CREATE USER + GRANT +
 * CALL set-default, then DROP USER + KILL CONNECTION USER, for the same user name.
 */
const server = new MysqlBenchServer();
const created = new Set<string>();
const userOf = (requestId: string) => temporaryName(server.account, requestId, 32);

const latencyCase: LatencyCase = {
  label: 'mysql (ephemeral mode, MariaDB)',
  async setUp() {
    await server.setUp();
    return { policy: server.policy({ mode: 'ephemeral' }), resourceId: 'bench-db', env: { BENCH_MYSQL_ADMIN_URL: server.adminUrl } };
  },
  async subject(i) {
    const requestId = `rbench${String(i).padStart(3, '0')}`;
    created.add(userOf(requestId));
    return {
      requestId,
      resourceId: 'bench-db',
      user: { slackId: 'U0BENCH', account: server.account },
      reason: 'bench',
      expiresAt: new Date(Date.now() + 3_600_000),
    };
  },
  async bareGrant(subject) {
    const user = userOf(subject.requestId);
    const hash = nativePasswordHash(randomBytes(24).toString('base64url'));
    await server.bare.query(`CREATE USER ${accountName(user, '%')} IDENTIFIED BY PASSWORD ${sqlString(hash)}`);
    await server.bare.query(`GRANT ${sqlString(server.role)} TO ${accountName(user, '%')}`);
    await server.bare.execute(`CALL ${server.schema}.jit_set_default_role(?, ?, ?)`, [user, '%', server.role]);
  },
  async bareRevoke(subject) {
    const user = userOf(subject.requestId);
    await server.bare.query(`DROP USER IF EXISTS ${accountName(user, '%')}`);
    await server.bare.query(`KILL CONNECTION USER ${accountName(user, '%')}`);
  },
  tearDown: () => server.tearDown([...created]),
};

export default latencyCase;
