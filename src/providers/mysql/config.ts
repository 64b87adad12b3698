import { z } from 'zod';
import { secret } from '../secrets';

/*
 * Names that reach SQL are quoted as string literals by sqlString() (dialect.ts), which doubles
 * quotes and refuses backslashes: a backslash means something different with and without the
 * server's NO_BACKSLASH_ESCAPES mode, so a name holding one cannot be quoted safely for both.
 * Everything else a DBA might put in a role name is allowed.
 */
const QUOTABLE = /^[^\\\u0000-\u001f]+$/;

/** Target keys: one MySQL or MariaDB server, one connection pool. */
export const mysqlTargetSchema = z.object({
  /**
   * Admin connection string, `mysql://jit_admin:…@host:3306/jit_access`. The database in the path
   * (optional) is the bot's own schema: where the expiry events live and where the
   * `jit_set_default_role` helper procedure is looked for (README). Never logged.
   */
  url: secret(z.string().regex(/^mysql:\/\/[^/?#]+/, 'expected a mysql://user:password@host:port[/database] connection string')),
  /** Shown to the requester with ephemeral credentials; default: the host and port of `url`. */
  host: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  /** Shown to the requester (the database they will want); default: none. */
  database: z.string().min(1).optional(),
  /** Per-statement and connect timeout in milliseconds (default 10 s). */
  timeoutMs: z.number().int().positive().max(120_000).optional(),
});

/** Each resource's own keys: which role, for which host part of the account, handed out how. */
export const mysqlAccessSchema = z.object({
  /** The role to grant (grant mode) or to give the ephemeral user as its default role. */
  role: z.string().min(1).max(128).regex(QUOTABLE, 'expected a role name without backslashes or control characters'),
  mode: z.enum(['grant', 'ephemeral']).default('grant'),
  /**
   * The host part of the account: `'alice'@'%'` and `'alice'@'localhost'` are different accounts,
   * with different privileges. Grant mode grants to `'<account>'@'<accountHost>'`; ephemeral mode
   * creates `'jit_…'@'<accountHost>'`.
   */
  accountHost: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9_.%:/-]+$/, 'expected a host name, an IP address, a netmask (10.0.0.0/255.0.0.0) or a pattern with % and _')
    .default('%'),
});

export type MysqlTargetConfig = z.output<typeof mysqlTargetSchema>;
export type MysqlAccess = z.output<typeof mysqlAccessSchema>;

/**
 * Account (user) names jit-access grants to: letters, digits, `_ . -`, up to 80 characters (what
 * MariaDB documents; the MariaDB 10.11 tested here takes 128; MySQL 8 takes 32, checked at filing).
 */
export const ACCOUNT_PATTERN = /^[a-z0-9_][a-z0-9_.-]{0,79}$/i;
/** MySQL 8's limit on user names; every ephemeral user's name fits it, whatever the server. */
export const MYSQL_USER_NAME_MAX = 32;
