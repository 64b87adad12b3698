/**
 * Approval rules: what deciding a request costs with 10 CEL rules, beside a resource with none,
 * in one process and one run (alternating rounds, so drift hits both alike).
 *
 *   npx tsx bench/rules.ts        (BENCH_RULES_REQUESTS, default 20000 per case; BENCH_SCALE)
 *
 * Timed: `decide()` for one request, as filing calls it: every rule's facts gathered (in
 * memory here: Slack and on-call answers are network calls, cached by the bot, not CEL's cost),
 * the CEL activation built, each rule evaluated under its time budget (vm timeout). Cases: no
 * rules; 10 rules none of which match (all 10 evaluated: the worst case); 10 rules where the
 * first matches; 10 rules none of which match, the last a comprehension (run under the vm
 * watchdog, as every rule whose cost is not bounded by its size is).
 */
import { performance } from 'node:perf_hooks';
import { parsePolicy } from '../src/policy/load';
import { findResource } from '../src/policy/policy';
import { decide, FactSource } from '../src/policy/decide';
import type { RuleRequest } from '../src/policy/rules';
import { emitResult, machineInfo, numberOption, scale, summarize, Summary } from './lib/common';

const TEN_RULES = [
  ['robots', 'requester.id == "U0ROBOT"', 'deny: no robots'],
  ['on-call SREs', '"PSCHED01" in requester.oncall', 'autoApprove: true'],
  ['short reads for SREs', 'request.duration <= duration("30m") && "S0SRE" in requester.usergroups', 'autoApprove: true'],
  ['busy', 'requester.activeGrants >= 5', 'deny: too many grants'],
  ['contractors', 'requester.email.endsWith("@contractor.example")', 'requiredApprovals: 2'],
  ['break-glass incident', 'request.breakGlass && !request.ticket.matches("^INC-[0-9]+$")', 'deny: needs an incident'],
  ['long extensions', 'request.extension && request.duration > duration("2h")', 'requiredApprovals: 2'],
  ['debugging', 'request.reason.contains("debug") && request.resource == "other"', 'autoApprove: true'],
  ['off hours', 'now.getHours("Europe/Berlin") < 6 || now.getHours("Europe/Berlin") >= 23', 'requiredApprovals: 2'],
  ['weekend', 'now.getDayOfWeek("Europe/Berlin") == 0 && request.duration > duration("3h")', 'requiredApprovals: 2'],
] as const;

/** The same ten, the last one a comprehension: evaluated under the vm watchdog (rules.ts `bounded`). */
const WITH_WATCHDOG = [
  ...TEN_RULES.slice(0, 9),
  ['any odd group', 'requester.usergroups.exists(g, g == "S0NONE")', 'autoApprove: true'],
] as const;

function policyText(): string {
  const block = (list: ReadonlyArray<readonly [string, string, string]>) =>
    list.map(([name, when, outcome]) => `      - name: ${name}\n        when: '${when}'\n        ${outcome}\n`).join('');
  const rules = block(TEN_RULES);
  const res = (id: string, extra: string) => `  - id: ${id}
    name: ${id}
    approvers: { users: [U0BOB, U0CAROL], usergroups: [S0DBA] }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }
${extra}`;
  return `approvalChannel: C0APPROVALS
oncall:
  pagerduty: { token: bench-token }
resources:
${res('no-rules', '')}${res('ten-rules', `    rules:\n${rules}`)}${res('ten-rules-watchdog', `    rules:\n${block(WITH_WATCHDOG)}`)}`;
}

const facts: FactSource = {
  email: async () => 'alice@example.com',
  usergroups: async () => ['S0DBA'],
  oncall: async () => ['POTHER'],
  activeGrants: async () => 1,
};
const firstMatches: FactSource = { ...facts, oncall: async () => ['PSCHED01'] };

async function main(): Promise<void> {
  const perCase = Math.max(200, Math.round(numberOption('requests', 'BENCH_RULES_REQUESTS', 20_000) * scale()));
  const rounds = 10;
  const policy = parsePolicy(policyText(), {});
  const none = findResource(policy, 'no-rules')!;
  const ten = findResource(policy, 'ten-rules')!;
  const watched = findResource(policy, 'ten-rules-watchdog')!;
  // 14:00 UTC on a Wednesday: no time rule matches.
  const now = new Date('2026-01-14T14:00:00Z');
  const request: RuleRequest = {
    requesterId: 'U0ALICE',
    resourceId: 'ten-rules',
    durationMs: 3_600_000,
    reason: 'slow queries on orders',
    ticket: 'INC-42',
    breakGlass: false,
    extension: false,
  };

  const cases = {
    noRules: { resource: none, source: facts, times: [] as number[], expect: 'approval' },
    tenNoneMatch: { resource: ten, source: facts, times: [] as number[], expect: 'approval' },
    tenFirstMatches: { resource: ten, source: firstMatches, times: [] as number[], expect: 'auto_approve' },
    tenOneWatched: { resource: watched, source: facts, times: [] as number[], expect: 'approval' },
  };
  // Warm-up, and a check that each case decides what it should (a bench of a wrong answer is no bench).
  for (const c of Object.values(cases)) {
    for (let i = 0; i < 500; i++) await decide(c.resource, { ...request, resourceId: c.resource.id }, c.source, { now });
    const d = await decide(c.resource, { ...request, resourceId: c.resource.id }, c.source, { now });
    if (d.action !== c.expect || d.error) throw new Error(`unexpected decision ${JSON.stringify(d)}`);
  }
  for (let round = 0; round < rounds; round++) {
    for (const c of Object.values(cases)) {
      const r = { ...request, resourceId: c.resource.id };
      for (let i = 0; i < perCase / rounds; i++) {
        const t0 = performance.now();
        await decide(c.resource, r, c.source, { now });
        c.times.push(performance.now() - t0);
      }
    }
  }
  const summary = Object.fromEntries(Object.entries(cases).map(([k, c]) => [k, summarize(c.times)])) as Record<keyof typeof cases, Summary>;
  const us = (v: number) => `${(v * 1000).toFixed(1)} µs`;
  const line = (label: string, s: Summary) =>
    `${label.padEnd(34)} p50 ${us(s.p50)}  p99 ${us(s.p99)}  max ${us(s.max)}  mean ${us(s.mean)}  (n=${s.n})`;
  const m = machineInfo();
  console.log(
    `rule evaluation per request, ${perCase} requests per case in ${rounds} alternating rounds; ${m.nproc} CPUs (${m.cpu}), node ${m.node}`,
  );
  console.log(line('no rules (baseline)', summary.noRules));
  console.log(line('10 rules, none matches (all run)', summary.tenNoneMatch));
  console.log(line('10 rules, the first matches', summary.tenFirstMatches));
  console.log(line('10 rules, one under the watchdog', summary.tenOneWatched));
  const extraP99 = summary.tenNoneMatch.p99 - summary.noRules.p99;
  console.log(`10 rules add ${us(extraP99)} at p99 (${us(summary.tenNoneMatch.p50 - summary.noRules.p50)} at p50) to a request's filing`);
  emitResult('rules', { config: { perCase, rounds, rules: TEN_RULES.length }, ...summary, extraP99Ms: extraP99 });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
