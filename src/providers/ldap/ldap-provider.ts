import { promises as fs } from 'node:fs';
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Attribute, Change, Client, ResultCodeError } from 'ldapts';
import { z } from 'zod';
import type {
  ExtendOptions,
  FilingCheck,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { LDAP_ACCOUNT_PATTERN, ldapAccessSchema, ldapTargetSchema } from './config';
import type { LdapAccess, LdapTargetConfig } from './config';
import { comparableDn, userDnFor, userDnMatcher } from './dn';

/*
 * Group membership in an LDAP directory (README “LDAP provider”), with ldapts. Grant adds the value,
 * revoke deletes it; "already there" (20, typeOrValueExists) and "already gone" (16, noSuchAttribute)
 * are success, which is what makes both idempotent. The value is the person's DN (`member`,
 * `uniqueMember`) or their account (`memberUid`), resolved when the request is filed:
 *
 * - `member`/`uniqueMember`: the entry at `userDN` must exist; its DN as the directory returns it is
 *   the value (the directory compares DNs case-insensitively, so `UID=Alice` and `uid=alice` are one).
 * - `memberUid`: compared case-sensitively (caseExactIA5Match), so the value is the `uid` exactly as
 *   the person's entry spells it when there is a `userDN`, else the account as given. `Alice` in
 *   memberUid would not make the login `alice` a member, and would never be revoked by `alice`.
 *
 * Every call binds on a connection of its own (StartTLS first when asked), bounded by its deadline,
 * and unbinds: no bind state to lose on a reconnect. Removing the last `member` of a groupOfNames
 * (or `uniqueMember` of a groupOfUniqueNames) breaks the schema (65, objectClassViolation): such
 * groups keep a placeholder member (README), and check() says when one is missing.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
/** A value no entry has, for check()'s harmless write probe. */
const PROBE_VALUE = { dn: 'cn=jit-access write probe,cn=invalid', uid: 'jit-access-write-probe' };

/** LDAP result codes (RFC 4511 §4.1.9) that retrying cannot fix. */
const PERMANENT_CODES: Record<number, string> = {
  2: 'protocol error (does the server support StartTLS?)',
  8: 'the server requires a stronger authentication (TLS)',
  10: 'the server refers elsewhere (a read-only replica? point url at a writable server)',
  13: 'the server requires confidentiality: use ldaps:// or startTLS: true',
  17: 'the attribute is not in the directory schema',
  21: 'the value is not valid for the attribute',
  32: 'no such entry (or the bind DN may not see it)',
  34: 'invalid DN syntax',
  48: 'inappropriate authentication',
  49: 'invalid credentials (bindDN/bindPassword)',
  50: 'insufficient access rights',
  53: 'the server is unwilling to perform it (a read-only replica?)',
  64: 'naming violation',
  65: 'object class violation',
  69: 'object class modifications prohibited',
};

/** TLS failures that are configuration: an untrusted or mismatched certificate. */
const TLS_CONFIG_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH|wrong version number/i;

function codeOf(err: unknown): number | undefined {
  return err instanceof ResultCodeError || typeof (err as { code?: unknown } | null)?.code === 'number'
    ? (err as { code: number }).code
    : undefined;
}

function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return (typeof message === 'string' ? message : String(err)).replace(/\s+/g, ' ').trim();
}

class DeadlineError extends Error {}

export class LdapProvider implements TargetProvider<LdapAccess> {
  private readonly timeoutMs: number;
  private readonly secrets: string[];
  private tlsOptions?: Promise<ConnectionOptions>;
  private readonly host: string;

