import { z } from 'zod';
import { secret } from '../secrets';

/** Target keys: where to POST and how to sign. The URL is a secret too: its path or query often carries a token. */
export const webhookTargetSchema = z.object({
  url: secret(z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' })),
  secret: secret(z.string().min(16, 'expected a shared secret of at least 16 characters')),
  /** Per-call deadline in milliseconds (default 10 s). */
  timeoutMs: z.number().int().positive().max(120_000).optional(),
});

/** A webhook resource has no settings of its own: the receiver tells resources apart by `resource.id`. */
export const webhookAccessSchema = z.object({});

export type WebhookTargetConfig = z.output<typeof webhookTargetSchema>;
