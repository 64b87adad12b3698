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
  breakGlass?: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** Undecided requests time out at this time. */
  pendingUntil: Date;
  /** Next approver reminder is due at this time (pending only). */
  remindAt?: Date;
  approvalChannel: string;
  approvalMessage?: MessageRef;
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
  account?: string;
  email?: string;
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

export interface ExtensionRequest {
  id: string;
  durationMs: number;
  reason: string;
  requestedAt: Date;
  approvals: string[];
  requiredApprovals: number;
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
