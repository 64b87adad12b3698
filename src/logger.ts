import pino, { Logger, DestinationStream } from 'pino';
import { LogLevel, type Logger as SlackLogger } from '@slack/web-api';
import type { Config } from './config';
import type { Policy } from './policy/policy';
import { safeDecode, secretScrubber, secretVariants } from './providers/secrets';

const CENSOR = '[REDACTED]';

/**
 * Keys whose values never reach the log (pino's own redaction, the first line of defence;
 * the last one is `cleanLine`, which checks every key at every depth, child bindings included).
 */
const REDACT_PATHS = [
  'token',
  'secret',
  'password',
  'url',
  'uri',
  'authorization',
  'signingSecret',
  'appToken',
  'botToken',
  'connectionString',
  '*.token',
  '*.secret',
  '*.password',
  '*.url',
  '*.uri',
  '*.authorization',
  '*.signingSecret',
  '*.appToken',
  '*.botToken',
  '*.connectionString',
  'headers.authorization',
  'headers["x-slack-signature"]',
  'headers["x-jit-signature"]',
  'config.SLACK_BOT_TOKEN',
  'config.SLACK_SIGNING_SECRET',
  'config.SLACK_APP_TOKEN',
  'config.MONGODB_URI',
];

/**
 * A key whose value is a credential or may carry one (URLs often hold tokens in their path or
 * query), wherever it appears: `token`, `SLACK_BOT_TOKEN`, `access_token`, `password`,
 * `signingSecret`, `Authorization`, `X-JIT-Signature`, `url`, `response_url`, `MONGODB_URI`, …
 */
const SENSITIVE_KEY =
  /(?:token|secret|password|passwd|passphrase|authorization|cookie|signature|credentials?|api_?key|private_?key|connection_?string|dsn|url|uri)$/i;

/** Query parameters that carry credentials (`?token=…`, `&api_key=…`, Socket Mode's `ticket`, …). */
const SECRET_PARAMS =
  'token|access_token|refresh_token|id_token|api_?key|apikey|key|secret|client_secret|password|passwd|pwd|pass|sig|signature|ticket|auth|code';

