/*
 * Distinguished names (RFC 4514) for the ldap provider: values escaped before they are put into a
 * DN template, and a comparison form for telling two spellings of one DN apart. The directory does
 * the authoritative matching (compare and modify use its distinguishedNameMatch); this is only for
 * the bot's own bookkeeping (overlap keys) and the start-up check.
 */

/** Escapes one attribute value for a DN (RFC 4514 §2.4): `uid=${escapeDnValue(account)},ou=people,…`. */
export function escapeDnValue(value: string): string {
  let out = value.replace(/[\\",+;<>=]/g, (c) => `\\${c}`).replace(/\u0000/g, '\\00');
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && out.length > 1) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/** `userDN` with its `{account}` filled in, escaped. */
export function userDnFor(template: string, account: string): string {
  return template.replace('{account}', escapeDnValue(account));
}

/**
 * A comparison form of a DN: attribute types and values lower-cased, spaces around separators
 * dropped (`CN=Ops, OU=Groups` and `cn=ops,ou=groups` are one DN). Case-insensitive values are what
 * the usual naming attributes (cn, ou, dc, uid) have; the directory's own matching decides the rest.
 */
export function comparableDn(dn: string): string {
  return splitRdns(dn)
    .map((rdn) =>
      rdn
        .trim()
        .replace(/\s*=\s*/, '=')
        .toLowerCase(),
    )
    .join(',');
}

/** RDNs of a DN, split on the commas that are not escaped. */
function splitRdns(dn: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < dn.length; i++) {
    const c = dn[i]!;
    if (c === '\\' && i + 1 < dn.length) {
      current += c + dn[++i];
    } else if (c === ',') {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

/** A matcher for DNs made from `template` (any account), for telling people from a placeholder. */
export function userDnMatcher(template: string): (dn: string) => boolean {
  const [before = '', after = ''] = comparableDn(template).split('{account}');
  return (dn) => {
    const c = comparableDn(dn);
    return c.length > before.length + after.length && c.startsWith(before) && c.endsWith(after);
  };
}
