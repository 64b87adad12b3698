import { parsePolicy } from '../../src/policy/load';
import { webhookProvider } from '../../src/providers/webhook/webhook-provider';
import type { GrantSubject, TargetProvider } from '../../src/providers/provider';
import { ProvidersInForce } from '../../src/providers/providers-in-force';
import { PolicyInForce } from '../../src/policy/policy-in-force';
import { reloadPolicy } from '../../src/operations/reload-policy';
import { PolicyError } from '../../src/policy/load';
import pino from 'pino';
import { Writable } from 'node:stream';

/*
 * The providers behind a policy reload, with the webhook's instances replaced by counting fakes:
 * which instances a reload keeps, creates and closes, and when.
 */
const policy = (hooksTimeout: number, withRemoved = true) =>
  parsePolicy(
    `
approvalChannel: C0APPROVALS
targets:
  hooks: { type: webhook, url: "https://ops.example.com/jit", secret: "a-webhook-secret-value", timeoutMs: ${hooksTimeout} }
  other: { type: webhook, url: "https://other.example.com/jit", secret: "another-secret-value" }
resources:
  - { id: a, name: A, approvers: { users: [U0BOB] }, provider: { target: hooks } }
  - { id: b, name: B, approvers: { users: [U0BOB] }, provider: { target: other } }
${withRemoved ? '  - { id: gone, name: Gone, approvers: { users: [U0BOB] }, provider: { type: webhook, url: "https://gone.example.com/jit", secret: "gone-secret-value" } }' : ''}
`,
    {},
  );

interface FakeInstance extends TargetProvider<unknown> {
  name: string;
  settings: Record<string, unknown>;
  calls: string[];
  closed: boolean;
  /** Holds grants until called. */
  release?: () => void;
}

const created: FakeInstance[] = [];
let holdGrants = false;
beforeEach(() => {
  created.length = 0;
  holdGrants = false;
  jest.spyOn(webhookProvider, 'create').mockImplementation((settings, env) => {
    const instance: FakeInstance = {
      name: env.targetName,
      settings: settings as Record<string, unknown>,
      calls: [],
      closed: false,
      async grant() {
        instance.calls.push('grant');
        if (holdGrants) await new Promise<void>((resolve) => (instance.release = resolve));
        return {};
      },
      async revoke() {
        instance.calls.push('revoke');
      },
      async extend() {
        instance.calls.push('extend');
      },
      async close() {
        instance.closed = true;
      },
      async check() {
        instance.calls.push('check');
        return [`${env.targetName} looks odd`];
      },
    };
    created.push(instance);
    return instance as never;
  });
});
afterEach(() => jest.restoreAllMocks());

const subject = (resourceId: string): GrantSubject => ({
  requestId: 'r12345678',
  resourceId,
  user: { slackId: 'U0ALICE' },
  reason: 'test',
  expiresAt: new Date(Date.now() + 60_000),
});
const deadline = () => ({ deadline: new Date(Date.now() + 5000) });
const instanceOf = (name: string) => created.filter((c) => c.name === name);

