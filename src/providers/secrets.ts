import type { z } from 'zod';

/**
 * Which provider settings are secrets. A provider marks a field where it declares it
 * (`url: secret(z.string()…)`), so log redaction and error scrubbing find every secret of every
 * provider without knowing any of them. Wrap the finished field schema: `secret(z.string().min(16))`,
 * not `secret(z.string()).min(16)` (zod returns a new schema for each refinement, unmarked).
 */
const SECRET_SCHEMAS = new WeakSet<object>();

export function secret<S extends z.ZodType>(schema: S): S {
  SECRET_SCHEMAS.add(schema);
  return schema;
}

/** Looks through `.optional()`, `.default()`, `.nullable()` and the like to the marked schema. */
export function isSecret(schema: z.ZodType): boolean {
  let current: unknown = schema;
  for (let depth = 0; depth < 8 && current; depth += 1) {
    if (SECRET_SCHEMAS.has(current as object)) return true;
    const def = (current as { _zod?: { def?: { innerType?: unknown; in?: unknown } } })._zod?.def;
    current = def?.innerType ?? def?.in;
  }
  return false;
}

/** The names of the secret fields of an object schema. */
export function secretKeys(schema: z.ZodObject): string[] {
  return Object.entries(schema.shape)
    .filter(([, field]) => isSecret(field as z.ZodType))
    .map(([key]) => key);
}

/**
 * The strings to cut out of logs and error texts for one secret value: the value itself and, for a
 * URL, the parts that carry credentials (password, path and query, long path segments such as
 * `…/hooks/3f9a0c…`), raw and percent-decoded. Short strings are left out: scrubbing `pw` or `api`
 * would mangle every line without protecting anything.
 */
export function secretVariants(value: unknown): string[] {
  const found: string[] = [];
  const add = (s: string | undefined) => {
    if (s && s.length >= 6) found.push(s);
  };
  const visit = (v: unknown) => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (v && typeof v === 'object') return Object.values(v).forEach(visit);
    if (typeof v !== 'string') return;
    add(v);
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      return; // Not a URL: the whole value is enough.
    }
    if (!url.host) return;
    if (url.password) add(url.password), add(safeDecode(url.password));
    if (url.pathname.length > 1 || url.search) add(`${url.pathname}${url.search}`);
    for (const param of url.searchParams.values()) add(param);
    for (const segment of url.pathname.split('/')) if (segment.length >= 16) add(segment), add(safeDecode(segment));
  };
  visit(value);
  return [...new Set(found)];
}

/** The secret values in `settings`, as `schema` marks them, with their variants. */
export function secretValuesOf(schema: z.ZodObject, settings: Record<string, unknown>): string[] {
  return secretKeys(schema).flatMap((key) => secretVariants(settings[key]));
}

/**
 * A function that replaces every occurrence of each secret with `censor`, longest first so one
 * inside another goes whole. The logs (`[REDACTED]`) and provider error texts (`***`) both use it.
 */
export function secretScrubber(secrets: readonly string[], censor = '***'): (text: string) => string {
  const longestFirst = [...secrets].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const s of longestFirst) if (out.includes(s)) out = out.split(s).join(censor);
    return out;
  };
}

/** Replaces every occurrence of each secret with `***` (see secretScrubber). */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  return secretScrubber(secrets)(text);
}

/** decodeURIComponent, or the text as it is when it is no valid encoding. */
export function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
