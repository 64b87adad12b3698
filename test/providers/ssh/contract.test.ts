import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describeProviderContract, Given } from '../contract';
import { describeWithSshd } from '../ssh-available';
import { TestSshd, UserKey } from '../../support/sshd';

/*
 * The ssh provider against a real sshd (test/support/sshd.ts: its own config, trusting the test
 * CA, reading the test KRL). "Has access" means what it means for people: the certificate the
 * requester was sent, with their private key, logs in and runs a command.
 */
let sshd: TestSshd;
const run = randomBytes(3).toString('hex');
let n = 0;
/** Each account's key pair, by account and by public key (what the subject carries). */
const keysByAccount = new Map<string, UserKey>();
const keysByPublic = new Map<string, UserKey>();
let anyoneKey: UserKey;

async function keyFor(name: string): Promise<UserKey> {
  const key = await sshd.newUserKey(name);
  keysByPublic.set(key.publicKey, key);
  return key;
}

/** The certificate line in what the requester was sent. */
function certificateIn(given: Given): string | undefined {
  return given?.fields.find((f) => f.label.startsWith('Certificate'))?.value;
}

describeProviderContract(
  {
    type: 'ssh',
    secretKeys: ['caKey'],
    setUp: async () => {
      sshd = await TestSshd.start();
      anyoneKey = await keyFor('anyone');
    },
    tearDown: () => sshd?.stop(),
    target: () => ({ caKey: sshd.caKey, revokedKeysFile: sshd.krlFile }),
    access: () => ({}),
    // ssh-keygen blocks opening a FIFO nobody writes to: a CA key store that never answers.
    hangingTarget: () => {
      const fifo = path.join(sshd.dir, `hanging-ca-${++n}`);
      execFileSync('mkfifo', ['-m', '600', fifo]);
      return { caKeyFile: fifo, revokedKeysFile: sshd.krlFile };
    },
    newAccount: async () => {
      const account = `c${++n}_${run}`;
      await sshd.allowPrincipals(account);
      keysByAccount.set(account, await keyFor(account));
      return account;
    },
    registered: (account) => ({ sshPublicKey: (account ? keysByAccount.get(account) : undefined)?.publicKey ?? anyoneKey.publicKey }),
    hasAccess: async (subject, _details, given) => {
      const certificate = certificateIn(given);
      if (certificate === undefined) return false; // nothing was ever handed out for this request
      const key = keysByPublic.get(subject.user.sshPublicKey!)!;
      const login = await sshd.login(key, await sshd.saveCertificate(key, certificate, `${subject.requestId}-${++n}`));
      return login.code === 0 && login.stdout.trim() === 'jit-ok';
    },
    failGrants: {
      permanent: true,
      // No KRL: an early revocation could not be recorded, so no certificate is issued until it is back.
      arrange: async () => {
        const away = `${sshd.krlFile}.away`;
        await fs.rename(sshd.krlFile, away);
        return () => fs.rename(away, sshd.krlFile);
      },
    },
  },
  describeWithSshd,
);