  constructor(
    private readonly config: LdapTargetConfig,
    private readonly targetName: string,
  ) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.secrets = secretVariants(config.bindPassword);
    const url = new URL(config.url);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
  }

  /** TLS settings for ldaps:// and StartTLS: the server's certificate must match the host and chain to caFile (or Node's CAs). */
  private tls(): Promise<ConnectionOptions> {
    this.tlsOptions ??= (async () => {
      // SNI only for names (RFC 6066); the certificate is checked against the host either way.
      const options: ConnectionOptions = {
        host: this.host,
        ...(net.isIP(this.host) ? {} : { servername: this.host }),
        minVersion: 'TLSv1.2',
      };
      if (this.config.caFile) {
        try {
          options.ca = await fs.readFile(this.config.caFile);
        } catch (err) {
          throw new ProviderError(
            `${this.label}: cannot read caFile ${this.config.caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
            false,
          );
        }
      }
      return options;
    })();
    this.tlsOptions.catch(() => (this.tlsOptions = undefined));
    return this.tlsOptions;
  }

  private get label(): string {
    return `ldap target ${this.targetName}`;
  }

  /**
   * At filing: the person's entry exists (when there is a `userDN`), and resolves to the exact value
   * the group will hold, stored on the request as its principal.
   */
  async validate(access: LdapAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck> {
    const account = subject.user.account;
    if (account === undefined || !LDAP_ACCOUNT_PATTERN.test(account))
      return { ok: false, reason: `There is no valid directory account for you in ${this.targetName}.` };
    if (this.config.userDN === undefined) {
      if (access.memberAttribute !== 'memberUid') {
        return {
          ok: false,
          reason: `${this.targetName} has no \`userDN\`, which ${access.memberAttribute} groups need: the policy is incomplete. Tell a policy admin.`,
        };
      }
      return { ok: true, principal: account };
    }
    const userDn = userDnFor(this.config.userDN, account);
    return this.session(opts.deadline, `look up ${userDn}`, async (client) => {
      let entry: Record<string, unknown> | undefined;
      try {
        entry = (await client.search(userDn, { scope: 'base', attributes: ['uid'], sizeLimit: 1 })).searchEntries[0];
      } catch (err) {
        if (codeOf(err) !== 32) throw err;
      }
      if (!entry) {
        return {
          ok: false,
          reason: `There is no directory entry \`${userDn}\` for you in ${this.targetName}. Ask a directory admin, or a policy admin to map you to your account in \`identities\`.`,
        };
      }
      if (access.memberAttribute !== 'memberUid') return { ok: true, principal: String(entry.dn) };
      const uids = ([] as unknown[]).concat(entry.uid ?? []).map(String);
      return {
        ok: true,
        principal: uids.find((u) => u === account) ?? uids.find((u) => u.toLowerCase() === account.toLowerCase()) ?? account,
      };
    });
  }

  async holds(access: LdapAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    const value = this.valueFor(access, subject);
    return this.session(opts.deadline, `read ${access.groupDN}`, async (client) => {
      try {
        // The directory's own matching rule decides (DNs without case, memberUid exactly).
        return await client.compare(access.groupDN, access.memberAttribute, value);
      } catch (err) {
        if (codeOf(err) === 16) return false; // the group lists nobody in that attribute
        throw err;
      }
    });
  }

  async grant(access: LdapAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    const value = this.valueFor(access, subject);
    await this.session(opts.deadline, `add ${value} to ${access.groupDN}`, async (client) => {
      try {
        await client.modify(
          access.groupDN,
          new Change({ operation: 'add', modification: new Attribute({ type: access.memberAttribute, values: [value] }) }),
        );
      } catch (err) {
        if (codeOf(err) !== 20) throw err; // already a member: what a retried grant finds
      }
    });
    return {};
  }

  async extend(_access: LdapAccess, _subject: GrantSubject, _opts: ExtendOptions): Promise<void> {
    // A membership has no expiry in the directory: the bot's own timer moves, nothing to tell it.
  }

  async revoke(access: LdapAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    const value = this.valueFor(access, subject, false);
    if (value === undefined) return; // grant() refuses such subjects, so nothing was added for them
    await this.session(opts.deadline, `remove ${value} from ${access.groupDN}`, async (client) => {
      try {
        await client.modify(
          access.groupDN,
          new Change({ operation: 'delete', modification: new Attribute({ type: access.memberAttribute, values: [value] }) }),
        );
      } catch (err) {
        const code = codeOf(err);
        if (code === 16) return; // not a member (any more): nothing to take away
        if (code === 65) {
          throw new ProviderError(
            `${this.label}: ${value} is the last ${access.memberAttribute} of ${access.groupDN}, and the schema forbids an empty group (objectClassViolation, 65). ` +
              `Add a placeholder member (e.g. ${access.memberAttribute}: cn=placeholder,…) so the revocation can go through; it is retried until then`,
          );
        }
        throw err;
      }
    });
  }

  async check(access: LdapAccess, opts: ProviderCallOptions): Promise<string[]> {
    const problems: string[] = [];
    if (/^ldap:/i.test(this.config.url) && !this.config.startTLS) {
      problems.push(`${this.label}: the bind password travels in clear text over ${this.config.url}: use ldaps:// or startTLS: true`);
    }
    if (access.memberAttribute !== 'memberUid' && this.config.userDN === undefined) {
      problems.push(
        `${this.label}: memberAttribute ${access.memberAttribute} needs userDN (a template such as uid={account},ou=people,dc=example,dc=com)`,
      );
    }
    try {
      await this.session(opts.deadline, 'check', async (client) => {
        let group: Record<string, unknown> | undefined;
        try {
          group = (await client.search(access.groupDN, { scope: 'base', attributes: ['objectClass', access.memberAttribute] }))
            .searchEntries[0];
        } catch (err) {
          if (codeOf(err) !== 32) throw err;
        }
        if (!group)
          return void problems.push(`${this.label}: group ${access.groupDN} does not exist (or ${this.config.bindDN} may not read it)`);
        const classes = ([] as unknown[]).concat(group.objectClass ?? []).map((c) => String(c).toLowerCase());
        const expected: Record<string, string> = { groupofnames: 'member', groupofuniquenames: 'uniqueMember', posixgroup: 'memberUid' };
        const known = classes.filter((c) => c in expected);
        if (known.length && !known.some((c) => expected[c] === access.memberAttribute)) {
          problems.push(
            `${this.label}: ${access.groupDN} is a ${known.join(', ')}, which lists members in ${known.map((c) => expected[c]).join(', ')}, not ${access.memberAttribute}`,
          );
        }
        // A write that changes nothing: deleting a value no entry has. Allowed: noSuchAttribute (16).
        try {
          const probe = access.memberAttribute === 'memberUid' ? PROBE_VALUE.uid : PROBE_VALUE.dn;
          await client.modify(
            access.groupDN,
            new Change({ operation: 'delete', modification: new Attribute({ type: access.memberAttribute, values: [probe] }) }),
          );
        } catch (err) {
          const code = codeOf(err);
          if (code === 50)
            problems.push(
              `${this.label}: ${this.config.bindDN} may not write ${access.memberAttribute} of ${access.groupDN} (give it write access to that attribute only; see the README)`,
            );
          else if (code !== 16) problems.push(`${this.label}: probing write access to ${access.groupDN} failed: ${this.describe(err)}`);
        }
        const members = ([] as unknown[]).concat(group[access.memberAttribute] ?? []).map(String);
        if (access.memberAttribute !== 'memberUid' && this.config.userDN) {
          const isPerson = userDnMatcher(this.config.userDN);
          if (members.every(isPerson)) {
            problems.push(
              `${this.label}: ${access.groupDN} has no placeholder ${access.memberAttribute}; removing its last person would break its schema (65), and that revocation would fail until one is added`,
            );
          }
        }
      });
    } catch (err) {
      problems.push((err as Error).message);
    }
    return problems;
  }

  /** The value the group holds for the subject: what validate() resolved at filing, else derived now. */
  private valueFor(access: LdapAccess, subject: FilingSubject, strict?: true): string;
  private valueFor(access: LdapAccess, subject: FilingSubject, strict: false): string | undefined;
  private valueFor(access: LdapAccess, subject: FilingSubject, strict = true): string | undefined {
    const { account, principal } = subject.user;
    const refuse = (why: string) => {
      if (strict) throw new ProviderError(`${this.label}: ${why}`, false);
      return undefined;
    };
    if (principal !== undefined) return principal;
    if (account === undefined || !LDAP_ACCOUNT_PATTERN.test(account)) return refuse('no valid directory account for this request');
    if (access.memberAttribute === 'memberUid') return account;
    if (this.config.userDN === undefined) return refuse(`memberAttribute ${access.memberAttribute} needs userDN`);
    return userDnFor(this.config.userDN, account);
  }

  /** Connects (StartTLS if asked), binds, runs `work`, unbinds; all of it within `deadline`. */
  private async session<T>(deadline: Date, what: string, work: (client: Client) => Promise<T>): Promise<T> {
    const tls = /^ldaps:/i.test(this.config.url) || this.config.startTLS ? await this.tls() : undefined;
    const remaining = deadline.getTime() - Date.now();
    if (remaining <= 0) throw new ProviderError(`${this.label}: ${what}: deadline passed before connecting`);
    const client = new Client({
      url: this.config.url,
      timeout: remaining,
      connectTimeout: remaining,
      ...(/^ldaps:/i.test(this.config.url) ? { tlsOptions: tls } : {}),
    });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineError(`no answer within ${remaining} ms`)), remaining);
    });
    const steps = (async () => {
      if (this.config.startTLS) await client.startTLS({ ...tls });
      await client.bind(this.config.bindDN, this.config.bindPassword);
      return work(client);
    })();
    steps.catch(() => undefined); // after a deadline, its late failure is nobody's business
    try {
      return await Promise.race([steps, expired]);
    } catch (err) {
      if (err instanceof ProviderError) throw new ProviderError(this.scrub(err.message), err.retryable);
      throw new ProviderError(this.scrub(`${this.label}: ${what} failed: ${this.describe(err)}`), this.retryable(err));
    } finally {
      clearTimeout(timer);
      await client.unbind().catch(() => undefined);
    }
  }

  private retryable(err: unknown): boolean {
    const code = codeOf(err);
    if (code !== undefined) return !(code in PERMANENT_CODES);
    const text = `${(err as { code?: unknown } | null)?.code ?? ''} ${messageOf(err)}`;
    return !TLS_CONFIG_ERRORS.test(text);
  }

  private describe(err: unknown): string {
    const code = codeOf(err);
    const text = messageOf(err);
    if (code !== undefined)
      return `${PERMANENT_CODES[code] ? `${PERMANENT_CODES[code]}: ` : ''}${text.slice(0, 200)} (LDAP result ${code})`;
    const errno = (err as { code?: unknown } | null)?.code;
    const hint = TLS_CONFIG_ERRORS.test(`${errno ?? ''} ${text}`) ? '; is the server’s CA in caFile?' : '';
    return `${text}${typeof errno === 'string' ? ` (${errno})` : ''}${hint}`;
  }

  private scrub(text: string): string {
    return scrubSecrets(text, this.secrets);
  }
}

/** The ldap provider: membership of `groupDN` for the requester's directory account. */
export const ldapProvider = defineProvider({
  type: 'ldap',
  target: ldapTargetSchema,
  access: ldapAccessSchema,
  account: {
    derive: 'local-part',
    need: 'required',
    format: z
      .string()
      .regex(LDAP_ACCOUNT_PATTERN, 'expected a directory account name (uid): letters, digits, _ . or -, at most 64 characters'),
  },
  // A membership has no expiry of its own in the directory: extend() tells it nothing.
  extension: 'native',
  overlap: {
    // Two resources on one group (spelled either way) give the same membership.
    key: (access) => `${access.memberAttribute.toLowerCase()}:${comparableDn(access.groupDN)}`,
    standing: 'inspected',
  },
  create: (target, env) => new LdapProvider(target, env.targetName),
});
