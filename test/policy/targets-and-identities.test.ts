import { parsePolicy } from '../../src/policy/load';
import { typeList } from '../../src/providers/catalog';
import { policyProblems } from './problems';
import { findResource, Policy } from '../../src/policy/policy';
import { accountRuleOf, identityOwners, resolveAccount, ResourceAccountRule } from '../../src/policy/identities';

const env = { PG_URL: 'postgres://jit_admin:pw-0123456789@db.internal/orders', HOOK_SECRET: 'a-long-shared-secret-value' };

function policyWith(body: string, head = ''): string {
  return `
approvalChannel: C0APPROVALS
${head}
resources:
${body}`;
}

const pgResource = (id: string, provider: string) => `
  - id: ${id}
    name: ${id}
    approvers: { users: [U0BOB] }
    provider: ${provider}`;

const problemsOf = (text: string) => policyProblems(text, env);

const ordersTarget = `
targets:
  orders-db:
    type: postgres
    url: \${PG_URL}
    timeoutMs: 5000`;

describe('targets', () => {
  it('merges a target’s settings with each resource’s own, validated against the type’s schema', () => {
    const policy = parsePolicy(
      policyWith(
        pgResource('read', '{ target: orders-db, role: reader }') +
          pgResource('temp', '{ target: orders-db, role: writer, mode: ephemeral }'),
        ordersTarget + '\nidentities: { U0ALICE: alice }',
      ),
      env,
    );
    expect(policy.targets['orders-db']).toEqual({
      name: 'orders-db',
      type: 'postgres',
      inline: false,
      settings: { url: env.PG_URL, timeoutMs: 5000 },
    });
    expect(findResource(policy, 'read')!.provider).toEqual({
      target: 'orders-db',
      type: 'postgres',
      access: { role: 'reader', mode: 'grant' },
    });
    expect(findResource(policy, 'temp')!.provider.access).toEqual({ role: 'writer', mode: 'ephemeral' });
    expect(policy.secrets).toEqual(expect.arrayContaining([env.PG_URL, 'pw-0123456789']));
  });

  it('keeps inline providers working: the resource is its own target', () => {
    const policy = parsePolicy(
      policyWith(pgResource('prod-db', '{ type: postgres, url: "${PG_URL}", role: reader }'), 'identities: { U0ALICE: alice }'),
      env,
    );
    expect(policy.targets['prod-db']).toMatchObject({ name: 'prod-db', type: 'postgres', inline: true, settings: { url: env.PG_URL } });
    expect(findResource(policy, 'prod-db')!.provider).toEqual({
      target: 'prod-db',
      type: 'postgres',
      access: { role: 'reader', mode: 'grant' },
    });
  });

  it.each([
    [
      'a resource setting a connection key of its target',
      pgResource('r', '{ target: orders-db, role: reader, url: "postgres://other@x/y" }'),
      ordersTarget,
      'resources[0].provider.url: comes from target orders-db: a resource that names a target sets only its own keys (role, mode); for other connection settings, define another target',
    ],
    ['a missing per-resource key', pgResource('r', '{ target: orders-db }'), ordersTarget, 'resources[0].provider.role: required'],
    [
      'a bad per-resource value',
      pgResource('r', '{ target: orders-db, role: reader, mode: forever }'),
      ordersTarget,
      'resources[0].provider.mode:',
    ],
    [
      'an unknown key on a resource',
      pgResource('r', '{ target: orders-db, role: reader, colour: red }'),
      ordersTarget,
      'resources[0].provider: unknown key "colour"',
    ],
    [
      'an unknown target',
      pgResource('r', '{ target: orders-dbb, role: reader }'),
      ordersTarget,
      'resources[0].provider.target: no target "orders-dbb" (targets: orders-db)',
    ],
    [
      'a type that contradicts the target',
      pgResource('r', '{ target: orders-db, type: webhook, role: reader }'),
      ordersTarget,
      'resources[0].provider.type: target orders-db is of type "postgres"',
    ],
    [
      'a per-resource key on a target',
      pgResource('r', '{ target: orders-db, role: reader }'),
      `${ordersTarget}\n    role: reader`,
      'targets.orders-db.role: "role" is set by each resource',
    ],
    [
      'a bad target setting',
      pgResource('r', '{ target: orders-db, role: reader }'),
      ordersTarget.replace('${PG_URL}', 'mysql://x'),
      'targets.orders-db.url: expected a postgres:// connection string',
    ],
    [
      'an unknown target type',
      pgResource('r', '{ target: x, role: reader }'),
      'targets:\n  x: { type: carrier-pigeon }',
      `targets.x.type: expected a provider with type ${typeList()}`,
    ],
    [
      'a target without a type',
      pgResource('r', '{ target: x, role: reader }'),
      'targets:\n  x: { url: "postgres://a@b/c" }',
      `targets.x: required: "type" (${typeList()})`,
    ],
    [
      'a provider with neither type nor target',
      pgResource('r', '{ role: reader }'),
      '',
      `resources[0].provider: expected "type" (${typeList()}) or "target"`,
    ],
    [
      'an inline resource named like a target',
      pgResource('orders-db', '{ type: postgres, url: "${PG_URL}", role: r }'),
      ordersTarget,
      'resources[0].id: "orders-db" is also the name of a target',
    ],
    [
      'a target named default',
      pgResource('r', '{ target: default, role: reader }'),
      'targets:\n  default: { type: postgres, url: "${PG_URL}" }',
      'targets.default: "default" is reserved',
    ],
    [
      'a bad target name',
      pgResource('r', '{ target: Orders_DB, role: reader }'),
      'targets:\n  Orders_DB: { type: postgres, url: "${PG_URL}" }',
      'targets.Orders_DB: expected a target name',
    ],
  ])('refuses %s, naming its path', (_what, resources, head, expected) => {
    expect(problemsOf(policyWith(resources, head)).join('\n')).toContain(expected);
  });

  it('names an unset ${VAR} in a target once, at the target', () => {
    const problems = problemsOf(
      policyWith(pgResource('r', '{ target: orders-db, role: reader }'), ordersTarget.replace('${PG_URL}', '${NOT_SET}')),
    );
    expect(problems).toEqual(['targets.orders-db.url: environment variable NOT_SET is not set']);
  });

  it('reports provider problems together with the rest of the schema’s', () => {
    const problems = problemsOf(policyWith(pgResource('r', '{ target: orders-db }') + '\n    colour: red', ordersTarget));
    expect(problems).toEqual(
      expect.arrayContaining(['resources[0]: unknown key "colour"', 'resources[0].provider.role: required (expected string)']),
    );
  });

  it('warns about a target nobody uses', () => {
    const policy = parsePolicy(
      policyWith(pgResource('r', '{ type: postgres, url: "${PG_URL}", role: reader }'), ordersTarget + '\nidentities: { U0ALICE: a }'),
      env,
    );
    expect(policy.warnings).toEqual(['targets.orders-db: not used by any resource']);
  });
});

