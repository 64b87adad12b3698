import { PostgresProvider, ephemeralRoleName } from '../../src/providers/postgres/postgres-provider';
import { scramSha256Verifier } from '../../src/providers/postgres/scram-verifier';
import { createProvider } from '../../src/providers/registry';
import { WebhookProvider } from '../../src/providers/webhook/webhook-provider';

describe('createProvider', () => {
  it('builds the provider named by the config type', async () => {
    const webhook = createProvider({ type: 'webhook', url: 'https://hooks.example.com/jit', secret: 'a-secret-of-enough-length' }, 'deploy');
    expect(webhook).toBeInstanceOf(WebhookProvider);
    expect(webhook.type).toBe('webhook');

    // Constructing does not connect; close() releases the (empty) pool.
    const postgres = createProvider({ type: 'postgres', url: 'postgres://jit@db.example.com/app', role: 'reader', mode: 'grant' }, 'db');
    expect(postgres).toBeInstanceOf(PostgresProvider);
    expect(postgres.type).toBe('postgres');
    await postgres.close?.();
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
