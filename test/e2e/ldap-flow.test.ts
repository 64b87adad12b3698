import { describeWithSlapdTls } from '../providers/ldap-available';
import { BOT_DN, PEOPLE, PLACEHOLDER_DN, TEST_GROUPS, TestSlapd } from '../support/slapd';
import { commandAnswer, startTestBot, TestBot, waitUntil } from './harness';

/*
 * The ldap provider through the real app, against a private slapd (StartTLS with a self-signed
 * certificate, the README's least-privilege bind DN): a request, an approval click, the person's DN
 * added to a groupOfNames (or their uid to a posixGroup's memberUid) in the directory, then revoke
 * and expiry taking it away; who gets it (identities, e-mails), standing memberships, overlaps.
 */
describeWithSlapdTls('LDAP provider through the app (private slapd, StartTLS)', () => {
  let t: TestBot;
  let slapd: TestSlapd;
  const ops = TEST_GROUPS.ops.dn;
  const deploy = TEST_GROUPS.deploy.dn;
  const dnOf = (uid: string) => `uid=${uid},${PEOPLE}`;

  const requests = () => t.requests();
  const stateOf = async (id: string) => (await requests().findOne({ _id: id }))?.state;
  const waitForState = (id: string, state: string, timeoutMs = 10_000) =>
    waitUntil(async () => ((await stateOf(id)) === state ? true : undefined), timeoutMs, `request ${id} to be ${state}`);
  const members = () => slapd.valuesOf(ops, 'member');

  const answer = (user: string, text: string) => commandAnswer(t, user, text);

  async function file(user: string, resource: string, reason: string, duration = '30m') {
    expect(await answer(user, `${resource} ${duration} ${reason}`)).toMatch(/waiting for 1 approval|granted until/);
    const req = await waitUntil(() => requests().findOne({ requesterId: user, resourceId: resource, reason }), 5000, `${user}'s request`);
    const message = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'C0APPROVALS' && JSON.stringify(c.args.blocks ?? '').includes(req._id),
    );
    return { req, message };
  }

  async function approve(id: string): Promise<void> {
    expect((await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: id }, { channel: 'C0APPROVALS' })).status).toBe(200);
    await waitUntil(
      async () => !['pending', 'granting'].includes((await stateOf(id)) ?? 'pending'),
      10_000,
      `request ${id} to finish granting`,
    );
  }

  async function revoke(user: string, id: string): Promise<void> {
    expect(await answer(user, `revoke ${id}`)).toMatch(/is revoked/);
    await waitForState(id, 'revoked');
  }

  beforeAll(async () => {
    slapd = await TestSlapd.start({ tls: true });
    for (const uid of ['alice', 'Carol', 'stan']) await slapd.addPerson(uid);
    await slapd.modifyAsRoot(ops, 'add', 'member', dnOf('stan')); // a standing member, given by a directory admin
    t = await startTestBot({
      policy: `
approvalChannel: C0APPROVALS
admins: [U0ADMIN]
defaults:
  minDuration: 1s
  maxDuration: 4h
emailDomains: [example.com]
identities:
  U0ALICE: alice
  U0STAN: stan
targets:
  corp-ldap:
    type: ldap
    url: ${slapd.url}
    startTLS: true
    caFile: ${slapd.caFile}
    bindDN: "${BOT_DN}"
    bindPassword: "\${LDAP_BIND_PASSWORD}"
    userDN: "uid={account},${PEOPLE}"
resources:
  - id: ldap-ops
    name: Ops group
    approvers: { users: [U0BOB] }
    provider: { target: corp-ldap, groupDN: "${ops}" }
  - id: ldap-ops-also
    name: The same group, through another resource
    approvers: { users: [U0BOB] }
    provider: { target: corp-ldap, groupDN: "CN=Ops, ${ops.split(',').slice(1).join(',').toUpperCase()}" }
  - id: ldap-deploy
    name: Deploy (posix group)
    approvers: { users: [U0BOB] }
    provider: { target: corp-ldap, groupDN: "${deploy}", memberAttribute: memberUid }
  - id: ldap-ops-quick
    name: Ops group, a few seconds
    approvers: { users: [U0BOB] }
    autoApprove: true
    provider: { target: corp-ldap, groupDN: "${ops}" }
`,
      env: { LDAP_BIND_PASSWORD: slapd.botPassword },
    });
    t.fake.users.set('U0CAROL', { email: 'carol@example.com', name: 'carol' });
    t.fake.users.set('U0GHOST', { email: 'ghost@example.com', name: 'ghost' });
  });

  afterAll(async () => {
    await t?.stop();
    await slapd?.stop();
  });

  it('start-up check finds nothing missing for the least-privilege bind DN; the bind password is in no log line', async () => {
    for (const id of ['ldap-ops', 'ldap-ops-also', 'ldap-deploy']) expect(await t.bot.ctx.providers.forResource(id).check()).toEqual([]);
    expect(t.logs.join('\n')).not.toContain(slapd.botPassword);
  });

  it('request → approval (account shown) → the DN is a member of the group in the directory → revoke removes it', async () => {
    const { req, message } = await file('U0ALICE', 'ldap-ops', 'INC-9 on-call');
    expect(req).toMatchObject({ target: 'corp-ldap', account: 'alice', principal: dnOf('alice') });
    expect(JSON.stringify(message.args.blocks)).toContain('`alice` in `corp-ldap`');
    expect(await members()).not.toContain(dnOf('alice'));
    await approve(req._id);
    expect(await stateOf(req._id)).toBe('active');
    expect(await members()).toContain(dnOf('alice'));
    await revoke('U0ALICE', req._id);
    expect(await members()).toEqual([PLACEHOLDER_DN, dnOf('stan')]);
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('was revoked'));
  });

  it('memberUid: an account derived from the e-mail (carol) goes in as the directory spells the uid (Carol), and comes out again', async () => {
    const { req } = await file('U0CAROL', 'ldap-deploy', 'deploy the fix');
    expect(req).toMatchObject({ account: 'carol', accountSource: 'email', principal: 'Carol' });
    await approve(req._id);
    expect(await slapd.valuesOf(deploy, 'memberUid')).toEqual(['Carol']);
    await revoke('U0CAROL', req._id);
    expect(await slapd.valuesOf(deploy, 'memberUid')).toEqual([]);
  });

  it('someone with no entry in the directory is refused when filing; nothing stored', async () => {
    const text = await answer('U0GHOST', 'ldap-ops 30m who am I');
    expect(text).toBe(
      `There is no directory entry \`${dnOf('ghost')}\` for you in corp-ldap. Ask a directory admin, or a policy admin to map you to your account in \`identities\`.`,
    );
    expect(await requests().countDocuments({ requesterId: 'U0GHOST' })).toBe(0);
  });

  it('standing access: a member before the grant stays a member after it ends', async () => {
    const { req } = await file('U0STAN', 'ldap-ops', 'already in');
    await approve(req._id);
    expect(await requests().findOne({ _id: req._id })).toMatchObject({ state: 'active', standing: true });
    await revoke('U0STAN', req._id);
    expect(await members()).toContain(dnOf('stan'));
  });

  it('overlapping grants: two resources on one group (spelled differently) for one person; the membership ends with the last', async () => {
    const one = await file('U0ALICE', 'ldap-ops', 'overlap one');
    await approve(one.req._id);
    const two = await file('U0ALICE', 'ldap-ops-also', 'overlap two');
    await approve(two.req._id);
    expect(await requests().findOne({ _id: two.req._id })).toMatchObject({ state: 'active', standing: false });
    await revoke('U0ALICE', one.req._id);
    expect(await members()).toContain(dnOf('alice'));
    await revoke('U0ALICE', two.req._id);
    expect(await members()).not.toContain(dnOf('alice'));
  });

  it('expiry takes the membership away', async () => {
    const { req } = await file('U0ALICE', 'ldap-ops-quick', 'a short one', '2s');
    await waitForState(req._id, 'active');
    expect(await members()).toContain(dnOf('alice'));
    await waitForState(req._id, 'expired', 15_000);
    expect(await members()).not.toContain(dnOf('alice'));
  });
});
