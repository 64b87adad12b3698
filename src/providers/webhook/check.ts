import { randomBytes } from 'node:crypto';
import type { WebhookTargetConfig } from './config';
import { postSigned } from './post';
import { readExcerpt } from './response';

/** The body of a probe: receivers tell it from real calls by its action, and grant nothing. */
const CHECK_BODY = JSON.stringify({ action: 'check' });

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
  // Unique per probe: a receiver that de-duplicates must not answer a later probe from its cache.
  return postSigned(config, CHECK_BODY, `check:${randomBytes(8).toString('hex')}`, deadline, {
    answer: async (response) => {
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
    },
    noAnswer: (why) => {
      if (why.kind === 'deadline') return [`${where}: deadline passed before the check call was made`];
      return [`${where}: ${why.kind === 'timeout' ? `no answer within ${why.budgetMs}ms` : `unreachable: ${why.detail}`}`];
    },
  });
}
