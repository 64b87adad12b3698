import { randomBytes } from 'node:crypto';
import { remainingMs } from '../deadline';
import type { WebhookTargetConfig } from './config';
import { describeFetchError, readExcerpt } from './response';
import { signWebhookBody } from './signature';

/** The body of a probe: receivers tell it from real calls by its action, and grant nothing. */
const CHECK_BODY = JSON.stringify({ action: 'check' });

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * `npm run check` for a webhook target: one POST of `{"action":"check"}`, signed and sent exactly as
 * grants are (same headers, same secret, no redirects followed), so what it proves holds for them.
 * Any HTTP answer proves the receiver is there. Answers that say a grant would fail are problems:
 * 401/403 (the receiver refuses the signature: a different secret?), 404/405/410 (nothing receives
 * at that URL), a redirect (grants do not follow one) and 5xx (the receiver, or a proxy before it,
 * is failing). Other answers, 2xx and a 400 or 422 from a receiver that knows no `check`, are fine.
 */
export async function checkWebhook(config: WebhookTargetConfig, deadline: Date, label = 'webhook'): Promise<string[]> {
  // Host only: the path or query of a webhook URL often carries a token.
  const host = new URL(config.url).host;
  const where = `${label}: POST to ${host}`;
  const budgetMs = Math.min(config.timeoutMs ?? DEFAULT_TIMEOUT_MS, remainingMs(deadline));
  if (budgetMs <= 0) return [`${where}: deadline passed before the check call was made`];
  const timestamp = Math.floor(Date.now() / 1000);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), budgetMs);
  try {
    let response: Response;
    try {
      response = await fetch(config.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-JIT-Timestamp': String(timestamp),
          'X-JIT-Signature': signWebhookBody(config.secret, timestamp, CHECK_BODY),
          // Unique per probe: a receiver that de-duplicates must not answer a later probe from its cache.
          'Idempotency-Key': `check:${randomBytes(8).toString('hex')}`,
        },
        body: CHECK_BODY,
        redirect: 'manual',
        signal: abort.signal,
      });
    } catch (err) {
      return [`${where}: ${abort.signal.aborted ? `no answer within ${budgetMs}ms` : `unreachable: ${describeFetchError(err)}`}`];
    }
    const status = response.status;
    const excerpt = status >= 300 ? await readExcerpt(response) : (await response.body?.cancel().catch(() => undefined), '');
    const said = `HTTP ${status}${excerpt ? `: ${excerpt}` : ''}`;
    if (status === 401 || status === 403)
      return [`${where}: the receiver refused the signed check call (${said}): does it verify with the same secret?`];
    if (status === 404 || status === 405 || status === 410) return [`${where}: nothing receives POSTs at that URL (${said})`];
    if (status >= 300 && status < 400)
      return [`${where}: the receiver redirects (${said}); grants are not sent on to another URL: use the final one`];
    if (status >= 500) return [`${where}: the receiver is failing (${said})`];
    return [];
  } finally {
    clearTimeout(timer);
  }
}
