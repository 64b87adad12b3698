import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Attribute, Change, Client } from 'ldapts';
import { ldapAccessSchema, ldapTargetSchema } from '../../src/providers/ldap/config';
import type { LdapTargetConfig } from '../../src/providers/ldap/config';
import { comparableDn, escapeDnValue, userDnFor, userDnMatcher } from '../../src/providers/ldap/dn';
import { LdapProvider } from '../../src/providers/ldap/ldap-provider';
import type { GrantSubject } from '../../src/providers/provider';
import { bound, rejection } from './bound';
import { describeWithSlapdTls } from './ldap-available';
import { policyProblems } from '../policy/problems';
import { ADMINS_GROUP, BOT_DN, PEOPLE, PLACEHOLDER_DN, TEST_GROUPS, TestSlapd } from '../support/slapd';

describe('DNs', () => {
  it('escapes values put into a DN template (RFC 4514), so an account cannot add RDNs', () => {
    expect(escapeDnValue('alice')).toBe('alice');
    expect(escapeDnValue('a,ou=admins')).toBe('a\\,ou\\=admins');
    expect(escapeDnValue('#x y ')).toBe('\\#x y\\ ');
    expect(escapeDnValue('q"u+o;t<e>\\')).toBe('q\\"u\\+o\\;t\\<e\\>\\\\');
    expect(userDnFor('uid={account},ou=people,dc=example,dc=com', 'a,b')).toBe('uid=a\\,b,ou=people,dc=example,dc=com');
  });

  it('compares spellings of one DN, and tells people (the template) from a placeholder', () => {
    expect(comparableDn('CN=Ops, OU=Groups ,dc=Example,dc=com')).toBe(comparableDn('cn=ops,ou=groups,dc=example,dc=com'));
    expect(comparableDn('cn=a\\,b,dc=x')).toBe('cn=a\\,b,dc=x');
    const isPerson = userDnMatcher('uid={account},ou=people,dc=example,dc=com');
    expect(isPerson('UID=Alice, ou=People,dc=example,dc=com')).toBe(true);
    expect(isPerson('cn=placeholder,ou=services,dc=example,dc=com')).toBe(false);
  });

  it('refuses settings that cannot work, when the policy is loaded', () => {
    const policy = (provider: string) => `
approvalChannel: C0A
resources:
  - id: ops
    name: Ops
    approvers: { users: [U0BOB] }
    provider: { type: ldap, bindDN: "cn=bot,dc=x", bindPassword: pw, groupDN: "cn=ops,dc=x", ${provider} }
`;
    expect(policyProblems(policy('url: "ldaps://ldap.example.com", startTLS: true'), {}).join('\n')).toContain(
      'startTLS is for ldap:// URLs',
    );
    expect(policyProblems(policy('url: "http://ldap.example.com"'), {}).join('\n')).toContain(
      'expected ldap://host[:port] or ldaps://host[:port]',
    );
    expect(policyProblems(policy('url: "ldap://x", userDN: "uid=alice,dc=x"'), {}).join('\n')).toContain('exactly one {account}');
    expect(policyProblems(policy('url: "ldap://x", memberAttribute: owner'), {}).join('\n')).toContain('memberAttribute');
    expect(ldapTargetSchema.safeParse({ url: 'ldap://x', bindDN: 'cn=bot,dc=x', bindPassword: 'pw' }).success).toBe(true);
  });
});

/*
 * Against a private slapd (test/support/slapd.ts), bound as the README's least-privilege service
 * account over StartTLS (a self-signed certificate, trusted through caFile).
 */
