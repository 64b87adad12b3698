import { readFileSync } from 'node:fs';
import { typeList } from '../../src/providers/catalog';
import path from 'node:path';
import { parsePolicy, loadPolicyFile } from '../../src/policy/load';
import { feasibilityWarnings } from '../../src/policy/feasibility';
import { EXAMPLE_POLICY_ENV, policyProblems } from './problems';
import { durationProblem, findResource, mayApprove, mayRequest, mayRevoke, requiredApprovals, Directory } from '../../src/policy/policy';

const env = EXAMPLE_POLICY_ENV;
const example = path.join(__dirname, '../../policy.example.yml');

const base = `
approvalChannel: C0APPROVALS
admins: [U0ADMIN1]
defaults:
  maxDuration: 4h
resources:
  - id: deploy-hook
    name: Deploy
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "\${DEPLOY_HOOK_SECRET}" }
  - id: db
    name: DB
    approvers: { users: [U0BOB, U0CAROL] }
    provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }
`;

const problemsOf = (text: string, vars: NodeJS.ProcessEnv = env) => policyProblems(text, vars);

describe('policy loading', () => {
  it('loads the example policy with defaults merged and variables interpolated', () => {
    const policy = loadPolicyFile(example, env);
    expect(policy.resources.map((r) => r.id)).toEqual(
      expect.arrayContaining([
        'prod-db-readonly',
        'prod-db-write',
        'orders-mysql-read',
        'orders-mysql-write',
        'sessions-redis-read',
        'prod-ssh',
        'ldap-oncall',
        'deploy-hook',
        'staging-logs',
      ]),
    );
    expect(findResource(policy, 'prod-ssh')!.provider).toMatchObject({
      type: 'ssh',
      target: 'bastion-ca',
      access: { host: 'bastion.example.com', permit: ['pty'] },
    });
    expect(findResource(policy, 'ldap-oncall')!.provider).toMatchObject({
      type: 'ldap',
      target: 'corp-ldap',
      access: { memberAttribute: 'member' },
    });
    const ro = findResource(policy, 'prod-db-readonly')!;
    expect(ro.maxDuration).toBe(2 * 3_600_000); // resource override
    expect(ro.minDuration).toBe(5 * 60_000); // from defaults
    expect(ro.maxTotalDuration).toBe(4 * 3_600_000); // 2 x maxDuration
    expect(ro.approvalChannel).toBe('C0DBA');
    expect(ro.provider).toEqual({ target: 'orders-db', type: 'postgres', access: { role: 'orders_readonly', mode: 'grant' } });
    expect(policy.targets['orders-db']).toMatchObject({ type: 'postgres', inline: false, settings: { url: env.PROD_PG_ADMIN_URL } });
    const hook = findResource(policy, 'deploy-hook')!;
    expect(hook.approvalChannel).toBe('C0APPROVALS');
    expect(policy.targets[hook.provider.target]).toMatchObject({ settings: { secret: env.DEPLOY_HOOK_SECRET } });
    expect(policy.warnings).toEqual([]);
    const write = findResource(policy, 'prod-db-write')!;
    expect([write.requiredApprovals, write.extensionApprovals, write.breakGlass, write.breakGlassMaxDuration]).toEqual([
      2,
      1,
      true,
      30 * 60_000,
    ]);
    expect(requiredApprovals(findResource(policy, 'staging-logs')!)).toBe(0);
  });

  it.each([
    ['an unknown key', base.replace('name: Deploy', 'name: Deploy\n    colour: red'), 'resources[0]: unknown key "colour"'],
    ['an unknown top-level key', `${base}\nowner: me\n`, '(policy): unknown key "owner"'],
    ['a bad resource id', base.replace('id: deploy-hook', 'id: Deploy_Hook'), 'resources[0].id: expected lowercase letters'],
    ['a bad approver id', base.replace('users: [U0BOB] }', 'users: [bob] }'), 'resources[0].approvers.users[0]: expected a Slack user ID'],
    [
      'min > max',
      base.replace('name: DB', 'name: DB\n    minDuration: 3h\n    maxDuration: 1h'),
      'resources[1].minDuration: must not be longer than maxDuration',
    ],
    [
      'a bad duration',
      base.replace('name: DB', 'name: DB\n    maxDuration: forever'),
      'resources[1].maxDuration: "forever" is not a duration',
    ],
    [
      'more approvals than approvers',
      base.replace('name: DB', 'name: DB\n    requiredApprovals: 3'),
      'resources[1].requiredApprovals: needs 3 approvals but only 2 approvers are listed',
    ],
    [
      'a missing provider',
      base.replace(/name: DB\n(.*\n)*?.*provider: .*\n/, 'name: DB\n    approvers: { users: [U0BOB] }\n'),
      'resources[1].provider: required',
    ],
    [
      'an unknown provider type',
      base.replace('type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef"', 'type: carrier-pigeon'),
      `resources[1].provider.type: expected a provider with type ${typeList()}`,
    ],
    ['a duplicate id', base.replace('id: db', 'id: deploy-hook'), 'resources[1].id: duplicate resource id "deploy-hook"'],
    [
      'no approvers',
      base.replace('approvers: { users: [U0BOB, U0CAROL] }', 'approvers: {}'),
      'resources[1].approvers: list at least one user or usergroup',
    ],
    ['a missing channel', base.replace('approvalChannel: C0APPROVALS', ''), 'approvalChannel: required'],
  ])('refuses %s, naming its path', (_what, text, expected) => {
    expect(problemsOf(text).join('\n')).toContain(expected);
  });

  it('names the unset ${VAR} and where it is used', () => {
    expect(problemsOf(base, {})).toEqual(['resources[0].provider.secret: environment variable DEPLOY_HOOK_SECRET is not set']);
  });

  it('reports every problem at once, one per line', () => {
    const text = base.replace('id: deploy-hook', 'id: BAD').replace('name: DB', 'name: DB\n    colour: red');
    expect(problemsOf(text)).toHaveLength(2);
  });

  it('reports YAML syntax errors with a line number', () => {
    expect(problemsOf('resources: [\n  - a: b\n')[0]).toMatch(/not valid YAML/);
  });

  it('names JIT_POLICY_FILE when the file cannot be read', () => {
    expect(() => loadPolicyFile('/nonexistent/policy.yml', env)).toThrow(/JIT_POLICY_FILE: cannot read \/nonexistent\/policy.yml: ENOENT/);
  });

  it('accepts limits of a few seconds (staging, demos, tests)', () => {
    const policy = parsePolicy(base.replace('name: DB', 'name: DB\n    minDuration: 1s\n    pendingTimeout: 3s'), env);
    expect(findResource(policy, 'db')).toMatchObject({ minDuration: 1000, pendingTimeout: 3000 });
  });
});

