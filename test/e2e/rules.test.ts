import { startTestBot, TestBot, waitUntil } from './harness';
import { FakePagerDuty } from '../fakes/pagerduty';
import { FakeOpsgenie } from '../fakes/opsgenie';
import type { AccessRequest } from '../../src/domain/request';

/**
 * Approval rules (PRODUCT.md section 3.2) through the real app: signed slash commands and clicks,
 * the fake Slack Web API, local PagerDuty and Opsgenie fakes, and MongoDB.
 */

const PD_TOKEN = 'pd-e2e-token-0123456789';
const OG_KEY = 'og-e2e-key-0123456789';
const hook = (extra = '') => `provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }${extra}`;

const policy = (pd: string, og: string) => `
approvalChannel: C0APPROVALS
admins: [U0ADMIN]
defaults:
  minDuration: 1s
  maxDuration: 4h
identities:
  U0ALICE: alice
oncall:
  pagerduty: { token: "\${PD_TOKEN}", apiUrl: "${pd}" }
  opsgenie: { apiKey: "\${OG_KEY}", apiUrl: "${og}", schedules: [sre-primary] }
resources:
  - id: prod-db
    name: Production DB
    approvers: { users: [U0BOB, U0CAROL] }
    ${hook()}
    rules:
      - name: short reads
        when: 'request.duration <= duration("30m")'
        autoApprove: true
      - name: no long extensions
        when: 'request.extension && request.duration > duration("2h")'
        deny: Extensions are at most 2h; request again instead.
  - id: sre-box
    name: SRE box
    approvers: { users: [U0BOB] }
    ${hook()}
    rules:
      - name: SREs
        when: '"S0SRE" in requester.usergroups'
        autoApprove: true
  - id: incident-only
    name: Incident DB
    approvers: { users: [U0BOB] }
    ${hook()}
    rules:
      - name: needs an incident
        when: '!request.ticket.matches("^INC-[0-9]+$")'
        deny: Production access needs an incident ticket (INC-…).
  - id: two-person
    name: Writes
    approvers: { users: [U0BOB, U0CAROL] }
    ${hook()}
    rules:
      - name: writes need two
        when: 'request.reason.contains("write")'
        requiredApprovals: 2
  - id: glass
    name: Break-glass box
    approvers: { users: [U0BOB, U0CAROL] }
    requesters: { users: [U0ALICE] }
    breakGlass: true
    ${hook()}
    rules:
      - name: break-glass needs an incident
        when: 'request.breakGlass && !request.ticket.matches("^INC-[0-9]+$")'
        deny: Break-glass needs the incident ticket.
      - name: everything else needs two
        when: 'true'
        requiredApprovals: 2
  - id: regex-box
    name: Regex box
    approvers: { users: [U0BOB] }
    ${hook()}
    rules:
      - name: catastrophic
        when: 'request.reason.matches("^(a+)+$")'
        autoApprove: true
  - id: pd-oncall
    name: PagerDuty on-call box
    approvers: { users: [U0BOB] }
    ${hook()}
    rules:
      - name: on-call SREs
        when: '"PSCHED01" in requester.oncall'
        autoApprove: true
  - id: og-oncall
    name: Opsgenie on-call box
    approvers: { users: [U0BOB] }
    ${hook()}
    rules:
      - name: primary on call
        when: '"sre-primary" in requester.oncall'
        autoApprove: true
`;

let t: TestBot;
let pd: FakePagerDuty;
let og: FakeOpsgenie;

beforeAll(async () => {
  pd = await FakePagerDuty.start(PD_TOKEN);
  og = await FakeOpsgenie.start(OG_KEY);
  pd.users.push({ id: 'PALICE', email: 'alice@example.com' }, { id: 'PDAVE', email: 'dave@example.com' });
  pd.oncalls.set('PDAVE', [{ schedule: { id: 'PSCHED01' }, escalation_policy: { id: 'PEP01' } }]);
  pd.oncalls.set('PALICE', [{ schedule: { id: 'PSCHED01' }, escalation_policy: { id: 'PEP01' } }]);
  og.schedules.set('sre-primary', ['Alice@Example.com']);
  t = await startTestBot({ policy: policy(pd.url, og.url), env: { PD_TOKEN, OG_KEY, JIT_REQUEST_RATE_LIMIT: 'off' } });
  t.fake.users.set('U0SRE1', { email: 'sre1@example.com', name: 'sre1' });
  t.fake.users.set('U0CAROL', { email: 'carol@example.com', name: 'carol' });
  t.fake.users.set('U0DAVE', { email: 'dave@example.com', name: 'dave' });
});
afterAll(async () => {
  await t.stop();
  await pd.stop();
  await og.stop();
});
beforeEach(async () => {
  t.fake.heal();
  t.hook.respondWith(200);
  pd.failWith = 0;
  og.failWith = 0;
  await t.requests().updateMany({ openKey: { $exists: true } }, { $set: { state: 'cancelled' }, $unset: { openKey: '' } });
});

