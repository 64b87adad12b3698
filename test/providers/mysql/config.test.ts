import path from 'node:path';
import { findResource } from '../../../src/policy/policy';
import { loadPolicyFile } from '../../../src/policy/load';
import { EXAMPLE_POLICY_ENV, problemsOrNone } from '../../policy/problems';

/** The mysql provider's settings as the policy loader checks them, and its entries in policy.example.yml. */
const policy = (provider: string, identities = '') => `
approvalChannel: C0APPROVALS
${identities}
resources:
  - id: db
    name: DB
    approvers: { users: [U0BOB] }
    provider: ${provider}
`;

describe('mysql policy settings', () => {
  it('takes url, role, mode and accountHost; accountHost defaults to %', () => {
    expect(problemsOrNone(policy('{ type: mysql, url: "mysql://a:b@h:3306/jit", role: reader, accountHost: "10.0.%" }'), {})).toEqual([]);
    expect(problemsOrNone(policy('{ type: mysql, url: "postgres://a:b@h/x", role: reader }'), {}).join('\n')).toContain(
      'expected a mysql://user:password@host:port[/database] connection string',
    );
    expect(problemsOrNone(policy('{ type: mysql, url: "mysql://a:b@h", role: "a\\\\b" }'), {}).join('\n')).toContain(
      'expected a role name without backslashes',
    );
    expect(problemsOrNone(policy(`{ type: mysql, url: "mysql://a:b@h", role: r, accountHost: "x'y" }`), {}).join('\n')).toContain(
      'expected a host name, an IP address',
    );
  });

  it('refuses identities that are no MySQL user name, up to 80 characters', () => {
    const mapped = (account: string) =>
      problemsOrNone(policy('{ type: mysql, url: "mysql://a:b@h", role: r }', `identities: { U0ALICE: "${account}" }`), {});
    expect(mapped('bob.smith')).toEqual([]);
    expect(mapped(`a${'b'.repeat(79)}`)).toEqual([]);
    expect(mapped(`a${'b'.repeat(80)}`).join('\n')).toContain('expected a MySQL user name');
    expect(mapped("alice'@'%").join('\n')).toContain('expected a MySQL user name');
  });

  it('loads the example policy’s mysql and redis resources', () => {
    const loaded = loadPolicyFile(path.join(__dirname, '../../../policy.example.yml'), EXAMPLE_POLICY_ENV);
    expect(findResource(loaded, 'orders-mysql-read')!.provider).toEqual({
      target: 'orders-mysql',
      type: 'mysql',
      access: { role: 'orders_reader', mode: 'grant', accountHost: '%' },
    });
    expect(findResource(loaded, 'orders-mysql-write')!.provider.access).toMatchObject({ mode: 'ephemeral' });
    expect(findResource(loaded, 'sessions-redis-read')!.provider).toEqual({
      target: 'sessions-redis',
      type: 'redis',
      access: { rules: '~session:* +@read -@dangerous' },
    });
    expect(loaded.targets['sessions-redis']!.settings).toEqual({
      urls: [EXAMPLE_POLICY_ENV.SESSIONS_REDIS_PRIMARY_URL, EXAMPLE_POLICY_ENV.SESSIONS_REDIS_REPLICA_URL],
    });
    expect(loaded.secrets).toEqual(
      expect.arrayContaining([EXAMPLE_POLICY_ENV.ORDERS_MYSQL_ADMIN_URL, EXAMPLE_POLICY_ENV.SESSIONS_REDIS_REPLICA_URL]),
    );
  });
});