describeWithSlapdTls('ldap provider (private slapd)', () => {
  let slapd: TestSlapd;
  const run = randomBytes(3).toString('hex');
  let n = 0;

  beforeAll(async () => {
    slapd = await TestSlapd.start({ tls: true });
  });
  afterAll(() => slapd?.stop());

  const target = (over: Partial<LdapTargetConfig> = {}): LdapTargetConfig =>
    ldapTargetSchema.parse({
      url: slapd.url,
      startTLS: true,
      caFile: slapd.caFile,
      bindDN: BOT_DN,
      bindPassword: slapd.botPassword,
      userDN: `uid={account},${PEOPLE}`,
      timeoutMs: 3000,
      ...over,
    });
  const provider = (group: { dn: string; attribute: string }, over: Partial<LdapTargetConfig> = {}) =>
    bound(new LdapProvider(target(over), 'corp-ldap'), ldapAccessSchema.parse({ groupDN: group.dn, memberAttribute: group.attribute }));
  const soon = (ms = 5000) => ({ deadline: new Date(Date.now() + ms) });
  const subject = (account: string, principal?: string): GrantSubject => ({
    requestId: `r${randomBytes(4).toString('hex')}x`,
    resourceId: 'ops',
    user: { slackId: 'U0ALICE', account, ...(principal ? { principal } : {}) },
    reason: 'test',
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  const person = async (uid = `p${++n}_${run}`) => ({ uid, dn: await slapd.addPerson(uid) });

  it('add of a value already there (20) and delete of one already gone (16) are success, and change nothing', async () => {
    const p = provider(TEST_GROUPS.ops);
    const { uid, dn } = await person();
    await p.grant(subject(uid), soon());
    await p.grant(subject(uid), soon());
    expect((await slapd.valuesOf(TEST_GROUPS.ops.dn, 'member')).filter((v) => v === dn)).toHaveLength(1);
    await p.revoke(subject(uid), soon());
    await p.revoke(subject(uid), soon());
    expect(await slapd.valuesOf(TEST_GROUPS.ops.dn, 'member')).toEqual([PLACEHOLDER_DN]);
  });

  it('member DNs compare without case: the directory’s spelling is resolved at filing, and any spelling revokes the one value', async () => {
    const p = provider(TEST_GROUPS.ops);
    const { uid, dn } = await person(`MixedCase_${run}`);
    // Filing resolves the account to the entry's DN as the directory spells it.
    expect(await p.validate(subject(uid.toLowerCase()), soon())).toEqual({ ok: true, principal: dn });
    await slapd.modifyAsRoot(TEST_GROUPS.ops.dn, 'add', 'member', dn.toUpperCase().replace('DC=', 'dc='));
    const shouting = subject(uid, dn.toUpperCase());
    expect(await p.holds(shouting, soon())).toBe(true);
    await p.grant(shouting, soon()); // 20: the same DN, spelled otherwise
    expect(await slapd.valuesOf(TEST_GROUPS.ops.dn, 'member')).toHaveLength(2);
    await p.revoke(subject(uid, dn), soon());
    expect(await slapd.valuesOf(TEST_GROUPS.ops.dn, 'member')).toEqual([PLACEHOLDER_DN]);
  });

  it('memberUid compares exactly: the uid is taken as the entry spells it, and a differently cased value is not the same member', async () => {
    const p = provider(TEST_GROUPS.deploy);
    const { uid } = await person(`Carol_${run}`);
    const derived = uid.toLowerCase(); // e-mail local parts are lower-cased
    const filed = await p.validate(subject(derived), soon());
    expect(filed).toEqual({ ok: true, principal: uid });
    // Someone (not jit-access) added the lower-case spelling: it is not Carol's login.
    await slapd.modifyAsRoot(TEST_GROUPS.deploy.dn, 'add', 'memberUid', derived);
    const s = subject(derived, uid);
    expect(await p.holds(s, soon())).toBe(false);
    await p.grant(s, soon());
    expect((await slapd.valuesOf(TEST_GROUPS.deploy.dn, 'memberUid')).sort()).toEqual([uid, derived].sort());
    await p.revoke(s, soon());
    expect(await slapd.valuesOf(TEST_GROUPS.deploy.dn, 'memberUid')).toEqual([derived]);
    await slapd.modifyAsRoot(TEST_GROUPS.deploy.dn, 'delete', 'memberUid', derived);
  });

  it('the last member of a groupOfNames (65): the revocation fails (retried) saying to add a placeholder, and goes through once there is one', async () => {
    const p = provider(TEST_GROUPS.ops);
    const { uid, dn } = await person();
    await p.grant(subject(uid), soon());
    await slapd.modifyAsRoot(TEST_GROUPS.ops.dn, 'delete', 'member', PLACEHOLDER_DN);
    try {
      expect((await p.check()).join('\n')).toMatch(/has no placeholder member; removing its last person would break its schema \(65\)/);
      const err = await rejection(p.revoke(subject(uid), soon()));
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/is the last member of cn=ops.*objectClassViolation, 65.*Add a placeholder member/);
      expect(await slapd.valuesOf(TEST_GROUPS.ops.dn, 'member')).toEqual([dn]);
    } finally {
      await slapd.modifyAsRoot(TEST_GROUPS.ops.dn, 'add', 'member', PLACEHOLDER_DN);
    }
    await p.revoke(subject(uid), soon());
    expect(await slapd.valuesOf(TEST_GROUPS.ops.dn, 'member')).toEqual([PLACEHOLDER_DN]);
  });

  it('check() finds nothing missing for the least-privilege bind DN, and names what is missing elsewhere', async () => {
    for (const group of Object.values(TEST_GROUPS)) expect(await provider(group).check()).toEqual([]);
    // A group the bot may read but not change: the write probe says so, and grants fail for good.
    const admins = provider({ dn: ADMINS_GROUP, attribute: 'member' });
    expect(await admins.check()).toEqual([
      `ldap target corp-ldap: ${BOT_DN} may not write member of ${ADMINS_GROUP} (give it write access to that attribute only; see the README)`,
    ]);
    const { uid } = await person();
    const refused = await rejection(admins.grant(subject(uid), soon()));
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/insufficient access rights.*\(LDAP result 50\)/);
    expect(await provider({ dn: `cn=nope,${PEOPLE}`, attribute: 'member' }).check()).toEqual([
      `ldap target corp-ldap: group cn=nope,${PEOPLE} does not exist (or ${BOT_DN} may not read it)`,
    ]);
    expect((await provider({ dn: TEST_GROUPS.deploy.dn, attribute: 'member' }).check()).join('\n')).toMatch(
      /is a posixgroup, which lists members in memberUid, not member/,
    );
    expect(await provider(TEST_GROUPS.ops, { startTLS: false }).check()).toEqual([
      `ldap target corp-ldap: the bind password travels in clear text over ${slapd.url}: use ldaps:// or startTLS: true`,
    ]);
    expect((await provider(TEST_GROUPS.ops, { userDN: undefined }).check()).join('\n')).toMatch(/memberAttribute member needs userDN/);
  });

  it('the README’s recipe really is least privilege: the bot may change members and nothing else', async () => {
    const c = new Client({ url: slapd.url, timeout: 3000 });
    await c.startTLS({ ca: readFileSync(slapd.caFile), host: '127.0.0.1' });
    await c.bind(BOT_DN, slapd.botPassword);
    try {
      const change = (type: string, value: string) =>
        new Change({ operation: 'replace', modification: new Attribute({ type, values: [value] }) });
      await expect(c.modify(TEST_GROUPS.ops.dn, change('cn', 'ops'))).rejects.toMatchObject({ code: 50 });
      await expect(c.modify(ADMINS_GROUP, change('member', BOT_DN))).rejects.toMatchObject({ code: 50 });
      await expect(c.modify(`uid=p1_${run},${PEOPLE}`, change('sn', 'x'))).rejects.toMatchObject({ code: 50 });
      await expect(
        c.add(`cn=new,ou=groups,dc=example,dc=com`, { objectClass: 'groupOfNames', cn: 'new', member: BOT_DN }),
      ).rejects.toMatchObject({ code: 50 });
    } finally {
      await c.unbind();
    }
  });

  it('a wrong bind password, an untrusted certificate: clear non-retryable errors, no password in them', async () => {
    const { uid } = await person();
    const wrong = await rejection(provider(TEST_GROUPS.ops, { bindPassword: 'not-the-password-123' }).grant(subject(uid), soon()));
    expect(wrong.retryable).toBe(false);
    expect(wrong.message).toMatch(/invalid credentials \(bindDN\/bindPassword\)/);
    expect(wrong.message).not.toContain('not-the-password-123');

    const untrusted = await rejection(provider(TEST_GROUPS.ops, { caFile: undefined }).grant(subject(uid), soon()));
    expect(untrusted.retryable).toBe(false);
    expect(untrusted.message).toMatch(/self-signed|certificate/i);
    expect(untrusted.message).toMatch(/is the server’s CA in caFile\?/);
    // ldaps:// without the CA: the same refusal.
    const ldaps = await rejection(
      provider(TEST_GROUPS.ops, { url: slapd.ldapsUrl, startTLS: false, caFile: undefined }).grant(subject(uid), soon()),
    );
    expect([ldaps.retryable, /self-signed|certificate/i.test(ldaps.message)]).toEqual([false, true]);
    expect(await slapd.valuesOf(TEST_GROUPS.ops.dn, 'member')).toEqual([PLACEHOLDER_DN]);
  });

  it('filing: an account without an entry is refused; memberUid without userDN takes the account as given', async () => {
    expect(await provider(TEST_GROUPS.ops).validate(subject(`ghost_${run}`), soon())).toEqual({
      ok: false,
      reason: `There is no directory entry \`uid=ghost_${run},${PEOPLE}\` for you in corp-ldap. Ask a directory admin, or a policy admin to map you to your account in \`identities\`.`,
    });
    expect(await provider(TEST_GROUPS.deploy, { userDN: undefined }).validate(subject('dave'), soon())).toEqual({
      ok: true,
      principal: 'dave',
    });
  });
});
