import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { serialFor } from '../../src/providers/ssh/ssh-provider';
import type { LatencyCase } from '../lib/provider-latency';

/**
 * The ssh provider with a CA key file and a KRL in a temp dir (no sshd: signing and revoking never
 * talk to one). Grant: the provider checks the KRL is usable (cached by inode, size and mtime),
 * writes the key to a private dir and runs `ssh-keygen -s`; the bare client runs the same
 * `ssh-keygen -s` on a key file already on disk. Revoke: the provider reads the KRL, takes the lock
 * file, copies it, runs `ssh-keygen -k -u`, reads the copy back, fsyncs and renames it; the bare
 * client runs `ssh-keygen -k -u` on its own KRL in place (what an atomic, serialised and verified
 * update costs on top). Each has its own KRL, so neither finds the other's serial already there.
 */
const run = promisify(execFile);
let dir = '';

const latencyCase: LatencyCase = {
  label: 'ssh (ssh-keygen, KRL)',
  async setUp() {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'jit-bench-ssh-'));
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-ca', '-f', path.join(dir, 'ca')]);
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-user', '-f', path.join(dir, 'user')]);
    for (const krl of ['provider.krl', 'bare.krl']) await run('ssh-keygen', ['-k', '-f', path.join(dir, krl)]);
    const policy = [
      'approvalChannel: C0BENCH',
      'identities: { U0BENCH: bench }',
      'resources:',
      '  - id: bench-ssh',
      '    name: bench',
      '    approvers: { users: [U0APPROVER] }',
      `    provider: { type: ssh, caKeyFile: "${path.join(dir, 'ca')}", revokedKeysFile: "${path.join(dir, 'provider.krl')}", host: 127.0.0.1 }`,
    ].join('\n');
    return { policy, resourceId: 'bench-ssh' };
  },
  async subject(i) {
    const sshPublicKey = (await fs.readFile(path.join(dir, 'user.pub'), 'utf8')).trim();
    return {
      requestId: `rbench${String(i + 10).padStart(3, '0')}`,
      resourceId: 'bench-ssh',
      user: { slackId: 'U0BENCH', account: 'bench', sshPublicKey },
      reason: 'bench',
      expiresAt: new Date(Date.now() + 3_600_000),
    };
  },
  async bareGrant(subject) {
    const after = Math.floor(Date.now() / 1000) - 60;
    const before = Math.floor(subject.expiresAt.getTime() / 1000);
    await run('ssh-keygen', [
      '-s',
      path.join(dir, 'ca'),
      '-P',
      '',
      '-q',
      '-I',
      `jit:${subject.requestId}:U0BENCH`,
      '-n',
      'bench',
      '-z',
      serialFor(subject.requestId).toString(),
      '-V',
      `0x${after.toString(16)}:0x${before.toString(16)}`,
      '-O',
      'clear',
      '-O',
      'permit-pty',
      path.join(dir, 'user.pub'),
    ]);
  },
  async bareRevoke(subject) {
    const spec = path.join(dir, 'bare.spec');
    await fs.writeFile(spec, `serial: ${serialFor(subject.requestId)}\n`);
    await run('ssh-keygen', ['-k', '-u', '-s', path.join(dir, 'ca.pub'), '-f', path.join(dir, 'bare.krl'), spec]);
  },
  async tearDown() {
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  },
};

export default latencyCase;
