import { isTemporaryNameFor, temporaryName } from '../../src/providers/temporary-name';

describe('temporaryName (mysql and redis temporary users)', () => {
  it('is deterministic per request, distinct across requests, and fits the limit', () => {
    expect(temporaryName('alice', 'req-1', 32)).toBe(temporaryName('alice', 'req-1', 32));
    expect(temporaryName('alice', 'req-1', 32)).not.toBe(temporaryName('alice', 'req-2', 32));
    expect(temporaryName('Bob.Smith-Jones', 'r', 64)).toMatch(/^jit_bob_smith_jones_[0-9a-f]{8}$/);
    const long = temporaryName('a'.repeat(200), 'r', 32);
    expect(long).toHaveLength(32);
    expect(long).toMatch(/^jit_a+_[0-9a-f]{8}$/);
  });

  it('recognises only the names it gives that request', () => {
    const name = temporaryName('alice', 'req-1', 32);
    expect(isTemporaryNameFor(name, 'req-1', 32)).toBe(true);
    expect(isTemporaryNameFor(name, 'req-2', 32)).toBe(false);
    // Shaped like one, but a real login: `jit_acct_<8 hex>` matches the pattern, not the request.
    expect(isTemporaryNameFor('jit_acct_0badc0de', 'req-1', 32)).toBe(false);
    expect(isTemporaryNameFor('root', 'req-1', 32)).toBe(false);
    expect(isTemporaryNameFor(temporaryName('a'.repeat(100), 'req-1', 64), 'req-1', 32)).toBe(false);
  });
});
