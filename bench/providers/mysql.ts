import { accountName, sqlString } from '../../src/providers/mysql/dialect';
import type { LatencyCase } from '../lib/provider-latency';
import { MysqlBenchServer } from '../lib/mysql-bench';

/**
 * MySQL/MariaDB grant mode on the local server, as the README's least-privilege account: the
 * provider reads the server version (once), checks the role and the account, GRANTs, reads the
 * default role and sets it through the helper procedure; on revoke it REVOKEs, clears the default
 * role, checks its PROCESS privilege, KILLs the account's sessions and reads the process list until
 * none are left. The bare client does GRANT + CALL set-default, then REVOKE + CALL clear + KILL
 * CONNECTION USER, on its own connection.
 */
const server = new MysqlBenchServer();

const latencyCase: LatencyCase = {
  label: 'mysql (grant mode, MariaDB)',
  async setUp() {
    await server.setUp();
    return { policy: server.policy({}), resourceId: 'bench-db', env: { BENCH_MYSQL_ADMIN_URL: server.adminUrl } };
  },
  async subject(i) {
    return {
      requestId: `rbench${String(i).padStart(3, '0')}`,
      resourceId: 'bench-db',
      user: { slackId: 'U0BENCH', account: server.account },
      reason: 'bench',
      expiresAt: new Date(Date.now() + 3_600_000),
    };
  },
  async bareGrant() {
    await server.bare.query(`GRANT ${sqlString(server.role)} TO ${accountName(server.account, '%')}`);
    await server.bare.execute(`CALL ${server.schema}.jit_set_default_role(?, ?, ?)`, [server.account, '%', server.role]);
  },
  async bareRevoke() {
    await server.bare.query(`REVOKE ${sqlString(server.role)} FROM ${accountName(server.account, '%')}`);
    await server.bare.execute(`CALL ${server.schema}.jit_set_default_role(?, ?, ?)`, [server.account, '%', null]);
    await server.bare.query(`KILL CONNECTION USER ${accountName(server.account, '%')}`);
  },
  tearDown: () => server.tearDown(),
};

export default latencyCase;
