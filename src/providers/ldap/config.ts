import { z } from 'zod';
import { secret } from '../secrets';

/** A DN as written in the policy: `attr=value` parts, no control characters. */
const dn = (what: string) =>
  z
    .string()
    .min(3)
    .max(1024)
    .regex(/^[A-Za-z][A-Za-z0-9-]*\s*=.+/, `expected ${what}, e.g. cn=ops,ou=groups,dc=example,dc=com`)
    .regex(/^[^\u0000-\u001f]+$/, `expected ${what} without control characters`);

/** Target keys: one directory, the bot's bind, and where people's entries are. */
export const ldapTargetSchema = z
  .object({
    url: z.string().regex(/^ldaps?:\/\/[^/?#\s]+\/?$/i, 'expected ldap://host[:port] or ldaps://host[:port]'),
    /** StartTLS on an ldap:// URL before binding (the bind password never travels in clear text). */
    startTLS: z.boolean().default(false),
    bindDN: dn('the DN the bot binds as'),
    /** Never logged. */
    bindPassword: secret(z.string().min(1)),
    /** `uid={account},ou=people,dc=example,dc=com`: a person's entry (required unless every group uses memberUid). */
    userDN: dn('a DN template')
      .refine((t) => t.split('{account}').length === 2, 'expected exactly one {account} in the template')
      .optional(),
    /** PEM file of the CA certificates that sign the server's certificate (ldaps://, startTLS); default: Node's. */
    caFile: z.string().min(1).optional(),
    /** Per-call deadline in milliseconds (default 10 s). */
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .refine((t) => !(t.startTLS && /^ldaps:/i.test(t.url)), {
    message: 'startTLS is for ldap:// URLs; an ldaps:// URL is TLS from the start',
    path: ['startTLS'],
  });

/** Each resource's own keys: the group, and how it lists its members. */
export const ldapAccessSchema = z.object({
  groupDN: dn('the group DN'),
  /** `member` (groupOfNames, a DN), `uniqueMember` (groupOfUniqueNames, a DN) or `memberUid` (posixGroup, the account itself). */
  memberAttribute: z.enum(['member', 'uniqueMember', 'memberUid']).default('member'),
});

export type LdapTargetConfig = z.output<typeof ldapTargetSchema>;
export type LdapAccess = z.output<typeof ldapAccessSchema>;

/** Directory account names (uid): what a posix login or a DN value can safely be. */
export const LDAP_ACCOUNT_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
