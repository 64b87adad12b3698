import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, promises as fs, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';

/*
 * A private OpenSSH server for tests and benchmarks (no jest globals: bench/ imports it too). Never
 * the system sshd: its own config, host key, user CA (`TrustedUserCAKeys`), KRL (`RevokedKeys`) and
 * principals file in a temp dir, on a free loopback port. Certificates name principals (`alice`),
 * and the principals file of the local login account (the user running the tests, root in CI) lists
 * which of them may log in, as a real bastion maps people to a shared account.
 */

const run = promisify(execFile);
const SSHD_BINARY = '/usr/sbin/sshd';

/** Why a private sshd cannot run here (undefined when it can). Synchronous: jest decides before `describe`. */
export function sshdUnavailable(): string | undefined {
  if (!existsSync(SSHD_BINARY)) return `${SSHD_BINARY} is missing (apt-get install openssh-server)`;
  for (const tool of ['ssh', 'ssh-keygen']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `${tool} is missing (apt-get install openssh-client)`;
    }
  }
  if (process.getuid?.() !== 0) return 'sshd needs root to switch to the login account and to use /run/sshd (the tests run as root in CI)';
  return undefined;
}

export interface SshLogin {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface UserKey {
  privateKeyFile: string;
  /** The `.pub` line. */
  publicKey: string;
}

export class TestSshd {
  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly loginUser: string,
    private readonly child: ChildProcess,
    private readonly log: string[],
  ) {}

  readonly host = '127.0.0.1';
  get caKeyFile(): string {
    return path.join(this.dir, 'ca');
  }
  get krlFile(): string {
    return path.join(this.dir, 'revoked.krl');
  }
  get caKey(): string {
    return readFileSync(this.caKeyFile, 'utf8');
  }
  private get principalsFile(): string {
    return path.join(this.dir, 'principals', this.loginUser);
  }
  private get knownHosts(): string {
    return path.join(this.dir, 'known_hosts');
  }

  /** Starts sshd with a fresh Ed25519 user CA, an empty KRL, and no principal allowed yet. */
  static async start(): Promise<TestSshd> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'jit-sshd-'));
    const loginUser = os.userInfo().username;
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'jit-test-host', '-f', path.join(dir, 'host_ed25519')]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'jit-test-user-ca', '-f', path.join(dir, 'ca')]);
    await run('ssh-keygen', ['-k', '-f', path.join(dir, 'revoked.krl')]);
    await fs.mkdir(path.join(dir, 'principals'));
    await fs.writeFile(path.join(dir, 'principals', loginUser), '');
    // sshd refuses to start without its privilege separation directory.
    if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const port = await freePort();
    const hostKey = (await fs.readFile(path.join(dir, 'host_ed25519.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');
    await fs.writeFile(path.join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
    const config = [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${path.join(dir, 'host_ed25519')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      // Certificates only: no authorized_keys, no passwords.
      'AuthorizedKeysFile none',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `TrustedUserCAKeys ${path.join(dir, 'ca.pub')}`,
      `RevokedKeys ${path.join(dir, 'revoked.krl')}`,
      `AuthorizedPrincipalsFile ${path.join(dir, 'principals', '%u')}`,
      // Test-only: the login account is whoever runs the tests (root in CI), with a key or certificate only.
      'PermitRootLogin prohibit-password',
      // Test-only: the files live under /tmp, which StrictModes would reject as group/world-writable.
      'StrictModes no',
      'UsePAM no',
      'LogLevel VERBOSE',
      '',
    ].join('\n');
    await fs.writeFile(path.join(dir, 'sshd_config'), config);
    const log: string[] = [];
    // -D: stay in the foreground (a child of this process); -e: log to stderr, which we keep.
    const child = spawn(SSHD_BINARY, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()));
    const sshd = new TestSshd(dir, port, loginUser, child, log);
    await sshd.waitUntilListening();
    return sshd;
  }

  private async waitUntilListening(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`sshd exited with ${this.child.exitCode}: ${this.logs()}`);
      const open = await new Promise<boolean>((resolve) => {
        const s = net.connect(this.port, this.host, () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      if (open) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sshd did not listen on ${this.port}: ${this.logs()}`);
  }

  logs(): string {
    return this.log.join('');
  }

  /** Lets certificates naming `principal` log in as the login account (as a bastion's principals file would). */
  async allowPrincipals(...principals: string[]): Promise<void> {
    await fs.appendFile(this.principalsFile, principals.map((p) => `${p}\n`).join(''));
  }

  /** A fresh Ed25519 key pair in the test dir. */
  async newUserKey(name: string): Promise<UserKey> {
    const privateKeyFile = path.join(this.dir, `user-${name}`);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', privateKeyFile]);
    return { privateKeyFile, publicKey: (await fs.readFile(`${privateKeyFile}.pub`, 'utf8')).trim() };
  }

  /** Saves `certificate` beside the key, as the DM tells people to; returns its path. */
  async saveCertificate(key: UserKey, certificate: string, name = 'cert'): Promise<string> {
    const file = `${key.privateKeyFile}-${name}.pub`;
    await fs.writeFile(file, `${certificate}\n`);
    return file;
  }

  /** `ssh -i key -o CertificateFile=cert` into this server, running `command`; never prompts. */
  async login(key: UserKey, certificateFile: string, command = 'echo jit-ok', opts: { timeoutMs?: number } = {}): Promise<SshLogin> {
    const args = [
      '-F',
      '/dev/null',
      '-i',
      key.privateKeyFile,
      '-o',
      `CertificateFile=${certificateFile}`,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      `UserKnownHostsFile=${this.knownHosts}`,
      '-o',
      'GlobalKnownHostsFile=/dev/null',
      '-o',
      'ConnectTimeout=5',
      '-o',
      'LogLevel=ERROR',
      '-p',
      String(this.port),
      `${this.loginUser}@${this.host}`,
      command,
    ];
    try {
      const { stdout, stderr } = await run('ssh', args, {
        timeout: opts.timeoutMs ?? 15_000,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number | string; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : null, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  }

  /** `ssh-keygen -L`: a certificate's fields, for assertions. */
  async describeCertificate(certificateFile: string): Promise<string> {
    return (await run('ssh-keygen', ['-L', '-f', certificateFile])).stdout;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
