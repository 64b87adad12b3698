import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { looksLikePrivateKey, parseSshPublicKey } from '../../src/domain/ssh-public-key';
import { sshdAvailable } from '../providers/ssh-available';

const run = promisify(execFile);

/** Key blobs built by hand, for types ssh-keygen cannot make here (FIDO keys need a token). */
function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}
const blobLine = (type: string, ...parts: Array<Buffer | string>) =>
  `${type} ${Buffer.concat([sshString(type), ...parts.map(sshString)]).toString('base64')} made-by-hand`;

describe('SSH public keys as pasted into /jit-access ssh-key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'jit-keys-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  /** A key made by ssh-keygen, and the fingerprint and size ssh-keygen -l shows for it. */
  async function keygen(name: string, ...args: string[]) {
    const file = path.join(dir, name);
    await run('ssh-keygen', ['-q', '-N', '', '-C', `${name}@laptop`, '-f', file, ...args]);
    const [bits, fingerprint] = (await run('ssh-keygen', ['-l', '-f', `${file}.pub`])).stdout.split(/\s+/);
    return {
      line: (await fs.readFile(`${file}.pub`, 'utf8')).trim(),
      private: await fs.readFile(file, 'utf8'),
      file,
      bits: Number(bits),
      fingerprint,
    };
  }

  // ssh-keygen comes with the OpenSSH the ssh provider tests need; without it (outside CI) these skip.
  const withKeygen = sshdAvailable ? it : it.skip;

  withKeygen.each([
    ['ed25519', ['-t', 'ed25519'], 'ED25519'],
    ['ecdsa 256', ['-t', 'ecdsa', '-b', '256'], 'ECDSA'],
    ['ecdsa 384', ['-t', 'ecdsa', '-b', '384'], 'ECDSA'],
    ['ecdsa 521', ['-t', 'ecdsa', '-b', '521'], 'ECDSA'],
    ['rsa 3072', ['-t', 'rsa', '-b', '3072'], 'RSA'],
  ])('accepts %s, with the fingerprint and size ssh-keygen -l shows', async (name, args, label) => {
    const key = await keygen(name.replace(' ', '-'), ...(args as string[]));
    const parsed = parseSshPublicKey(key.line);
    expect(parsed).toMatchObject({
      ok: true,
      key: { label, bits: key.bits, fingerprint: key.fingerprint, comment: `${name.replace(' ', '-')}@laptop`, line: key.line },
    });
  });

  withKeygen('accepts FIDO keys (sk-ssh-ed25519, sk-ecdsa), with ssh-keygen’s fingerprint', async () => {
    // ssh-keygen checks that the point is on the curve: a real P-256 public key's.
    const jwk = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    for (const line of [
      blobLine('sk-ssh-ed25519@openssh.com', Buffer.alloc(32, 9), 'ssh:'),
      blobLine('sk-ecdsa-sha2-nistp256@openssh.com', 'nistp256', point, 'ssh:'),
    ]) {
      const file = path.join(dir, `sk-${line.length}.pub`);
      await fs.writeFile(file, `${line}\n`);
      const fingerprint = (await run('ssh-keygen', ['-l', '-f', file])).stdout.split(/\s+/)[1];
      const parsed = parseSshPublicKey(line);
      expect(parsed.ok && parsed.key).toMatchObject({
        fingerprint,
        bits: 256,
        label: line.startsWith('sk-ssh') ? 'ED25519-SK' : 'ECDSA-SK',
      });
    }
  });

  withKeygen('refuses RSA keys under 3072 bits, saying how many it has', async () => {
    const key = await keygen('rsa-2048', '-t', 'rsa', '-b', '2048');
    const parsed = parseSshPublicKey(key.line);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.problem).toMatch(/2048 bits; jit-access accepts RSA keys of 3072 bits or more/);
  });

  withKeygen('recognises private keys pasted by mistake (OpenSSH, PEM, PKCS#8, armour lost) and never echoes them', async () => {
    const openssh = (await keygen('oops', '-t', 'ed25519')).private;
    const pem = (await keygen('oops-pem', '-t', 'rsa', '-b', '3072', '-m', 'PEM')).private;
    const pkcs8 = (await keygen('oops-pkcs8', '-t', 'ecdsa', '-m', 'PKCS8')).private;
    const armourLost = openssh
      .split('\n')
      .filter((l) => !l.startsWith('-----'))
      .join(' ');
    for (const text of [openssh, pem, pkcs8, armourLost, 'PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none']) {
      const parsed = parseSshPublicKey(text);
      expect(parsed).toMatchObject({ ok: false, privateKey: true });
      expect(!parsed.ok && parsed.problem).toMatch(/That is a \*private\* key.*treat it as exposed/);
      // Not a line of it comes back.
      for (const line of text.split('\n').filter((l) => l.length > 20))
        expect(!parsed.ok && parsed.problem).not.toContain(line.slice(0, 20));
      expect(looksLikePrivateKey(text)).toBe(true);
    }
  });

  withKeygen('refuses certificates, DSA, authorized_keys options, RFC 4716 files and damaged keys, each with how to fix it', async () => {
    const key = await keygen('victim', '-t', 'ed25519');
    const [type, base64] = key.line.split(' ');
    const cases: Array<[string, RegExp]> = [
      [`ssh-ed25519-cert-v01@openssh.com ${base64}`, /an SSH certificate, not a key/],
      ['ssh-dss AAAAB3NzaC1kc3MAAACBAP== x', /DSA keys are not accepted/],
      [`from="10.0.0.1" ${key.line}`, /without `authorized_keys` options in front/],
      ['---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n---- END SSH2 PUBLIC KEY ----', /RFC 4716.*ssh-keygen -i/],
      [`${type} ${base64!.slice(0, 40)}`, /That key is damaged|not base64/],
      [`${type} ${base64!.replace(/A/g, '*')}`, /not base64/],
      // The blob says RSA but the line says Ed25519.
      [
        `ssh-ed25519 ${Buffer.concat([sshString('ssh-rsa'), sshString(Buffer.from([1, 0, 1])), sshString(Buffer.alloc(385, 1))]).toString('base64')}`,
        /the key says ssh-ed25519 but holds ssh-rsa/,
      ],
      [
        `ssh-ed25519 ${Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.alloc(32, 1)), Buffer.from([0])]).toString('base64')}`,
        /trailing data/,
      ],
      ['', /No key given/],
      ['hello world', /does not start with a key type/],
    ];
    for (const [text, expected] of cases) {
      const parsed = parseSshPublicKey(text);
      expect({ text, ok: parsed.ok }).toEqual({ text, ok: false });
      expect(!parsed.ok && parsed.problem).toMatch(expected);
    }
  });

  withKeygen('reads text as Slack delivers it: HTML-escaped, a comment taken for a link, extra spaces', async () => {
    const key = await keygen('escaped', '-t', 'ed25519');
    const [type, base64] = key.line.split(' ');
    const parsed = parseSshPublicKey(`  ${type}   ${base64}  Tom &amp; Jerry &lt;laptop&gt; <mailto:tom@example.com|tom@example.com>  `);
    expect(parsed).toMatchObject({
      ok: true,
      key: {
        fingerprint: key.fingerprint,
        comment: 'Tom & Jerry <laptop> tom@example.com',
        line: `${type} ${base64} Tom & Jerry <laptop> tom@example.com`,
      },
    });
  });
});
