import type { WebClient } from '@slack/web-api';
import type { KnownBlock, View } from '@slack/types';
import type { Logger } from 'pino';
import type { AccessRequest, MessageRef } from '../domain/request';
import type { ChannelNotice, Notifier, RequesterNotice } from '../operations/ports';
import type { Policy } from '../policy/policy';
import { findResource } from '../policy/policy';
import type { Outbox, OutboxItem } from '../store/outbox';
import type { RequestRepository } from '../operations/ports';
import { buildApprovalMessage, buildPlainApprovalMessage } from './ui/approval-message';
import { approvalUnpostedText, channelNoticeText, coalescedEndedText, expiringDmBlocks, requesterNoticeText, secretText } from './ui/messages';
import { classifySlackError, CONTENT_REFUSED, diagnoseSlackError, type SlackFailure } from './slack-errors';
import { auditDeletionFailed, deleteCredentialMessage, deletionItems } from './credential-cleanup';
import type { SlackConnection } from './connection';

/** Requests that ended before anyone had to decide: with no approval message yet, none is posted (nothing to decide, nothing was granted). */
const ENDED_UNDECIDED: ReadonlyArray<AccessRequest['state']> = ['cancelled', 'denied', 'timed_out'];

const HOME_DEBOUNCE_MS = 1000;
/** Times in a row one item may find Slack not answering before it is retried like any failure. */
const MAX_AWAY = 5;

export interface OutboxNotifierOptions {
  /** Slack allows about one message per second per channel. */
  channelIntervalMs: number;
  leaseMs: number;
  /** Attempts before a permanently failing item is given up (and logged). */
  maxPermanentAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Idle poll, to pick up retries and other replicas' items. */
  pollMs: number;
  concurrency: number;
}

export const DEFAULT_NOTIFIER_OPTIONS: OutboxNotifierOptions = {
  channelIntervalMs: 1000,
  leaseMs: 60_000,
  maxPermanentAttempts: 5,
  retryBaseMs: 1000,
  retryMaxMs: 5 * 60_000,
  pollMs: 1000,
  concurrency: 4,
};

/**
 * The Notifier port over the Slack Web API. Every notice is first written to the
 * outbox in MongoDB (so nothing holds up a grant or a revocation and nothing is
 * lost if Slack is down), then delivered by a worker that honours Retry-After and
 * Slack's per-channel pace, coalescing many "access ended" notices into one post.
 */
export class OutboxNotifier implements Notifier {
  private timer?: NodeJS.Timeout;
  private running = false;
  private draining?: Promise<void>;
  private again = false;
  private readonly dmChannels = new Map<string, string>();
  private pausedUntil = 0;
  /** Due items read in one query, for this process's workers to claim one by one. */
  private candidates: OutboxItem[] = [];
  private reading?: Promise<number>;
  /** Per channel, the latest time this process gave an item waiting for a posting slot. */
  private readonly queuedUntil = new Map<string, number>();
  /** Channels whose "access ended" notices a worker of this process is gathering into one post. */
  private readonly gathering = new Map<string, Gathering>();
  /** Renders a person's App Home; set once the operations' context exists. */
  homeView?: (userId: string) => Promise<View>;
  /** Who sees a request on their App Home. */
  peopleConcerned?: (request: AccessRequest) => string[];
  /** Slack does not answer: nothing is delivered (or counted as an attempt) until it does. */
  private offline = false;

  constructor(
    private readonly client: WebClient,
    private readonly outbox: Outbox,
    private readonly store: RequestRepository,
    private readonly policy: Policy,
    private readonly logger: Logger,
    private readonly opts: OutboxNotifierOptions = DEFAULT_NOTIFIER_OPTIONS,
    private readonly connection?: SlackConnection,
  ) {}

  // --- the port ---------------------------------------------------------------

  async requestChanged(request: AccessRequest): Promise<void> {
    await Promise.all([
      this.outbox.enqueueSync(request._id, request.approvalChannel),
      // Home tabs follow changes within a second; a burst of changes costs one render per person.
      ...(this.peopleConcerned?.(request) ?? []).map((userId) => this.outbox.enqueueHome(userId, HOME_DEBOUNCE_MS)),
    ]);
    this.kick();
  }

  async refreshHome(userId: string): Promise<void> {
    await this.outbox.enqueueHome(userId);
    this.kick();
  }