const requests = () => t.requests();

/** Files with the slash command; returns the ephemeral answer and the request (if one was stored). */
async function file(user: string, text: string): Promise<{ answer: string; req?: AccessRequest }> {
  const res = await t.slack.command(user, text);
  expect(res.status).toBe(200);
  const answer = String((await t.fake.waitForResponse((r) => r.id === res.responseId, 10_000)).body.text);
  const id = /`(r[a-z0-9]{8})`/.exec(answer)?.[1];
  return { answer, req: id ? ((await requests().findOne({ _id: id })) ?? undefined) : undefined };
}

async function settled(id: string, state: string): Promise<AccessRequest> {
  return waitUntil(
    async () => {
      const r = await requests().findOne({ _id: id });
      return r?.state === state ? r : undefined;
    },
    10_000,
    `${id} to be ${state}`,
  );
}

async function approvalMessage(id: string, includes: string): Promise<string> {
  return waitUntil(
    async () => {
      const calls = t.fake.calls.filter(
        (c) =>
          (c.method === 'chat.postMessage' || c.method === 'chat.update') &&
          !c.failed &&
          !c.args.thread_ts &&
          JSON.stringify(c.args.blocks ?? '').includes(id),
      );
      const last = calls.at(-1);
      const text = last ? JSON.stringify(last.args.blocks) : '';
      return text.includes(includes) ? text : undefined;
    },
    10_000,
    `the approval message of ${id} to say ${includes}`,
  );
}

async function filedEvent(id: string) {
  return waitUntil(() => t.auditEvents().findOne({ requestId: id, action: 'requested' }), 5000, 'the requested event');
}

async function click(user: string, id: string) {
  const res = await t.slack.blockAction(user, { action_id: 'approve_request', value: id }, { channel: 'C0APPROVALS' });
  expect(res.status).toBe(200);
}

