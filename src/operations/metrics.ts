/**
 * What the operations count (PRODUCT.md §8), as a port: the operations say what happened, where
 * the transition was won, and know nothing of Prometheus (src/metrics/ implements it). Counting at
 * the winning conditional update means each event is counted once, by the one replica that made it.
 */

/** `jit_requests_total{outcome}`. An auto-approved request counts as `filed` and `auto_approved`. */
export type RequestOutcome = 'filed' | 'approved' | 'auto_approved' | 'break_glass' | 'denied' | 'cancelled' | 'timed_out' | 'failed';

/** `jit_revocations_total{result}`: one per revocation attempt. */
export type RevocationResult = 'succeeded' | 'failed';

export interface OperationMetrics {
  requestOutcome(resourceId: string, outcome: RequestOutcome): void;
  /** A revocation attempt; `latenessMs` (confirmed time minus expiry) for a grant that ended at its expiry. */
  revocation(resourceId: string, result: RevocationResult, latenessMs?: number): void;
}