  async notifyRequester(request: AccessRequest, notice: RequesterNotice, details?: Record<string, string>): Promise<void> {
    const repeat = details?.n;
    await this.outbox.enqueueOnce(`dm:${request._id}:${notice}${repeat ? `:${repeat}` : ''}`, { kind: 'dm', requestId: request._id, notice, ...(details ? { details } : {}) });
    this.kick();
  }

  async notifyChannel(request: AccessRequest, notice: ChannelNotice, details?: Record<string, string>): Promise<void> {
    // Repeated alerts are distinct events; every other notice goes out once per request.
    const repeat = notice === 'revoke_failing' ? details?.attempts : details?.n;
    const key = `thread:${request._id}:${notice}${repeat ? `:${repeat}` : ''}`;
    await this.outbox.enqueueOnce(key, { kind: 'thread', requestId: request._id, notice, channel: request.approvalChannel, ...(details ? { details } : {}) });
    this.kick();
  }

  async sendSecret(userId: string, title: string, fields: Array<{ label: string; value: string }>): Promise<MessageRef> {
    const text = secretText(title, fields);
    let lastErr: unknown;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const channel = await this.dmChannel(userId);
        const posted = await this.client.chat.postMessage({ channel, text, unfurl_links: false });
        // Where the message is, so it can be deleted when the grant ends.
        return { channel: posted.channel ?? channel, ts: posted.ts! };
      } catch (err) {
        lastErr = err;
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
    throw new Error(`credentials DM failed: ${classifySlackError(lastErr).code}`);
  }

  async deleteCredentials(request: AccessRequest): Promise<void> {
    for (const { key, item } of deletionItems(request)) await this.outbox.enqueueOnce(key, item);
    this.kick();
  }

  // --- the delivery worker -------------------------------------------------------

  start(): void {
    this.running = true;
    this.connection?.whenAway(() => this.waitForSlack());
    if (this.connection && !this.connection.isReachable) this.waitForSlack();
    this.schedule(0);
  }

  /** Slack does not answer: deliveries pause, and resume as soon as it answers again. */
  private waitForSlack(): void {
    if (this.offline || !this.connection) return;
    this.offline = true;
    this.connection.whenReachable(() => {
      this.offline = false;
      this.outbox
        .dueAfterOutage()
        .catch((err) => this.logger.warn({ err: (err as Error).message }, 'could not bring the notifications that waited for Slack forward'))
        .finally(() => this.kick());
    });
  }