describe('identities', () => {
  const twoTargets = `
targets:
  orders-db: { type: postgres, url: "\${PG_URL}" }
  billing-db: { type: postgres, url: "\${PG_URL}" }
  hooks: { type: webhook, url: "https://ops.example.com/jit", secret: "\${HOOK_SECRET}" }`;
  const resources =
    pgResource('orders', '{ target: orders-db, role: r }') +
    pgResource('billing', '{ target: billing-db, role: r }') +
    pgResource('deploy', '{ target: hooks }');

  it('keeps plain string identities working, and resolves maps by target name, then type, then default', () => {
    const policy = parsePolicy(
      policyWith(
        resources,
        `${twoTargets}\nidentities:\n  U0ALICE: alice\n  U0BOB: { default: bob, postgres: bob_pg, billing-db: bob_billing }`,
      ),
      env,
    );
    const rule = ruleOf(policy, 'orders');
    const at = (user: string, target: string) => resolveAccount(policy, policy.targets[target]!, rule, user, undefined);
    expect(at('U0ALICE', 'orders-db')).toEqual({ ok: true, account: 'alice', source: 'identities' });
    expect(at('U0BOB', 'billing-db')).toEqual({ ok: true, account: 'bob_billing', source: 'identities' });
    expect(at('U0BOB', 'orders-db')).toEqual({ ok: true, account: 'bob_pg', source: 'identities' });
    expect(at('U0BOB', 'hooks')).toEqual({ ok: true, account: 'bob', source: 'identities' });
  });

  it('derives an account only from e-mails in emailDomains', () => {
    const policy = parsePolicy(policyWith(resources, `${twoTargets}\nemailDomains: [Example.com]`), env);
    const orders = policy.targets['orders-db']!;
    const rule = ruleOf(policy, 'orders');
    expect(resolveAccount(policy, orders, rule, 'U0CAROL', 'Carol.Smith@example.COM')).toEqual({
      ok: true,
      account: 'carol.smith',
      source: 'email',
    });
    const evil = resolveAccount(policy, orders, rule, 'U0EVE', 'alice@evil.example');
    expect(evil).toEqual({
      ok: false,
      problem: expect.stringContaining('accounts are derived only from Slack e-mails in example.com, which yours is not'),
    });
    // A subdomain is another domain.
    expect(resolveAccount(policy, orders, rule, 'U0EVE', 'alice@corp.example.com').ok).toBe(false);
    // An account that does not fit the target is refused, and not echoed.
    const odd = resolveAccount(policy, orders, rule, 'U0EVE', '"a;b"@example.com');
    expect(odd).toEqual({
      ok: false,
      problem: expect.stringMatching(/^The account derived from your Slack e-mail is not a valid postgres account for orders-db/),
    });
    expect(odd.ok ? '' : odd.problem).not.toContain('a;b');
    // A provider that needs no account goes on without one.
    expect(resolveAccount(policy, policy.targets.hooks!, ruleOf(policy, 'deploy'), 'U0EVE', 'alice@evil.example')).toEqual({ ok: true });
  });

  it('says what is missing when no account can be had', () => {
    const policy = parsePolicy(policyWith(resources, twoTargets), env);
    const none = resolveAccount(policy, policy.targets['orders-db']!, ruleOf(policy, 'orders'), 'U0CAROL', 'carol@example.com');
    expect(none).toEqual({ ok: false, problem: expect.stringContaining('You have no account in orders-db (postgres)') });
    expect(none.ok ? '' : none.problem).toContain('no `emailDomains`');
    const never: ResourceAccountRule = { ...ruleOf(policy, 'orders'), derive: 'never' };
    expect(
      resolveAccount({ ...policy, emailDomains: ['example.com'] }, { name: 'gh', type: 'github' }, never, 'U0CAROL', 'carol@example.com'),
    ).toEqual({
      ok: false,
      problem: expect.stringContaining("github accounts come only from the policy's `identities`"),
    });
  });

  it('refuses two people mapped to one account on one target at start-up, naming both', () => {
    const problems = problemsOf(policyWith(resources, `${twoTargets}\nidentities:\n  U0ALICE: alice\n  U0EVE: { orders-db: Alice }`));
    expect(problems).toEqual([
      'identities.U0EVE: U0ALICE and U0EVE both map to account "Alice" on target orders-db: an account belongs to one person',
    ]);
    // Different targets may reuse a name: they are different systems.
    expect(() =>
      parsePolicy(
        policyWith(resources, `${twoTargets}\nidentities:\n  U0ALICE: { orders-db: alice }\n  U0EVE: { billing-db: alice }`),
        env,
      ),
    ).not.toThrow();
  });

  it('refuses an account that does not fit its target, and a map key that names nothing', () => {
    const problems = problemsOf(
      policyWith(resources, `${twoTargets}\nidentities:\n  U0EVE: 'alice"; DROP ROLE postgres; --'\n  U0BOB: { orders-dbb: bob }`),
    );
    expect(problems).toEqual([
      'identities.U0BOB.orders-dbb: no target or provider type "orders-dbb" (targets: orders-db, billing-db, hooks; or a provider type, or default)',
      expect.stringMatching(/^identities\.U0EVE: not a valid account for postgres target orders-db: expected a PostgreSQL role name/),
    ]);
  });

  it('finds whose identity an account is', () => {
    const policy = parsePolicy(policyWith(resources, `${twoTargets}\nidentities:\n  U0ALICE: alice\n  U0BOB: { billing-db: alice2 }`), env);
    expect(identityOwners(policy, policy.targets['orders-db']!, 'ALICE')).toEqual(['U0ALICE']);
    expect(identityOwners(policy, policy.targets['billing-db']!, 'alice2')).toEqual(['U0BOB']);
  });

  it('warns once when neither identities nor emailDomains is set', () => {
    const policy = parsePolicy(policyWith(resources, twoTargets), env);
    expect(policy.warnings).toEqual([
      'no account can be derived: the policy has neither identities nor emailDomains, so every request for orders, billing will be refused until one of them is set',
    ]);
    expect(parsePolicy(policyWith(resources, `${twoTargets}\nemailDomains: [example.com]`), env).warnings).toEqual([]);
  });
});

function ruleOf(policy: Policy, resourceId: string): ResourceAccountRule {
  return accountRuleOf(findResource(policy, resourceId)!.provider);
}