describe('policy questions', () => {
  const policy = loadPolicyFile(example, env);
  const directory: Directory = { usergroupMembers: async (id) => (id === 'S0SRE' ? ['U0SREONE', 'U0ALICE'] : []) };
  const ro = findResource(policy, 'prod-db-readonly')!;

  it('lets listed users and user-group members approve, never the requester', async () => {
    expect(await mayApprove(ro, 'U0BOB', 'U0ALICE', directory)).toBe(true);
    expect(await mayApprove(ro, 'U0SREONE', 'U0ALICE', directory)).toBe(true);
    expect(await mayApprove(ro, 'U0STRANGER', 'U0ALICE', directory)).toBe(false);
    expect(await mayApprove(ro, 'U0ALICE', 'U0ALICE', directory)).toBe(false); // in S0SRE, but it is her request
  });

  it('checks durations against the resource limits with a fix-it message', () => {
    expect(durationProblem(ro, 60 * 60_000)).toBeUndefined();
    expect(durationProblem(ro, 3 * 3_600_000)).toBe('prod-db-readonly can be requested for 5m to 2h; you asked for 3h.');
    expect(durationProblem(ro, 60_000)).toMatch(/5m to 2h/);
  });

  it('lets the requester and admins revoke, nobody else', () => {
    expect(mayRevoke(policy, { requesterId: 'U0ALICE' }, 'U0ALICE')).toBe(true);
    expect(mayRevoke(policy, { requesterId: 'U0ALICE' }, 'U0ADMIN1')).toBe(true);
    expect(mayRevoke(policy, { requesterId: 'U0ALICE' }, 'U0BOB')).toBe(false);
  });

  it('lets anyone request unless the resource lists requesters', async () => {
    expect(await mayRequest(ro, 'U0ANYONE', directory)).toBe(true);
    const restricted = parsePolicy(base.replace('name: DB', 'name: DB\n    requesters: { usergroups: [S0SRE] }'), env);
    const db = findResource(restricted, 'db')!;
    expect(await mayRequest(db, 'U0SREONE', directory)).toBe(true);
    expect(await mayRequest(db, 'U0ANYONE', directory)).toBe(false);
  });

  it('parses the example file as it is checked in', () => {
    expect(readFileSync(example, 'utf8')).toContain('${PROD_PG_ADMIN_URL}');
  });
});

