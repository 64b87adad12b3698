import { assertTransition, canTransition, REQUEST_STATES, TRANSITIONS, isOpen } from '../../src/domain/lifecycle';

describe('lifecycle', () => {
  const allowed: Array<[string, string]> = [
    ['pending', 'granting'],
    ['pending', 'denied'],
    ['pending', 'cancelled'],
    ['pending', 'timed_out'],
    ['granting', 'active'],
    ['granting', 'failed'],
    ['active', 'revoking'],
    ['revoking', 'expired'],
    ['revoking', 'revoked'],
  ];

  it.each(allowed)('allows %s -> %s', (from, to) => {
    expect(canTransition(from as never, to as never)).toBe(true);
    expect(() => assertTransition(from as never, to as never)).not.toThrow();
  });

  it('allows nothing else', () => {
    for (const from of REQUEST_STATES) {
      for (const to of REQUEST_STATES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        expect([from, to, canTransition(from, to)]).toEqual([from, to, expected]);
      }
    }
  });

  it.each([
    ['pending', 'active'],
    ['active', 'expired'],
    ['active', 'revoked'],
    ['expired', 'active'],
    ['revoked', 'revoking'],
    ['denied', 'granting'],
    ['failed', 'granting'],
    ['granting', 'revoking'],
  ])('refuses %s -> %s with a clear error', (from, to) => {
    expect(() => assertTransition(from as never, to as never)).toThrow(`a request cannot go from ${from} to ${to}`);
  });

  it('knows which states hold or may hold access', () => {
    expect(REQUEST_STATES.filter(isOpen)).toEqual(['pending', 'granting', 'active', 'revoking']);
    expect(TRANSITIONS.length).toBe(allowed.length);
  });
});