describe('approval rules through the real app', () => {
  it('a duration rule auto-approves a 30m request, names the rule on the approval message and in the audit log', async () => {
    const { req } = await file('U0ALICE', 'prod-db 30m read the orders table');
    const active = await settled(req!._id, 'active');
    expect(active).toMatchObject({ autoApproved: true, approvalRule: 'short reads', requiredApprovals: 0 });
    await t.hook.waitFor('grant', (g) => (g.body as { requestId: string }).requestId === req!._id);
    expect(await approvalMessage(req!._id, 'Auto-approved by *short reads*')).toContain('Access until');
    const event = await filedEvent(req!._id);
    expect(event.details).toMatchObject({ decision: 'auto_approve', rule: 'short reads', facts: { request: { duration: '30m' } } });
    const approved = await t.auditEvents().findOne({ requestId: req!._id, action: 'auto_approved' });
    expect(approved?.details).toMatchObject({ rule: 'short reads' });
  });

  it('the same rule lets a longer request wait for an approver', async () => {
    const { req } = await file('U0ALICE', 'prod-db 1h longer read');
    expect(req).toMatchObject({ state: 'pending', requiredApprovals: 1 });
    expect(req!.approvalRule).toBeUndefined();
    await approvalMessage(req!._id, '0 of 1 needed');
    expect((await filedEvent(req!._id)).details).toMatchObject({ decision: 'approval', facts: { request: { duration: '1h' } } });
  });

  // Before any group is read (and cached): Slack failing to list a group is a fact that cannot be had.
  it('a user-group rule while Slack cannot list the group: normal approval, the error audited', async () => {
    t.fake.failAlways('usergroups.users.list', { error: 'fatal_error' });
    const { req } = await file('U0SRE1', 'sre-box 1h slack is flaky');
    expect(req).toMatchObject({ state: 'pending', requiredApprovals: 1 });
    expect((await filedEvent(req!._id)).details).toMatchObject({
      decision: 'approval',
      ruleError: expect.stringContaining('requester.usergroups could not be read'),
    });
    t.fake.heal();
  });

  it('a user-group rule: a member of S0SRE is auto-approved, someone else waits', async () => {
    const sre = await file('U0SRE1', 'sre-box 1h rotate the certs');
    await settled(sre.req!._id, 'active');
    expect((await filedEvent(sre.req!._id)).details).toMatchObject({ rule: 'SREs', facts: { requester: { usergroups: ['S0SRE'] } } });
    const other = await file('U0ALICE', 'sre-box 1h look around');
    expect(other.req!.state).toBe('pending');
    expect((await filedEvent(other.req!._id)).details).toMatchObject({ decision: 'approval', facts: { requester: { usergroups: [] } } });
    expect(t.fake.calls.some((c) => c.method === 'usergroups.users.list' && c.args.usergroup === 'S0SRE')).toBe(true);
  });

  it('a deny rule refuses with its message, nothing stored; --ticket INC-42 on the command satisfies it', async () => {
    const refused = await file('U0ALICE', 'incident-only 30m just looking');
    expect(refused.answer).toContain('Production access needs an incident ticket (INC-…).');
    expect(refused.answer).toContain('needs an incident');
    expect(await requests().countDocuments({ resourceId: 'incident-only', reason: 'just looking' })).toBe(0);
    const wrongTicket = await file('U0ALICE', 'incident-only 30m just looking --ticket OPS-1');
    expect(wrongTicket.answer).toContain('needs an incident ticket');
    // A ticket only through --ticket: "INC-1" in the reason is reason text.
    const inReason = await file('U0ALICE', 'incident-only 30m see INC-1 for details');
    expect(inReason.answer).toContain('needs an incident ticket');
    const ok = await file('U0ALICE', 'incident-only 30m the --ticket INC-42 outage');
    expect(ok.req).toMatchObject({ state: 'pending', ticket: 'INC-42', reason: 'the outage' });
  });

  it('the modal shows a deny rule on the form; its ticket field satisfies the rule', async () => {
    const submit = (ticket?: string) =>
      t.slack.viewSubmission('U0ALICE', {
        callback_id: 'request_modal',
        state: {
          values: t.slack.modalValues({
            resource: 'incident-only',
            duration: '30m',
            reason: 'from the modal',
            ...(ticket ? { ticket } : {}),
          }),
        },
      });
    const refused = await submit();
    expect(refused.json).toMatchObject({
      response_action: 'errors',
      errors: { resource: expect.stringContaining('Production access needs an incident ticket') },
    });
    expect(await requests().countDocuments({ reason: 'from the modal' })).toBe(0);
    const ok = await submit('INC-7');
    expect(ok.status).toBe(200);
    const filed = await waitUntil(() => requests().findOne({ reason: 'from the modal' }), 5000, 'the modal request');
    expect(filed).toMatchObject({ state: 'pending', ticket: 'INC-7' });
  });

  it('an extension runs the rules with request.extension', async () => {
    const { req } = await file('U0ALICE', 'prod-db 30m short one');
    await settled(req!._id, 'active');
    // 30m more: the duration rule auto-approves the extension too.
    const res = await t.slack.command('U0ALICE', `extend ${req!._id} 30m a little longer`);
    expect(res.status).toBe(200);
    await waitUntil(
      async () => ((await requests().findOne({ _id: req!._id }))?.extendedMs === 30 * 60_000 ? true : undefined),
      10_000,
      'extended at once',
    );
    const event = await waitUntil(
      () => t.auditEvents().findOne({ requestId: req!._id, action: 'extension_requested' }),
      5000,
      'extension event',
    );
    expect(event.details).toMatchObject({ decision: 'auto_approve', rule: 'short reads' });
    // An hour more is past the rule: it waits for an approver, and the message says so.
    await t.slack.command('U0ALICE', `extend ${req!._id} 1h much longer`);
    const pending = await waitUntil(
      async () => {
        const r = await requests().findOne({ _id: req!._id });
        return r?.extension ? r : undefined;
      },
      10_000,
      'a pending extension',
    );
    expect(pending.extension).toMatchObject({ requiredApprovals: 1 });
    expect(pending.extension!.rule).toBeUndefined();
  });

  it('the extend form shows a deny rule on its duration field', async () => {
    const { req } = await file('U0ALICE', 'prod-db 30m short again');
    await settled(req!._id, 'active');
    const res = await t.slack.viewSubmission('U0ALICE', {
      callback_id: 'extend_modal',
      private_metadata: req!._id,
      state: { values: t.slack.modalValues({ duration: '3h', reason: 'much more' }) },
    });
    expect(res.json).toMatchObject({
      response_action: 'errors',
      errors: { duration: expect.stringContaining('Extensions are at most 2h') },
    });
    expect((await requests().findOne({ _id: req!._id }))!.extension).toBeUndefined();
  });

  it('break-glass: a deny rule refuses it without an incident; with one it is granted at once whatever other rules say', async () => {
    const refused = await file('U0ALICE', 'glass 30m db down --break-glass');
    expect(refused.answer).toContain('Break-glass needs the incident ticket.');
    expect(await requests().countDocuments({ resourceId: 'glass' })).toBe(0);
    const { req } = await file('U0ALICE', 'glass 30m db down --break-glass --ticket INC-9');
    const active = await settled(req!._id, 'active');
    expect(active).toMatchObject({ breakGlass: true, requiredApprovals: 0 });
    expect((await filedEvent(req!._id)).details).toMatchObject({ decision: 'break_glass', rule: 'everything else needs two' });
    // Filed normally (once that grant is over), the catch-all rule asks for two.
    await requests().updateOne({ _id: req!._id }, { $set: { state: 'revoked' }, $unset: { openKey: '' } });
    const normal = await file('U0ALICE', 'glass 30m normal request');
    expect(normal.req).toMatchObject({ state: 'pending', requiredApprovals: 2, approvalRule: 'everything else needs two' });
  });

  it('a pathological rule on a hostile reason stops at its budget: normal approval, and the bot keeps answering', async () => {
    const started = Date.now();
    const hostile = `${'a'.repeat(40)}!`;
    const { req } = await file('U0ALICE', `regex-box 30m ${hostile}`);
    expect(req).toMatchObject({ state: 'pending', requiredApprovals: 1 });
    expect((await filedEvent(req!._id)).details).toMatchObject({ ruleError: expect.stringContaining('budget') });
    expect(Date.now() - started).toBeLessThan(5000);
    const help = await t.slack.command('U0SRE1', 'help');
    expect(help.status).toBe(200);
  });

  it('a requiredApprovals: 2 rule needs two distinct approvers', async () => {
    const { req, answer } = await file('U0ALICE', 'two-person 30m write a fix');
    expect(answer).toContain('is waiting for 2 approvals (the rule *writes need two*)');
    expect(req).toMatchObject({ state: 'pending', requiredApprovals: 2, approvalRule: 'writes need two' });
    await approvalMessage(req!._id, '0 of 2 needed, by rule *writes need two*');
    await click('U0BOB', req!._id);
    await waitUntil(
      async () => ((await requests().findOne({ _id: req!._id }))?.approvals.length === 1 ? true : undefined),
      5000,
      'one approval',
    );
    await click('U0BOB', req!._id);
    await new Promise((r) => setTimeout(r, 300));
    expect(await requests().findOne({ _id: req!._id })).toMatchObject({ state: 'pending', approvals: ['U0BOB'] });
    await click('U0CAROL', req!._id);
    await settled(req!._id, 'active');
    // A read (no "write" in the reason) needs the resource's one approval.
    const read = await file('U0SRE1', 'two-person 30m read only');
    expect(read.req).toMatchObject({ requiredApprovals: 1 });
  });

  // Failures first, each for a requester no answer is cached for yet: a failed look-up is not
  // cached, a successful one is (60 s, PagerDuty per e-mail, Opsgenie per schedule).
  it('Opsgenie failing: the on-call rule falls to normal approval', async () => {
    og.failWith = 500;
    const { req } = await file('U0ALICE', 'og-oncall 30m genie incident');
    expect(req).toMatchObject({ state: 'pending', requiredApprovals: 1 });
    expect((await filedEvent(req!._id)).details).toMatchObject({ ruleError: expect.stringContaining('Opsgenie answered HTTP 500') });
  });

  it('PagerDuty failing: the on-call rule falls to normal approval, logged and audited', async () => {
    pd.failWith = 503;
    const { req } = await file('U0DAVE', 'pd-oncall 30m pager incident');
    expect(req).toMatchObject({ state: 'pending', requiredApprovals: 1 });
    const details = (await filedEvent(req!._id)).details!;
    expect(details).toMatchObject({ decision: 'approval', ruleError: expect.stringContaining('PagerDuty answered HTTP 503') });
    expect(t.logs.join('')).toContain('an approval rule could not be evaluated');
  });

  it('on call in PagerDuty: auto-approved by the on-call rule', async () => {
    const { req } = await file('U0ALICE', 'pd-oncall 30m paged now');
    await settled(req!._id, 'active');
    await approvalMessage(req!._id, 'Auto-approved by *on-call SREs*');
    expect((await filedEvent(req!._id)).details).toMatchObject({
      rule: 'on-call SREs',
      facts: { requester: { oncall: expect.arrayContaining(['PSCHED01', 'sre-primary']) } },
    });
    const users = pd.requests.filter((r) => r.path === '/users').at(-1)!;
    expect(users.headers.authorization).toBe(`Token token=${PD_TOKEN}`);
  });

  it('on call in Opsgenie: auto-approved by the on-call rule', async () => {
    const { req } = await file('U0ALICE', 'og-oncall 30m genie now');
    await settled(req!._id, 'active');
    await approvalMessage(req!._id, 'Auto-approved by *primary on call*');
    expect(og.requests.at(-1)!.path).toBe('/v2/schedules/sre-primary/on-calls');
  });

  it('someone not on call waits; the tokens never reach the logs', async () => {
    const { req } = await file('U0SRE1', 'pd-oncall 30m not on call');
    expect(req!.state).toBe('pending');
    const logs = t.logs.join('');
    expect(logs).not.toContain(PD_TOKEN);
    expect(logs).not.toContain(OG_KEY);
  });
});

