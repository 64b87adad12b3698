import { z } from 'zod';
import { secret } from '../secrets';

/** Target keys: one PostgreSQL cluster (database), one pool. */
export const postgresTargetSchema = z.object({
  /** Admin connection string (a role with CREATEROLE and ADMIN OPTION on each role handed out). Never logged. */
  url: secret(z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// connection string')),
  /** Shown to users in ephemeral credentials; default: taken from `url`. */
  database: z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  /** Per-statement and connect timeout in milliseconds (default 10 s). */
  timeoutMs: z.number().int().positive().max(120_000).optional(),
});

/** Each resource's own keys: which role, and how it is handed out. */
export const postgresAccessSchema = z.object({
  /** The role to grant (grant mode) or to make the ephemeral login a member of (ephemeral mode). */
  role: z.string().min(1).max(63),
  mode: z.enum(['grant', 'ephemeral']).default('grant'),
});

export type PostgresTargetConfig = z.output<typeof postgresTargetSchema>;
export type PostgresAccess = z.output<typeof postgresAccessSchema>;
/** Target and access settings together, as an inline `provider:` writes them. */
export type PostgresProviderConfig = PostgresTargetConfig & PostgresAccess;

/** Identifier-safe database account names; anything else is refused rather than quoted. */
export const ACCOUNT_PATTERN = /^[a-z_][a-z0-9_.-]{0,62}$/i;
