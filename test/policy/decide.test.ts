import { parsePolicy, PolicyError } from '../../src/policy/load';
import { decide, Decision, FactSource } from '../../src/policy/decide';
import { findResource } from '../../src/policy/policy';
import { evaluateRule, compileRule, celInput, isSimplePattern, RuleRequest } from '../../src/policy/rules';

const policyText = `
approvalChannel: C0APPROVALS
oncall:
  pagerduty: { token: pd-token }
resources:
  - id: prod-db
    name: Production DB
    approvers: { users: [U0BOB, U0CAROL], usergroups: [S0DBA] }
    requiredApprovals: 1
    extension: { requiredApprovals: 1 }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }
    rules:
      - name: no robots
        when: 'requester.id == "U0ROBOT"'
        deny: Robots do not get production access.
      - name: on-call SREs
        when: '"PSCHED01" in requester.oncall'
        autoApprove: true
      - name: short reads for SREs
        when: 'request.duration <= duration("30m") && "S0SRE" in requester.usergroups'
        autoApprove: true
      - name: too many grants
        when: 'requester.activeGrants >= 3'
        deny: Finish some of your grants first.
      - name: contractors
        when: 'requester.email.endsWith("@contractor.example")'
        requiredApprovals: 2
      - name: break-glass needs an incident
        when: 'request.breakGlass && !request.ticket.matches("^INC-[0-9]+$")'
        deny: Break-glass needs an incident ticket (INC-…).
      - name: long extensions
        when: 'request.extension && request.duration > duration("1h")'
        requiredApprovals: 2
      - name: debug reasons
        when: 'request.reason.contains("debug") && request.resource == "prod-db"'
        autoApprove: true
      - name: off hours
        when: 'now.getHours("Europe/Berlin") < 8 || now.getHours("Europe/Berlin") >= 18'
        requiredApprovals: 2
`;

const policy = parsePolicy(policyText, {});
const resource = findResource(policy, 'prod-db')!;

interface Facts {
  email?: string;
  usergroups?: string[];
  oncall?: string[] | Error;
  activeGrants?: number;
}

/** Records which facts were asked for, so laziness is tested too. */
function source(facts: Facts, asked: string[] = []): FactSource {
  return {
    email: async () => (asked.push('email'), facts.email ?? 'alice@example.com'),
    usergroups: async () => (asked.push('usergroups'), facts.usergroups ?? []),
    oncall: async () => {
      asked.push('oncall');
      if (facts.oncall instanceof Error) throw facts.oncall;
      return facts.oncall ?? [];
    },
    activeGrants: async () => (asked.push('activeGrants'), facts.activeGrants ?? 0),
  };
}

function request(over: Partial<RuleRequest> = {}): RuleRequest {
  return {
    requesterId: 'U0ALICE',
    resourceId: 'prod-db',
    durationMs: 60 * 60_000,
    reason: 'slow queries',
    ticket: '',
    breakGlass: false,
    extension: false,
    ...over,
  };
}

// 10:00 in Berlin in winter (UTC+1), a working hour.
const WORKDAY = new Date('2026-01-14T09:00:00Z');
const min = 60_000;

type Case = [string, Partial<RuleRequest>, Facts, Date, Partial<Decision>];