describe('maxActiveGrantsPerUser', () => {
  let b: TestBot;
  beforeAll(async () => {
    b = await startTestBot({
      policy: `
approvalChannel: C0APPROVALS
defaults: { minDuration: 1s, maxDuration: 4h }
maxActiveGrantsPerUser: 2
resources:
${['a', 'b', 'c']
  .map(
    (id) => `  - id: self-${id}
    name: Self ${id}
    approvers: { users: [U0BOB] }
    autoApprove: true
    ${hook()}
`,
  )
  .join('')}  - id: counted
    name: Counted
    approvers: { users: [U0BOB] }
    ${hook()}
    rules:
      - name: busy people wait
        when: 'requester.activeGrants >= 1'
        requiredApprovals: 1
      - name: first grant is free
        when: 'true'
        autoApprove: true
`,
    });
  });
  afterAll(() => b.stop());

  it('requester.activeGrants feeds rules, and the policy limit refuses a third grant at filing', async () => {
    const ask = async (text: string) => {
      const res = await b.slack.command('U0ALICE', text);
      return String((await b.fake.waitForResponse((r) => r.id === res.responseId, 10_000)).body.text);
    };
    const first = await ask('counted 30m first');
    const id = /`(r[a-z0-9]{8})`/.exec(first)![1]!;
    await waitUntil(
      async () => ((await b.requests().findOne({ _id: id }))?.state === 'active' ? true : undefined),
      10_000,
      'first grant active',
    );
    const second = await ask('self-a 30m second');
    const secondId = /`(r[a-z0-9]{8})`/.exec(second)![1]!;
    await waitUntil(
      async () => ((await b.requests().findOne({ _id: secondId }))?.state === 'active' ? true : undefined),
      10_000,
      'second grant active',
    );
    const third = await ask('self-b 30m third');
    expect(third).toContain('You have 2 active grants, and the policy allows at most 2 at a time, so nothing was filed.');
    expect(await b.requests().countDocuments({ reason: 'third' })).toBe(0);
    // After ending one, the rule sees one active grant and asks for approval.
    await b.requests().updateOne({ _id: id }, { $set: { state: 'revoked' }, $unset: { openKey: '' } });
    const again = await ask('counted 30m again');
    const againId = /`(r[a-z0-9]{8})`/.exec(again)![1]!;
    expect(await b.requests().findOne({ _id: againId })).toMatchObject({ state: 'pending', approvalRule: 'busy people wait' });
  });
});
