import type { Logger } from 'pino';
import type { AccessRequest, MessageRef } from '../domain/request';
import type { Policy, Directory } from '../policy/policy';
import type { AuditAction } from '../domain/audit';
import type { RequestState } from '../domain/lifecycle';
import type { ResourceProvider } from '../providers/registry';
import type { AuditEvent } from '../store/audit-log';
import type { RegisteredSshKey } from '../store/ssh-keys';
import type { OperationMetrics } from './metrics';

/** What the requester is told by DM. */
export type RequesterNotice =
  | 'approved'
  | 'denied'
  | 'failed'
  | 'expiring'
  | 'ended'
  | 'timed_out'
  | 'filed'
  | 'extended'
  | 'extension_denied';
/** What the approval channel is told in the approval message's thread. */
export type ChannelNotice = 'ended' | 'grant_failed' | 'revoke_failing' | 'reminder' | 'extension_requested';

/** How people are told. Implemented over the Slack Web API through a durable outbox. */
export interface Notifier {
  /** The approval message must show the request's current state (post it, or update it in place). */
  requestChanged(request: AccessRequest): Promise<void>;
  notifyRequester(request: AccessRequest, notice: RequesterNotice, details?: Record<string, string>): Promise<void>;
  notifyChannel(request: AccessRequest, notice: ChannelNotice, details?: Record<string, string>): Promise<void>;
  /** Secrets (ephemeral credentials) go straight to the user's DM: never stored, never logged. */
  sendSecret(userId: string, title: string, fields: Array<{ label: string; value: string }>): Promise<MessageRef | undefined>;
  /** The request's credential DMs (`credentialMessages`) must be deleted: queued, retried, audited. */
  deleteCredentials(request: AccessRequest): Promise<void>;
}

export interface UserDirectory extends Directory {
  emailOf(userId: string): Promise<string | undefined>;
}

interface ProviderRegistry {
  forResource(resourceId: string): ResourceProvider;
}

/** Short lease locks shared by every replica (src/store/lease-locks.ts). */
interface Locks {
  withLock<T>(key: string, opts: { leaseMs: number; waitMs: number }, work: () => Promise<T>): Promise<T>;
}

/** Something that wants to know when expiries or deadlines change (the scheduler's timer). */
export interface ScheduleListener {
  /** A new deadline exists at `at` (an expiry, a retry, a timeout, a reminder). */
  scheduleChanged(at: Date): void;
}

/**
 * The store could not be reached or did not answer (a timeout, a dropped connection, no server):
 * the store turns every driver error into this, so operations and listeners need not know the
 * driver. A change may or may not have been applied; the store's repair records what was.
 */
export class StoreUnavailable extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'StoreUnavailable';
  }
}

/** Deadlines a change can wait for: the change wins only once the field's time has come. */
type DeadlineField = 'expiresAt' | 'pendingUntil' | 'warnAt' | 'remindAt';

/**
 * What must still hold, besides the state, for a change to win, in the request's own terms (the
 * store turns it into one conditional update). Every listed condition must hold.
 */
export interface ChangeCondition {
  /** The deadline in this field has come by `at`. */
  due?: { field: DeadlineField; at: Date };
  /** Fields that must not be set (`extension.applying`: nobody applies the extension yet). */
  absent?: ReadonlyArray<'extension' | 'standing' | 'breakGlassAck' | 'extension.applying'>;
  /** The pending extension is this one. */
  extensionId?: string;
  /** The pending extension has no approval from this user yet. */
  extensionNotApprovedBy?: string;
  /** The expiry is still exactly this (nobody moved it meanwhile). */
  expiresAt?: Date;
  /** The grant has not expired by this time. */
  unexpiredAt?: Date;
}

export interface ChangeOptions {
  /** Slack user ID or `system`. */
  actor: string;
  /** What the audit log records the change as. */
  action: AuditAction;
  set?: Partial<AccessRequest>;
  unset?: Array<keyof AccessRequest>;
  /** Values added to array fields (dotted paths allowed), each once. */
  addToSet?: Record<string, string>;
  /** Extra conditions that must still hold for the update to win (e.g. a due deadline). */
  only?: ChangeCondition;
  details?: Record<string, unknown>;
}

/** A request's audit events, oldest first. */
interface AuditTrail {
  forRequest(requestId: string): Promise<AuditEvent[]>;
}

interface SshKeys {
  get(userId: string): Promise<RegisteredSshKey | null>;
  /** Registers (or replaces) `key._id`'s key; SshKeyTakenError when another person has it. */
  register(key: RegisteredSshKey): Promise<void>;
}

/**
 * Requests, as the operations need them. Every change is conditional on the state it expects, so
 * concurrent clicks, replicas and retries cannot both win: a change returns the updated request,
 * or null when someone else won. Driver errors come out as StoreUnavailable.
 */
