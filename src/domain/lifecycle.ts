/** Request states and the only transitions between them. */

export const REQUEST_STATES = [
  'pending',
  'granting',
  'active',
  'revoking',
  'expired',
  'revoked',
  'denied',
  'cancelled',
  'timed_out',
  'failed',
] as const;
export type RequestState = (typeof REQUEST_STATES)[number];

/** Open requests hold (or are about to hold) access: at most one per requester and resource. */
export const OPEN_STATES: readonly RequestState[] = ['pending', 'granting', 'active', 'revoking'];
export const FINAL_STATES: readonly RequestState[] = ['expired', 'revoked', 'denied', 'cancelled', 'timed_out', 'failed'];

/** One allowed change of state. */
export interface TransitionRule {
  from: RequestState;
  to: RequestState;
}

export const TRANSITIONS: readonly TransitionRule[] = [
  { from: 'pending', to: 'granting' },
  { from: 'pending', to: 'denied' },
  { from: 'pending', to: 'cancelled' },
  { from: 'pending', to: 'timed_out' },
  { from: 'granting', to: 'active' },
  { from: 'granting', to: 'failed' },
  // On expiry, or revoked by hand.
  { from: 'active', to: 'revoking' },
  // Where a revocation ends depends on why it started (the request's endReason).
  { from: 'revoking', to: 'expired' },
  { from: 'revoking', to: 'revoked' },
];

export function isOpen(state: RequestState): boolean {
  return OPEN_STATES.includes(state);
}

export function canTransition(from: RequestState, to: RequestState): boolean {
  return TRANSITIONS.some((t) => t.from === from && t.to === to);
}

class TransitionError extends Error {
  constructor(
    readonly from: RequestState,
    readonly to: RequestState,
  ) {
    super(`a request cannot go from ${from} to ${to}`);
    this.name = 'TransitionError';
  }
}

/** Throws unless `from -> to` is an allowed transition; the store calls this before every update. */
export function assertTransition(from: RequestState, to: RequestState): void {
  if (!canTransition(from, to)) throw new TransitionError(from, to);
}
