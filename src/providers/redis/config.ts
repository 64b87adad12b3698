import { z } from 'zod';
import { secret } from '../secrets';

const REDIS_URL = /^rediss?:\/\/[^/?#]+/;
const URL_MESSAGE = 'expected a redis:// or rediss:// URL (redis://user:password@host:6379)';

/**
 * Target keys: one Redis deployment. ACL users are not replicated (not to replicas, not across a
 * cluster), so a deployment of several nodes lists every one of them in `urls`, and each grant
 * and revoke goes to all. The URLs carry the bot's own ACL user and password: never logged.
 */
export const redisTargetSchema = z
  .object({
    url: secret(z.string().regex(REDIS_URL, URL_MESSAGE)).optional(),
    urls: secret(z.array(z.string().regex(REDIS_URL, URL_MESSAGE)).min(1).max(64)).optional(),
    /** Per-call deadline on each node, in milliseconds (default 10 s). */
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .refine((t) => (t.url === undefined) !== (t.urls === undefined), {
    message: 'expected exactly one of url (one node) or urls (every node)',
  });

/**
 * ACL rules jit-access sets itself, so a resource's `rules` may not: the temporary user's state
 * (`on`/`off`), its passwords (`>`, `<`, `#`, `!`, `nopass`, `resetpass`) and `reset`, which grant()
 * sends first. Redis 7 selectors (`(…)`) and everything else are the resource's to choose.
 */
const RESERVED_RULE = /^(on|off|nopass|resetpass|reset|[<>#!].*)$/i;

export const redisAccessSchema = z.object({
  /** The temporary user's ACL rules, e.g. `~orders:* &orders:* +@read -@dangerous`. */
  rules: z
    .string()
    .trim()
    .min(1)
    .max(4000)
    .refine((rules) => !rules.split(/\s+/).some((rule) => RESERVED_RULE.test(rule)), {
      message: 'set only keys, channels and commands: jit-access sets the user on, with its own random password, after "reset"',
    }),
});

export type RedisTargetConfig = z.output<typeof redisTargetSchema>;
export type RedisAccess = z.output<typeof redisAccessSchema>;

/** Accounts only label the temporary user (`jit_<account>_<hash>`); the user is always created by the grant. */
export const ACCOUNT_PATTERN = /^[a-z0-9_][a-z0-9_.-]{0,63}$/i;
/** Temporary user names stay short enough to read in `ACL LIST` and `CLIENT LIST`. */
export const REDIS_USER_NAME_MAX = 64;