  /** Stops taking new items and waits for the ones in flight. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.draining;
  }

  /** Deliver now (after an enqueue) rather than at the next poll. */
  kick(): void {
    if (!this.running) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  /** Resolves once nothing is due right now (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.drain(), ms);
    this.timer.unref?.();
  }

  private async drain(): Promise<void> {
    if (this.draining || !this.running) return;
    this.draining = (async () => {
      try {
        do {
          this.again = false;
          if (Date.now() < this.pausedUntil || this.offline) break;
          const workers = Array.from({ length: this.opts.concurrency }, () => this.work());
          await Promise.all(workers);
          // Left over when the workers stopped (a rate-limit pause): read afresh next time.
          this.candidates = [];
        } while (this.again && this.running);
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'outbox delivery loop failed; retrying');
      }
    })();
    await this.draining;
    this.draining = undefined;
    let wait = this.opts.pollMs;
    // Slack is away: nothing to look up; its return kicks delivery.
    if (this.offline) return this.schedule(wait);
    try {
      const next = await this.outbox.nextDueAt();
      if (next) wait = Math.min(wait, Math.max(10, next.getTime() - Date.now()));
    } catch {
      // MongoDB unreachable: the poll comes back to it.
    }
    if (this.pausedUntil > Date.now()) wait = Math.max(wait, this.pausedUntil - Date.now());
    this.schedule(wait);
  }

  private async work(): Promise<void> {
    while (this.running && !this.offline && Date.now() >= this.pausedUntil) {
      const item = await this.nextItem();
      if (!item) return;
      await this.deliver(item);
    }
  }

  /**
   * The next item this worker has claimed. The workers share one read of the due items (as many
   * as there are workers) instead of querying once each, and take them in turn, so they do not
   * race each other for the same candidates. A candidate is not leased until a worker claims it:
   * another replica, or a coalescing post, may still take it meanwhile.
   */
  private async nextItem(): Promise<OutboxItem | undefined> {
    for (;;) {
      const candidate = this.candidates.shift();
      if (candidate) {
        const claimed = await this.outbox.tryClaim(candidate, this.opts.leaseMs);
        if (claimed) return claimed;
        continue;
      }
      this.reading ??= this.outbox
        .dueCandidates(this.opts.concurrency)
        .then((items) => {
          this.candidates.push(...items);
          return items.length;
        })
        .finally(() => {
          this.reading = undefined;
        });
      if ((await this.reading) === 0) return undefined;
    }
  }

  private async deliver(item: OutboxItem): Promise<void> {
    const log = this.logger.child(item.kind === 'home' ? { user: item.requestId, outbox: item._id } : { requestId: item.requestId, outbox: item._id });
    if (item.kind === 'home') {
      try {
        if (this.homeView) await this.client.views.publish({ user_id: item.requestId, view: await this.homeView(item.requestId) });
        await this.outbox.complete(item);
      } catch (err) {
        const failure = classifySlackError(err);
        if (await this.slackAway(item, failure)) return;
        log.warn({ err: failure.code, user: item.requestId }, 'App Home publish failed');
        if (failure.permanent || item.attempts >= 3) await this.outbox.giveUp(item, failure.code);
        else await this.outbox.retryLater(item, new Date(Date.now() + (failure.retryAfterMs ?? 2000)), failure.code);
      }
      return;
    }
    // Whoever posts in the channel at its next slot lists every "access ended" notice waiting there,
    // so one that finds the slot taken just waits for it: no read, no place in a queue.
    const endedIn = item.kind === 'thread' && item.notice === 'ended' ? item.channel : undefined;
    const slotBusyFor = endedIn ? this.outbox.slotFreeIn(endedIn) : 0;
    if (slotBusyFor > 0) {
      await this.outbox.waitForSlot(item, new Date(Date.now() + slotBusyFor));
      return;
    }
    const request = await this.store.get(item.requestId);
    if (!request) {
      await this.outbox.giveUp(item, 'request not found');
      return;
    }
    const requestLog = log.child({ user: request.requesterId, resource: request.resourceId });
    try {
      if (item.kind === 'sync') await this.syncApprovalMessage(request, item.details?.plain === '1');
      else if (item.kind === 'dm') await this.postDm(request, item);
      else if (item.kind === 'delete') await deleteCredentialMessage(this.client, this.store, request, item);
      else {
        const delivered = await this.postThreadNotice(request, item);
        if (!delivered) return;
      }
      await this.outbox.complete(item);
    } catch (err) {
      if (err instanceof WaitForSlot) {
        // Queue behind the others this process parked for the channel, so each slot wakes one item,
        // not all of them. An item that already waited its turn (it woke as the previous post took
        // the slot a moment late) keeps its place at the head; "access ended" notices need no
        // place at all: the next post takes them all.
        const earliest = Date.now() + err.ms;
        const at = item.channel && !endedIn && !item.slotWait ? this.placeInQueue(item.channel, earliest) : earliest;
        await this.outbox.waitForSlot(item, new Date(at));
        return;
      }
      const failure = classifySlackError(err);
      if (await this.slackAway(item, failure)) return;
      const attempts = item.attempts + 1;
      if (failure.retryAfterMs !== undefined) {
        // Slack said when: pause every delivery until then, not just this one.
        this.pausedUntil = Math.max(this.pausedUntil, Date.now() + failure.retryAfterMs);
        requestLog.warn({ retryAfterMs: failure.retryAfterMs }, 'Slack rate limit; pausing notifications');
        await this.outbox.retryLater(item, new Date(Date.now() + failure.retryAfterMs), failure.code, false);
        return;
      }
      // The same content is refused the same way every time: no point in retrying it.
      const contentRefused = CONTENT_REFUSED.has(failure.code);
      if (failure.permanent && (contentRefused || attempts >= this.opts.maxPermanentAttempts)) {
        const channel = item.kind === 'dm' ? undefined : (item.channel ?? request.approvalChannel);
        const context = { err: failure.code, kind: item.kind, notice: item.notice, attempts, channel, diagnosis: diagnoseSlackError(failure.code, channel) };
        // The approval message in the bot's own plain words instead, at its next turn: its outcome
        // still shows, and no live buttons stay behind.
        if (item.kind === 'sync' && contentRefused && !item.details?.plain) {
          requestLog.error(context, 'Slack refused the approval message’s content; posting it in plain form instead');
          await this.outbox.renderPlain(item, failure.code);
          this.kick();
          return;
        }
        requestLog.error(context, 'Slack refused a notification; giving up on it');
        await this.outbox.giveUp(item, failure.code);
        if (item.kind === 'delete') await auditDeletionFailed(this.store, request, item, failure.code);
        // Nobody has seen the request: its requester is the one who can chase an approver.
        if (item.kind === 'sync' && !request.approvalMessage && request.state === 'pending') {
          await this.outbox.enqueueOnce(`dm:${request._id}:${APPROVAL_UNPOSTED}`, {
            kind: 'dm',
            requestId: request._id,
            notice: APPROVAL_UNPOSTED,
            details: { channel: request.approvalChannel, error: failure.code },
          });
          this.kick();
        }
        return;
      }
      const delay = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (attempts - 1));
      requestLog.warn({ err: failure.code, kind: item.kind, notice: item.notice, attempts }, 'notification failed; will retry');
      await this.outbox.retryLater(item, new Date(Date.now() + delay), failure.code, true, failure.unreachable);
    }
  }

