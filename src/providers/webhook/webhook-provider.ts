import type { GrantResult, GrantSubject, Provider, ProviderCallOptions } from '../provider';
import { ProviderError } from '../provider';
import type { WebhookProviderConfig } from './config';
import { signWebhookBody } from './signature';

export { signWebhookBody, verifyWebhookSignature } from './signature';
export type { WebhookHeaders, WebhookVerification } from './signature';

export type WebhookAction = 'grant' | 'extend' | 'revoke';

/** The JSON body receivers get (PRODUCT.md §6). */
export interface WebhookBody {
  action: WebhookAction;
  requestId: string;
  resource: { id: string };
  user: { slackId: string; email: string | null; account: string | null };
  reason: string;
  expiresAt: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Enough of an error page to diagnose, not so much that it floods logs and Slack. */
const MAX_BODY_EXCERPT = 200;

export class WebhookProvider implements Provider {
  readonly type = 'webhook';
  /** Host only: the path or query of a webhook URL often carries a token. */
  private readonly target: string;

  constructor(
    private readonly config: WebhookProviderConfig,
    private readonly resourceId: string,
  ) {
    this.target = new URL(config.url).host;
  }

  async grant(subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    await this.send('grant', subject, opts.deadline);
    return {};
  }

  async extend(subject: GrantSubject, opts: ProviderCallOptions): Promise<void> {
    await this.send('extend', subject, opts.deadline);
  }

  async revoke(subject: GrantSubject, opts: ProviderCallOptions): Promise<void> {
    await this.send('revoke', subject, opts.deadline);
  }

  private async send(action: WebhookAction, subject: GrantSubject, deadline: Date): Promise<void> {
    const what = `webhook ${action} for resource ${this.resourceId} (${this.target})`;
    const budgetMs = Math.min(this.config.timeoutMs ?? DEFAULT_TIMEOUT_MS, deadline.getTime() - Date.now());
    if (budgetMs <= 0) throw new ProviderError(`${what}: deadline passed before the call was made`);

    const body: WebhookBody = {
      action,
      requestId: subject.requestId,
      resource: { id: subject.resourceId },
      // Explicit nulls keep the shape fixed, so receivers need not tell "absent" from "unknown".
      user: { slackId: subject.user.slackId, email: subject.user.email ?? null, account: subject.user.account ?? null },
      reason: subject.reason,
      expiresAt: subject.expiresAt.toISOString(),
    };
    const rawBody = JSON.stringify(body);
    const timestamp = Math.floor(Date.now() / 1000);

    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), budgetMs);
    try {
      let response: Response;
      try {
        response = await fetch(this.config.url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'X-JIT-Timestamp': String(timestamp),
            'X-JIT-Signature': signWebhookBody(this.config.secret, timestamp, rawBody),
            'Idempotency-Key': `${subject.requestId}:${action}`,
          },
          body: rawBody,
          // A redirect would re-send (or, for 301/302, silently drop) the signed body elsewhere;
          // treat it as the non-2xx it is.
          redirect: 'manual',
          signal: abort.signal,
        });
      } catch (err) {
        throw new ProviderError(`${what}: ${abort.signal.aborted ? `no answer within ${budgetMs}ms` : describeFetchError(err)}`);
      }

      if (response.status >= 200 && response.status < 300) {
        // The content is irrelevant, and waiting for a slow body would only burn the budget.
        await response.body?.cancel().catch(() => undefined);
        return;
      }
      const excerpt = await readExcerpt(response);
      throw new ProviderError(`${what}: HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * `fetch` reports network failures as "fetch failed" with the useful part in `cause`. Duck-typed
 * because undici's errors can come from another realm (e.g. under jest), defeating instanceof.
 */
function describeFetchError(err: unknown): string {
  const { message, cause } = (err ?? {}) as { message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const text = typeof message === 'string' ? message : String(err);
  if (typeof cause?.code === 'string') return `${text} (${cause.code})`;
  if (typeof cause?.message === 'string') return `${text} (${cause.message})`;
  return text;
}

async function readExcerpt(response: Response): Promise<string> {
  try {
    const text = (await response.text()).replace(/\s+/g, ' ').trim();
    return text.length > MAX_BODY_EXCERPT ? `${text.slice(0, MAX_BODY_EXCERPT)}…` : text;
  } catch {
    // The deadline can fire while the error body is still arriving; the status alone is enough.
    return '';
  }
}
