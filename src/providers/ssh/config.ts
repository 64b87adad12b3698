import net from 'node:net';
import { z } from 'zod';
import { secret } from '../secrets';

/** `permit` values and the certificate extensions they become (ssh-keygen(1) `-O`, PROTOCOL.certkeys). */
export const PERMIT_EXTENSIONS = {
  pty: 'permit-pty',
  'port-forwarding': 'permit-port-forwarding',
  'agent-forwarding': 'permit-agent-forwarding',
  'x11-forwarding': 'permit-X11-forwarding',
  'user-rc': 'permit-user-rc',
} as const;
export type Permit = keyof typeof PERMIT_EXTENSIONS;

/**
 * Login names a certificate may carry: no commas (ssh-keygen's list separator), no whitespace or
 * quotes (sshd's principals files), nothing that starts like an option.
 */
export const PRINCIPAL_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;
const principal = z.string().regex(PRINCIPAL_PATTERN, 'expected a login name: letters, digits, _ . @ or -, at most 64 characters');

/** `10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`: what sshd accepts in a `source-address` option. */
function isAddressOrCidr(value: string): boolean {
  const [address = '', bits, extra] = value.split('/');
  const family = net.isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/** Target keys: one user CA and the revocation list its early revocations go to. */
export const sshTargetSchema = z
  .object({
    /** The CA's private key (OpenSSH format, unencrypted), typically `${SSH_USER_CA_KEY}`. Never logged. */
    caKey: secret(
      z
        .string()
        .regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'expected a private key in OpenSSH format (-----BEGIN OPENSSH PRIVATE KEY-----)'),
    ).optional(),
    /** Or the path of that key (mode 0600, owned by the bot's user: ssh-keygen refuses others). */
    caKeyFile: z.string().min(1).optional(),
    /** The binary KRL (`ssh-keygen -k`) that sshd's `RevokedKeys` points at (or is copied from). */
    revokedKeysFile: z.string().min(1),
  })
  .refine((t) => (t.caKey === undefined) !== (t.caKeyFile === undefined), {
    message: 'set exactly one of caKey and caKeyFile',
    path: ['caKey'],
  });

/** Each resource's own keys: what its certificates allow, and where people connect. */
export const sshAccessSchema = z.object({
  /** Login names the certificate is valid for; default: the requester's account. */
  principals: z.array(principal).min(1).max(32).optional(),
  /** A `force-command`: the only command the certificate may run. */
  forceCommand: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[^\n\r\0]+$/, 'expected one line')
    .optional(),
  /** A `source-address`: the addresses (or CIDR blocks) the certificate may be used from. */
  sourceAddress: z
    .union([z.string(), z.array(z.string()).min(1)])
    .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((s) => s.trim()))
    .refine((list) => list.length <= 64 && list.every(isAddressOrCidr), 'expected IP addresses or CIDR blocks, e.g. 10.0.0.0/8, 192.0.2.7')
    .optional(),
  /** Extensions granted (ssh-keygen's `-O permit-…`); everything else is withheld. */
  permit: z.array(z.enum(Object.keys(PERMIT_EXTENSIONS) as [Permit, ...Permit[]])).default(['pty']),
  /** Shown in the `ssh` command the requester gets. */
  host: z
    .string()
    .regex(/^[A-Za-z0-9.:-]{1,253}$/, 'expected a host name or address')
    .optional(),
  port: z.number().int().min(1).max(65535).optional(),
});

export type SshTargetConfig = z.output<typeof sshTargetSchema>;
export type SshAccess = z.output<typeof sshAccessSchema>;
