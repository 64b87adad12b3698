import { z } from 'zod';
import type { CheckOptions, ExtendOptions, GrantResult, GrantSubject, ProviderCallOptions, TargetProvider } from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { webhookAccessSchema, webhookTargetSchema, WebhookTargetConfig } from './config';
import { checkWebhook } from './check';
import { readExcerpt } from './response';
import { postSigned } from './post';

export { signWebhookBody, verifyWebhookSignature } from './signature';

export type WebhookAction = 'grant' | 'extend' | 'revoke';

/**
 * The JSON body receivers get (README “Providers”).
 *
 * @public
 */
export interface WebhookBody {
  action: WebhookAction;
  requestId: string;
  resource: { id: string };
  user: { slackId: string; email: string | null; account: string | null };
  reason: string;
  expiresAt: string;
}

/** One target: a receiver URL and its signing secret, shared by every resource that names it. */
export class WebhookProvider implements TargetProvider<Record<string, never>> {
  /** Host only: the path or query of a webhook URL often carries a token. */
  private readonly host: string;

  constructor(
    private readonly config: WebhookTargetConfig,
    private readonly targetName = 'webhook',
  ) {
    this.host = new URL(config.url).host;
  }

  async grant(_access: unknown, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    await this.send('grant', subject, opts.deadline, `${subject.requestId}:grant`);
    return {};
  }

  async extend(_access: unknown, subject: GrantSubject, opts: ExtendOptions): Promise<void> {
    // Each extension is its own call: a receiver that de-duplicates by key must not drop the second one.
    await this.send('extend', subject, opts.deadline, `${subject.requestId}:extend:${opts.extensionId}`);
  }

  async revoke(_access: unknown, subject: GrantSubject, opts: ProviderCallOptions): Promise<void> {
    await this.send('revoke', subject, opts.deadline, `${subject.requestId}:revoke`);
  }

  /**
   * A signed `{"action":"check"}` POST (see ./check.ts): the receiver answers, and accepts the
   * signature. Only when an operator asks: receivers are not called at every start of every replica.
   */
  async check(_access: unknown, opts: CheckOptions): Promise<string[]> {
    if (opts.occasion !== 'operator') return [];
    return checkWebhook(this.config, opts.deadline, `webhook target ${this.targetName}`);
  }

  private async send(action: WebhookAction, subject: GrantSubject, deadline: Date, idempotencyKey: string): Promise<void> {
    const what = `webhook ${action} for resource ${subject.resourceId} (${this.host})`;
    const body: WebhookBody = {
      action,
      requestId: subject.requestId,
      resource: { id: subject.resourceId },
      // Explicit nulls keep the shape fixed, so receivers need not tell "absent" from "unknown".
      user: { slackId: subject.user.slackId, email: subject.user.email ?? null, account: subject.user.account ?? null },
      reason: subject.reason,
      expiresAt: subject.expiresAt.toISOString(),
    };
    await postSigned(this.config, JSON.stringify(body), idempotencyKey, deadline, {
      answer: async (response) => {
        if (response.status >= 200 && response.status < 300) {
          // The content is irrelevant, and waiting for a slow body would only burn the budget.
          await response.body?.cancel().catch(() => undefined);
          return;
        }
        // Every failure is retryable (README “Providers”): the receiver may be deploying, or its own target down.
        const excerpt = await readExcerpt(response);
        throw new ProviderError(`${what}: HTTP ${response.status}${excerpt ? `: ${excerpt}` : ''}`);
      },
      noAnswer: (why) => {
        if (why.kind === 'deadline') throw new ProviderError(`${what}: deadline passed before the call was made`);
        throw new ProviderError(`${what}: ${why.kind === 'timeout' ? `no answer within ${why.budgetMs}ms` : why.detail}`);
      },
    });
  }
}

/**
 * The webhook provider: a signed POST into the company's own tooling. It needs no account (it sends
 * the Slack ID and e-mail, and the account when there is one), and keeps no books of its own about
 * overlaps: the receiver gets every grant and revoke with its request ID and decides.
 */
export const webhookProvider = defineProvider({
  type: 'webhook',
  target: webhookTargetSchema,
  access: webhookAccessSchema,
  account: {
    derive: 'local-part',
    need: 'optional',
    // It only travels in a JSON body: anything printable will do.
    format: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[^\u0000-\u001f\u007f]+$/, 'expected printable text of at most 256 characters'),
  },
  extension: 'native',
  overlap: 'none',
  create: (target, env) => new WebhookProvider(target, env.targetName),
});
