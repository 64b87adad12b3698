import type { Logger } from 'pino';
import { ephemeralRoleName } from '../../src/providers/postgres/postgres-provider';
import { scramSha256Verifier } from '../../src/providers/postgres/scram-verifier';
import { z } from 'zod';
import { parsePolicy } from '../../src/policy/load';
import type { Policy } from '../../src/policy/policy';
import { PROVIDERS } from '../../src/providers/catalog';
import { defineProvider, ProviderError } from '../../src/providers/provider';
import type { TargetProvider } from '../../src/providers/provider';
import { ProviderRegistry } from '../../src/providers/registry';
import { isSecret, secret, secretKeys } from '../../src/providers/secrets';

const policyText = `
approvalChannel: C0APPROVALS
emailDomains: [example.com]
targets:
  orders-db:
    type: postgres
    url: postgres://jit:s3cret-pass-word@db.example.com/orders
resources:
  - id: orders-read
    name: Orders, read
    approvers: { users: [U0BOB] }
    provider: { target: orders-db, role: orders_reader }
  - id: orders-write
    name: Orders, write
    approvers: { users: [U0BOB] }
    provider: { target: orders-db, role: orders_writer, mode: ephemeral }
  - id: hook
    name: Hook
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "https://ops.example.com/hooks/0123456789abcdef0123", secret: "a-webhook-secret-value" }
`;

