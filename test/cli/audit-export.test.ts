import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Db } from 'mongodb';
import { AuditLog, AuditEvent } from '../../src/store/audit-log';
import { exportAudit, parseArgs, runCli } from '../../src/cli/audit-export';
import { testDatabase } from '../support/mongo';

let db: Db;
let uri: string;
let close: () => Promise<void>;
let log: AuditLog;

const t0 = Date.parse('2026-03-01T10:00:00.000Z');
const at = (s: number) => new Date(t0 + s * 1000);
const history: AuditEvent[] = [
  {
    _id: 'rabcdefgh:a1',
    at: at(0),
    requestId: 'rabcdefgh',
    resourceId: 'deploy-hook',
    requesterId: 'U0ALICE',
    version: 0,
    actor: 'U0ALICE',
    action: 'requested',
    to: 'pending',
    details: { reason: 'fix "prod", now\nplease', durationMs: 3600000 },
  },
  {
    _id: 'rabcdefgh:a2',
    at: at(5),
    requestId: 'rabcdefgh',
    resourceId: 'deploy-hook',
    requesterId: 'U0ALICE',
    version: 1,
    actor: 'U0BOB',
    action: 'approved',
    from: 'pending',
    to: 'granting',
  },
  {
    _id: 'rzzzzzzzz:b1',
    at: at(7),
    requestId: 'rzzzzzzzz',
    resourceId: 'db',
    requesterId: 'U0CAROL',
    version: 0,
    actor: 'U0CAROL',
    action: 'requested',
    to: 'pending',
    details: { reason: '=HYPERLINK("http://evil")' },
  },
  {
    _id: 'rabcdefgh:a3',
    at: at(6),
    requestId: 'rabcdefgh',
    resourceId: 'deploy-hook',
    requesterId: 'U0ALICE',
    version: 2,
    actor: 'system',
    action: 'granted',
    from: 'granting',
    to: 'active',
  },
];

beforeAll(async () => {
  const t = await testDatabase('audit_export');
  db = t.db;
  close = t.close;
  const base = new URL(t.uri);
  base.pathname = `/${t.dbName}`;
  uri = base.toString();
  log = new AuditLog(db);
  await log.ensureIndexes();
  await log.events.insertMany(history);
});
afterAll(() => close());

async function run(argv: string[]): Promise<string> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c) => chunks.push(c.toString()));
  await exportAudit(log, parseArgs(argv, new Date(t0 + 3600_000)), out);
  return chunks.join('');
}

describe('audit export', () => {
  it('CSV of a known history matches exactly (header, time order, quoting, formula defusing)', async () => {
    expect(await run(['--format', 'csv'])).toBe(
      [
        'at,requestId,resourceId,requesterId,actor,action,from,to,details',
        '2026-03-01T10:00:00.000Z,rabcdefgh,deploy-hook,U0ALICE,U0ALICE,requested,,pending,"{""reason"":""fix \\""prod\\"", now\\nplease"",""durationMs"":3600000}"',
        '2026-03-01T10:00:05.000Z,rabcdefgh,deploy-hook,U0ALICE,U0BOB,approved,pending,granting,',
        '2026-03-01T10:00:06.000Z,rabcdefgh,deploy-hook,U0ALICE,system,granted,granting,active,',
        '2026-03-01T10:00:07.000Z,rzzzzzzzz,db,U0CAROL,U0CAROL,requested,,pending,"{""reason"":""=HYPERLINK(\\""http://evil\\"")""}"',
        '',
      ].join('\n'),
    );
  });

  it('JSONL of a known history matches exactly', async () => {
    const lines = (await run(['--format', 'jsonl']))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual(
      history
        .slice()
        .sort((a, b) => a.at.getTime() - b.at.getTime())
        .map(({ _id, ...rest }) => ({ id: _id, ...rest, at: rest.at.toISOString() })),
    );
  });

  it('filters by time, resource and user', async () => {
    const ids = async (argv: string[]) =>
      (await run([...argv, '--format', 'jsonl']))
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).id);
    expect(await ids(['--resource', 'db'])).toEqual(['rzzzzzzzz:b1']);
    expect(await ids(['--user', 'U0BOB'])).toEqual(['rabcdefgh:a2']); // as actor
    expect(await ids(['--user', 'U0ALICE'])).toEqual(['rabcdefgh:a1', 'rabcdefgh:a2', 'rabcdefgh:a3']); // as requester
    expect(await ids(['--since', '2026-03-01T10:00:05Z', '--until', '2026-03-01T10:00:07Z'])).toEqual(['rabcdefgh:a2', 'rabcdefgh:a3']);
    expect(await ids(['--since', '30m'])).toEqual([]); // "now" is an hour after the history
    expect(await ids(['--since', '2h'])).toHaveLength(4);
  });

  it.each([
    [['--format', 'xml'], /--format: expected csv or jsonl/],
    [['--since'], /--since needs a value/],
    [['--since', 'yesterday'], /--since: expected a duration/],
    [['--user', 'bob'], /not a Slack user ID/],
    [['--bogus'], /unknown argument "--bogus"/],
    [['--since', '1h', '--until', '2h'], /--since must be before --until/],
  ])('refuses %j with exit code 2 and a clear message', async (argv, message) => {
    const err = new PassThrough();
    const chunks: string[] = [];
    err.on('data', (c) => chunks.push(c.toString()));
    expect(await runCli(argv, { MONGODB_URI: uri }, new PassThrough(), err)).toBe(2);
    expect(chunks.join('')).toMatch(message);
    expect(chunks.join('')).toContain('usage: npm run audit');
  });

  it('runs as a process: streams CSV from MONGODB_URI; exits non-zero without it or when the database is unreachable', () => {
    const cli = path.join(__dirname, '../../src/cli/audit-export.ts');
    const ok = spawnSync(process.execPath, ['-r', 'tsx/cjs', cli, '--resource', 'deploy-hook'], {
      env: { PATH: process.env.PATH, MONGODB_URI: uri },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim().split('\n')).toHaveLength(4);
    const noUri = spawnSync(process.execPath, ['-r', 'tsx/cjs', cli], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(noUri.status).toBe(2);
    expect(noUri.stderr).toContain('MONGODB_URI is not set');
    const down = spawnSync(process.execPath, ['-r', 'tsx/cjs', cli], {
      env: { PATH: process.env.PATH, MONGODB_URI: 'mongodb://auditor:s3cret@127.0.0.1:9/jit', JIT_AUDIT_TIMEOUT_MS: '500' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(down.status).toBe(1);
    expect(down.stderr).toContain('cannot read audit events from mongodb://127.0.0.1:9/jit');
    expect(down.stderr).not.toContain('s3cret');
  });
});
