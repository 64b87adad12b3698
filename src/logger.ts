import pino, { Logger, DestinationStream } from 'pino';

/** Keys whose values never reach the log, wherever they appear in a line. */
export const REDACT_PATHS = [
  'token', 'secret', 'password', 'url', 'uri', 'authorization', 'signingSecret', 'appToken', 'botToken', 'connectionString',
  '*.token', '*.secret', '*.password', '*.url', '*.uri', '*.authorization', '*.signingSecret', '*.appToken', '*.botToken', '*.connectionString',
  'headers.authorization', 'headers["x-slack-signature"]', 'headers["x-jit-signature"]', 'config.SLACK_BOT_TOKEN',
  'config.SLACK_SIGNING_SECRET', 'config.SLACK_APP_TOKEN', 'config.MONGODB_URI',
];

/** Secret-looking substrings scrubbed from messages, where key-based redaction cannot reach. */
const SECRET_PATTERNS: RegExp[] = [
  /xox[abposr]-[A-Za-z0-9-]+/g,
  /xapp-[A-Za-z0-9-]+/g,
  /(mongodb(?:\+srv)?|postgres(?:ql)?|https?):\/\/([^:@/\s]+):([^@/\s]+)@/g,
];

export function scrub(text: string): string {
  return SECRET_PATTERNS.reduce((t, re) => t.replace(re, (m, scheme?: string, user?: string) => (scheme && user ? `${scheme}://${user}:[REDACTED]@` : '[REDACTED]')), text);
}

export function createLogger(level: string, destination?: DestinationStream, extraSecrets: string[] = []): Logger {
  const secrets = extraSecrets.filter((s) => s && s.length >= 6);
  const scrubAll = (text: string) => secrets.reduce((t, s) => t.split(s).join('[REDACTED]'), scrub(text));
  return pino(
    {
      level,
      base: { service: 'jit-access' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        // Messages and error texts are free text: known secret values are cut out of them too.
        logMethod(args, method) {
          const cleaned = args.map((a) => (typeof a === 'string' ? scrubAll(a) : a && typeof a === 'object' ? scrubObject(a as Record<string, unknown>, scrubAll) : a));
          return method.apply(this, cleaned as Parameters<typeof method>);
        },
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

function scrubObject(obj: Record<string, unknown>, scrubAll: (t: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = typeof v === 'string' ? scrubAll(v) : v;
  return out;
}