const cases: Case[] = [
  [
    'requester.id: a deny rule and its message',
    { requesterId: 'U0ROBOT' },
    {},
    WORKDAY,
    { action: 'deny', rule: 'no robots', reason: 'Robots do not get production access.' },
  ],
  [
    'requester.oncall: on call auto-approves',
    {},
    { oncall: ['PSCHED01'] },
    WORKDAY,
    { action: 'auto_approve', rule: 'on-call SREs', requiredApprovals: 0 },
  ],
  [
    'requester.oncall: another schedule does not',
    {},
    { oncall: ['POTHER'] },
    WORKDAY,
    { action: 'approval', rule: undefined, requiredApprovals: 1 },
  ],
  [
    'requester.oncall: a failing source falls to normal approval',
    {},
    { oncall: new Error('PagerDuty answered 503') },
    WORKDAY,
    { action: 'approval', requiredApprovals: 1, rule: undefined },
  ],
  // After a rule that could not be evaluated nothing auto-approves, but later rules may still deny or ask for more.
  [
    'a failing source, then a matching autoApprove rule: normal approval',
    { durationMs: 30 * min },
    { oncall: new Error('down'), usergroups: ['S0SRE'] },
    WORKDAY,
    { action: 'approval', requiredApprovals: 1, rule: undefined },
  ],
  [
    'a failing source, then a matching deny rule: denied',
    {},
    { oncall: new Error('down'), activeGrants: 3 },
    WORKDAY,
    { action: 'deny', rule: 'too many grants' },
  ],
  [
    'a failing source, then a requiredApprovals: 2 rule: two',
    {},
    { oncall: new Error('down'), email: 'eve@contractor.example' },
    WORKDAY,
    { action: 'approval', requiredApprovals: 2, rule: 'contractors' },
  ],
  [
    'a failing source on break-glass: still granted at once, the error kept',
    { breakGlass: true, ticket: 'INC-9' },
    { oncall: new Error('down') },
    WORKDAY,
    { action: 'break_glass', error: expect.stringContaining('down') },
  ],
  [
    'request.duration and requester.usergroups: 30m for SREs auto-approves',
    { durationMs: 30 * min },
    { usergroups: ['S0SRE'] },
    WORKDAY,
    { action: 'auto_approve', rule: 'short reads for SREs' },
  ],
  [
    'request.duration: 31m for SREs waits',
    { durationMs: 31 * min },
    { usergroups: ['S0SRE'] },
    WORKDAY,
    { action: 'approval', rule: undefined, requiredApprovals: 1 },
  ],
  [
    'requester.usergroups: 30m outside the group waits',
    { durationMs: 30 * min },
    { usergroups: ['S0DBA'] },
    WORKDAY,
    { action: 'approval', requiredApprovals: 1 },
  ],
  ['requester.activeGrants: three active grants deny', {}, { activeGrants: 3 }, WORKDAY, { action: 'deny', rule: 'too many grants' }],
  ['requester.activeGrants: two do not', {}, { activeGrants: 2 }, WORKDAY, { action: 'approval', rule: undefined }],
  [
    'requester.email: contractors need two approvals',
    {},
    { email: 'eve@contractor.example' },
    WORKDAY,
    { action: 'approval', rule: 'contractors', requiredApprovals: 2 },
  ],
  [
    'request.breakGlass and request.ticket: break-glass without an incident is denied',
    { breakGlass: true },
    {},
    WORKDAY,
    { action: 'deny', rule: 'break-glass needs an incident' },
  ],
  [
    'request.ticket: break-glass with an incident is granted at once',
    { breakGlass: true, ticket: 'INC-42' },
    {},
    WORKDAY,
    { action: 'break_glass', requiredApprovals: 0 },
  ],
  [
    'request.extension: a long extension needs two',
    { extension: true, durationMs: 2 * 60 * min },
    {},
    WORKDAY,
    { action: 'approval', rule: 'long extensions', requiredApprovals: 2 },
  ],
  [
    'request.extension: a short one uses the extension settings',
    { extension: true, durationMs: 30 * min },
    {},
    WORKDAY,
    { action: 'approval', rule: undefined, requiredApprovals: 1 },
  ],
  ['request.reason and request.resource', { reason: 'debug INC-7' }, {}, WORKDAY, { action: 'auto_approve', rule: 'debug reasons' }],
  // 07:30 in Berlin (06:30 UTC, winter): off hours there, whatever the machine's time zone.
  [
    'now.getHours(tz): 07:30 in Berlin is off hours',
    {},
    {},
    new Date('2026-01-14T06:30:00Z'),
    { action: 'approval', rule: 'off hours', requiredApprovals: 2 },
  ],
  // 08:30 in Berlin in summer (UTC+2) is 06:30 UTC: working hours in Berlin, off hours in UTC.
  [
    'now.getHours(tz): 08:30 in Berlin (summer) is a working hour',
    {},
    {},
    new Date('2026-07-14T06:30:00Z'),
    { action: 'approval', rule: undefined, requiredApprovals: 1 },
  ],
  ['now.getHours(tz): 18:00 in Berlin is off hours', {}, {}, new Date('2026-01-14T17:00:00Z'), { action: 'approval', rule: 'off hours' }],
];

