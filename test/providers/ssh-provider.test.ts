import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parsePolicy } from '../../src/policy/load';
import { sshAccessSchema } from '../../src/providers/ssh/config';
import type { SshTargetConfig } from '../../src/providers/ssh/config';
import { SshProvider, serialFor } from '../../src/providers/ssh/ssh-provider';
import { KrlFile, revokedSerials } from '../../src/providers/ssh/krl';
import type { GrantResult, GrantSubject } from '../../src/providers/provider';
import { bound, rejection } from './bound';
import { describeWithSshd } from './ssh-available';
import { TestSshd, UserKey } from '../support/sshd';
import { policyProblems } from '../policy/problems';

const run = promisify(execFile);

/*
 * The ssh provider's own behaviour against a private sshd (test/support/sshd.ts): what goes into a
 * certificate, that sshd honours it (principals, extensions, force-command, source-address,
 * validity, the KRL), and the KRL's atomic, serialised updates.
 */
describeWithSshd('ssh provider (private sshd)', () => {
  let sshd: TestSshd;
  let alice: UserKey;
  const providers: SshProvider[] = [];

  beforeAll(async () => {
    sshd = await TestSshd.start();
    alice = await sshd.newUserKey('alice');
    await sshd.allowPrincipals('alice', 'deploy');
  });
  afterAll(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await sshd?.stop();
  });

  function provider(access: Record<string, unknown> = {}, target: Partial<SshTargetConfig> = {}) {
    const p = new SshProvider({ caKeyFile: sshd.caKeyFile, revokedKeysFile: sshd.krlFile, ...target } as SshTargetConfig, 'bastion');
    providers.push(p);
    return bound(p, sshAccessSchema.parse(access));
  }

  function subject(over: Partial<GrantSubject> = {}, key: UserKey = alice, account = 'alice'): GrantSubject {
    return {
      requestId: `r${randomBytes(4).toString('hex')}x`,
      resourceId: 'bastion',
      user: { slackId: 'U0ALICE', account, sshPublicKey: key.publicKey },
      reason: 'test',
      expiresAt: new Date(Date.now() + 3_600_000),
      ...over,
    };
  }

  const soon = (ms = 10_000) => ({ deadline: new Date(Date.now() + ms) });
  const certificateOf = (result: GrantResult) => result.secretForRequester!.fields.find((f) => f.label.startsWith('Certificate'))!.value;
  const field = (result: GrantResult, label: string) => result.secretForRequester!.fields.find((f) => f.label === label)?.value;
  const save = (result: GrantResult, key = alice) => sshd.saveCertificate(key, certificateOf(result), randomBytes(3).toString('hex'));

  it('signs what PRODUCT.md says: key ID jit:<request>:<user>, the request’s serial, the account as principal, valid from a minute ago to the expiry, permit-pty only', async () => {
    const s = subject({ expiresAt: new Date(Date.now() + 30 * 60_000 + 999) });
    const result = await provider().grant(s, soon());
    const text = await sshd.describeCertificate(await save(result));
    expect(text).toContain(`Key ID: "jit:${s.requestId}:U0ALICE"`);
    expect(text).toContain(`Serial: ${serialFor(s.requestId)}`);
    expect(text).toMatch(/Principals: \n\s+alice\n/);
    expect(text).toMatch(/Critical Options: \(none\)/);
    expect(text).toMatch(/Extensions: \n\s+permit-pty\n/);
    expect(text).toMatch(/Signing CA: ED25519/);
    const [, from, to] = /Valid: from (\S+) to (\S+)/.exec(text)!;
    // ssh-keygen -L prints local time without a zone; compare as such.
    const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    expect(to).toBe(local(new Date(Math.floor(s.expiresAt.getTime() / 1000) * 1000)));
    const startsAgo = Date.now() - new Date(`${from}Z`).getTime() + new Date().getTimezoneOffset() * -60_000;
    expect(startsAgo).toBeGreaterThanOrEqual(59_000);
    expect(startsAgo).toBeLessThan(65_000);
    expect(result.details).toEqual({ serial: serialFor(s.requestId).toString(), keyId: `jit:${s.requestId}:U0ALICE` });
    expect(field(result, 'Valid until')).toBe(new Date(Math.floor(s.expiresAt.getTime() / 1000) * 1000).toISOString());
    // The certificate logs in, and runs the command.
    const login = await sshd.login(alice, await save(result), 'echo jit-ok; id -un');
    expect(login).toMatchObject({ code: 0 });
    expect(login.stdout.split('\n')[0]).toBe('jit-ok');
  });

  it('the DM carries the ssh command for the resource’s host and port', async () => {
    const result = await provider({ host: 'bastion.example.com', port: 2222 }).grant(subject(), soon());
    const s = result.secretForRequester!;
    expect(s.title).toBe('SSH certificate for bastion');
    expect(field(result, 'Connect with')).toMatch(
      /^ssh -i ~\/\.ssh\/id_ed25519 -o CertificateFile=~\/\.ssh\/jit-r\w+-cert\.pub -p 2222 alice@bastion\.example\.com$/,
    );
    expect(field(result, 'For your key')).toMatch(/^SHA256:/);
  });

  it('fixed principals, force-command (one argv entry whatever it holds), source-address and permit are what sshd enforces', async () => {
    const command = `echo "forced; $(id -un)" && echo 'a|b'`;
    const result = await provider({
      principals: ['deploy'],
      forceCommand: command,
      sourceAddress: '127.0.0.1/32, ::1',
      permit: ['pty', 'agent-forwarding'],
    }).grant(subject(), soon());
    const cert = await save(result);
    const text = await sshd.describeCertificate(cert);
    expect(text).toMatch(/Principals: \n\s+deploy\n/);
    expect(text).toContain(`force-command ${command}`);
    expect(text).toContain('source-address 127.0.0.1/32,::1');
    expect(text).toMatch(/Extensions: \n\s+permit-agent-forwarding\n\s+permit-pty\n/);
    // Whatever the client asks to run, the forced command runs.
    const login = await sshd.login(alice, cert, 'echo not-this');
    expect(login.stdout).toBe(`forced; ${sshd.loginUser}\na|b\n`);

    // From an address outside source-address, sshd refuses it.
    const elsewhere = await provider({ sourceAddress: ['192.0.2.0/24'] }).grant(subject(), soon());
    expect((await sshd.login(alice, await save(elsewhere))).code).toBe(255);
  });

  it('refuses principals, addresses and permits that could smuggle options, when the policy is loaded', () => {
    const policy = (provider: string) => `
approvalChannel: C0A
resources:
  - id: bastion
    name: Bastion
    approvers: { users: [U0BOB] }
    provider: { type: ssh, caKeyFile: /etc/jit/ca, revokedKeysFile: /etc/ssh/revoked.krl, ${provider} }
`;
    expect(policyProblems(policy('principals: ["alice,root"]'), {}).join('\n')).toContain(
      'resources[0].provider.principals[0]: expected a login name',
    );
    expect(policyProblems(policy('sourceAddress: "10.0.0.0/8 -O permit-pty"'), {}).join('\n')).toContain(
      'expected IP addresses or CIDR blocks',
    );
    expect(policyProblems(policy('permit: [everything]'), {}).join('\n')).toContain('resources[0].provider.permit[0]');
    expect(policyProblems(policy('caKey: "x"'), {}).join('\n')).toContain('set exactly one of caKey and caKeyFile');
    expect(() => parsePolicy(policy('permit: [pty, port-forwarding]'), {})).not.toThrow();
  });

  it('a principal the host does not list cannot log in; an account is refused certificates of other keys', async () => {
    const result = await provider().grant(subject({}, alice, 'mallory'), soon());
    expect((await sshd.login(alice, await save(result))).code).toBe(255);
    // The certificate is bound to the requester's key: with another private key it is useless.
    const bob = await sshd.newUserKey('bob');
    const mine = await provider().grant(subject(), soon());
    expect((await sshd.login(bob, await sshd.saveCertificate(bob, certificateOf(mine)))).code).toBe(255);
  });

  it('extension (regrant): a new certificate with the same serial and key ID; an early revoke stops both', async () => {
    const p = provider();
    const s = subject({ expiresAt: new Date(Date.now() + 10 * 60_000) });
    const first = await p.grant(s, soon());
    const later = { ...s, expiresAt: new Date(s.expiresAt.getTime() + 20 * 60_000) };
    const second = await p.grant(later, soon());
    expect(second.details).toEqual(first.details);
    expect(certificateOf(second)).not.toBe(certificateOf(first));
    expect(await sshd.describeCertificate(await save(second))).toContain(`Serial: ${serialFor(s.requestId)}`);
    const [a, b] = [await save(first), await save(second)];
    expect([(await sshd.login(alice, a)).code, (await sshd.login(alice, b)).code]).toEqual([0, 0]);

    await p.revoke(later, { ...soon(), details: second.details });
    expect([(await sshd.login(alice, a)).code, (await sshd.login(alice, b)).code]).toEqual([255, 255]);
    expect(sshd.logs()).toMatch(/revoked/i);
  });

  it('sshd refuses a certificate once it has expired, with nothing in the KRL; revoke at expiry writes nothing', async () => {
    const s = subject({ expiresAt: new Date(Date.now() + 2500) });
    const p = provider();
    const result = await p.grant(s, soon());
    const cert = await save(result);
    expect((await sshd.login(alice, cert)).code).toBe(0);
    const before = await fs.readFile(sshd.krlFile);
    await new Promise((r) => setTimeout(r, Math.max(0, s.expiresAt.getTime() - Date.now()) + 1100));
    expect((await sshd.login(alice, cert)).code).toBe(255);
    await p.revoke(s, { ...soon(), details: result.details });
    expect(await fs.readFile(sshd.krlFile)).toEqual(before);
    expect(sshd.logs()).toMatch(/expired|not yet valid|certificate invalid/i);
  });

  it('KRL updates are atomic and serialised: concurrent revocations by two instances (two replicas) all land, and the file is a valid KRL throughout', async () => {
    const [one, two] = [provider(), provider()];
    const subjects = Array.from({ length: 12 }, () => subject());
    let reading = true;
    let reads = 0;
    const reader = (async () => {
      // What sshd does on every login: open the file and parse it. It must never see a partial one.
      while (reading) {
        await run('ssh-keygen', ['-Q', '-l', '-f', sshd.krlFile]);
        reads += 1;
      }
    })();
    await Promise.all(
      subjects.map((s, i) => (i % 2 ? one : two).revoke(s, { ...soon(15_000), details: { serial: serialFor(s.requestId).toString() } })),
    );
    reading = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    const caFingerprint = (await run('ssh-keygen', ['-l', '-f', `${sshd.caKeyFile}.pub`])).stdout.split(/\s+/)[1]!;
    const listing = (await run('ssh-keygen', ['-Q', '-l', '-f', sshd.krlFile])).stdout;
    const ranges = revokedSerials(listing, caFingerprint);
    for (const s of subjects) expect(ranges.some(([lo, hi]) => lo <= serialFor(s.requestId) && serialFor(s.requestId) <= hi)).toBe(true);
    // No temporary files or locks left beside it.
    expect(readdirSync(sshd.dir).filter((f) => f.includes('revoked.krl') && f !== 'revoked.krl')).toEqual([]);
  });

  it('a writer that died holding the lock: its stale lock is taken over; a live one makes the revoke wait, then fail retryably', async () => {
    const lock = `${sshd.krlFile}.lock`;
    await fs.writeFile(lock, 'dead writer\n');
    const old = new Date(Date.now() - 60_000);
    await fs.utimes(lock, old, old);
    const s = subject();
    await provider().revoke(s, soon());
    expect(
      await new KrlFile(sshd.krlFile).revokes(
        serialFor(s.requestId),
        (await run('ssh-keygen', ['-l', '-f', `${sshd.caKeyFile}.pub`])).stdout.split(/\s+/)[1]!,
        new Date(Date.now() + 5000),
      ),
    ).toBe(true);

    await fs.writeFile(lock, 'live writer\n');
    try {
      const started = Date.now();
      const err = await rejection(provider().revoke(subject(), soon(700)));
      expect(Date.now() - started).toBeLessThan(1500);
      expect(err.retryable).toBe(true);
      expect(err.message).toMatch(/being updated by another writer/);
    } finally {
      await fs.rm(lock, { force: true });
    }
  });

  it('a missing or corrupt KRL: no certificate is issued (non-retryable), revocations keep failing retryably, check() says how to fix it', async () => {
    const krl = path.join(sshd.dir, 'other.krl');
    const p = provider({}, { revokedKeysFile: krl });
    const missing = await rejection(p.grant(subject(), soon()));
    expect(missing.retryable).toBe(false);
    expect(missing.message).toMatch(
      /does not exist\. sshd refuses every key while its RevokedKeys file is missing; create an empty one with `ssh-keygen -k -f /,
    );
    expect((await rejection(p.revoke(subject(), soon()))).retryable).toBe(true);
    expect((await p.check()).join('\n')).toMatch(/does not exist/);

    // Not a KRL: sshd would read it as a list of keys and revoke nothing.
    await fs.writeFile(krl, 'garbage\n');
    const corrupt = await rejection(p.grant(subject(), soon()));
    expect(corrupt.message).toMatch(/is not a KRL ssh-keygen can read/);
    expect(await fs.readFile(krl, 'utf8')).toBe('garbage\n');

    await run('ssh-keygen', ['-k', '-f', krl]);
    await expect(p.grant(subject(), soon())).resolves.toBeDefined();
    expect(await p.check()).toEqual([]);
  });

  it('an inline caKey: signs, never leaves the key on disk, and never shows it in an error', async () => {
    const caKey = sshd.caKey;
    const p = new SshProvider({ caKey, revokedKeysFile: sshd.krlFile }, 'inline');
    providers.push(p);
    const b = bound(p, sshAccessSchema.parse({}));
    const result = await b.grant(subject(), soon());
    expect((await sshd.login(alice, await save(result))).code).toBe(0);
    const scratch = readdirSync('/dev/shm').filter((d) => d.startsWith('jit-access-ssh-'));
    for (const dir of scratch) expect(readdirSync(path.join('/dev/shm', dir)).filter((f) => f !== 'ca.pub')).toEqual([]);

    // A damaged key: the error names the problem, not the key.
    const damaged = caKey.replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
    const broken = new SshProvider({ caKey: damaged, revokedKeysFile: sshd.krlFile }, 'broken');
    providers.push(broken);
    const err = await rejection(bound(broken, sshAccessSchema.parse({})).grant(subject(), soon()));
    expect(err.retryable).toBe(false);
    for (const line of damaged.split('\n').filter((l) => l.length > 16)) expect(err.message).not.toContain(line);
    expect((await bound(broken, sshAccessSchema.parse({})).check()).join('\n')).toMatch(/cannot load the CA key/);
  });

  it('check(): a CA key file others can read, and a passphrase-protected one, are reported (and never prompt)', async () => {
    const open = path.join(sshd.dir, 'ca-open');
    await fs.copyFile(sshd.caKeyFile, open);
    await fs.chmod(open, 0o644);
    expect((await provider({}, { caKeyFile: open }).check()).join('\n')).toMatch(/cannot load the CA key: .*bad permissions/);

    const encrypted = path.join(sshd.dir, 'ca-encrypted');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'a passphrase', '-f', encrypted]);
    const started = Date.now();
    const err = await rejection(provider({}, { caKeyFile: encrypted }).grant(subject(), soon()));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err.message).toMatch(/incorrect passphrase/);
  });

  it('accepts the key types people have (RSA 3072, ECDSA) and refuses a key that is not one', async () => {
    for (const [name, args] of [
      ['rsa', ['-t', 'rsa', '-b', '3072']],
      ['ecdsa', ['-t', 'ecdsa']],
    ] as const) {
      const file = path.join(sshd.dir, `typed-${name}`);
      await run('ssh-keygen', ['-q', '-N', '', '-f', file, ...args]);
      const key = { privateKeyFile: file, publicKey: (await fs.readFile(`${file}.pub`, 'utf8')).trim() };
      const result = await provider().grant(subject({}, key), soon());
      expect((await sshd.login(key, await save(result, key))).code).toBe(0);
    }
    const notAKey = { ...subject(), user: { slackId: 'U0ALICE', account: 'alice', sshPublicKey: 'ssh-ed25519 AAAA' } };
    expect((await rejection(provider().grant(notAKey, soon()))).retryable).toBe(false);
    expect(await provider().validate(notAKey, soon())).toMatchObject({ ok: false, reason: expect.stringMatching(/cannot be certified/) });
  });

  it('caveat (README): a session opened before the revoke stays open; sshd checks certificates only at login', async () => {
    const p = provider();
    const s = subject();
    const result = await p.grant(s, soon());
    const cert = await save(result);
    const session = sshd.login(alice, cert, 'sleep 2; echo still-here');
    await new Promise((r) => setTimeout(r, 1000));
    await p.revoke(s, { ...soon(), details: result.details });
    expect((await sshd.login(alice, cert)).code).toBe(255);
    expect(await session).toMatchObject({ code: 0, stdout: 'still-here\n' });
  });

  it('revoke refuses a recorded serial that is not the request’s (it never revokes someone else’s certificate)', async () => {
    const s = subject();
    const err = await rejection(provider().revoke(s, { ...soon(), details: { serial: serialFor('rsomeoneelse').toString() } }));
    expect(err.retryable).toBe(false);
  });
});
