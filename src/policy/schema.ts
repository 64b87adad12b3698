import { z } from 'zod';
import { parseDuration } from '../domain/duration';
import { webhookProviderConfigSchema } from '../providers/webhook/config';
import { postgresProviderConfigSchema } from '../providers/postgres/config';

/** The policy file (PRODUCT.md section 3). Strict everywhere: an unknown key is a mistake, not a no-op. */

const userId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user ID such as U0123ABCD');
const usergroupId = z.string().regex(/^S[A-Z0-9]{2,}$/, 'expected a Slack user group ID such as S0123ABCD');
const channelId = z.string().regex(/^[CGD][A-Z0-9]{2,}$/, 'expected a Slack channel ID such as C0123ABCD');

const duration = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    try {
      return parseDuration(String(value));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

const limits = {
  minDuration: duration.optional(),
  maxDuration: duration.optional(),
  defaultDuration: duration.optional(),
  pendingTimeout: duration.optional(),
  remindAfter: duration.optional(),
  maxTotalDuration: duration.optional(),
  breakGlassMaxDuration: duration.optional(),
  requiredApprovals: z.number().int().min(1).max(20).optional(),
};

const people = z
  .object({
    users: z.array(userId).default([]),
    usergroups: z.array(usergroupId).default([]),
  })
  .strict();

export const providerConfigSchema = z.discriminatedUnion('type', [webhookProviderConfigSchema, postgresProviderConfigSchema], {
  error: (issue) =>
    issue.code === 'invalid_union' ? 'expected a provider with type "webhook" or "postgres"' : undefined,
});
export type ProviderConfig = z.infer<typeof providerConfigSchema>;

const resourceSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'expected lowercase letters, digits and dashes, starting with a letter or digit')
      .max(40),
    name: z.string().min(1).max(100),
    description: z.string().max(500).optional(),
    approvers: people,
    /** Who may request this resource; everyone in the workspace when absent. */
    requesters: people.optional(),
    approvalChannel: channelId.optional(),
    autoApprove: z.boolean().default(false),
    breakGlass: z.boolean().default(false),
    extension: z.object({ requiredApprovals: z.number().int().min(0).max(20) }).strict().optional(),
    provider: providerConfigSchema,
    ...limits,
  })
  .strict();

export const policyFileSchema = z
  .object({
    approvalChannel: channelId,
    admins: z.array(userId).default([]),
    defaults: z.object(limits).strict().default({}),
    identities: z
      .record(userId, z.string().regex(/^[a-z_][a-z0-9_.-]{0,62}$/i, 'expected a database-style account name'))
      .default({}),
    resources: z.array(resourceSchema).min(1, 'expected at least one resource'),
  })
  .strict();

export type PolicyFile = z.output<typeof policyFileSchema>;
export type ResourceFile = PolicyFile['resources'][number];
