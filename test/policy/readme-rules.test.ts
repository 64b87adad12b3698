import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePolicy } from '../../src/policy/load';
import { decide, FactSource } from '../../src/policy/decide';
import { findResource } from '../../src/policy/policy';
import type { RuleRequest } from '../../src/policy/rules';

/** The README's worked rule examples, as written there, load and decide as the README says. */
const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
const section = readme.slice(readme.indexOf('### Three worked examples'), readme.indexOf('### Testing a rule before deploying it'));
const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

/** The `rules:` list of a README block, under a resource of our own. */
function policyWith(block: string, extraTop = ''): ReturnType<typeof parsePolicy> {
  const rules = block.slice(block.indexOf('    rules:'));
  const top = block.includes('maxActiveGrantsPerUser') ? 'maxActiveGrantsPerUser: 3\n' : '';
  return parsePolicy(
    `approvalChannel: C0APPROVALS
${top}${extraTop}resources:
  - id: example
    name: Example
    approvers: { users: [U0BOB, U0CAROL] }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }
${rules}`,
    { PAGERDUTY_TOKEN: 'pd' },
  );
}

const facts = (over: Partial<{ oncall: string[] | Error; usergroups: string[] }> = {}): FactSource => ({
  email: async () => 'alice@example.com',
  usergroups: async () => over.usergroups ?? [],
  oncall: async () => {
    if (over.oncall instanceof Error) throw over.oncall;
    return over.oncall ?? [];
  },
  activeGrants: async () => 0,
});
const req = (over: Partial<RuleRequest> = {}): RuleRequest => ({
  requesterId: 'U0ALICE',
  resourceId: 'example',
  durationMs: 3_600_000,
  reason: 'x',
  ticket: '',
  breakGlass: false,
  extension: false,
  ...over,
});
// Wednesday 14 January 2026, 10:00 in Berlin.
const DAY = new Date('2026-01-14T09:00:00Z');

it('the README has three worked examples', () => {
  expect(blocks).toHaveLength(3);
});

it('1: on call auto-approves; PagerDuty down means an approver', async () => {
  const p = policyWith(blocks[0]!, 'oncall:\n  pagerduty: { token: "${PAGERDUTY_TOKEN}" }\n');
  const r = findResource(p, 'example')!;
  expect(await decide(r, req(), facts({ oncall: ['PSCHED01'] }), { now: DAY })).toMatchObject({
    action: 'auto_approve',
    rule: 'on-call SREs',
  });
  expect(await decide(r, req(), facts(), { now: DAY })).toMatchObject({ action: 'approval', requiredApprovals: 1 });
  expect(await decide(r, req(), facts({ oncall: new Error('down') }), { now: DAY })).toMatchObject({
    action: 'approval',
    requiredApprovals: 1,
  });
});

it('2: 30 minutes for SREs; two approvers off hours and at weekends', async () => {
  const r = findResource(policyWith(blocks[1]!), 'example')!;
  expect(await decide(r, req({ durationMs: 1_800_000 }), facts({ usergroups: ['S0SRE'] }), { now: DAY })).toMatchObject({
    action: 'auto_approve',
  });
  expect(await decide(r, req({ durationMs: 1_800_000, extension: true }), facts({ usergroups: ['S0SRE'] }), { now: DAY })).toMatchObject({
    action: 'approval',
    requiredApprovals: 1,
  });
  expect(await decide(r, req(), facts(), { now: new Date('2026-01-14T17:30:00Z') })).toMatchObject({
    action: 'approval',
    requiredApprovals: 2,
    rule: 'off hours',
  });
  expect(await decide(r, req(), facts(), { now: new Date('2026-01-17T10:00:00Z') })).toMatchObject({
    action: 'approval',
    requiredApprovals: 2,
    rule: 'off hours',
  });
  expect(await decide(r, req(), facts(), { now: DAY })).toMatchObject({ action: 'approval', requiredApprovals: 1 });
});

it('3: no ticket, no access; break-glass only with an incident', async () => {
  const p = policyWith(blocks[2]!);
  expect(p.maxActiveGrantsPerUser).toBe(3);
  const r = findResource(p, 'example')!;
  expect(await decide(r, req(), facts(), { now: DAY })).toMatchObject({ action: 'deny', rule: 'needs a ticket' });
  expect(await decide(r, req({ ticket: 'CHG-12' }), facts(), { now: DAY })).toMatchObject({ action: 'approval', requiredApprovals: 1 });
  expect(await decide(r, req({ breakGlass: true, ticket: 'CHG-12' }), facts(), { now: DAY })).toMatchObject({
    action: 'deny',
    rule: 'break-glass needs an incident',
  });
  expect(await decide(r, req({ breakGlass: true, ticket: 'INC-4711' }), facts(), { now: DAY })).toMatchObject({ action: 'break_glass' });
});