/** Secret-looking substrings scrubbed from every string in a line, where key-based redaction cannot reach. */
const SECRET_PATTERNS: Array<[RegExp, string | ((...m: string[]) => string)]> = [
  // Slack tokens: bot/user/app-level/configuration/refresh.
  [/xox[abposre]-[A-Za-z0-9-]+/g, CENSOR],
  [/xapp-[A-Za-z0-9-]+/g, CENSOR],
  // Passwords in URLs: scheme://user:password@host
  [/\b([a-z][a-z0-9+.-]*):\/\/([^:@/\s"'\\]+):([^@/\s"'\\]+)@/gi, (_m, scheme, user) => `${scheme}://${user}:${CENSOR}@`],
  // Slack response_url / incoming webhooks / workflow triggers: the path is the credential.
  [/https:\/\/hooks\.slack(?:-gov)?\.com\/[^\s"'<>\\]+/g, `https://hooks.slack.com/${CENSOR}`],
  // Credential query parameters.
  [new RegExp(`([?&;](?:${SECRET_PARAMS})=)[^&#\\s"'\\\\]+`, 'gi'), `$1${CENSOR}`],
  // HTTP credentials in text.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/g, `$1 ${CENSOR}`],
  // key=value and "key":"value" pairs in free text (libpq connection strings, JSON dumped into a message).
  [/\b(password|passwd|pwd|secret|client_secret|token|api_?key)(\s*=\s*)(?:"[^"]*"|'[^']*'|[^\s,;&"'\\]+)/gi, `$1$2${CENSOR}`],
  [
    /("(?:[A-Za-z_-]*(?:token|secret|password|passwd|signature|authorization|api_?key)|response_url|url|uri)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi,
    `$1"${CENSOR}"`,
  ],
];

/** Cheap pre-check: text without any of these cannot match SECRET_PATTERNS (most log strings). */
const MAYBE_SECRET = /xox|xapp|:\/\/|=|"|bearer|basic/i;

/** Scrubs secret-looking substrings (tokens, URL passwords, credential parameters) from free text. */
export function scrub(text: string): string {
  if (!MAYBE_SECRET.test(text)) return text;
  let out = text;
  for (const [re, replacement] of SECRET_PATTERNS) out = out.replace(re, replacement as string);
  return out;
}

/**
 * The secret values this process knows, for exact scrubbing wherever they turn up: the Slack
 * tokens and signing secret, MONGODB_URI and its password, and every provider setting marked secret.
 */
export function secretsOf(config: Partial<Config>, policy?: Policy): string[] {
  const secrets: string[] = [];
  for (const value of [config.SLACK_BOT_TOKEN, config.SLACK_SIGNING_SECRET, config.SLACK_APP_TOKEN]) if (value) secrets.push(value);
  if (config.MONGODB_URI) {
    secrets.push(...secretVariants(config.MONGODB_URI));
    // A replica-set URI (host1:27017,host2:27017) is no WHATWG URL: its password is found by hand.
    const password = /^mongodb(?:\+srv)?:\/\/[^:@/]+:([^@/]+)@/.exec(config.MONGODB_URI)?.[1];
    if (password) secrets.push(...secretVariants(password), ...secretVariants(safeDecode(password)));
  }
  // Every provider marks its own secret settings (secret() in its schema); the policy collects them.
  secrets.push(...(policy?.secrets ?? []));
  return [...new Set(secrets.filter((s) => s.length >= 6))];
}

/** Each root logger's way to add secret values, so a policy reload can add the new policy's (redactAlso). */
const SECRETS = new WeakMap<object, (values: readonly string[]) => void>();

/** Cuts `values` out of every later line of `logger` (a logger from createLogger) and of its children. */
export function redactAlso(logger: Logger, values: readonly string[]): void {
  SECRETS.get(logger)?.(values);
}

export function createLogger(level: string, destination?: DestinationStream, extraSecrets: string[] = []): Logger {
  const secrets = new Set(extraSecrets.filter((s) => typeof s === 'string' && s.length >= 6));
  let cutSecrets = secretScrubber([...secrets], CENSOR);
  const scrubAll = (text: string) => scrub(cutSecrets(text));
  const logger = pino(
    {
      level,
      base: { service: 'jit-access' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        // The finished line, child bindings and serialized errors included, is checked as a whole:
        // every string is scrubbed and every sensitive key censored, however deep.
        streamWrite: (line) => cleanLine(line, scrubAll),
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
  SECRETS.set(logger, (values) => {
    for (const value of values) if (typeof value === 'string' && value.length >= 6) secrets.add(value);
    cutSecrets = secretScrubber([...secrets], CENSOR);
  });
  return logger;
}

function cleanLine(line: string, scrubAll: (t: string) => string): string {
  const newline = line.endsWith('\n') ? '\n' : '';
  try {
    const parsed = JSON.parse(line) as unknown;
    return JSON.stringify(cleanValue(parsed, scrubAll, 0)) + newline;
  } catch {
    // Not JSON (should not happen): scrub the text as it is.
    return scrubAll(line);
  }
}

function cleanValue(value: unknown, scrubAll: (t: string) => string, depth: number): unknown {
  if (typeof value === 'string') return scrubAll(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 20) return '[Too deep]';
  if (Array.isArray(value)) return value.map((v) => cleanValue(v, scrubAll, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    out[key] =
      SENSITIVE_KEY.test(key) && v !== null && v !== undefined && v !== '' && typeof v !== 'boolean'
        ? CENSOR
        : cleanValue(v, scrubAll, depth + 1);
  }
  return out;
}

/**
 * Routes @slack/web-api, @slack/socket-mode and Bolt log output through pino, so it is JSON and
 * goes through the same redaction (their default logger writes plain text to the console).
 */
export function slackLogger(logger: Logger, component = 'slack'): SlackLogger {
  const log = logger.child({ component });
  let level = LogLevel.INFO;
  const text = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : safeJson(m))).join(' ');
  // The Web API client logs whole request and response bodies at debug level; bodies carry DMs,
  // and a DM may carry ephemeral credentials. Those lines are dropped at every level.
  const isBody = (msg: unknown[]) => typeof msg[0] === 'string' && /^http request (body|result|headers)/.test(msg[0]);
  return {
    debug: (...msg) => (isBody(msg) ? undefined : log.debug(text(msg))),
    info: (...msg) => log.info(text(msg)),
    warn: (...msg) => log.warn(text(msg)),
    error: (...msg) => log.error(text(msg)),
    setLevel: (l) => void (level = l),
    getLevel: () => level,
    setName: () => {},
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