describe('decide', () => {
  it.each(cases)('%s', async (_name, over, facts, now, expected) => {
    const decision = await decide(resource, request(over), source(facts), { now });
    const { rule, ...rest } = expected;
    expect(decision).toMatchObject(rest);
    // Every case names the rule that decided, or none (the resource's own settings).
    expect(decision.rule).toBe(rule);
  });

  it('the failing on-call source is named in the decision and its facts, and never auto-approves', async () => {
    const decision = await decide(resource, request(), source({ oncall: new Error('PagerDuty answered 503') }), { now: WORKDAY });
    expect(decision.error).toBe('rule "on-call SREs" could not be evaluated: requester.oncall could not be read: PagerDuty answered 503');
    expect(decision.facts).toMatchObject({ 'requester.oncall': [] });
  });

  it('gathers facts lazily: on-call is not read when an earlier rule decides, e-mail only when a rule reads it', async () => {
    const asked: string[] = [];
    await decide(resource, request({ requesterId: 'U0ROBOT' }), source({}, asked), { now: WORKDAY });
    expect(asked).toEqual([]);
    const all: string[] = [];
    await decide(resource, request(), source({}, all), { now: WORKDAY });
    expect(all).toEqual(['oncall', 'usergroups', 'activeGrants', 'email']);
  });

  it('asks Slack only about the groups the rules test with `in`; about every named group when a rule uses the list otherwise', async () => {
    const asked: Array<readonly string[] | undefined> = [];
    const spy = (): FactSource => ({ ...source({ usergroups: ['S0SRE'] }), usergroups: async (only) => (asked.push(only), ['S0SRE']) });
    await decide(resource, request({ durationMs: 30 * min }), spy(), { now: WORKDAY });
    expect(asked).toEqual([['S0SRE']]);
    const p = parsePolicy(
      policyText.replace(
        / {4}rules:[\s\S]*$/,
        `    rules:
      - name: any group
        when: 'requester.usergroups.exists(g, g.startsWith("S0D"))'
        autoApprove: true
`,
      ),
      {},
    );
    asked.length = 0;
    expect(await decide(findResource(p, 'prod-db')!, request(), spy(), { now: WORKDAY })).toMatchObject({ action: 'approval' });
    expect(asked).toEqual([undefined]);
  });

  it('records the facts each evaluated rule read, with no more than that', async () => {
    const decision = await decide(resource, request({ durationMs: 30 * min }), source({ oncall: [], usergroups: ['S0SRE'] }), {
      now: WORKDAY,
    });
    expect(decision.facts).toEqual({
      'requester.id': 'U0ALICE',
      'requester.oncall': [],
      'request.duration': '30m',
      'requester.usergroups': ['S0SRE'],
    });
  });

  it('no rules: the resource decides (autoApprove, or its approvals)', async () => {
    const p = parsePolicy(
      policyText.replace(/ {4}rules:[\s\S]*$/, '') +
        `  - id: staging
    name: Staging
    approvers: { users: [] }
    autoApprove: true
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }
`,
      {},
    );
    expect(await decide(findResource(p, 'staging')!, request({ resourceId: 'staging' }), source({}), { now: WORKDAY })).toMatchObject({
      action: 'auto_approve',
      reason: 'the resource is set to autoApprove',
    });
    expect(await decide(findResource(p, 'prod-db')!, request(), source({}), { now: WORKDAY })).toMatchObject({
      action: 'approval',
      requiredApprovals: 1,
      facts: {},
    });
  });

  it('a runtime error in a rule falls to normal approval, never auto-approval', async () => {
    const p = parsePolicy(
      policyText.replace(
        / {4}rules:[\s\S]*$/,
        `    rules:
      - name: bad zone
        when: 'now.getHours(request.reason) < 25'
        autoApprove: true
`,
      ),
      {},
    );
    const decision = await decide(findResource(p, 'prod-db')!, request(), source({}), { now: WORKDAY });
    expect(decision).toMatchObject({ action: 'approval', requiredApprovals: 1 });
    expect(decision.error).toMatch(/^rule "bad zone" could not be evaluated: /);
  });
});

