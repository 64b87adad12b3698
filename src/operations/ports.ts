import type { Logger } from 'pino';
import type { AccessRequest } from '../domain/request';
import type { Policy, Directory } from '../policy/policy';
import type { ResourceProvider } from '../providers/registry';
import type { RequestStore } from '../store/request-store';

/** What the requester is told by DM. */
export type RequesterNotice = 'approved' | 'denied' | 'failed' | 'expiring' | 'ended' | 'timed_out' | 'filed' | 'extended' | 'extension_denied';
/** What the approval channel is told in the approval message's thread. */
export type ChannelNotice = 'ended' | 'grant_failed' | 'revoke_failing' | 'reminder' | 'extension_requested';

/** How people are told. Implemented over the Slack Web API through a durable outbox. */
export interface Notifier {
  /** The approval message must show the request's current state (post it, or update it in place). */
  requestChanged(request: AccessRequest): Promise<void>;
  notifyRequester(request: AccessRequest, notice: RequesterNotice, details?: Record<string, string>): Promise<void>;
  notifyChannel(request: AccessRequest, notice: ChannelNotice, details?: Record<string, string>): Promise<void>;
  /** Secrets (ephemeral credentials) go straight to the user's DM: never stored, never logged. */
  sendSecret(userId: string, title: string, fields: Array<{ label: string; value: string }>): Promise<void>;
}

export interface UserDirectory extends Directory {
  emailOf(userId: string): Promise<string | undefined>;
}

export interface ProviderRegistry {
  forResource(resourceId: string): ResourceProvider;
}

/** Short lease locks shared by every replica (src/store/lease-locks.ts). */
export interface Locks {
  withLock<T>(key: string, opts: { leaseMs: number; waitMs: number }, work: () => Promise<T>): Promise<T>;
}

/** Something that wants to know when expiries or deadlines change (the scheduler's timer). */
export interface ScheduleListener {
  /** A new deadline exists at `at` (an expiry, a retry, a timeout, a reminder). */
  scheduleChanged(at: Date): void;
}

export interface OperationSettings {
  /** Provider attempts for a grant before the request fails. */
  grantAttempts: number;
  /** First retry delay; doubles each attempt, capped at retryMaxMs, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Deadline of one provider call. */
  providerTimeoutMs: number;
  /** How long a claim on granting/revoking work lasts before another worker may take it over. */
  leaseMs: number;
  /** Failed revocation attempts before the channel is alerted (and again every this many). */
  alertAfterAttempts: number;
  /** The "expiring soon" DM goes out this long before expiry. */
  expiryWarningMs: number;
}

export const DEFAULT_SETTINGS: OperationSettings = {
  grantAttempts: 3,
  retryBaseMs: 1000,
  retryMaxMs: 5 * 60_000,
  providerTimeoutMs: 10_000,
  leaseMs: 60_000,
  alertAfterAttempts: 3,
  expiryWarningMs: 5 * 60_000,
};

export interface OperationContext {
  policy: Policy;
  store: RequestStore;
  providers: ProviderRegistry;
  locks: Locks;
  notifier: Notifier;
  directory: UserDirectory;
  logger: Logger;
  settings: OperationSettings;
  schedule?: ScheduleListener;
  now(): Date;
}

/** Exponential backoff with full jitter in [delay/2, delay]. */
export function backoffMs(settings: OperationSettings, attempt: number): number {
  const delay = Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(delay / 2 + Math.random() * (delay / 2));
}

/**
 * When the "expiring soon" DM is due: `expiryWarningMs` before the expiry, for access that lasts
 * longer than that from `from` (a grant, or an extension applied). Shorter access gets none: its
 * "granted until" message already says when it ends, and a warning at once would only be noise.
 */
export function expiryWarningAt(settings: OperationSettings, from: Date, expiresAt: Date): { warnAt: Date } | Record<string, never> {
  return expiresAt.getTime() - from.getTime() > settings.expiryWarningMs ? { warnAt: new Date(expiresAt.getTime() - settings.expiryWarningMs) } : {};
}

export function requestLogger(ctx: OperationContext, request: Pick<AccessRequest, '_id' | 'resourceId' | 'requesterId'>): Logger {
  return ctx.logger.child({ requestId: request._id, resource: request.resourceId, user: request.requesterId });
}
