import { z } from 'zod';
import { parseDuration } from '../domain/duration';

/** The policy file (README “The policy file”). Strict everywhere: an unknown key is a mistake, not a no-op. */

const userId = z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'expected a Slack user ID such as U0123ABCD');
const usergroupId = z.string().regex(/^S[A-Z0-9]{2,}$/, 'expected a Slack user group ID such as S0123ABCD');
const channelId = z.string().regex(/^[CGD][A-Z0-9]{2,}$/, 'expected a Slack channel ID such as C0123ABCD');

const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
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

/**
 * Providers and targets are only shaped here; their settings are checked against each provider
 * type's own schema, with targets merged in, by resolveProviders() (src/policy/targets.ts).
 */
const settings = z.record(z.string(), z.unknown());

/** An account in some target: which characters are allowed is each provider's business (checked at load). */
const account = z
  .string()
  .min(1, 'expected an account name')
  .max(256, 'expected an account name of at most 256 characters')
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'expected an account name without control characters');

/** `U0ALICE: alice`, or `U0BOB: { default: bob, github: bob-gh, orders-db: bob_ro }`. */
const identity = z.union([account, z.record(z.string().min(1), account)], {
  error: 'expected an account name, or a map of target name / provider type / default to account names',
});

const emailDomain = z
  .string()
  .regex(
    /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/i,
    'expected a domain name such as example.com',
  )
  .transform((d) => d.toLowerCase());

/** One approval rule (section 3.2): a CEL `when`, and exactly one of autoApprove, requiredApprovals, deny. */
const ruleSchema = z
  .object({
    name: z.string().trim().min(1, 'expected a name, shown on the approval message and in the audit log').max(80),
    when: z.string().min(1, 'expected a CEL condition, e.g. request.duration <= duration("30m")'),
    autoApprove: z.literal(true, { error: 'autoApprove in a rule can only be true (leave it out otherwise)' }).optional(),
    requiredApprovals: z.number().int().min(1).max(20).optional(),
    deny: z.string().trim().min(1, 'expected the message shown to the requester').max(500).optional(),
  })
  .strict()
  .refine((r) => [r.autoApprove, r.requiredApprovals, r.deny].filter((v) => v !== undefined).length === 1, {
    message: 'a rule does exactly one of: autoApprove: true, requiredApprovals: N, deny: <message>',
  });

const apiUrl = (fallback: string) =>
  z
    .string()
    .url()
    .refine((u) => /^https?:\/\//i.test(u), 'expected an http:// or https:// URL')
    .default(fallback);

const oncallSchema = z
  .object({
    pagerduty: z
      .object({ token: z.string().min(1), apiUrl: apiUrl('https://api.pagerduty.com') })
      .strict()
      .optional(),
    opsgenie: z
      .object({
        apiKey: z.string().min(1),
        apiUrl: apiUrl('https://api.opsgenie.com'),
        schedules: z.array(z.string().min(1).max(200)).min(1, 'expected the names of the schedules to read'),
      })
      .strict()
      .optional(),
  })
  .strict();

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
    extension: z
      .object({ requiredApprovals: z.number().int().min(0).max(20) })
      .strict()
      .optional(),
    rules: z.array(ruleSchema).max(50).default([]),
    provider: settings,
    ...limits,
  })
  .strict();

export const policyFileSchema = z
  .object({
    approvalChannel: channelId,
    admins: z.array(userId).default([]),
    defaults: z.object(limits).strict().default({}),
    /** Slack e-mails in these domains may yield an account; none: accounts come from identities only. */
    emailDomains: z.array(emailDomain).optional(),
    identities: z.record(userId, identity).optional(),
    targets: z.record(z.string(), settings).default({}),
    /** Where rules read who is on call (section 3.2). */
    oncall: oncallSchema.optional(),
    /** Filing is refused while the requester has this many active grants (all resources). */
    maxActiveGrantsPerUser: z.number().int().min(1).max(1000).optional(),
    resources: z.array(resourceSchema).min(1, 'expected at least one resource'),
  })
  .strict();

export type PolicyFile = z.output<typeof policyFileSchema>;
