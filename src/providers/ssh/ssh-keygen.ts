import { execFile } from 'node:child_process';
import { ProviderError } from '../provider';

/** What one ssh-keygen run printed; `code` is null when it was killed (the deadline). */
export interface KeygenRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Enough of ssh-keygen's complaint to diagnose; it never prints key material in its errors. */
const MAX_MESSAGE = 300;
const MAX_OUTPUT = 1024 * 1024;

/**
 * Runs `ssh-keygen` with `args`, through execFile (no shell: every argument reaches it as one argv
 * entry, whatever characters it holds), killed at `deadline`. Its stdin is closed at once, so a
 * passphrase prompt reads end-of-file instead of waiting. (Keys go in files: Node gives children a
 * socket, not a pipe, as stdin, which ssh-keygen cannot open as /dev/stdin.) A minimal environment: no SSH_ASKPASS,
 * no DISPLAY, nothing that could make it ask anyone for anything.
 */
export function runSshKeygen(args: string[], opts: { deadline: Date; what: string }): Promise<KeygenRun> {
  const remaining = opts.deadline.getTime() - Date.now();
  if (remaining <= 0) return Promise.reject(new ProviderError(`${opts.what}: deadline passed before ssh-keygen ran`));
  return new Promise((resolve, reject) => {
    const child = execFile(
      'ssh-keygen',
      args,
      {
        timeout: remaining,
        killSignal: 'SIGKILL',
        maxBuffer: MAX_OUTPUT,
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
        windowsHide: true,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: number | string };
        if (e.code === 'ENOENT') {
          return reject(new ProviderError(`${opts.what}: ssh-keygen is not installed (the openssh-client package provides it)`, false));
        }
        if (e.killed || e.signal) return reject(new ProviderError(`${opts.what}: ssh-keygen did not finish within ${remaining} ms`));
        resolve({ code: typeof e.code === 'number' ? e.code : 1, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end();
  });
}

/** ssh-keygen's last meaningful stderr lines (its banners of @ signs dropped), for an error message. */
export function keygenComplaint(run: KeygenRun): string {
  const lines = run.stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^@+$/.test(l));
  const text = lines.slice(-3).join(' ').replace(/\s+/g, ' ');
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text || `exit code ${run.code}`;
}
