import { readFileSync } from 'node:fs';
import path from 'node:path';
import { signWebhookBody } from '../../../src/providers/webhook/signature';

/**
 * The receiver example in the README is code people paste: it is run here as written. It used to
 * throw on a signature of the right length in characters but not in bytes (timingSafeEqual needs
 * equal byte lengths); it must answer false instead.
 */
type Verify = (secret: string, headers: Record<string, string | undefined>, rawBody: string, toleranceSeconds?: number) => boolean;

function readmeVerify(): Verify {
  const readme = readFileSync(path.join(__dirname, '../../../README.md'), 'utf8');
  const block = /```js\n(const crypto = require\('node:crypto'\);\n\nfunction verify[\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('no verify() example in the README');
  return new Function('require', `${block}\nreturn verify;`)(require) as Verify;
}

describe('the README’s webhook receiver example', () => {
  const verify = readmeVerify();
  const secret = 'a-shared-secret-of-32-characters';
  const body = '{"action":"grant","requestId":"r1"}';
  const ts = String(Math.floor(Date.now() / 1000));
  const good = signWebhookBody(secret, ts, body);

  it('accepts what jit-access sends', () => {
    expect(verify(secret, { 'x-jit-timestamp': ts, 'x-jit-signature': good }, body)).toBe(true);
  });

  it('refuses, without throwing, a signature of the right length in characters but not in bytes', () => {
    const multibyte = `${good.slice(0, -1)}é`;
    expect(multibyte.length).toBe(good.length);
    expect(Buffer.byteLength(multibyte)).toBeGreaterThan(Buffer.byteLength(good));
    expect(() => verify(secret, { 'x-jit-timestamp': ts, 'x-jit-signature': multibyte }, body)).not.toThrow();
    expect(verify(secret, { 'x-jit-timestamp': ts, 'x-jit-signature': multibyte }, body)).toBe(false);
  });

  it('refuses a tampered body, a stale timestamp, and missing headers', () => {
    expect(verify(secret, { 'x-jit-timestamp': ts, 'x-jit-signature': good }, body.replace('grant', 'revoke'))).toBe(false);
    const old = String(Number(ts) - 301);
    expect(verify(secret, { 'x-jit-timestamp': old, 'x-jit-signature': signWebhookBody(secret, old, body) }, body)).toBe(false);
    expect(verify(secret, {}, body)).toBe(false);
  });
});
