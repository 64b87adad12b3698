import { randomBytes } from 'node:crypto';
import type { GrantSubject } from '../../../src/providers/provider';
import { describeProviderContract, ContractFixture } from '../contract';
import { describeWithSlapd, describeWithSlapdTls } from '../ldap-available';
import { PEOPLE, TestSlapd, TEST_GROUPS, BOT_DN } from '../../support/slapd';

/*
 * The ldap provider against a real slapd (test/support/slapd.ts), bound as the least-privilege
 * service account of the README, for each kind of group: groupOfNames (member), groupOfUniqueNames
 * (uniqueMember) and posixGroup (memberUid); over StartTLS with a self-signed certificate, and
 * over ldaps://.
 */
const run = randomBytes(3).toString('hex');
let n = 0;

function fixture(kind: keyof typeof TEST_GROUPS, transport: 'plain' | 'startTLS' | 'ldaps'): ContractFixture {
  let slapd: TestSlapd;
  const group = TEST_GROUPS[kind];
  /** The value the group holds for an account. */
  const memberValueOf = (account: string) => (group.attribute === 'memberUid' ? account : `uid=${account},${PEOPLE}`);
  const holds = async (subject: GrantSubject) => {
    const values = await slapd.valuesOf(group.dn, group.attribute);
    const wanted = memberValueOf(subject.user.account!);
    return values.some((v) => (group.attribute === 'memberUid' ? v === wanted : v.toLowerCase() === wanted.toLowerCase()));
  };
  return {
    type: 'ldap',
    variant: `${group.attribute}, ${transport}`,
    secretKeys: ['bindPassword'],
    setUp: async () => {
      slapd = await TestSlapd.start({ tls: transport !== 'plain' });
    },
    tearDown: () => slapd?.stop(),
    target: () => ({
      url: transport === 'ldaps' ? slapd.ldapsUrl : slapd.url,
      ...(transport === 'startTLS' ? { startTLS: true } : {}),
      ...(transport !== 'plain' ? { caFile: slapd.caFile } : {}),
      bindDN: BOT_DN,
      bindPassword: slapd.botPassword,
      userDN: `uid={account},${PEOPLE}`,
      timeoutMs: 3000,
    }),
    access: () => ({ groupDN: group.dn, memberAttribute: group.attribute }),
    // check() warns about a bind over plain ldap://, which this variant uses on purpose.
    ...(transport === 'plain'
      ? { checkAllows: [{ problem: /the bind password travels in clear text/, why: 'the plain variant runs without TLS' }] }
      : {}),
    hangingTarget: (port) => ({
      url: `ldap://127.0.0.1:${port}`,
      bindDN: BOT_DN,
      bindPassword: slapd.botPassword,
      userDN: `uid={account},${PEOPLE}`,
    }),
    newAccount: async () => {
      const account = `c${++n}_${run}`;
      await slapd.addPerson(account);
      return account;
    },
    unknownAccount: () => `nobody_${run}`,
    hasAccess: holds,
    giveStanding: (account) => slapd.modifyAsRoot(group.dn, 'add', group.attribute, memberValueOf(account)),
    failGrants: {
      permanent: true,
      // The group is gone (renamed away): noSuchObject (32) until it is back.
      arrange: async () => {
        const away = group.dn.replace(/^cn=([^,]+)/, 'cn=$1-away');
        await slapd.asRoot((c) => c.modifyDN(group.dn, away.split(',')[0]!));
        return () => slapd.asRoot((c) => c.modifyDN(away, group.dn.split(',')[0]!));
      },
    },
  };
}

describeProviderContract(fixture('ops', 'plain'), describeWithSlapd);
describeProviderContract(fixture('auditors', 'startTLS'), describeWithSlapdTls);
describeProviderContract(fixture('deploy', 'ldaps'), describeWithSlapdTls);
