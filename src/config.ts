import { z } from 'zod';
import { parseDuration, DurationError } from './domain/duration';

/** The process environment (README “Configuration”), validated once at start-up. */
const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      try {
        return parseDuration(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as DurationError).message });
        return z.NEVER;
      }
    });

/** `10/1m`: at most 10 filings per person per minute; `off`: no limit. */
const filingRate = z
  .string()
  .default('10/1m')
  .transform((text, ctx) => {
    if (/^(off|0)$/i.test(text.trim())) return undefined;
    const match = /^\s*(\d{1,6})\s*\/\s*(\S+)\s*$/.exec(text);
    try {
      if (!match || Number(match[1]) < 1) throw new DurationError('expected <count>/<duration>, e.g. 10/1m, or off');
      return { count: Number(match[1]), windowMs: parseDuration(match[2] ?? '') };
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message:
          err instanceof DurationError && match
            ? `${(err as Error).message} (expected <count>/<duration>, e.g. 10/1m, or off)`
            : (err as Error).message,
      });
      return z.NEVER;
    }
  });

/** A value still as `.env.example` ships it. */
const PLACEHOLDER = /\.\.\.$|…$/;

const envSchema = z.object({
  SLACK_BOT_TOKEN: z
    .string({ error: 'required: the bot token (xoxb-…) from the Slack app' })
    .regex(/^xoxb-/, 'expected a bot token starting with xoxb-')
    .refine((v) => !PLACEHOLDER.test(v), 'still the placeholder from .env.example: put the Bot User OAuth Token here'),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-/, 'expected an app-level token starting with xapp-')
    .refine(
      (v) => !PLACEHOLDER.test(v),
      'still the placeholder from .env.example: set the app-level token for Socket Mode, or leave it empty for HTTP mode',
    )
    .optional(),
  SLACK_API_URL: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://slack.com/api/' })
    .default('https://slack.com/api/')
    .transform((u) => (u.endsWith('/') ? u : `${u}/`)),
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'expected a mongodb:// or mongodb+srv:// URI')
    .optional(),
  JIT_POLICY_FILE: z.string().min(1).default('./policy.yml'),
  PORT: z.coerce.number({ error: 'expected a port number' }).int().min(0).max(65535).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** node-cron expression of the reconcile loop (seconds field allowed). */
  JIT_RECONCILE_CRON: z.string().min(1).default('*/15 * * * * *'),
  /** How long before expiry the requester gets the "expiring soon" DM. */
  JIT_EXPIRY_WARNING: duration('5m'),
  /** Filings (requests and extensions) one person may make per window: `10/1m`, or `off`. */
  JIT_REQUEST_RATE_LIMIT: filingRate,
  /** Where the embedded MongoDB keeps its data when MONGODB_URI is unset. */
  JIT_DATA_DIR: z.string().min(1).default('./.data'),
});

export type Config = z.output<typeof envSchema>;

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** Empty strings count as unset: `FOO=` in a .env file means "not configured". */
function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ConfigResult {
  const raw = withoutEmpty(env);
  const parsed = envSchema.safeParse(raw);
  // Checked apart from the schema so it is reported together with every other problem.
  const modeProblem =
    !raw.SLACK_APP_TOKEN && !raw.SLACK_SIGNING_SECRET
      ? ['SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)']
      : [];
  if (parsed.success && modeProblem.length === 0) return { ok: true, config: parsed.data };
  const issues = parsed.success ? [] : parsed.error.issues;
  const problems = issues.map((issue) => {
    const name = String(issue.path[0] ?? 'environment');
    const message =
      issue.code === 'invalid_type' && issue.input === undefined ? issue.message.replace(/^Invalid input.*$/, 'required') : issue.message;
    return `${name}: ${message}`;
  });
  return { ok: false, problems: [...problems, ...modeProblem] };
}

/**
 * The variables start-up refuses to go without: those with neither a default nor `optional()`
 * in the schema, plus the mode rule (a signing secret in HTTP mode, or an app token). Deployment
 * checks (test/ship) read the list from here.
 */
export function requiredVariables(mode: 'http' | 'socket'): string[] {
  const always = Object.entries(envSchema.shape)
    .filter(([, field]) => !field.safeParse(undefined).success)
    .map(([name]) => name);
  return [...always, mode === 'http' ? 'SLACK_SIGNING_SECRET' : 'SLACK_APP_TOKEN'];
}