describe('ProviderRegistry', () => {
  let registry: ProviderRegistry;
  let policy: Policy;
  beforeAll(() => {
    policy = parsePolicy(policyText, {});
    registry = new ProviderRegistry(policy); // constructing connects nothing
  });
  afterAll(() => registry.closeAll());

  it('binds each resource to its target, one instance per target', () => {
    const read = registry.forResource('orders-read');
    const write = registry.forResource('orders-write');
    expect([read.type, read.target, write.target]).toEqual(['postgres', 'orders-db', 'orders-db']);
    expect(registry.forResource('hook')).toMatchObject({ type: 'webhook', target: 'hook' });
    expect((registry as unknown as { instances: Map<string, unknown> }).instances.size).toBe(2);
  });

  it('works out each resource’s account rule and access key from its own settings', () => {
    const read = registry.forResource('orders-read');
    const write = registry.forResource('orders-write');
    expect(read.account.need).toBe('required');
    expect(write.account.need).toBe('optional');
    expect(read.accessKey('alice')).toBe(JSON.stringify(['orders-db', 'role:orders_reader', 'alice']));
    expect(read.accessKey(undefined)).toBeUndefined();
    expect(write.accessKey('alice')).toBeUndefined(); // every ephemeral login is its own
    expect(registry.forResource('hook').accessKey('alice')).toBeUndefined();
    expect([read.inspectsStanding, write.inspectsStanding]).toEqual([true, false]);
  });

  it('turns every error into a ProviderError with the policy’s secrets cut out', async () => {
    const read = registry.forResource('orders-read');
    const subject = {
      requestId: 'r1',
      resourceId: 'orders-read',
      user: { slackId: 'U0ALICE', account: 'alice' },
      reason: 'x',
      expiresAt: new Date(),
    };
    // The deadline is already gone: the pool never even connects.
    const err = await read.grant(subject, { deadline: new Date(Date.now() - 1) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(policy.secrets).toEqual(expect.arrayContaining(['s3cret-pass-word', 'a-webhook-secret-value', '0123456789abcdef0123']));
  });

  it('check(): hands the probe a deadline (its own or 10 s), scrubs the policy’s secrets from what it reports; no probe, no problems', async () => {
    const deadlines: Date[] = [];
    const occasions: string[] = [];
    const probing = defineProvider({
      type: 'probing',
      target: z.object({}),
      access: z.object({}),
      account: { derive: 'never', need: 'optional', format: z.string() },
      extension: 'refuse',
      overlap: 'none',
      create: (): TargetProvider<Record<string, never>> => ({
        grant: async () => ({}),
        revoke: async () => undefined,
        check: async (_access, opts) => (
          deadlines.push(opts.deadline), occasions.push(opts.occasion), ['probing target p: cannot log in with s3cret-pass-word']
        ),
      }),
    });
    (PROVIDERS as unknown as unknown[]).push(probing);
    try {
      const withProbe: Policy = {
        ...policy,
        targets: { p: { name: 'p', type: 'probing', settings: {}, inline: false } },
        resources: [{ ...policy.resources[0]!, id: 'probed', provider: { target: 'p', type: 'probing', access: {} } }],
      };
      const startUp = new ProviderRegistry(withProbe);
      const probed = startUp.forResource('probed');
      expect(probed.checks).toBe(true);
      const mine = new Date(Date.now() + 1234);
      expect(await probed.check({ deadline: mine })).toEqual(['probing target p: cannot log in with ***']);
      const before = Date.now();
      await probed.check();
      expect(deadlines[0]).toBe(mine);
      expect(deadlines[1]!.getTime() - before).toBeGreaterThanOrEqual(9_900);
      expect(deadlines[1]!.getTime() - before).toBeLessThanOrEqual(10_100);
      // At start-up the probe is told so (a webhook then calls nobody), and its problems become warnings, scrubbed.
      const warned: string[] = [];
      await startUp.check({ warn: (_: unknown, msg: string) => void warned.push(msg) } as unknown as Logger);
      expect(occasions).toEqual(['operator', 'operator', 'start-up']);
      expect(warned).toEqual(['provider check: probing target p: cannot log in with ***']);
    } finally {
      (PROVIDERS as unknown as unknown[]).pop();
    }
  });

  it('refuses an unknown resource', () => {
    expect(() => registry.forResource('nope')).toThrow(/not in the policy/);
  });

  it('refuses a provider whose instance lacks a capability its definition declares', () => {
    const broken = defineProvider({
      type: 'broken',
      target: z.object({}),
      access: z.object({}),
      account: { derive: 'never', need: 'optional', format: z.string() },
      extension: 'native',
      overlap: { key: () => 'x', standing: 'inspected' },
      create: (): TargetProvider<Record<string, never>> => ({ grant: async () => ({}), revoke: async () => undefined }),
    });
    (PROVIDERS as unknown as unknown[]).push(broken);
    try {
      const withBroken = { ...policy, targets: { b: { name: 'b', type: 'broken', settings: {}, inline: false } } };
      expect(() => new ProviderRegistry(withBroken)).toThrow(/provider broken lacks extend\(\) .* and holds\(\)/);
    } finally {
      (PROVIDERS as unknown as unknown[]).pop();
    }
  });
});

describe('defineProvider', () => {
  const base = {
    type: 'demo',
    access: z.object({ role: z.string() }),
    account: { derive: 'local-part' as const, need: 'required' as const, format: z.string() },
    extension: 'refuse' as const,
    overlap: 'none' as const,
    create: () => ({ grant: async () => ({}), revoke: async () => undefined }),
  };

  it('refuses a key that is both a target key and an access key, or a reserved one', () => {
    expect(() => defineProvider({ ...base, target: z.object({ role: z.string() }) })).toThrow(/role cannot be both/);
    expect(() => defineProvider({ ...base, target: z.object({ target: z.string() }) })).toThrow(/"target" is reserved/);
    expect(() => defineProvider({ ...base, type: 'Demo', target: z.object({}) })).toThrow(/lowercase/);
  });

  it('finds secret() marks through optional() and default()', () => {
    const schema = z.object({ a: secret(z.string()).optional(), b: secret(z.string()).default('x'), c: z.string() });
    expect(secretKeys(schema)).toEqual(['a', 'b']);
    expect(isSecret(z.string())).toBe(false);
  });

  it('every shipped provider marks its credentials secret', () => {
    const marked = Object.fromEntries(PROVIDERS.map((p) => [p.type, [...secretKeys(p.target), ...secretKeys(p.access)]]));
    expect(marked).toMatchObject({ webhook: ['url', 'secret'], postgres: ['url'] });
  });
});

describe('ephemeralRoleName', () => {
  it('is deterministic per request and distinct across requests', () => {
    expect(ephemeralRoleName('alice', 'req-1')).toBe(ephemeralRoleName('alice', 'req-1'));
    expect(ephemeralRoleName('alice', 'req-1')).not.toBe(ephemeralRoleName('alice', 'req-2'));
    expect(ephemeralRoleName('alice', 'req-1')).toMatch(/^jit_alice_[0-9a-f]{8}$/);
  });

  it('reduces any account to a lower-case identifier of at most 63 bytes', () => {
    expect(ephemeralRoleName('Alice.Smith-Jones', 'r')).toMatch(/^jit_alice_smith_jones_[0-9a-f]{8}$/);
    expect(ephemeralRoleName('ålice"; DROP ROLE x', 'r')).toMatch(/^jit__lice___drop_role_x_[0-9a-f]{8}$/);
    const long = ephemeralRoleName('a'.repeat(200), 'r');
    expect(Buffer.byteLength(long)).toBe(63);
    expect(long).toMatch(/_[0-9a-f]{8}$/);
  });
});

describe('scramSha256Verifier', () => {
  it('matches the RFC 7677 test vector', () => {
    // RFC 7677 §3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations.
    const verifier = scramSha256Verifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
    expect(verifier).toBe(
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=',
    );
  });
});