describe('ProvidersInForce', () => {
  it('keeps the instance of a target whose settings did not change, and re-creates the one whose settings did', async () => {
    const providers = new ProvidersInForce(policy(1000));
    expect(created.map((c) => c.name).sort()).toEqual(['gone', 'hooks', 'other']);
    const report = providers.reload(policy(2000), new Set());
    expect(report).toMatchObject({ created: ['hooks'], closed: ['hooks'] });
    expect(report.kept.sort()).toEqual(['gone', 'other']);
    await providers.closing;
    const [oldHooks, newHooks] = instanceOf('hooks');
    expect(oldHooks!.closed).toBe(true);
    expect(newHooks!.settings.timeoutMs).toBe(2000);
    expect(instanceOf('other')).toHaveLength(1);
    await providers.forResource('a').grant(subject('a'), deadline());
    expect(newHooks!.calls).toEqual(['grant']);
    await providers.closeAll();
  });

  it('closes a replaced instance only after its calls in flight have finished', async () => {
    const providers = new ProvidersInForce(policy(1000));
    holdGrants = true;
    const inFlight = providers.forResource('a').grant(subject('a'), deadline());
    await new Promise((r) => setImmediate(r));
    providers.reload(policy(3000), new Set());
    const [oldHooks] = instanceOf('hooks');
    await new Promise((r) => setTimeout(r, 50));
    expect(oldHooks!.closed).toBe(false);
    oldHooks!.release!();
    await inFlight;
    await providers.closing;
    expect(oldHooks!.closed).toBe(true);
    await providers.closeAll();
  });

  it('a call through a binding taken before the reload goes to the new instance once the old one is retired', async () => {
    const providers = new ProvidersInForce(policy(1000));
    const before = providers.forResource('a');
    providers.reload(policy(4000), new Set());
    await providers.closing;
    await before.revoke(subject('a'), deadline());
    const [oldHooks, newHooks] = instanceOf('hooks');
    expect(oldHooks!.calls).toEqual([]);
    expect(newHooks!.calls).toEqual(['revoke']);
    await providers.closeAll();
  });

  it('a removed resource with open requests keeps its provider (not closed) until they end; one without is let go at once', async () => {
    const providers = new ProvidersInForce(policy(1000));
    let report = providers.reload(policy(1000, false), new Set(['gone']));
    expect(report.retained).toEqual(['gone']);
    expect(report.closed).toEqual([]);
    await providers.forResource('gone').revoke(subject('gone'), deadline());
    const [gone] = instanceOf('gone');
    expect(gone!.calls).toEqual(['revoke']);
    expect(gone!.closed).toBe(false);
    // Its grants ended: the sweep closes it.
    expect(providers.sweep(new Set())).toEqual(['gone']);
    await providers.closing;
    expect(gone!.closed).toBe(true);
    expect(() => providers.forResource('gone')).toThrow(/not in the policy/);
    // Back again, then removed with nothing open: closed by the reload itself.
    providers.reload(policy(1000, true), new Set());
    report = providers.reload(policy(1000, false), new Set());
    expect(report).toMatchObject({ retained: [], closed: ['gone'] });
    await providers.closeAll();
  });

  it('a reload whose new instance cannot be created changes nothing', async () => {
    const providers = new ProvidersInForce(policy(1000));
    (webhookProvider.create as jest.Mock).mockImplementationOnce(() => {
      throw new Error('cannot connect');
    });
    expect(() => providers.reload(policy(5000), new Set())).toThrow('cannot connect');
    await providers.forResource('a').grant(subject('a'), deadline());
    expect(instanceOf('hooks')[0]!.calls).toEqual(['grant']);
    expect(instanceOf('hooks')[0]!.closed).toBe(false);
    await providers.closeAll();
  });
});

describe('reloadPolicy', () => {
  function logger() {
    const lines: Array<{ msg: string; level: number }> = [];
    const log = pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    return { log, lines };
  }

  it('applied: swaps policy and providers, then checks only the targets it created', async () => {
    const first = policy(1000);
    const providers = new ProvidersInForce(first);
    const inForce = new PolicyInForce(first);
    const { log, lines } = logger();
    const next = policy(2500);
    const outcome = await reloadPolicy({ load: () => next, policy: inForce, providers, openResources: async () => new Set(), logger: log });
    expect(outcome).toMatchObject({ applied: true, added: [], removed: [], changed: [] });
    expect(inForce.current).toBe(next);
    expect(inForce.live.resources).toBe(next.resources);
    await new Promise((r) => setTimeout(r, 20));
    expect(created.filter((c) => c.calls.includes('check')).map((c) => c.name)).toEqual(['hooks']);
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['policy reloaded', 'provider check: hooks looks odd']));
    await providers.closeAll();
  });

  it('refused: one error line per problem, nothing swapped, no instance created', async () => {
    const first = policy(1000);
    const providers = new ProvidersInForce(first);
    const inForce = new PolicyInForce(first);
    const { log, lines } = logger();
    const before = created.length;
    const outcome = await reloadPolicy({
      load: () => {
        throw new PolicyError(['resources[0].maxDuration: expected a duration', 'resources[1].approvers: list at least one user']);
      },
      policy: inForce,
      providers,
      openResources: async () => new Set(),
      logger: log,
    });
    expect(outcome).toEqual({
      applied: false,
      problems: ['resources[0].maxDuration: expected a duration', 'resources[1].approvers: list at least one user'],
    });
    expect(lines.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([
      'policy reload refused: resources[0].maxDuration: expected a duration',
      'policy reload refused: resources[1].approvers: list at least one user',
      'policy reload refused; the running policy is kept',
    ]);
    expect(inForce.current).toBe(first);
    expect(created.length).toBe(before);
    await providers.closeAll();
  });

  it('refused while MongoDB cannot say which resources have open requests: nothing swapped', async () => {
    const first = policy(1000);
    const providers = new ProvidersInForce(first);
    const inForce = new PolicyInForce(first);
    const { log } = logger();
    const outcome = await reloadPolicy({
      load: () => policy(1000, false),
      policy: inForce,
      providers,
      openResources: async () => {
        throw new Error('server selection timed out');
      },
      logger: log,
    });
    expect(outcome).toEqual({
      applied: false,
      problems: [expect.stringMatching(/^cannot read which resources have open requests from MongoDB: server selection timed out/)],
    });
    expect(inForce.current).toBe(first);
    await providers.forResource('gone').revoke(subject('gone'), deadline());
    expect(instanceOf('gone')[0]!.closed).toBe(false);
    await providers.closeAll();
  });
});