  /**
   * Slack did not answer at all: the item waits, uncounted, and delivery pauses until Slack answers
   * again (true). An HTTP 5xx or Slack's own error is only reported (`auth.test` decides whether
   * Slack is away) and retried like any failure, as is an item that kept finding Slack away while
   * `auth.test` answered: false then.
   */
  private async slackAway(item: OutboxItem, failure: SlackFailure): Promise<boolean> {
    if (!failure.unreachable) return false;
    this.connection?.reportUnreachable(failure.code, failure.noAnswer === true);
    if (!failure.noAnswer || !this.connection || (item.away ?? 0) >= MAX_AWAY) return false;
    this.waitForSlack();
    await this.outbox.retryWhenSlackAnswers(item, failure.code);
    return true;
  }

  private async syncApprovalMessage(request: AccessRequest, plain: boolean): Promise<void> {
    // Ended before anyone had to decide (cancelled, say, while Slack was away): nothing to post.
    if (!request.approvalMessage && ENDED_UNDECIDED.includes(request.state)) return;
    const message = plain ? buildPlainApprovalMessage(request) : buildApprovalMessage(request, findResource(this.policy, request.resourceId));
    await this.postOrUpdateApprovalMessage(request, message);
  }

  private async postOrUpdateApprovalMessage(request: AccessRequest, message: { text: string; blocks: KnownBlock[] }): Promise<void> {
    if (request.approvalMessage) {
      await this.client.chat.update({ channel: request.approvalMessage.channel, ts: request.approvalMessage.ts, ...message });
      return;
    }
    await this.waitForSlot(request.approvalChannel);
    const posted = await this.client.chat.postMessage({ channel: request.approvalChannel, ...message, unfurl_links: false });
    const ref = { channel: posted.channel ?? request.approvalChannel, ts: posted.ts! };
    await this.store.recordApprovalMessage(request._id, ref);
    // The state may have moved on while we posted; render once more if so.
    const now = await this.store.get(request._id);
    if (now && now.version !== request.version) await this.outbox.enqueueSync(request._id, request.approvalChannel);
  }

  private async postDm(request: AccessRequest, item: OutboxItem): Promise<void> {
    const text =
      item.notice === APPROVAL_UNPOSTED
        ? approvalUnpostedText(request, item.details?.channel ?? request.approvalChannel, item.details?.error ?? 'unknown_error')
        : requesterNoticeText(request, item.notice as RequesterNotice, item.details);
    const blocks = item.notice === 'expiring' && request.state === 'active' ? expiringDmBlocks(request, text) : undefined;
    await this.client.chat.postMessage({ channel: await this.dmChannel(request.requesterId), text, ...(blocks ? { blocks } : {}), unfurl_links: false });
  }

