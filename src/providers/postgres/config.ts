import { z } from 'zod';

export const postgresProviderConfigSchema = z
  .object({
    type: z.literal('postgres'),
    /** Admin connection string (a role with CREATEROLE and ADMIN OPTION on `role`). Never logged. */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// connection string'),
    /** The role to grant (grant mode) or to make the ephemeral login a member of (ephemeral mode). */
    role: z.string().min(1).max(63),
    mode: z.enum(['grant', 'ephemeral']).default('grant'),
    /** Shown to users in ephemeral credentials; default: taken from `url`. */
    database: z.string().min(1).optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    /** Per-statement and connect timeout in milliseconds (default 10 s). */
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .strict();

export type PostgresProviderConfig = z.infer<typeof postgresProviderConfigSchema>;
