import { z } from 'zod';

export const webhookProviderConfigSchema = z
  .object({
    type: z.literal('webhook'),
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
    secret: z.string().min(16, 'expected a shared secret of at least 16 characters'),
    /** Per-call deadline in milliseconds (default 10 s). */
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .strict();

export type WebhookProviderConfig = z.infer<typeof webhookProviderConfigSchema>;
