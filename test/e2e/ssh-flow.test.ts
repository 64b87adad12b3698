import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { serialFor } from '../../src/providers/ssh/ssh-provider';
import { describeWithSshd } from '../providers/ssh-available';
import { TestSshd, UserKey } from '../support/sshd';
import { commandAnswer, startTestBot, TestBot, waitUntil } from './harness';

const run = promisify(execFile);

/*
 * The ssh provider through the real app, against a real sshd started by the test (its own config,
 * TrustedUserCAKeys, RevokedKeys, AuthorizedPrincipalsFile letting principal `alice` in as the
 * local login account): `/jit-access ssh-key`, a request, an approval click, the certificate by DM,
 * a real `ssh -i key -o CertificateFile=…` running a command; then an extension (a new certificate),
 * `/jit-access revoke` (the KRL) and an expiry (the certificate's own validity), each refused by sshd.
 */
describeWithSshd('SSH provider through the app (private sshd)', () => {
  let t: TestBot;
  let sshd: TestSshd;
  let alice: UserKey;
  let aliceFingerprint: string;

  const requests = () => t.requests();
  const stateOf = async (id: string) => (await requests().findOne({ _id: id }))?.state;
  const waitForState = (id: string, state: string, timeoutMs = 10_000) =>
    waitUntil(async () => ((await stateOf(id)) === state ? true : undefined), timeoutMs, `request ${id} to be ${state}`);

  const answer = (user: string, text: string) => commandAnswer(t, user, text);

  /** The certificate in the newest DM to `user` whose text mentions `requestId`, after `after` of them. */
  async function certificateDm(user: string, requestId: string, after = 0): Promise<string> {
    const dms = await t.fake.waitForCount(
      'chat.postMessage',
      after + 1,
      (c) => c.args.channel === `D${user}` && String(c.args.text).includes(`jit-${requestId}-cert.pub`),
      10_000,
    );
    const text = String(dms[dms.length - 1]!.args.text);
    const match = /Certificate \(save it as [^)]*\): `([^`]+)`/.exec(text);
    if (!match) throw new Error(`no certificate in the DM: ${text}`);
    return match[1]!;
  }

  async function fileAndApprove(user: string, resource: string, duration: string, reason: string) {
    expect(await answer(user, `${resource} ${duration} ${reason}`)).toMatch(/waiting for 1 approval|granted until/);
    const req = await waitUntil(() => requests().findOne({ requesterId: user, resourceId: resource, reason }), 5000, 'the request');
    const message = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'C0APPROVALS' && JSON.stringify(c.args.blocks ?? '').includes(req._id),
    );
    if (req.state === 'pending') {
      const click = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id }, { channel: 'C0APPROVALS' });
      expect(click.status).toBe(200);
    }
    await waitForState(req._id, 'active');
    return { req, message };
  }

  async function krlRevokes(serial: bigint): Promise<boolean> {
    const listing = (await run('ssh-keygen', ['-Q', '-l', '-f', sshd.krlFile])).stdout;
    return listing.split('\n').some((l) => {
      const m = /^serial: (\d+)(?:-(\d+))?$/.exec(l.trim());
      return m !== null && BigInt(m[1]!) <= serial && serial <= BigInt(m[2] ?? m[1]!);
    });
  }

  beforeAll(async () => {
    sshd = await TestSshd.start();
    await sshd.allowPrincipals('alice');
    alice = await sshd.newUserKey('alice');
    aliceFingerprint = (await run('ssh-keygen', ['-l', '-f', `${alice.privateKeyFile}.pub`])).stdout.split(/\s+/)[1]!;
    t = await startTestBot({
      policy: `
approvalChannel: C0APPROVALS
admins: [U0ADMIN]
defaults:
  minDuration: 1s
  maxDuration: 4h
identities:
  U0ALICE: alice
  U0BOB: bob
targets:
  bastion-ca:
    type: ssh
    caKey: "\${SSH_USER_CA_KEY}"
    revokedKeysFile: ${sshd.krlFile}
resources:
  - id: prod-ssh
    name: Production bastion
    approvers: { users: [U0BOB, U0CAROL] }
    provider: { target: bastion-ca, host: 127.0.0.1, port: ${sshd.port} }
  - id: prod-ssh-quick
    name: Production bastion, a few seconds
    approvers: { users: [U0BOB] }
    autoApprove: true
    provider: { target: bastion-ca, host: 127.0.0.1, port: ${sshd.port} }
