/**
 * A provider grants and revokes one kind of access in a target system.
 * Every call is idempotent (calling it twice is harmless) and honours its deadline.
 */
export interface GrantSubject {
  /** The request ID; providers use it as an idempotency key. */
  requestId: string;
  resourceId: string;
  user: {
    slackId: string;
    email?: string;
    /** Account name in the target system (policy `identities`, else the e-mail's local part). */
    account?: string;
  };
  reason: string;
  expiresAt: Date;
}

export interface ProviderCallOptions {
  /** Absolute time after which the call must give up and fail. */
  deadline: Date;
}

export interface GrantResult {
  /**
   * Secret details for the requester only (e.g. ephemeral database credentials).
   * Sent by DM, never logged, never stored.
   */
  secretForRequester?: { title: string; fields: Array<{ label: string; value: string }> };
  /** Non-secret details worth keeping on the request (e.g. the ephemeral role name). */
  details?: Record<string, string>;
}

export interface Provider {
  readonly type: string;
  grant(subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult>;
  /** Move an active grant's expiry (webhook `extend`, postgres ephemeral `VALID UNTIL`). */
  extend(subject: GrantSubject, opts: ProviderCallOptions & { details?: Record<string, string> }): Promise<void>;
  /** `details` are what grant() returned, so revoke can find what it created. */
  revoke(subject: GrantSubject, opts: ProviderCallOptions & { details?: Record<string, string> }): Promise<void>;
  /** Start-up check: warn-only problems (unreachable target, missing role). Empty = fine. */
  check?(): Promise<string[]>;
  close?(): Promise<void>;
}

/** A failure the provider reports; `retryable: false` stops retries early (e.g. bad identity). */
export class ProviderError extends Error {
  constructor(message: string, readonly retryable = true) {
    super(message);
    this.name = 'ProviderError';
  }
}
