import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { runExplain, parseExplainArgs } from '../../src/cli/explain';
import { FakeSlack } from '../e2e/support';
import { FakePagerDuty } from '../fakes/pagerduty';
import { testDatabase } from '../support/mongo';

const PD_TOKEN = 'pd-explain-token-0123456789';
let fake: FakeSlack;
let pd: FakePagerDuty;
let policyFile: string;

const policy = (pdUrl: string) => `
approvalChannel: C0APPROVALS
oncall:
  pagerduty: { token: "\${PD_TOKEN}", apiUrl: "${pdUrl}" }
resources:
  - id: prod-db-readonly
    name: Production DB, read-only
    approvers: { users: [U0BOB, U0CAROL], usergroups: [S0DBA] }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }
    rules:
      - name: on-call SREs
        when: '"PSCHED01" in requester.oncall'
        autoApprove: true
      - name: short reads for SREs
        when: 'request.duration <= duration("30m") && "S0SRE" in requester.usergroups'
        autoApprove: true
      - name: off hours
        when: 'now.getHours("Europe/Berlin") < 8 || now.getHours("Europe/Berlin") >= 18'
        requiredApprovals: 2
      - name: needs an incident
        when: '!request.ticket.matches("^INC-[0-9]+$")'
        deny: Production access needs an incident ticket (INC-…).
  - id: limited
    name: Limited
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }
    rules:
      - name: busy people wait
        when: 'requester.activeGrants >= 1'
        requiredApprovals: 1
      - name: otherwise at once
        when: 'true'
        autoApprove: true
  - id: plain
    name: Plain
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }
`;

beforeAll(async () => {
  fake = await FakeSlack.start();
  fake.users.set('U0ALICE', { email: 'alice@example.com', name: 'alice' });
  fake.usergroups.set('S0SRE', ['U0ALICE']);
  fake.usergroups.set('S0DBA', ['U0BOB']);
  pd = await FakePagerDuty.start(PD_TOKEN);
  pd.users.push({ id: 'PALICE', email: 'alice@example.com' });
  const dir = mkdtempSync(path.join(tmpdir(), 'jit-explain-'));
  policyFile = path.join(dir, 'policy.yml');
  writeFileSync(policyFile, policy(pd.url));
});
afterAll(async () => {
  await fake.stop();
  await pd.stop();
});
beforeEach(() => {
  pd.failWith = 0;
  pd.oncalls.clear();
});

async function explain(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const chunks = { out: '', err: '' };
  out.on('data', (c: Buffer) => (chunks.out += c.toString()));
  err.on('data', (c: Buffer) => (chunks.err += c.toString()));
  const code = await runExplain(argv, {
    env: { JIT_POLICY_FILE: policyFile, PD_TOKEN, SLACK_BOT_TOKEN: 'xoxb-explain', SLACK_API_URL: fake.apiUrl, ...env },
    out,
    err,
  });
  return { code, ...chunks };
}

// 10:00 in Berlin (winter): a working hour.
const WORKING = ['--at', '2026-01-14T09:00:00Z'];