export interface RequestRepository {
  readonly audit: AuditTrail;
  /** People's SSH public keys, copied onto their requests for `ssh` resources when filed. */
  readonly sshKeys: SshKeys;
  /** Inserts a new request; refuses (OpenRequestExistsError) a second open one for the same user and resource. */
  create(request: AccessRequest, actor: string, details?: Record<string, unknown>): Promise<AccessRequest>;
  get(id: string): Promise<AccessRequest | null>;
  /** Moves a request from `from` to `to` if and only if it is still in `from` (and `opts.only` holds). */
  transition(id: string, from: RequestState, to: RequestState, opts: ChangeOptions): Promise<AccessRequest | null>;
  /** An audited change that keeps the state (attempt counters, reminders, extensions). */
  update(id: string, state: RequestState, opts: ChangeOptions): Promise<AccessRequest | null>;
  /** Bookkeeping that is not an event (message refs, provider details): not audited. */
  touch(
    id: string,
    state: RequestState,
    set: Partial<AccessRequest>,
    unset?: Array<keyof AccessRequest>,
    only?: ChangeCondition,
  ): Promise<AccessRequest | null>;
  /** Counts one approval while pending, once per approver, never the requester's own. */
  recordApproval(id: string, approverId: string): Promise<AccessRequest | null>;
  /** Claims an active grant whose expiry has come for revocation (`active` -> `revoking`): one claimer wins. */
  claimDueExpiry(id: string, now: Date, opts: Omit<ChangeOptions, 'only'>): Promise<AccessRequest | null>;
  /**
   * Claims granting or revoking work whose lease lapsed (its worker died, or its retry is due) by
   * renewing the lease to `leaseUntil`; audited when `audit` is given.
   */
  claimLapsedLease(
    id: string,
    state: 'granting' | 'revoking',
    now: Date,
    leaseUntil: Date,
    audit?: { actor: string; action: AuditAction },
  ): Promise<AccessRequest | null>;
  /** Records where the approval message was posted, unless another post was recorded first. */
  recordApprovalMessage(id: string, ref: { channel: string; ts: string }): Promise<void>;
  /** Other requests in `states` whose grant gives the same access (the same access key). */
  holdersOf(
    accessKey: string,
    exceptId: string,
    states: readonly RequestState[],
  ): Promise<Array<Pick<AccessRequest, '_id' | 'state' | 'standing'>>>;
  /** Another person's open request or grant that uses this derived account on this target, if any. */
  accountInUse(accountKey: string, exceptRequester: string): Promise<AccessRequest | null>;
  openRequestsOf(userId: string): Promise<AccessRequest[]>;
  recentlyEndedOf(userId: string, limit?: number): Promise<AccessRequest[]>;
  /** The resources with requests that would wait for `userId`, were they an approver. */
  resourcesAwaitingDecision(userId: string): Promise<string[]>;
  /** Requests of `resourceIds` that wait for `userId`'s decision, oldest first, at most `limit`, with the total. */
  waitingForDecision(userId: string, resourceIds: string[], limit: number): Promise<{ items: AccessRequest[]; total: number }>;
  /** The scheduled work of `kind` that is due at `now`, soonest first. */
  dueWork(kind: WorkKind, now: Date, limit: number): Promise<AccessRequest[]>;
  /** The soonest deadline of `kind`'s work, due or not; undefined when there is none. */
  nextDeadline(kind: WorkKind): Promise<Date | undefined>;
}

/**
 * The kinds of scheduled work, each with its own deadline: grants to expire, revocations and
 * grants whose lease lapsed (retry due, or worker died), pending requests to time out, expiry
 * warnings and approver reminders.
 */
export type WorkKind = 'expiry' | 'revoking' | 'granting' | 'timeout' | 'warning' | 'reminder';

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
  store: RequestRepository;
  providers: ProviderRegistry;
  locks: Locks;
  notifier: Notifier;
  directory: UserDirectory;
  logger: Logger;
  settings: OperationSettings;
  schedule?: ScheduleListener;
  /** Prometheus counters (src/metrics/); absent in tests that do not look at them. */
  metrics?: OperationMetrics;
  now(): Date;
}

/**
 * When the "expiring soon" DM is due: `expiryWarningMs` before the expiry, for access that lasts
 * longer than that from `from` (a grant, or an extension applied). Shorter access gets none: its
 * "granted until" message already says when it ends, and a warning at once would only be noise.
 */
export function expiryWarningAt(settings: OperationSettings, from: Date, expiresAt: Date): { warnAt: Date } | Record<string, never> {
  return expiresAt.getTime() - from.getTime() > settings.expiryWarningMs
    ? { warnAt: new Date(expiresAt.getTime() - settings.expiryWarningMs) }
    : {};
}

export function requestLogger(ctx: OperationContext, request: Pick<AccessRequest, '_id' | 'resourceId' | 'requesterId'>): Logger {
  return ctx.logger.child({ requestId: request._id, resource: request.resourceId, user: request.requesterId });
}
