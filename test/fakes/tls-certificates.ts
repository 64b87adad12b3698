import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A throw-away certificate authority and a server certificate for 127.0.0.1, made with openssl
 * when a test starts (so no key material lives in the repository and nothing expires in it): for
 * fakes that clients only trust through a CA they are given, as kubeconfig's
 * `certificate-authority-data`. openssl's presence is decided at import time, like the test
 * servers': absent, the tests that need it skip with the reason printed, except with CI=true
 * (.ci/run installs it), where it is a failure.
 */
export interface TestCertificates {
  /** PEM of the CA certificate the client trusts. */
  ca: string;
  key: string;
  cert: string;
}

const probe = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const unavailable = probe.status === 0 ? undefined : (probe.error?.message ?? probe.stderr ?? 'openssl failed').trim();
if (unavailable !== undefined) {
  if (process.env.CI === 'true') throw new Error(`openssl is required in CI (TLS fakes) but cannot run: ${unavailable}`);
  console.warn(`Skipping tests that need TLS certificates: openssl cannot run (${unavailable})`);
}

const opensslAvailable = unavailable === undefined;
/** `describe` when openssl can make certificates, `describe.skip` otherwise (outside CI). */
export const describeWithOpenssl = opensslAvailable ? describe : describe.skip;

function openssl(args: string[], cwd: string): void {
  const run = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`openssl ${args[0]} failed: ${run.stderr}`);
}

export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(path.join(tmpdir(), 'jit-tls-'));
  try {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '2',
        '-subj',
        '/CN=jit-access test CA',
      ],
      dir,
    );
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1'], dir);
    writeFileSync(
      path.join(dir, 'ext.cnf'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        'server.crt',
        '-days',
        '2',
        '-extfile',
        'ext.cnf',
      ],
      dir,
    );
    const read = (f: string) => readFileSync(path.join(dir, f), 'utf8');
    return { ca: read('ca.crt'), key: read('server.key'), cert: read('server.crt') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
