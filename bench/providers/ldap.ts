import { Attribute, Change, Client } from 'ldapts';
import type { LatencyCase } from '../lib/provider-latency';
import { BOT_DN, PEOPLE, slapdUnavailable, TestSlapd, TEST_GROUPS } from '../../test/support/slapd';

/**
 * The ldap provider against a private slapd (test/support/slapd.ts: its own config and DIT, the
 * README's least-privilege bind DN), on ldap:// so the figure is the provider layer's, not TLS's.
 * Both sides do, per call, what the provider does: connect, bind, modify (add or delete the
 * person's DN in a groupOfNames), unbind. The provider adds its deadline, error mapping and
 * "already there / already gone" handling.
 */
let slapd: TestSlapd | undefined;
const account = 'bench';
const userDn = `uid=${account},${PEOPLE}`;
const group = TEST_GROUPS.ops.dn;

async function bare(operation: 'add' | 'delete'): Promise<void> {
  const c = new Client({ url: slapd!.url, timeout: 10_000, connectTimeout: 10_000 });
  try {
    await c.bind(BOT_DN, slapd!.botPassword);
    await c.modify(group, new Change({ operation, modification: new Attribute({ type: 'member', values: [userDn] }) }));
  } finally {
    await c.unbind();
  }
}

const latencyCase: LatencyCase = {
  label: 'ldap (groupOfNames, ldap://)',
  async setUp() {
    const missing = slapdUnavailable();
    if (missing) throw new Error(missing);
    slapd = await TestSlapd.start({ tls: false });
    await slapd.addPerson(account);
    const policy = [
      'approvalChannel: C0BENCH',
      `identities: { U0BENCH: ${account} }`,
      'resources:',
      '  - id: bench-ldap',
      '    name: bench',
      '    approvers: { users: [U0APPROVER] }',
      `    provider: { type: ldap, url: "${slapd.url}", bindDN: "${BOT_DN}", bindPassword: "\${BENCH_LDAP_PASSWORD}", userDN: "uid={account},${PEOPLE}", groupDN: "${group}" }`,
    ].join('\n');
    return { policy, resourceId: 'bench-ldap', env: { BENCH_LDAP_PASSWORD: slapd.botPassword } };
  },
  async subject(i) {
    return {
      requestId: `rbench${String(i + 10).padStart(3, '0')}`,
      resourceId: 'bench-ldap',
      user: { slackId: 'U0BENCH', account },
      reason: 'bench',
      expiresAt: new Date(Date.now() + 3_600_000),
    };
  },
  bareGrant: () => bare('add'),
  bareRevoke: () => bare('delete'),
  async tearDown() {
    await slapd?.stop();
  },
};

export default latencyCase;