  /** Returns false when the notice must wait (no approval message yet). */
  private async postThreadNotice(request: AccessRequest, item: OutboxItem): Promise<boolean> {
    if (!request.approvalMessage) {
      // The thread's parent is not posted yet: wait for it, without counting an attempt. When none
      // is coming (Slack refused it for good, or there was nothing to post), the notice goes in the
      // channel itself: alerts are never dropped for want of a thread.
      if ((await this.outbox.syncOwed(request._id)) || (await this.store.get(request._id))?.approvalMessage) {
        await this.outbox.retryLater(item, new Date(Date.now() + 500), 'waiting for the approval message', false);
        return false;
      }
      await this.waitForSlot(request.approvalChannel);
      await this.client.chat.postMessage({ channel: request.approvalChannel, text: channelNoticeText(request, item.notice as ChannelNotice, item.details), unfurl_links: false });
      return true;
    }
    if (item.notice === 'ended') {
      const channel = request.approvalMessage.channel;
      const known = this.outbox.slotFreeIn(channel);
      if (known > 0) throw new WaitForSlot(known);
      // Another worker of this process is gathering this channel's notices: join its post.
      const current = this.gathering.get(channel);
      if (current) {
        if (!current.open) throw new WaitForSlot(this.opts.channelIntervalMs);
        current.joined.push(request);
        if (await current.posted) return true;
        throw new WaitForSlot(this.opts.channelIntervalMs);
      }
      let settle: (posted: boolean) => void = () => undefined;
      const gathering: Gathering = { open: true, joined: [], posted: new Promise<boolean>((resolve) => (settle = resolve)) };
      this.gathering.set(channel, gathering);
      let batch: OutboxItem[] = [];
      let posted = false;
      try {
        // Other grants ending in the same channel right now share this one post. They are gathered
        // before the slot is taken, so the post follows the slot closely (even pacing).
        batch = await this.claimMoreEnded(channel);
        const others = (await Promise.all(batch.map((b) => this.store.get(b.requestId)))).filter((r): r is AccessRequest => !!r);
        await this.waitForSlot(channel);
        gathering.open = false;
        const listed = [request, ...others, ...gathering.joined];
        if (listed.length > 1) {
          await this.client.chat.postMessage({ channel, text: coalescedEndedText(listed), unfurl_links: false });
          posted = true;
        }
      } catch (err) {
        // Not posted: the others are free again at once, for the next slot (not after their lease).
        await Promise.all(batch.map((b) => this.outbox.release(b)));
        throw err;
      } finally {
        gathering.open = false;
        this.gathering.delete(channel);
        settle(posted);
      }
      if (posted) {
        await Promise.all(batch.map((b) => this.outbox.complete(b)));
        return true;
      }
    } else {
      await this.waitForSlot(request.approvalMessage.channel);
    }
    const text = channelNoticeText(request, item.notice as ChannelNotice, item.details);
    await this.client.chat.postMessage({
      channel: request.approvalMessage.channel,
      thread_ts: request.approvalMessage.ts,
      text,
      unfurl_links: false,
      // Alerts must be seen: also show them in the channel.
      reply_broadcast: item.notice === 'revoke_failing' || item.notice === 'grant_failed',
    });
    return true;
  }

  /** Other "access ended" notices waiting in the channel (the one being delivered is leased by us, so never among them). */
  private claimMoreEnded(channel: string): Promise<OutboxItem[]> {
    // One post lists at most 100 grants; the rest wait for the channel's next slot.
    return this.outbox.claimMany(this.opts.leaseMs, 99, { kind: 'thread', channel, notice: 'ended' }, true);
  }

  /**
   * The time this process gives the next item waiting for the channel: one interval after the
   * last it handed out, or the slot's own time if that is later. Other replicas keep their own
   * queues; the slot in MongoDB still lets one post through per interval, and an item that
   * loses its slot to another replica's just takes a new place at the end.
   */
  private placeInQueue(channel: string, earliest: number): number {
    const at = Math.max(earliest, (this.queuedUntil.get(channel) ?? 0) + this.opts.channelIntervalMs);
    if (this.queuedUntil.size >= 10_000) for (const [c, until] of this.queuedUntil) if (until < Date.now()) this.queuedUntil.delete(c);
    this.queuedUntil.set(channel, at);
    return at;
  }

  private async waitForSlot(channel: string): Promise<void> {
    const wait = await this.outbox.takeChannelSlot(channel, this.opts.channelIntervalMs);
    if (wait > 0) throw new WaitForSlot(wait);
  }

  private async dmChannel(userId: string): Promise<string> {
    const known = this.dmChannels.get(userId);
    if (known) return known;
    const opened = await this.client.conversations.open({ users: userId });
    const id = opened.channel?.id;
    if (!id) throw new Error('conversations.open returned no channel');
    this.dmChannels.set(userId, id);
    return id;
  }
}

/** The requester's DM when Slack refused the approval message for good (outbox notice name). */
const APPROVAL_UNPOSTED = 'approval_unposted';

/** One coalesced "access ended" post being put together; other workers' notices may join it until it goes out. */
interface Gathering {
  open: boolean;
  joined: AccessRequest[];
  /** Whether the post went out (and so carried the joined notices). */
  posted: Promise<boolean>;
}

class WaitForSlot extends Error {
  constructor(readonly ms: number) {
    super('waiting for the channel’s posting slot');
  }
}
