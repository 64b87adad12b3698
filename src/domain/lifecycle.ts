/** Request states and the only transitions between them (PRODUCT.md section 4). */

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

export type TransitionAction =
  | 'approve'
  | 'deny'
  | 'cancel'
  | 'time_out'
  | 'grant_succeeded'
  | 'grant_failed'
  | 'expire'
  | 'revoke'
  | 'revoke_succeeded';

export interface TransitionRule {
  from: RequestState;
  action: TransitionAction;
  to: RequestState;
}

export const TRANSITIONS: readonly TransitionRule[] = [
  { from: 'pending', action: 'approve', to: 'granting' },
  { from: 'pending', action: 'deny', to: 'denied' },
  { from: 'pending', action: 'cancel', to: 'cancelled' },
  { from: 'pending', action: 'time_out', to: 'timed_out' },
  { from: 'granting', action: 'grant_succeeded', to: 'active' },
  { from: 'granting', action: 'grant_failed', to: 'failed' },
  { from: 'active', action: 'expire', to: 'revoking' },
  { from: 'active', action: 'revoke', to: 'revoking' },
  // Where a revocation ends depends on why it started (the request's endReason).
  { from: 'revoking', action: 'revoke_succeeded', to: 'expired' },
  { from: 'revoking', action: 'revoke_succeeded', to: 'revoked' },
];

export function isOpen(state: RequestState): boolean {
  return OPEN_STATES.includes(state);
}

export function canTransition(from: RequestState, to: RequestState): boolean {
  return TRANSITIONS.some((t) => t.from === from && t.to === to);
}

export class TransitionError extends Error {
  constructor(readonly from: RequestState, readonly to: RequestState) {
    super(`a request cannot go from ${from} to ${to}`);
    this.name = 'TransitionError';
  }
}

/** Throws unless `from -> to` is an allowed transition; the store calls this before every update. */
export function assertTransition(from: RequestState, to: RequestState): void {
  if (!canTransition(from, to)) throw new TransitionError(from, to);
}