describe('rules at policy load', () => {
  const withRule = (rule: string) => policyText.replace(/ {4}rules:[\s\S]*$/, `    rules:\n${rule}`);
  const problems = (text: string) => {
    try {
      parsePolicy(text, {});
      return [];
    } catch (err) {
      return (err as PolicyError).problems;
    }
  };

  it.each([
    [
      'a syntax error',
      `      - name: x\n        when: 'request.ticket +'\n        autoApprove: true\n`,
      /^resources\[0\]\.rules\[0\]\.when: not a valid CEL expression: /,
    ],
    [
      'a type error',
      `      - name: x\n        when: 'request.duration <= 5'\n        autoApprove: true\n`,
      /^resources\[0\]\.rules\[0\]\.when: type error: /,
    ],
    [
      'an unknown variable',
      `      - name: x\n        when: 'requester.team == "sre"'\n        autoApprove: true\n`,
      /^resources\[0\]\.rules\[0\]\.when: type error: /,
    ],
    [
      'a non-bool',
      `      - name: x\n        when: 'request.reason'\n        autoApprove: true\n`,
      /^resources\[0\]\.rules\[0\]\.when: must be a condition \(a bool\), but this expression gives string/,
    ],
    [
      'two outcomes',
      `      - name: x\n        when: 'true'\n        autoApprove: true\n        deny: no\n`,
      /^resources\[0\]\.rules\[0\]: a rule does exactly one of/,
    ],
    ['no outcome', `      - name: x\n        when: 'true'\n`, /^resources\[0\]\.rules\[0\]: a rule does exactly one of/],
    ['more approvals than approvers', `      - name: x\n        when: 'true'\n        requiredApprovals: 3\n`, undefined],
    [
      'an unknown key',
      `      - name: x\n        when: 'true'\n        autoApprove: true\n        priority: 1\n`,
      /^resources\[0\]\.rules\[0\]: unknown key "priority"/,
    ],
    [
      'an unknown time zone',
      `      - name: x\n        when: 'now.getHours("Mars/Olympus") < 8'\n        autoApprove: true\n`,
      /^resources\[0\]\.rules\[0\]\.when: unknown time zone "Mars\/Olympus"/,
    ],
    [
      'a very long expression',
      `      - name: x\n        when: '${'true && '.repeat(300)}true'\n        autoApprove: true\n`,
      /^resources\[0\]\.rules\[0\]\.when: the expression is too long/,
    ],
  ])('%s is refused, naming resources[i].rules[j]', (_name, rule, expected) => {
    const found = problems(withRule(rule));
    if (expected) expect(found).toEqual([expect.stringMatching(expected)]);
    else expect(found).toEqual([]); // a usergroup among the approvers may hold enough people
  });

  it('more approvals than listed approvers, with no user group, is refused', () => {
    const text = withRule(`      - name: x\n        when: 'true'\n        requiredApprovals: 3\n`).replace(
      'usergroups: [S0DBA]',
      'usergroups: []',
    );
    expect(problems(text)).toEqual(['resources[0].rules[0].requiredApprovals: needs 3 approvals but only 2 approvers are listed']);
  });

  it('a rule that reads requester.oncall needs an oncall section', () => {
    const text = withRule(`      - name: x\n        when: '"P1" in requester.oncall'\n        autoApprove: true\n`).replace(
      /oncall:\n {2}pagerduty: \{ token: pd-token \}\n/,
      '',
    );
    expect(problems(text)).toEqual([
      expect.stringMatching(/^resources\[0\]\.rules\[0\]\.when: reads requester\.oncall, but the policy has no `oncall:` section/),
    ]);
  });

  it('on-call endpoints are http(s) URLs; an unset token variable is named', () => {
    expect(problems(policyText.replace('{ token: pd-token }', '{ token: pd-token, apiUrl: "file:///etc/passwd" }'))).toEqual([
      'oncall.pagerduty.apiUrl: expected an http:// or https:// URL',
    ]);
    expect(problems(policyText.replace('{ token: pd-token }', '{ token: "${PD_TOKEN}" }'))).toEqual([
      expect.stringMatching(/^oncall\.pagerduty\.token: environment variable PD_TOKEN is not set/),
    ]);
  });

  it('names the user groups of approvers, requesters and rule literals; the tokens are secrets', () => {
    expect(policy.namedUsergroups.sort()).toEqual(['S0DBA', 'S0SRE']);
    expect(policy.secrets).toContain('pd-token');
    expect(policy.oncall?.pagerduty).toEqual({ token: 'pd-token', apiUrl: 'https://api.pagerduty.com' });
  });
});

