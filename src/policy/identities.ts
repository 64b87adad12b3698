import { providerDefinition } from '../providers/catalog';
import type { AccountRule } from '../providers/provider';
import type { IdentityEntry, Policy, ResourceProviderConfig, Target } from './policy';

/*
 * Who gets the access (README “Who gets the access”). The account a grant is made for is, in this order:
 *   1. identities[user][<target name>], identities[user][<provider type>], identities[user].default
 *      (or identities[user] when it is a plain string);
 *   2. only if the requester's Slack e-mail is in one of `emailDomains`: derived from it (its local
 *      part, or the whole address, as the provider says);
 *   3. none: a provider that needs one refuses the request when it is filed.
 * A local part alone is never trusted: `alice@evil.example` is not `alice@example.com`, and a Slack
 * workspace can hold guests and people from other organisations with any address.
 */

/** The account rule of one resource: its provider's, with `need` worked out for the resource's settings. */
export interface ResourceAccountRule {
  derive: AccountRule<unknown>['derive'];
  need: 'required' | 'optional';
  format: AccountRule<unknown>['format'];
}

/** A resource's account rule: its provider type's, `need` worked out for the resource's own settings. */
export function accountRuleOf(provider: Pick<ResourceProviderConfig, 'type' | 'access'>): ResourceAccountRule {
  const definition = providerDefinition(provider.type);
  if (!definition) throw new Error(`unknown provider type ${JSON.stringify(provider.type)}`);
  const { derive, need, format } = definition.account;
  return { derive, format, need: typeof need === 'function' ? need(provider.access) : need };
}

export type AccountResolution = { ok: true; account?: string; source?: 'identities' | 'email' } | { ok: false; problem: string };

type Where = Pick<Target, 'name' | 'type'>;

/** The account `entry` gives on `target`, and which key gave it (for error paths). */
function explicitAccount(entry: IdentityEntry | undefined, target: Where): { account: string; key?: string } | undefined {
  if (entry === undefined) return undefined;
  if (typeof entry === 'string') return { account: entry };
  for (const key of [target.name, target.type, 'default']) {
    if (Object.hasOwn(entry, key)) return { account: entry[key]!, key };
  }
  return undefined;
}

/** Accounts compare without case: being stricter than a case-sensitive target never lets two people share one. */
function sameAccount(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The people whose `identities` give them `account` on `target`. */
export function identityOwners(policy: Pick<Policy, 'identities'>, target: Where, account: string): string[] {
  return Object.entries(policy.identities)
    .filter(([, entry]) => {
      const mapped = explicitAccount(entry, target);
      return mapped !== undefined && sameAccount(mapped.account, account);
    })
    .map(([user]) => user);
}

/** The account a request by `userId` is for on `target`, or why there is none (shown to the requester). */
export function resolveAccount(
  policy: Pick<Policy, 'identities' | 'emailDomains'>,
  target: Where,
  rule: ResourceAccountRule,
  userId: string,
  email: string | undefined,
): AccountResolution {
  const mapped = explicitAccount(policy.identities[userId], target);
  if (mapped) return { ok: true, account: mapped.account, source: 'identities' };

  const missing = (why: string): AccountResolution =>
    rule.need === 'optional' ? { ok: true } : { ok: false, problem: `You have no account in ${target.name} (${target.type}): ${why}` };
  const askAdmin = 'Ask a policy admin to add you to `identities`.';
  if (rule.derive === 'never')
    return missing(`${target.type} accounts come only from the policy's \`identities\`, which names none for you. ${askAdmin}`);
  if (policy.emailDomains.length === 0) {
    return missing(
      `the policy's \`identities\` names none for you, and it derives none from Slack e-mails (no \`emailDomains\`). ${askAdmin}`,
    );
  }
  if (!email) return missing(`\`identities\` names none for you, and your Slack profile shows no e-mail to derive one from. ${askAdmin}`);
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at).toLowerCase();
  const domain = email.slice(at + 1).toLowerCase();
  if (at <= 0 || !policy.emailDomains.includes(domain)) {
    return missing(
      `\`identities\` names none for you, and accounts are derived only from Slack e-mails in ${policy.emailDomains.join(', ')}, which yours is not. ${askAdmin}`,
    );
  }
  const derived = rule.derive === 'email' ? email.toLowerCase() : local;
  const fits = rule.format.safeParse(derived);
  if (!fits.success) {
    // The derived value is left out: it comes from a profile the requester controls, and ends up in Slack.
    return {
      ok: false,
      problem: `The account derived from your Slack e-mail is not a valid ${target.type} account for ${target.name} (${fits.error.issues[0]?.message ?? 'invalid'}). ${askAdmin}`,
    };
  }
  return { ok: true, account: derived, source: 'email' };
}

/**
 * Start-up checks of `identities`: every key of a per-target map names a target, a provider type or
 * `default`; every mapped account fits its target's format; no two people share an account on one
 * target. `problem` gets one line per problem.
 */
export function checkIdentities(
  policy: Pick<Policy, 'identities' | 'targets'>,
  problem: (path: PropertyKey[], message: string) => void,
): void {
  const targets = Object.values(policy.targets);
  const names = new Set(targets.map((t) => t.name));
  const types = new Set(targets.map((t) => t.type));
  for (const [user, entry] of Object.entries(policy.identities)) {
    if (typeof entry === 'string') continue;
    for (const key of Object.keys(entry)) {
      if (key === 'default' || names.has(key) || types.has(key) || providerDefinition(key)) continue;
      problem(
        ['identities', user, key],
        `no target or provider type "${key}" (targets: ${[...names].join(', ') || 'none'}; or a provider type, or default)`,
      );
    }
  }

  const reported = new Set<string>();
  const shared = new Map<string, { users: [string, string]; account: string; targets: string[] }>();
  for (const target of targets) {
    const format = providerDefinition(target.type)!.account.format;
    const owners = new Map<string, string>();
    for (const [user, entry] of Object.entries(policy.identities)) {
      const mapped = explicitAccount(entry, target);
      if (!mapped) continue;
      const fits = format.safeParse(mapped.account);
      const path = mapped.key === undefined ? ['identities', user] : ['identities', user, mapped.key];
      if (!fits.success) {
        // Once per entry and provider type: a plain string used by five postgres targets is one mistake.
        const once = `${path.join('.')}:${target.type}`;
        if (!reported.has(once)) {
          reported.add(once);
          problem(path, `not a valid account for ${target.type} target ${target.name}: ${fits.error.issues[0]?.message ?? 'invalid'}`);
        }
        continue;
      }
      const lower = mapped.account.toLowerCase();
      const first = owners.get(lower);
      if (first === undefined) {
        owners.set(lower, user);
        continue;
      }
      const pair = `${first}\u0000${user}\u0000${lower}`;
      const entryOf = shared.get(pair) ?? { users: [first, user] as [string, string], account: mapped.account, targets: [] };
      entryOf.targets.push(target.name);
      shared.set(pair, entryOf);
    }
  }
  for (const { users, account, targets: on } of shared.values()) {
    problem(
      ['identities', users[1]],
      `${users[0]} and ${users[1]} both map to account "${account}" on ${on.length === 1 ? 'target' : 'targets'} ${on.join(', ')}: an account belongs to one person`,
    );
  }
}
