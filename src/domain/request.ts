import { randomBytes } from 'node:crypto';
import type { RequestState } from './lifecycle';

/** Where the approval message lives, so it can be updated and threaded into. */
export interface MessageRef {
  channel: string;
  ts: string;
}

export interface AccessRequest {
  /** Short ID people type: `revoke r7k2m9qx`. */
  _id: string;
  requesterId: string;
  resourceId: string;
  durationMs: number;
  reason: string;
  ticket?: string;
  state: RequestState;
  /** `${requesterId}:${resourceId}` while the request is open; unset when it ends (unique partial index). */
  openKey?: string;
  approvals: string[];
  requiredApprovals: number;
  autoApproved?: boolean;
  /** The approval rule that decided how this request is approved (policy `rules[].name`), if one did. */
  approvalRule?: string;
  breakGlass?: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** Undecided requests time out at this time. */
  pendingUntil: Date;
  /** Next approver reminder is due at this time (pending only). */
  remindAt?: Date;
  approvalChannel: string;
  approvalMessage?: MessageRef;
  /**
   * The DMs that carried this grant's credentials (ephemeral logins, certificates), deleted with
   * `chat.delete` when the grant ends (PRODUCT.md §5). Where the messages are, never what they say.
   */
  credentialMessages?: MessageRef[];
  decidedBy?: string;
  denyReason?: string;
  grantedAt?: Date;
  expiresAt?: Date;
  /** When the "expiring soon" DM is due; unset once sent. */
  warnAt?: Date;
  /** Why the grant is ending: it reached its expiry, or someone revoked it. */
  endReason?: 'expiry' | 'revoke';
  endedBy?: string;
  endedAt?: Date;
  /** A claim on granting/revoking work; another worker may take over once it passes. */
  leaseUntil?: Date;
  /** Failed provider attempts in the current granting/revoking phase. */
  attempts?: number;
  nextAttemptAt?: Date;
  lastError?: string;
  /** Non-secret details the provider returned at grant time (e.g. an ephemeral role's name). */
  providerDetails?: Record<string, string>;
  /** What the provider said the requester must know about the grant (GrantResult.notice), for the "approved" DM. */
  grantNotice?: string;
  /**
   * Where and as whom, resolved when the request was filed, shown to approvers, and used unchanged
   * by grant, extend and revoke (never re-derived). Requests filed before jit-access resolved
   * accounts at filing have no `target`; their `account` and `email` were recorded at grant time.
   */
  target?: string;
  account?: string;
  /** Where the account came from: the policy's `identities`, or derived from the e-mail. */
  accountSource?: 'identities' | 'email';
  /** `accountKeyOf(target, account)`: a derived account another person's open request holds is refused (identify-requester.ts). */
  accountKey?: string;
  /** What the provider resolved the account to at filing (a user ID, an ARN), passed to every call. */
  principal?: string;
  email?: string;
  /**
   * For providers that need one (`ssh`): the requester's SSH public key when the request was filed,
   * and its `SHA256:` fingerprint, shown to approvers. Public, not secret; certified unchanged.
   */
  sshPublicKey?: string;
  sshKeyFingerprint?: string;
  /**
   * What the grant gives in the target (ResourceProvider.accessKey), recorded before the first grant
   * attempt; requests with the same key give one account the same access (overlapping grants).
   */
  accessKey?: string;
  /**
   * Recorded before the first grant attempt, for requests with an access key: the account already
   * had this access, not through jit-access. Nothing is granted, and revocation leaves it in place.
   */
  standing?: boolean;
  /** A pending extension of an active grant; unset when decided or when the grant ends. */
  extension?: ExtensionRequest;
  /** Extensions granted so far (their total counts towards maxTotalDuration). */
  extendedMs?: number;
  /** Break-glass grants stay flagged until an approver acknowledges them after the fact. */
  breakGlassAck?: { by: string; at: Date };
  /** Bumped by every update. */
  version: number;
  /** Random stamp of the last change; the audit event of that change is keyed by it. */
  changeId?: string;
}

interface ExtensionRequest {
  id: string;
  durationMs: number;
  reason: string;
  requestedAt: Date;
  approvals: string[];
  requiredApprovals: number;
  /** The approval rule that decided how this extension is approved, if one did. */
  rule?: string;
}

const ID_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

export function newRequestId(): string {
  const bytes = randomBytes(8);
  let id = 'r';
  for (const b of bytes) id += ID_ALPHABET[b % ID_ALPHABET.length];
  return id;
}

/** Request IDs as typed by users; anything else is refused before it reaches a query. */
export const REQUEST_ID_PATTERN = /^r[a-z0-9]{8}$/;

export function openKeyOf(requesterId: string, resourceId: string): string {
  return `${requesterId}:${resourceId}`;
}

/** One account on one target, whatever its case: the unit no two people may share. */
export function accountKeyOf(target: string, account: string): string {
  return JSON.stringify([target, account.toLowerCase()]);
}