describe('npm run check -- --explain', () => {
  it('prints every rule matched / not matched and the decision, with the facts read from Slack and PagerDuty', async () => {
    const r = await explain(['--explain', 'prod-db-readonly', '--user', 'U0ALICE', '--duration', '30m', ...WORKING]);
    expect(r.err).toBe('');
    if (r.code !== 0) throw new Error(r.out);
    expect(r.code).toBe(0);
    expect(r.out).toContain('requester.usergroups = ["S0SRE"]');
    expect(r.out).toContain('requester.oncall = []');
    expect(r.out).toContain('1. "on-call SREs" (auto-approve): not matched');
    expect(r.out).toContain('2. "short reads for SREs" (auto-approve): matched');
    expect(r.out).toContain('3. "off hours" (requiredApprovals: 2): not matched');
    expect(r.out).toContain('4. "needs an incident" (deny: Production access needs an incident ticket (INC-…).): matched');
    expect(r.out).toMatch(/decision: auto-approve by the rule "short reads for SREs"\n$/);
    expect(pd.requests.at(-1)!.headers.authorization).toBe(`Token token=${PD_TOKEN}`);
    expect(
      fake.calls
        .filter((c) => c.method === 'usergroups.users.list')
        .map((c) => c.args.usergroup)
        .sort(),
    ).toEqual(['S0DBA', 'S0SRE']);
  });

  it('a longer request without a ticket is denied by the last rule; with one it needs the resource’s approval', async () => {
    const denied = await explain(['--explain', 'prod-db-readonly', '--user', 'U0ALICE', '--duration', '1h', ...WORKING]);
    expect(denied.out).toContain('decision: deny by the rule "needs an incident": Production access needs an incident ticket (INC-…).');
    const ticket = await explain([
      '--explain',
      'prod-db-readonly',
      '--user',
      'U0ALICE',
      '--duration',
      '1h',
      '--ticket',
      'INC-42',
      ...WORKING,
    ]);
    expect(ticket.out).toContain('4. "needs an incident" (deny: Production access needs an incident ticket (INC-…).): not matched');
    expect(ticket.out).toContain('decision: needs approval (1 approval) by the resource’s own settings');
  });

  it('on call in PagerDuty: the first rule matches; --at tests the time zone rule', async () => {
    pd.oncalls.set('PALICE', [{ schedule: { id: 'PSCHED01' }, escalation_policy: { id: 'PEP1' } }]);
    const r = await explain(['--explain', 'prod-db-readonly', '--user', 'U0ALICE', '--duration', '2h', '--at', '2026-01-14T19:30:00Z']);
    expect(r.out).toContain('(on-call looked up for alice@example.com)');
    expect(r.out).toContain('requester.oncall = ["PSCHED01","PEP1"]');
    expect(r.out).toContain('1. "on-call SREs" (auto-approve): matched');
    // 20:30 in Berlin.
    expect(r.out).toContain('3. "off hours" (requiredApprovals: 2): matched');
    expect(r.out).toContain('decision: auto-approve by the rule "on-call SREs"');
  });

  it('a failing on-call source: that rule is an error, the decision falls to normal approval, exit 1, no token printed', async () => {
    pd.failWith = 503;
    const r = await explain(['--explain', 'prod-db-readonly', '--user', 'U0ALICE', '--duration', '30m', '--ticket', 'INC-1', ...WORKING]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('requester.oncall: cannot be read: PagerDuty answered HTTP 503');
    expect(r.out).toContain('1. "on-call SREs" (auto-approve): error: requester.oncall could not be read');
    expect(r.out).toContain('decision: needs approval (1 approval) (a rule could not be evaluated: fail-closed)');
    expect(r.out + r.err).not.toContain(PD_TOKEN);
  });

  it('without SLACK_BOT_TOKEN it says it cannot read Slack; --email still feeds on-call', async () => {
    const r = await explain(
      ['--explain', 'prod-db-readonly', '--user', 'U0ALICE', '--email', 'alice@example.com', '--duration', '30m', ...WORKING],
      { SLACK_BOT_TOKEN: '' },
    );
    expect(r.out).toContain('SLACK_BOT_TOKEN is not set: Slack user groups cannot be read');
    expect(r.out).toContain('requester.usergroups: cannot be read: SLACK_BOT_TOKEN is not set');
    expect(r.out).toContain('1. "on-call SREs" (auto-approve): not matched');
    expect(r.out).toContain('2. "short reads for SREs" (auto-approve): error');
    expect(r.code).toBe(1);
  });

  it('a resource without rules, an unknown resource, bad arguments and an invalid policy', async () => {
    const plain = await explain(['--explain', 'plain', '--user', 'U0ALICE']);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain('no rules: the resource’s own settings decide');
    expect(plain.out).toContain('for 1h');
    const unknown = await explain(['--explain', 'nope', '--user', 'U0ALICE']);
    expect([unknown.code, unknown.err]).toEqual([2, expect.stringContaining('no resource "nope"')]);
    expect((await explain(['--explain', 'plain'])).err).toContain('--user is required');
    expect((await explain(['--explain', 'plain', '--user', 'alice'])).err).toContain('is not a Slack user ID');
    expect((await explain(['--explain', 'plain', '--user', 'U0ALICE', '--duration', 'soon'])).code).toBe(2);
    const bad = path.join(path.dirname(policyFile), 'bad.yml');
    writeFileSync(bad, policy(pd.url).replace('\'"PSCHED01" in requester.oncall\'', "'requester.oncall + 1'"));
    const invalid = await explain(['--explain', 'plain', '--user', 'U0ALICE'], { JIT_POLICY_FILE: bad });
    expect(invalid.code).toBe(2);
    expect(invalid.err).toMatch(/^resources\[0\]\.rules\[0\]\.when: type error: /);
  });

  it('requester.activeGrants: counted in MONGODB_URI as the bot counts them, or from --active-grants, or it says it cannot', async () => {
    const mongo = await testDatabase('explain');
    try {
      await mongo.db.collection('requests').insertMany([
        { _id: 'r1' as never, requesterId: 'U0ALICE', state: 'active' },
        { _id: 'r2' as never, requesterId: 'U0ALICE', state: 'pending' },
        { _id: 'r3' as never, requesterId: 'U0BOB', state: 'active' },
      ]);
      const url = new URL(mongo.uri);
      url.pathname = `/${mongo.dbName}`;
      const counted = await explain(['--explain', 'limited', '--user', 'U0ALICE'], { MONGODB_URI: url.toString() });
      expect(counted.out).toContain('requester.activeGrants = 1');
      expect(counted.out).toContain('decision: needs approval (1 approval) by the rule "busy people wait"');
      const given = await explain(['--explain', 'limited', '--user', 'U0ALICE', '--active-grants', '0'], { MONGODB_URI: url.toString() });
      expect(given.out).toContain('(requester.activeGrants is taken from --active-grants)');
      expect(given.out).toContain('decision: auto-approve by the rule "otherwise at once"');
    } finally {
      await mongo.close();
    }
    const none = await explain(['--explain', 'limited', '--user', 'U0ALICE']);
    expect(none.out).toContain('requester.activeGrants: cannot be read: MONGODB_URI is not set');
    expect(none.code).toBe(1);
  });

  it('parses the sample request from the command line', () => {
    expect(
      parseExplainArgs([
        '--explain',
        'db',
        '--user',
        'U0A1',
        '--duration',
        '30m',
        '--ticket',
        'INC-4',
        '--reason',
        'x y',
        '--break-glass',
        '--extension',
        '--active-grants',
        '3',
      ]),
    ).toMatchObject({
      resourceId: 'db',
      userId: 'U0A1',
      duration: '30m',
      ticket: 'INC-4',
      reason: 'x y',
      breakGlass: true,
      extension: true,
      activeGrants: 3,
    });
  });
});
