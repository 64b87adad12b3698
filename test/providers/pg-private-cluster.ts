import { spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/ports';

/*
 * A throwaway PostgreSQL cluster whose TCP connections require SCRAM passwords. The shared test
 * server trusts every 127.0.0.1 connection, and PostgreSQL only checks passwords and VALID UNTIL
 * during password authentication, so "the credentials stop working" can only be observed here.
 * Local (unix-socket) connections stay trusted so the test itself can administer the cluster.
 */

export interface PrivateCluster {
  port: number;
  /** Unix-socket directory; connect here as `postgres` without a password. */
  socketDir: string;
  /** The server log; DDL statements are logged (log_statement = ddl). */
  logFile: string;
  stop(): void;
}

function binDir(): string | undefined {
  const fromPgConfig = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  const candidates = [fromPgConfig.status === 0 ? fromPgConfig.stdout.trim() : '', process.env.PG_BINDIR ?? ''];
  return candidates.find((dir) => dir !== '' && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
}

/** initdb refuses to run as root; as root we run the server binaries as the `postgres` user. */
function serviceUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Why a private cluster cannot be started here, or undefined if it can. */
export function privateClusterUnavailableReason(): string | undefined {
  if (process.platform === 'win32') return 'not supported on Windows';
  if (!binDir()) return 'initdb/pg_ctl not found (pg_config --bindir, or set PG_BINDIR)';
  if (process.getuid?.() === 0 && (!serviceUser() || spawnSync('runuser', ['--help']).status !== 0)) {
    return 'running as root without a postgres user and runuser';
  }
  return undefined;
}

export async function startPrivateCluster(): Promise<PrivateCluster> {
  const bin = binDir();
  if (!bin) throw new Error('initdb not found');
  const user = serviceUser();
  const dir = mkdtempSync(join(tmpdir(), 'jit-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const run = (command: string, args: string[]): SpawnSyncReturns<string> => {
    const [file, argv] = user ? ['runuser', ['-u', 'postgres', '--', join(bin, command), ...args]] : [join(bin, command), args];
    const result = spawnSync(file, argv, { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) {
      throw new Error(`${command} failed (${result.status}): ${result.stderr || result.stdout || result.error?.message}`);
    }
    return result;
  };

  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await freePort();
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--auth-host=scram-sha-256', '-N', '-E', 'UTF8']);
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c log_statement=ddl`;
    run('pg_ctl', ['-D', data, '-w', '-t', '30', '-o', options, '-l', logFile, 'start']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port,
    socketDir: dir,
    logFile,
    stop() {
      spawnSync(user ? 'runuser' : join(bin, 'pg_ctl'), [
        ...(user ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []),
        '-D',
        data,
        '-m',
        'immediate',
        '-w',
        'stop',
      ]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
