import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs, Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProviderError } from '../provider';
import { keygenComplaint, runSshKeygen } from './ssh-keygen';

/*
 * The OpenSSH key revocation list (KRL) that early revocations are added to, for sshd's
 * `RevokedKeys`. sshd reads it on every authentication, and a missing or unreadable file makes it
 * refuse every key, so the file is never written in place: a copy next to it is updated with
 * `ssh-keygen -k -u`, checked, flushed to disk and renamed over the original (rename is atomic:
 * sshd opens either the old list or the new one, never half of one). Writers are serialised by a
 * lock file beside it (`<file>.lock`, created with O_EXCL), so two bot replicas sharing the file
 * cannot both copy the old list and lose one another's serial.
 */

/** A lock older than this was left by a writer that died (an update takes milliseconds). */
const LOCK_STALE_MS = 30_000;

/** Serial numbers listed for one CA, as `ssh-keygen -Q -l` prints them (`serial: 5` or `serial: 5-7`). */
export function revokedSerials(listing: string, caFingerprint: string): Array<[bigint, bigint]> {
  const ranges: Array<[bigint, bigint]> = [];
  let ours = false;
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const ca = /^# CA key \S+ (SHA256:\S+)/.exec(line);
    if (ca) {
      ours = ca[1] === caFingerprint;
      continue;
    }
    const serial = /^serial: (\d+)(?:-(\d+))?$/.exec(line);
    if (ours && serial) ranges.push([BigInt(serial[1]!), BigInt(serial[2] ?? serial[1]!)]);
  }
  return ranges;
}

function contains(ranges: Array<[bigint, bigint]>, serial: bigint): boolean {
  return ranges.some(([lo, hi]) => lo <= serial && serial <= hi);
}

/** One KRL file, as the bot's target settings name it. */
export class KrlFile {
  /** Writers in this process queue here, so only other processes ever meet the lock file. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The last state verified to be a readable KRL (inode, size, mtime): re-read only when it changes. */
  private verified?: string;

  constructor(readonly file: string) {}

  private get label(): string {
    return `the revocation list ${this.file}`;
  }

