import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type {
  FilingCheck,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { parseSshPublicKey, sshFingerprint, SshPublicKey } from '../../domain/ssh-public-key';
import { PERMIT_EXTENSIONS, PRINCIPAL_PATTERN, sshAccessSchema, sshTargetSchema } from './config';
import type { SshAccess, SshTargetConfig } from './config';
import { KrlFile } from './krl';
import { keygenComplaint, runSshKeygen } from './ssh-keygen';

/*
 * Short-lived OpenSSH user certificates (README “SSH provider”). The certificate's validity is the
 * grant: sshd refuses it after the expiry whoever is up. Signing is `ssh-keygen -s` (the npm sshpk
 * can set neither extensions nor critical options, and signs RSA with SHA-1, which current sshd
 * refuses); an early revocation adds the grant's serial to the KRL (krl.ts).
 *
 * - Serial: derived from the request ID (63 bits of a SHA-256), so a retried grant and the new
 *   certificate of an extension carry the same serial and key ID, and one KRL entry revokes every
 *   certificate the grant ever issued. Distinct requests get distinct serials.
 * - Valid from a minute before now (clock skew between the bot and the hosts) to the expiry,
 *   rounded down to the second, so it never outlives the grant.
 * - `-O clear`, then only the `permit` extensions; `force-command` and `source-address` when set.
 * - Revoke: at (or after) the expiry the certificate has expired by itself and nothing is written;
 *   before it, the request's serial goes into the KRL (harmless for a request that never got one).
 * - Nothing in the target to read for standing access: every grant is its own certificate, and a
 *   person's own authorized_keys are never touched.
 */

/** Certificates start this long before now: the bot's and the hosts' clocks may differ a little. */
const CLOCK_SKEW_S = 60;
const KEY_ID_PARTS = /^[A-Za-z0-9]{1,64}$/;

/** The certificate serial of a request: non-zero (a KRL cannot revoke serial 0), below 2^63. */
export function serialFor(requestId: string): bigint {
  const digest = createHash('sha256').update(`jit-access ssh certificate serial:${requestId}`).digest();
  const serial = digest.readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
  return serial === 0n ? 1n : serial;
}

/** `jit:<requestId>:<slackId>`: what sshd logs when the certificate is used (README “Providers”). */
function keyIdFor(subject: Pick<GrantSubject, 'requestId' | 'user'>): string {
  return `jit:${subject.requestId}:${subject.user.slackId}`;
}

/** Where the requester's private key usually is, for the command in the DM. */
function privateKeyHint(key: SshPublicKey): string {
  const file: Record<string, string> = {
    ED25519: 'id_ed25519',
    ECDSA: 'id_ecdsa',
    RSA: 'id_rsa',
    'ED25519-SK': 'id_ed25519_sk',
    'ECDSA-SK': 'id_ecdsa_sk',
  };
  return `~/.ssh/${file[key.label] ?? 'id_ed25519'}`;
}

/** The certificate type ssh-keygen writes for a key type. */
function certificateType(keyType: string): string {
  return `${keyType.replace(/@openssh\.com$/, '')}-cert-v01@openssh.com`;
}

interface CaPublicKey {
  /** A file holding it, for ssh-keygen. */
  file: string;
  line: string;
  /** `SHA256:…`, as the KRL listing names the CA. */
  fingerprint: string;
}

/** One user CA and its KRL: one instance per target, shared by its resources. */
export class SshProvider implements TargetProvider<SshAccess> {
  private readonly krl: KrlFile;
  private readonly secrets: string[];
  /** A private (0700) directory for the public key being signed and the CA's public key. */
  private workDir?: Promise<string>;
  private caPublic?: Promise<CaPublicKey>;

  constructor(
    private readonly config: SshTargetConfig,
    private readonly targetName: string,
  ) {
    this.krl = new KrlFile(config.revokedKeysFile);
    this.secrets = secretVariants(config.caKey);
  }

  private get label(): string {
    return `ssh target ${this.targetName}`;
  }

  /**
   * At filing: the registered key is one jit-access certifies. (The login name is the account, whose
   * format the policy and the operations layer check, or the resource's fixed `principals`.)
   */
  async validate(_access: SshAccess, subject: FilingSubject): Promise<FilingCheck> {
    const key = parseSshPublicKey(subject.user.sshPublicKey ?? '');
    return key.ok ? { ok: true } : { ok: false, reason: `Your registered SSH key cannot be certified: ${key.problem}` };
  }

  async grant(access: SshAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    const parsed = parseSshPublicKey(subject.user.sshPublicKey ?? '');
    if (!parsed.ok) throw new ProviderError(`${this.label}: the request's SSH key cannot be certified: ${parsed.problem}`, false);
    const key = parsed.key;
    const principals = this.principalsFor(access, subject);
    if (principals === undefined) throw new ProviderError(`${this.label}: no valid principal (login name) for this request`, false);
    if (!KEY_ID_PARTS.test(subject.requestId) || !KEY_ID_PARTS.test(subject.user.slackId)) {
      throw new ProviderError(`${this.label}: unexpected characters in the request or user ID`, false);
    }
    const validAfter = Math.floor(Date.now() / 1000) - CLOCK_SKEW_S;
    const validBefore = Math.floor(subject.expiresAt.getTime() / 1000);
    if (validBefore <= validAfter + CLOCK_SKEW_S)
      throw new ProviderError(`${this.label}: the grant's expiry has passed; nothing to certify`, false);
    // An early revocation must be recordable before a certificate exists that it would have to stop.
    await this.krl.requireUsable(opts.deadline, false);

    const serial = serialFor(subject.requestId);
    const keyId = keyIdFor(subject);
    return this.inScratchDir(async (dir, caKeyFile) => {
      const keyFile = path.join(dir, 'user.pub');
      await fs.writeFile(keyFile, `${key.line}\n`, { mode: 0o600 });
      const args = [
        '-s',
        caKeyFile,
        '-P',
        '', // never prompt for a passphrase: an encrypted CA key fails instead of hanging
        '-q',
        '-I',
        keyId,
        '-n',
        principals.join(','),
        '-z',
        serial.toString(),
        '-V',
        `0x${validAfter.toString(16)}:0x${validBefore.toString(16)}`,
        '-O',
        'clear',
        ...access.permit.flatMap((p) => ['-O', PERMIT_EXTENSIONS[p]]),
        ...(access.forceCommand ? ['-O', `force-command=${access.forceCommand}`] : []),
        ...(access.sourceAddress ? ['-O', `source-address=${access.sourceAddress.join(',')}`] : []),
        keyFile,
      ];
      const signed = await runSshKeygen(args, { deadline: opts.deadline, what: `${this.label}: sign a certificate for ${keyId}` });
      if (signed.code !== 0) throw new ProviderError(this.scrub(`${this.label}: signing failed: ${keygenComplaint(signed)}`), false);
      const certificate = (await fs.readFile(path.join(dir, 'user-cert.pub'), 'utf8')).trim();
      if (!certificate.startsWith(`${certificateType(key.type)} `))
        throw new ProviderError(`${this.label}: ssh-keygen wrote an unexpected certificate`, false);
      const login = principals[0]!;
      const certFile = `~/.ssh/jit-${subject.requestId}-cert.pub`;
      const command = [
        'ssh',
        '-i',
        privateKeyHint(key),
        '-o',
        `CertificateFile=${certFile}`,
        ...(access.port ? ['-p', String(access.port)] : []),
        `${login}@${access.host ?? '<host>'}`,
      ].join(' ');
      return {
        details: { serial: serial.toString(), keyId },
        secretForRequester: {
          title: `SSH certificate for ${subject.resourceId}`,
          fields: [
            { label: `Certificate (save it as ${certFile})`, value: certificate },
            { label: 'Connect with', value: command },
            { label: 'Principals', value: principals.join(', ') },
            { label: 'For your key', value: key.fingerprint },
            { label: 'Valid until', value: new Date(validBefore * 1000).toISOString() },
            { label: 'Key ID', value: `${keyId} (serial ${serial})` },
          ],
        },
      };
    });
  }

  async revoke(_access: SshAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    // The serial is the request's (recorded in the details too): every certificate of this grant has it.
    const recorded = opts.details?.serial;
    if (recorded !== undefined && recorded !== serialFor(subject.requestId).toString()) {
      throw new ProviderError(
        `${this.label}: the recorded serial ${JSON.stringify(recorded.slice(0, 24))} is not request ${subject.requestId}'s`,
        false,
      );
    }
    // Its validity ends at the expiry: sshd refuses it from then on, with or without the KRL.
    if (subject.expiresAt.getTime() <= Date.now()) return;
    const ca = await this.caPublicKey(opts.deadline);
    await this.krl.revoke(serialFor(subject.requestId), ca.file, ca.fingerprint, opts.deadline);
  }

  async check(access: SshAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    const problems: string[] = [];
    try {
      const ca = await this.caPublicKey(deadline);
      // The rules people's keys meet (no DSA, RSA of 3072 bits or more) hold for the CA too.
      const usable = parseSshPublicKey(ca.line);
      if (!usable.ok) problems.push(`${this.label}: the CA key is too weak: ${usable.problem.split(';')[0]}`);
    } catch (err) {
      problems.push((err as Error).message);
    }
    try {
      await this.krl.requireUsable(deadline, false);
    } catch (err) {
      problems.push(`${this.label}: ${(err as Error).message}`);
    }
    if (access.principals?.includes('root'))
      problems.push(`${this.label}: principal root: prefer a named account and sudo, so sshd's logs name who logged in`);
    return problems;
  }

  async close(): Promise<void> {
    const dir = await this.workDir?.catch(() => undefined);
    if (dir) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }

  private principalsFor(access: SshAccess, subject: FilingSubject): string[] | undefined {
    const principals = access.principals ?? (subject.user.account ? [subject.user.account] : []);
    return principals.length > 0 && principals.every((p) => PRINCIPAL_PATTERN.test(p)) ? principals : undefined;
  }

  private privateDir(): Promise<string> {
    // In memory where the system has a tmpfs for it, so an inline CA key never reaches a disk.
    this.workDir ??= fs.mkdtemp(path.join(existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'jit-access-ssh-'));
    return this.workDir;
  }

  /**
   * Runs `work` in a fresh private directory (mode 0700, removed afterwards) with the path of the CA
   * key: `caKeyFile`, or an inline `caKey` written there (0600) for this one ssh-keygen run, because
   * ssh-keygen reads keys from files only (/dev/stdin is a socket under Node, which it cannot open).
   */
  private async inScratchDir<T>(work: (dir: string, caKeyFile: string) => Promise<T>): Promise<T> {
    const dir = await fs.mkdtemp(path.join(await this.privateDir(), 'run-'));
    try {
      let caKeyFile = this.config.caKeyFile;
      if (caKeyFile === undefined) {
        caKeyFile = path.join(dir, 'ca');
        await fs.writeFile(caKeyFile, this.config.caKey!.endsWith('\n') ? this.config.caKey! : `${this.config.caKey}\n`, { mode: 0o600 });
      }
      return await work(dir, caKeyFile);
    } finally {
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** The CA's public key (derived from its private key once), in a file for `ssh-keygen -k -s`. */
  private caPublicKey(deadline: Date): Promise<CaPublicKey> {
    this.caPublic ??= (async () => {
      const derived = await this.inScratchDir((_dir, caKeyFile) =>
        runSshKeygen(['-y', '-P', '', '-f', caKeyFile], { deadline, what: `${this.label}: read the CA key` }),
      );
      if (derived.code !== 0)
        throw new ProviderError(this.scrub(`${this.label}: cannot load the CA key: ${keygenComplaint(derived)}`), false);
      const [type = '', base64 = ''] = (derived.stdout.trim().split('\n')[0] ?? '').split(/\s+/);
      const line = `${type} ${base64}`;
      const file = path.join(await this.privateDir(), 'ca.pub');
      await fs.writeFile(file, `${line}\n`, { mode: 0o644 });
      return { file, line, fingerprint: sshFingerprint(Buffer.from(base64, 'base64')) };
    })();
    // A failure (a deadline, a missing file) is not remembered: the next call tries again.
    this.caPublic.catch(() => (this.caPublic = undefined));
    return this.caPublic;
  }

  private scrub(text: string): string {
    return scrubSecrets(text, this.secrets);
  }
}

/**
 * The ssh provider: a short-lived OpenSSH user certificate for the requester's registered key
 * (`/jit-access ssh-key`), delivered by DM; early revocation through the KRL.
 */
export const sshProvider = defineProvider({
  type: 'ssh',
  target: sshTargetSchema,
  access: sshAccessSchema,
  account: {
    derive: 'local-part',
    // Fixed principals (`principals: [deploy]`) need no account; the default principal is the account.
    need: (access) => (access.principals ? 'optional' : 'required'),
    format: z.string().regex(PRINCIPAL_PATTERN, 'expected a login name: letters, digits, _ . @ or -, at most 64 characters'),
  },
  needs: ['sshPublicKey'],
  // A certificate's validity cannot move: an extension is a new certificate (same serial and key ID).
  extension: 'regrant',
  // Every grant is its own certificate: nothing to share with another grant, nothing standing to keep.
  overlap: { key: () => undefined, standing: 'not-inspectable' },
  create: (target, env) => new SshProvider(target, env.targetName),
});