describe('feasibility checks at policy load (src/policy/feasibility.ts)', () => {
  const hook = 'provider: { type: webhook, url: "https://ops.example.com/jit", secret: "0123456789abcdef" }';
  const policyWith = (resource: string) => `
approvalChannel: C0APPROVALS
resources:
  - id: x
    name: X
    ${hook}
${resource
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;

  it('breakGlass: true needs named requesters: the whole workspace may never break glass', () => {
    expect(problemsOf(policyWith('approvers: { users: [U0BOB, U0CAROL] }\nbreakGlass: true'))).toEqual([
      expect.stringMatching(/^resources\[0\]\.requesters: required when breakGlass is true/),
    ]);
    expect(problemsOf(policyWith('approvers: { users: [U0BOB, U0CAROL] }\nrequesters: { users: [] }\nbreakGlass: true'))[0]).toMatch(
      /^resources\[0\]\.requesters: required/,
    );
    expect(() =>
      parsePolicy(policyWith('approvers: { users: [U0BOB, U0CAROL] }\nrequesters: { usergroups: [S0ONCALL] }\nbreakGlass: true'), env),
    ).not.toThrow();
    expect(() =>
      parsePolicy(policyWith('approvers: { users: [U0BOB, U0CAROL] }\nrequesters: { users: [U0ALICE] }\nbreakGlass: true'), env),
    ).not.toThrow();
  });

  it('refuses a resource that nobody allowed to request it could ever get approved', () => {
    // The sole approver is the sole requester.
    expect(problemsOf(policyWith('approvers: { users: [U0BOB] }\nrequesters: { users: [U0BOB] }'))).toEqual([
      expect.stringMatching(
        /^resources\[0\]\.requiredApprovals: needs 1 approval from people other than the requester, and no one in requesters \(U0BOB\) can ever get one/,
      ),
    ]);
    // Two approvers, two approvals, and each requester is one of them.
    expect(
      problemsOf(policyWith('approvers: { users: [U0BOB, U0CAROL] }\nrequesters: { users: [U0BOB, U0CAROL] }\nrequiredApprovals: 2'))[0],
    ).toMatch(/requiredApprovals: needs 2 approvals/);
    // Extensions are approved too.
    expect(
      problemsOf(
        policyWith('approvers: { users: [U0BOB, U0CAROL] }\nrequesters: { users: [U0BOB] }\nextension: { requiredApprovals: 2 }'),
      )[0],
    ).toMatch(/^resources\[0\]\.extension\.requiredApprovals: needs 2/);
  });

  it('accepts what someone could get approved, and what user groups might make possible', () => {
    for (const ok of [
      'approvers: { users: [U0BOB] }', // anyone may request; only U0BOB's own requests are refused (when filed)
      'approvers: { users: [U0BOB] }\nrequesters: { users: [U0BOB, U0ALICE] }',
      'approvers: { users: [U0BOB], usergroups: [S0SRE] }\nrequesters: { users: [U0BOB] }',
      'approvers: { users: [U0BOB] }\nrequesters: { usergroups: [S0DEV] }',
      'approvers: { users: [U0BOB] }\nrequesters: { users: [U0BOB] }\nautoApprove: true',
      'approvers: { users: [U0BOB, U0CAROL] }\nrequesters: { users: [U0BOB] }\nextension: { requiredApprovals: 0 }',
    ]) {
      expect(() => parsePolicy(policyWith(ok), env)).not.toThrow();
    }
  });

  it('warns (without refusing) about requesters whose own requests could never be approved', () => {
    const warnings = feasibilityWarnings(parsePolicy(policyWith('approvers: { users: [U0BOB] }'), env));
    expect(warnings).toEqual([
      expect.stringMatching(
        /^resources\[0\] \(x\): U0BOB may request it but is among too few approvers to get 1 approval from someone else/,
      ),
    ]);
    expect(feasibilityWarnings(parsePolicy(policyWith('approvers: { users: [U0BOB, U0CAROL] }'), env))).toEqual([]);
    expect(feasibilityWarnings(loadPolicyFile(example, env))).toEqual([]);
  });
});