  /**
   * Throws unless the KRL exists, is a KRL ssh-keygen can read, and can be replaced (its directory
   * is writable): a certificate whose early revocation could not be recorded must not be issued.
   */
  async requireUsable(deadline: Date, retryable: boolean): Promise<void> {
    const stats = await this.statOrExplain(retryable);
    const state = `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
    if (this.verified === state) return;
    await this.requireWritableDirectory(retryable);
    await this.list(this.file, deadline, retryable);
    this.verified = state;
  }

  /** Whether the KRL revokes `serial` of the CA with this fingerprint. */
  async revokes(serial: bigint, caFingerprint: string, deadline: Date): Promise<boolean> {
    return contains(revokedSerials(await this.list(this.file, deadline, true), caFingerprint), serial);
  }

  /**
   * Adds `serial` (a certificate of the CA whose public key is in `caPublicKeyFile`) to the KRL,
   * atomically. Adding a serial that is there already changes nothing, so a retried revoke needs no
   * look before it writes.
   */
  revoke(serial: bigint, caPublicKeyFile: string, caFingerprint: string, deadline: Date): Promise<void> {
    const run = this.queue.then(() => this.revokeNow(serial, caPublicKeyFile, caFingerprint, deadline));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async revokeNow(serial: bigint, caPublicKeyFile: string, caFingerprint: string, deadline: Date): Promise<void> {
    await this.statOrExplain(true);
    const release = await this.lock(deadline);
    const temp = path.join(path.dirname(this.file), `.${path.basename(this.file)}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fs.copyFile(this.file, temp); // keeps the original's mode
      const spec = `${temp}.spec`;
      await fs.writeFile(spec, `serial: ${serial}\n`);
      const added = await runSshKeygen(['-k', '-u', '-s', caPublicKeyFile, '-f', temp, spec], {
        deadline,
        what: `add serial ${serial} to ${this.label}`,
      }).finally(() => fs.rm(spec, { force: true }).catch(() => undefined));
      if (added.code !== 0) throw new ProviderError(`could not add serial ${serial} to ${this.label}: ${keygenComplaint(added)}`);
      // Read back before it replaces the original: what sshd will read must revoke the serial.
      if (!contains(revokedSerials(await this.list(temp, deadline, true), caFingerprint), serial)) {
        throw new ProviderError(`ssh-keygen wrote a revocation list without serial ${serial}; ${this.file} was left as it was`);
      }
      const handle = await fs.open(temp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temp, this.file);
      await syncDirectory(path.dirname(this.file));
      // What is there now was read back above: the next grant need not parse it again.
      const written = await fs.stat(this.file);
      this.verified = `${written.ino}:${written.size}:${written.mtimeMs}`;
    } finally {
      await fs.rm(temp, { force: true }).catch(() => undefined);
      await release();
    }
  }

  /** `ssh-keygen -Q -l -f file`: the KRL's contents; an error when it is not a readable KRL. */
  private async list(file: string, deadline: Date, retryable: boolean): Promise<string> {
    const run = await runSshKeygen(['-Q', '-l', '-f', file], { deadline, what: `read ${this.label}` });
    if (run.code !== 0) {
      throw new ProviderError(
        `${this.label} is not a KRL ssh-keygen can read (${keygenComplaint(run)}); sshd would not revoke anything with it. Recreate it with \`ssh-keygen -k -f ${this.file}\` (and re-add the serials revoked since, listed in the audit log).`,
        retryable,
      );
    }
    return run.stdout;
  }

  private async statOrExplain(retryable: boolean): Promise<Stats> {
    let stats: Stats;
    try {
      stats = await fs.stat(this.file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ProviderError(
        code === 'ENOENT'
          ? `${this.label} does not exist. sshd refuses every key while its RevokedKeys file is missing; create an empty one with \`ssh-keygen -k -f ${this.file}\``
          : `cannot read ${this.label} (${code ?? 'error'})`,
        retryable,
      );
    }
    // A FIFO or a device would block whoever opens it; only a regular file is a revocation list.
    if (!stats.isFile()) throw new ProviderError(`${this.label} is not a regular file`, retryable);
    await fs.access(this.file, fsConstants.R_OK).catch(() => {
      throw new ProviderError(`cannot read ${this.label}: permission denied`, retryable);
    });
    return stats;
  }

  private async requireWritableDirectory(retryable: boolean): Promise<void> {
    const dir = path.dirname(this.file);
    await fs.access(dir, fsConstants.W_OK | fsConstants.X_OK).catch(() => {
      throw new ProviderError(`cannot create files in ${dir}, which replacing ${this.label} atomically needs`, retryable);
    });
  }

  /** Takes `<file>.lock` (waiting for another writer until `deadline`); resolves to its release. */
  private async lock(deadline: Date): Promise<() => Promise<void>> {
    const lockFile = `${this.file}.lock`;
    const token = `${os.hostname()} ${process.pid} ${randomBytes(6).toString('hex')}\n`;
    let delayMs = 5;
    for (;;) {
      try {
        await fs.writeFile(lockFile, token, { flag: 'wx', mode: 0o644 });
        return async () => {
          // Only ours: a writer that took over a lock it thought stale must not lose it to us.
          if ((await fs.readFile(lockFile, 'utf8').catch(() => '')) === token) await fs.rm(lockFile, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new ProviderError(`cannot take the lock ${lockFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
      }
      const age = await fs.stat(lockFile).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > LOCK_STALE_MS) {
        // Renaming it away succeeds for one contender only; that one retries the O_EXCL create.
        const aside = `${lockFile}.${randomBytes(6).toString('hex')}.stale`;
        if (
          await fs.rename(lockFile, aside).then(
            () => true,
            () => false,
          )
        )
          await fs.rm(aside, { force: true });
        continue;
      }
      if (Date.now() + delayMs >= deadline.getTime()) {
        throw new ProviderError(`${this.label} is being updated by another writer (${lockFile} is held); will retry`);
      }
      await sleep(delayMs);
      delayMs = Math.min(100, delayMs * 2);
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // So the rename itself survives a crash; not every file system lets a directory be fsynced.
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}
