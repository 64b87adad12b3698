import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signing, shared by the sender and by receivers (this file is the reference
 * implementation receivers can copy):
 *
 *   X-JIT-Timestamp: <unix seconds>
 *   X-JIT-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + raw body)>
 *
 * The timestamp is inside the MAC so a captured request cannot be replayed later than the
 * receiver's tolerance window; the raw body (not re-serialised JSON) is signed so receivers
 * must verify before parsing.
 */

const TIMESTAMP_HEADER = 'x-jit-timestamp';
const SIGNATURE_HEADER = 'x-jit-signature';

export function signWebhookBody(secret: string, timestamp: number | string, rawBody: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`v1:${timestamp}:`);
  mac.update(rawBody);
  return `v1=${mac.digest('hex')}`;
}

export type WebhookHeaders = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

export type WebhookVerification = { valid: true } | { valid: false; reason: string };

/**
 * Checks a request received from jit-access. Accepts Node's `req.headers`, a plain object
 * with any header-name casing, or a fetch `Headers`. Several comma-separated `v1=` values are
 * accepted so a receiver can verify during a secret rotation by calling this once per secret.
 */
export function verifyWebhookSignature(
  secret: string,
  headers: WebhookHeaders,
  rawBody: string | Buffer,
  toleranceSeconds = 300,
  now: Date = new Date(),
): WebhookVerification {
  const timestamp = headerValue(headers, TIMESTAMP_HEADER);
  const signature = headerValue(headers, SIGNATURE_HEADER);
  if (timestamp === undefined) return { valid: false, reason: 'missing X-JIT-Timestamp header' };
  if (signature === undefined) return { valid: false, reason: 'missing X-JIT-Signature header' };
  if (!/^\d{1,12}$/.test(timestamp)) return { valid: false, reason: 'malformed X-JIT-Timestamp header' };

  const ageSeconds = Math.abs(Math.floor(now.getTime() / 1000) - Number(timestamp));
  if (ageSeconds > toleranceSeconds) {
    return { valid: false, reason: `timestamp is ${ageSeconds}s away from now (tolerance ${toleranceSeconds}s)` };
  }

  const expected = Buffer.from(signWebhookBody(secret, timestamp, rawBody));
  const matches = signature
    .split(',')
    .map((candidate) => Buffer.from(candidate.trim()))
    // timingSafeEqual throws on unequal lengths; length is not secret (always 67 bytes when valid).
    .some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected));
  return matches ? { valid: true } : { valid: false, reason: 'signature mismatch' };
}

function headerValue(headers: WebhookHeaders, lowerName: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(lowerName) ?? undefined;
  }
  for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (name.toLowerCase() !== lowerName || value === undefined) continue;
    return Array.isArray(value) ? value.join(',') : value;
  }
  return undefined;
}
