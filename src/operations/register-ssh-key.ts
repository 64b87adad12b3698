import { UserError } from '../domain/errors';
import { parseSshPublicKey } from '../domain/ssh-public-key';
import type { RegisteredSshKey } from '../store/ssh-keys';
import { SshKeyTakenError } from '../store/ssh-keys';
import type { OperationContext } from './ports';

/**
 * `/jit-access ssh-key <public key>`: registers (or replaces) the caller's SSH public key, which
 * `ssh` resources certify (README “Using it”). The key is checked first (format, type, size; a private
 * key pasted by mistake is refused with a warning, and never stored, logged or echoed). Requests
 * already filed keep the key they were filed with.
 */
export async function registerSshKey(ctx: OperationContext, userId: string, text: string): Promise<RegisteredSshKey> {
  const parsed = parseSshPublicKey(text);
  if (!parsed.ok) throw new UserError(parsed.problem);
  const { key } = parsed;
  const registered: RegisteredSshKey = {
    _id: userId,
    publicKey: key.line,
    fingerprint: key.fingerprint,
    type: key.type,
    bits: key.bits,
    registeredAt: ctx.now(),
  };
  try {
    await ctx.store.sshKeys.register(registered);
  } catch (err) {
    if (err instanceof SshKeyTakenError) {
      throw new UserError(
        `That key (\`${key.fingerprint}\`) is registered to someone else: each person registers their own key. Make one with \`ssh-keygen -t ed25519\`.`,
      );
    }
    throw err;
  }
  ctx.logger.info({ user: userId, fingerprint: key.fingerprint, keyType: key.type, bits: key.bits }, 'ssh key registered');
  return registered;
}

/** `/jit-access ssh-key` alone: the caller's registered key, if any. */
export function registeredSshKey(ctx: OperationContext, userId: string): Promise<RegisteredSshKey | null> {
  return ctx.store.sshKeys.get(userId);
}
