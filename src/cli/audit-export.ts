import { MongoClient } from 'mongodb';
import { otherArgument, parseOrShowUsage, UsageError } from './usage';
import { parseDuration } from '../domain/duration';
import { AuditLog, AuditEvent, AuditQuery } from '../store/audit-log';

/**
 * `npm run audit -- [--since 7d] [--until …] [--resource ID] [--user SLACK_ID] [--format csv|jsonl]`
 * Streams audit events from MONGODB_URI in time order, for auditors and SIEMs.
 */

export interface ExportArgs {
  query: AuditQuery;
  format: 'csv' | 'jsonl';
}

export const USAGE =
  'usage: npm run audit -- [--since 7d|ISO-time] [--until 1d|ISO-time] [--resource ID] [--user SLACK_ID] [--request ID] [--format csv|jsonl]';

/** `7d` means seven days ago; anything else must be an ISO date or time. */
function parseTime(flag: string, value: string, now: Date): Date {
  if (/^\d+[dhms]/.test(value)) return new Date(now.getTime() - parseDuration(value));
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw new UsageError(`${flag}: expected a duration such as 7d or an ISO time such as 2026-01-31T00:00:00Z, got "${value}"`);
  return new Date(t);
}

export function parseArgs(argv: string[], now = new Date()): ExportArgs {
  const query: AuditQuery = {};
  let format: 'csv' | 'jsonl' = 'csv';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    const need = () => {
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      i++;
      return value;
    };
    switch (flag) {
      case '--since':
        query.since = parseTime(flag, need(), now);
        break;
      case '--until':
        query.until = parseTime(flag, need(), now);
        break;
      case '--resource':
        query.resourceId = need();
        if (!/^[a-z0-9][a-z0-9-]*$/.test(query.resourceId)) throw new UsageError(`--resource: "${query.resourceId}" is not a resource ID`);
        break;
      case '--user':
        query.userId = need();
        if (!/^[UW][A-Z0-9]+$/.test(query.userId)) throw new UsageError(`--user: "${query.userId}" is not a Slack user ID`);
        break;
      case '--request':
        query.requestId = need();
        break;
      case '--format': {
        const f = need();
        if (f !== 'csv' && f !== 'jsonl') throw new UsageError(`--format: expected csv or jsonl, got "${f}"`);
        format = f;
        break;
      }
      default:
        otherArgument(flag);
    }
  }
  if (query.since && query.until && query.since >= query.until) throw new UsageError('--since must be before --until');
  return { query, format };
}

export const CSV_COLUMNS = ['at', 'requestId', 'resourceId', 'requesterId', 'actor', 'action', 'from', 'to', 'details'] as const;

/** RFC 4180: quote when needed, double the quotes. A leading =,+,-,@ is defused for spreadsheets. */
export function csvField(value: unknown): string {
  let text =
    value === undefined || value === null
      ? ''
      : value instanceof Date
        ? value.toISOString()
        : typeof value === 'object'
          ? JSON.stringify(value)
          : String(value);
  if (/^[=+\-@]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(event: AuditEvent): string {
  return CSV_COLUMNS.map((c) => csvField(event[c])).join(',');
}

export function jsonLine(event: AuditEvent): string {
  const { _id, ...rest } = event;
  return JSON.stringify({ id: _id, ...rest, at: event.at.toISOString() });
}

/** Writes events as they arrive from the cursor, waiting for the stream to drain: constant memory. */
export async function exportAudit(log: AuditLog, args: ExportArgs, out: NodeJS.WritableStream): Promise<number> {
  const write = (line: string) => new Promise<void>((resolve) => (out.write(`${line}\n`) ? resolve() : out.once('drain', resolve)));
  if (args.format === 'csv') await write(CSV_COLUMNS.join(','));
  let n = 0;
  for await (const event of log.cursor(args.query)) {
    await write(args.format === 'csv' ? csvLine(event) : jsonLine(event));
    n++;
  }
  return n;
}

export async function runCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const args = parseOrShowUsage('audit', USAGE, parseArgs, argv, err);
  if (!args) return 2;
  const uri = env.MONGODB_URI;
  if (!uri) {
    err.write('audit: MONGODB_URI is not set: point it at the bot’s MongoDB (read access to audit_events is enough)\n');
    return 2;
  }
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: Number(env.JIT_AUDIT_TIMEOUT_MS ?? 5000) });
  try {
    await client.connect();
    const n = await exportAudit(new AuditLog(client.db()), args, out);
    err.write(`audit: ${n} events\n`);
    return 0;
  } catch (e) {
    const host = uri.replace(/\/\/[^@/]*@/, '//');
    err.write(`audit: cannot read audit events from ${host.split('?')[0]}: ${(e as Error).message.split('\n')[0]}\n`);
    return 1;
  } finally {
    await client.close().catch(() => {});
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), process.env, process.stdout, process.stderr).then((code) => {
    process.exitCode = code;
  });
}