`,
      env: { SSH_USER_CA_KEY: sshd.caKey },
    });
  });

  afterAll(async () => {
    await t?.stop();
    await sshd?.stop();
  });

  it('start-up check finds nothing missing, and the CA key is in no log line', async () => {
    // The same check() the bot runs (unawaited) at start-up.
    for (const id of ['prod-ssh', 'prod-ssh-quick']) expect(await t.bot.ctx.providers.forResource(id).check()).toEqual([]);
    expect(t.logs.filter((l) => /provider check/.test(l))).toEqual([]);
    const body = sshd.caKey.split('\n').filter((l) => l.length > 20);
    for (const line of body) expect(t.logs.join('\n')).not.toContain(line);
  });

  it('/jit-access ssh-key registers the key, shows the fingerprint ssh-keygen shows, and shows it again', async () => {
    expect(await answer('U0ALICE', 'ssh-key')).toMatch(/You have no SSH key registered/);
    // As Slack delivers it: & < > HTML-escaped in the comment.
    const escaped = `${alice.publicKey} Alice &amp; her &lt;laptop&gt;`;
    const registered = await answer('U0ALICE', `ssh-key ${escaped}`);
    expect(registered).toContain(`Your SSH key is registered: \`${aliceFingerprint}\` (ED25519, 256 bits`);
    // The comment is shown escaped, as Slack needs.
    expect(registered).toContain('Alice &amp; her &lt;laptop&gt;');
    expect(await answer('U0ALICE', 'ssh-key')).toContain(`Your registered SSH key: \`${aliceFingerprint}\``);
    const stored = await t.bot.ctx.store.sshKeys.get('U0ALICE');
    expect(stored).toMatchObject({
      fingerprint: aliceFingerprint,
      type: 'ssh-ed25519',
      bits: 256,
      publicKey: `${alice.publicKey} Alice & her <laptop>`,
    });
  });

  it('a private key pasted by mistake: a warning, nothing stored, the key nowhere (logs, Slack calls, MongoDB)', async () => {
    const privateKey = await fs.readFile(alice.privateKeyFile, 'utf8');
    const warning = await answer('U0EVE', `ssh-key ${privateKey}`);
    expect(warning).toMatch(/That is a \*private\* key.*treat it as exposed/);
    expect(await t.bot.ctx.store.sshKeys.get('U0EVE')).toBeNull();
    const secretLines = privateKey.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    const everywhere = [
      t.logs.join('\n'),
      JSON.stringify(t.fake.calls),
      JSON.stringify(t.fake.responses),
      JSON.stringify(await t.bot.db.collection('ssh_keys').find().toArray()),
    ].join('\n');
    for (const line of secretLines) expect(everywhere).not.toContain(line);
  });

  it('someone else’s key, a weak key and garbage are refused with how to fix it', async () => {
    expect(await answer('U0MALLORY', `ssh-key ${alice.publicKey}`)).toMatch(/registered to someone else/);
    const weak = path.join(sshd.dir, 'weak');
    await run('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', weak]);
    expect(await answer('U0MALLORY', `ssh-key ${(await fs.readFile(`${weak}.pub`, 'utf8')).trim()}`)).toMatch(
      /2048 bits.*3072 bits or more/,
    );
    expect(await answer('U0MALLORY', 'ssh-key hello')).toMatch(/does not start with a key type/);
    expect(await t.bot.ctx.store.sshKeys.get('U0MALLORY')).toBeNull();
  });

  it('a request without a registered key is refused when filed, with how to register one; nothing stored', async () => {
    const text = await answer('U0BOB', 'prod-ssh 30m no key yet');
    expect(text).toMatch(
      /bastion-ca gives access with a certificate for your SSH key, and you have not registered one, so nothing was filed\. Register it with `\/jit-access ssh-key/,
    );
    expect(await requests().countDocuments({ requesterId: 'U0BOB' })).toBe(0);
  });

  it('request → approval (account and key fingerprint shown) → certificate by DM → ssh runs a command; extension → a new certificate; revoke → sshd refuses both', async () => {
    const { req, message } = await fileAndApprove('U0ALICE', 'prod-ssh', '30m', 'INC-7 look at the logs');
    const blocks = JSON.stringify(message.args.blocks);
    expect(blocks).toContain('`alice` in `bastion-ca`');
    expect(blocks).toContain(`*SSH key*\\n\`${aliceFingerprint}\``);
    const active = (await requests().findOne({ _id: req._id }))!;
    expect(active).toMatchObject({
      sshKeyFingerprint: aliceFingerprint,
      sshPublicKey: expect.stringContaining(alice.publicKey.split(' ')[1]!),
    });
    expect(active.providerDetails).toEqual({ serial: serialFor(req._id).toString(), keyId: `jit:${req._id}:U0ALICE` });
    const filed = (await t.bot.ctx.store.audit.forRequest(req._id)).find((e) => e.action === 'requested');
    expect(filed?.details).toMatchObject({ sshKeyFingerprint: aliceFingerprint });

    const first = await sshd.saveCertificate(alice, await certificateDm('U0ALICE', req._id), 'first');
    const dm = (
      await t.fake.waitFor(
        'chat.postMessage',
        (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('SSH certificate for prod-ssh'),
      )
    ).args.text as string;
    expect(dm).toContain(`ssh -i ~/.ssh/id_ed25519 -o CertificateFile=~/.ssh/jit-${req._id}-cert.pub -p ${sshd.port} alice@127.0.0.1`);
    const described = await sshd.describeCertificate(first);
    expect(described).toContain(`Key ID: "jit:${req._id}:U0ALICE"`);
    expect(described).toMatch(/Principals: \n\s+alice\n/);
    const login = await sshd.login(alice, first, 'echo jit-ok; id -un');
    expect(login.code).toBe(0);
    expect(login.stdout).toBe(`jit-ok\n${sshd.loginUser}\n`);
    expect(sshd.logs()).toContain(`Accepted certificate ID "jit:${req._id}:U0ALICE" (serial ${serialFor(req._id)})`);

    // Extension: approved like a request; the provider re-grants: a new certificate, valid to the new expiry.
    expect(await answer('U0ALICE', `extend ${req._id} 30m still digging`)).toMatch(/waiting for 1 approval/);
    await waitUntil(async () => (await requests().findOne({ _id: req._id }))?.extension, 3000, 'the extension');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_extension', value: req._id });
    const extended = await waitUntil(
      async () => {
        const r = await requests().findOne({ _id: req._id });
        return r?.extendedMs ? r : undefined;
      },
      10_000,
      'the extension applied',
    );
    const second = await sshd.saveCertificate(alice, await certificateDm('U0ALICE', req._id, 1), 'second');
    // The new certificate goes out only once the new expiry is recorded (which the revocation then covers).
    const extendedAt = (await t.bot.ctx.store.audit.forRequest(req._id)).find((e) => e.action === 'extended')!.at.getTime();
    const certificateDms = t.fake.calls.filter(
      (c) => c.method === 'chat.postMessage' && String(c.args.text).includes(`jit-${req._id}-cert.pub`),
    );
    expect(certificateDms.at(-1)!.at).toBeGreaterThanOrEqual(extendedAt);
    const validTo = /Valid: from \S+ to (\S+)/.exec(await sshd.describeCertificate(second))![1]!;
    const local = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000 - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    expect(validTo).toBe(local(extended.expiresAt!));
    expect((await sshd.login(alice, second)).code).toBe(0);

    expect(await answer('U0ALICE', `revoke ${req._id}`)).toMatch(/is revoked/);
    await waitForState(req._id, 'revoked');
    expect(await krlRevokes(serialFor(req._id))).toBe(true);
    expect((await sshd.login(alice, first)).code).toBe(255);
    expect((await sshd.login(alice, second)).code).toBe(255);
    await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === 'DU0ALICE' && String(c.args.text).includes('was revoked'));
  });

  it('expiry: sshd refuses the certificate once its validity ends, with nothing added to the KRL', async () => {
    const { req } = await fileAndApprove('U0ALICE', 'prod-ssh-quick', '4s', 'a quick look');
    const cert = await sshd.saveCertificate(alice, await certificateDm('U0ALICE', req._id), 'quick');
    expect((await sshd.login(alice, cert)).code).toBe(0);
    const active = (await requests().findOne({ _id: req._id }))!;
    await new Promise((r) => setTimeout(r, Math.max(0, active.expiresAt!.getTime() - Date.now()) + 1000));
    expect((await sshd.login(alice, cert)).code).toBe(255);
    await waitForState(req._id, 'expired');
    expect(await krlRevokes(serialFor(req._id))).toBe(false);
  });

  it('a key replaced after filing: the request certifies the key approvers saw', async () => {
    expect(await answer('U0ALICE', 'prod-ssh 30m before the key changes')).toMatch(/waiting for 1 approval/);
    const req = await waitUntil(
      () => requests().findOne({ requesterId: 'U0ALICE', reason: 'before the key changes' }),
      5000,
      'the request',
    );
    const other = await sshd.newUserKey('alice-new');
    expect(await answer('U0ALICE', `ssh-key ${other.publicKey}`)).toMatch(/registered/);
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id }, { channel: 'C0APPROVALS' });
    await waitForState(req._id, 'active');
    const cert = await sshd.saveCertificate(alice, await certificateDm('U0ALICE', req._id), 'filed-key');
    expect((await sshd.login(alice, cert)).code).toBe(0);
    expect((await sshd.login(other, await sshd.saveCertificate(other, await certificateDm('U0ALICE', req._id), 'other'))).code).toBe(255);
    expect(await answer('U0ALICE', `revoke ${req._id}`)).toMatch(/is revoked/);
  });
});