describe('time zones', () => {
  const compile = (when: string) =>
    compileRule({ name: 'x', when, outcome: { autoApprove: true } }, 'w', (p, m) => {
      throw new Error(`${p}: ${m}`);
    })!;
  const at = (iso: string) => celInput(request(), {}, new Date(iso));

  it.each([
    // Berlin's DST gap does not exist in New York's clock and vice versa: the machine's zone never matters.
    ['America/New_York', '2026-03-08T01:30:00Z', 'now.getHours("Europe/Berlin") == 2'],
    ['America/New_York', '2026-03-08T07:30:00Z', 'now.getHours("America/New_York") == 3'],
    ['Europe/Berlin', '2026-03-29T06:30:00Z', 'now.getHours("America/New_York") == 2'],
    ['Asia/Kolkata', '2026-01-14T23:30:00Z', 'now.getHours("UTC") == 23 && now.getHours() == 23 && now.getMinutes("Asia/Kolkata") == 0'],
    ['UTC', '2026-01-14T23:30:00Z', 'now.getDayOfWeek("Asia/Tokyo") == 4 && now.getDayOfWeek() == 3 && now.getDate("Asia/Tokyo") == 15'],
    [
      'UTC',
      '2026-12-31T23:30:00Z',
      'now.getFullYear("Europe/Berlin") == 2027 && now.getMonth("Europe/Berlin") == 0 && now.getDayOfYear("Europe/Berlin") == 0 && now.getDayOfMonth("Europe/Berlin") == 0',
    ],
    [
      'UTC',
      '2026-07-01T10:20:30Z',
      'now.getHours("Europe/Berlin") == 12 && now.getMinutes("Europe/Berlin") == 20 && now.getSeconds("Europe/Berlin") == 30',
    ],
  ])('with the machine in %s, at %s: %s', (machineTz, iso, when) => {
    const saved = process.env.TZ;
    process.env.TZ = machineTz;
    try {
      expect(evaluateRule(compile(when), at(iso))).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('which rules run under the watchdog', () => {
  const compile = (when: string) =>
    compileRule({ name: 'x', when, outcome: { autoApprove: true } }, 'w', (p, m) => {
      throw new Error(`${p}: ${m}`);
    })!;

  it.each([
    ['^INC-[0-9]+$', true],
    ['^(INC|OPS)-[0-9]{1,6}$', true],
    ['[a-z]*', true],
    ['^(a+)+$', false],
    ['(a|aa)*', false],
    ['a*a*b', false],
    ['.*x.*', false],
    ['(ab){2,}', false],
    ['(a)\\1', false],
  ])('pattern %s is simple: %s', (pattern, simple) => {
    expect(isSimplePattern(pattern)).toBe(simple);
  });

  it.each([
    ['request.duration <= duration("30m") && "S0SRE" in requester.usergroups', true],
    ['!request.ticket.matches("^INC-[0-9]+$")', true],
    ['request.reason.matches("^(a+)+$")', false],
    ['request.reason.matches(request.ticket)', false],
    ['requester.usergroups.exists(g, g.startsWith("S0"))', false],
    ['now.getHours("Europe/Berlin") < 8', true],
  ])('%s: bounded %s', (when, bounded) => {
    expect(compile(when).bounded).toBe(bounded);
  });
});

describe('evaluation budget', () => {
  const compile = (when: string) =>
    compileRule({ name: 'x', when, outcome: { autoApprove: true } }, 'w', (p, m) => {
      throw new Error(`${p}: ${m}`);
    })!;

  it('a catastrophic regular expression on a hostile reason stops at the budget', () => {
    const rule = compile('request.reason.matches("^(a+)+$")');
    const input = celInput(request({ reason: `${'a'.repeat(40)}!` }), {}, WORKDAY);
    const started = Date.now();
    expect(() => evaluateRule(rule, input, 30)).toThrow(/budget/);
    expect(Date.now() - started).toBeLessThan(2000);
    // The evaluator still works afterwards.
    expect(evaluateRule(rule, celInput(request({ reason: 'aaa' }), {}, WORKDAY), 30)).toBe(true);
  });

  it('nested comprehensions stop at the budget', () => {
    const list = '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]';
    const rule = compile(`${list}.all(a, ${list}.all(b, ${list}.all(c, ${list}.all(d, ${list}.all(e, a + b + c + d + e > 0)))))`);
    expect(() => evaluateRule(rule, celInput(request(), {}, WORKDAY), 30)).toThrow(/budget/);
  });

  it('a rule over its budget in decide falls to normal approval', async () => {
    const p = parsePolicy(
      policyText.replace(
        / {4}rules:[\s\S]*$/,
        `    rules:
      - name: slow
        when: 'request.reason.matches("^(a+)+$")'
        autoApprove: true
`,
      ),
      {},
    );
    const decision = await decide(findResource(p, 'prod-db')!, request({ reason: `${'a'.repeat(40)}!` }), source({}), {
      now: WORKDAY,
      budgetMs: 20,
    });
    expect(decision).toMatchObject({ action: 'approval', requiredApprovals: 1 });
    expect(decision.error).toMatch(/budget/);
  });
});
