import type { WebClient } from '@slack/web-api';
import type { View } from '@slack/types';
import type { Logger } from 'pino';
import type { Outbox, OutboxItem } from '../../store/outbox';
import type { RequestRepository } from '../../operations/ports';
import type { Policy } from '../../policy/policy';
import { backoffMs } from '../../domain/backoff';
import { classifySlackError, CONTENT_REFUSED, diagnoseSlackError, type SlackFailure } from '../slack-errors';
import type { SlackConnection } from '../connection';
import { ChannelPacer, WaitForSlot } from './channel-pacer';
import { EndedNoticeCoalescer } from './coalescing';
import { DmChannels } from './dm-channels';
import { APPROVAL_UNPOSTED, SlackPosts } from './posts';
import { auditDeletionFailed, deleteCredentialMessage } from '../credential-cleanup';

/** Times in a row one item may find Slack not answering before it is retried like any failure. */
const MAX_AWAY = 5;

export interface DeliveryOptions {
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

export const DEFAULT_DELIVERY_OPTIONS: DeliveryOptions = {
  channelIntervalMs: 1000,
  leaseMs: 60_000,
  maxPermanentAttempts: 5,
  retryBaseMs: 1000,
  retryMaxMs: 5 * 60_000,
  pollMs: 1000,
  concurrency: 4,
};

export interface DeliveryDeps {
  client: WebClient;
  outbox: Outbox;
  store: RequestRepository;
  policy: Policy;
  logger: Logger;
  /** Renders a person's App Home. */
  homeView: (userId: string) => Promise<View>;
  /** Whether Slack answers; absent: assumed to. */
  connection?: SlackConnection;
  /** Shared with the notifier's credential DMs. */
  dmChannels?: DmChannels;
}

/**
 * Delivers the outbox: workers claim due items and post them, honouring Retry-After and Slack's
 * per-channel pace (ChannelPacer), coalescing many "access ended" notices into one post
 * (EndedNoticeCoalescer), pausing while Slack does not answer, and giving up loudly on what Slack
 * will never accept.
 */
export class DeliveryWorker {
  private timer?: NodeJS.Timeout;
  private running = false;
  private draining?: Promise<void>;
  private again = false;
  private pausedUntil = 0;
  /** Due items read in one query, for this process's workers to claim one by one. */
  private candidates: OutboxItem[] = [];
  private reading?: Promise<number>;
  /** Slack does not answer: nothing is delivered (or counted as an attempt) until it does. */
  private offline = false;
  private readonly client: WebClient;
  private readonly outbox: Outbox;
  private readonly store: RequestRepository;
  private readonly logger: Logger;
  private readonly connection?: SlackConnection;
  private readonly homeView: (userId: string) => Promise<View>;
  private readonly pacer: ChannelPacer;
  private readonly posts: SlackPosts;

  constructor(
    deps: DeliveryDeps,
    private readonly opts: DeliveryOptions = DEFAULT_DELIVERY_OPTIONS,
  ) {
    ({ client: this.client, outbox: this.outbox, store: this.store, logger: this.logger, homeView: this.homeView } = deps);
    if (deps.connection) this.connection = deps.connection;
    this.pacer = new ChannelPacer(this.outbox, opts.channelIntervalMs);
    const coalescer = new EndedNoticeCoalescer(this.client, this.outbox, this.store, this.pacer, opts.leaseMs);
    this.posts = new SlackPosts(
      this.client,
      this.outbox,
      this.store,
      deps.policy,
      this.pacer,
      coalescer,
      deps.dmChannels ?? new DmChannels(this.client),
    );
  }

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
        .catch((err) =>
          this.logger.warn({ err: (err as Error).message }, 'could not bring the notifications that waited for Slack forward'),
        )
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

  private async publishHome(item: OutboxItem, log: Logger): Promise<void> {
    try {
      await this.client.views.publish({ user_id: item.requestId, view: await this.homeView(item.requestId) });
      await this.outbox.complete(item);
    } catch (err) {
      const failure = classifySlackError(err);
      if (await this.slackAway(item, failure)) return;
      log.warn({ err: failure.code, user: item.requestId }, 'App Home publish failed');
      if (failure.permanent || item.attempts >= 3) await this.outbox.giveUp(item, failure.code);
      else await this.outbox.retryLater(item, new Date(Date.now() + (failure.retryAfterMs ?? 2000)), failure.code);
    }
  }

  private async deliver(item: OutboxItem): Promise<void> {
    const log = this.logger.child(
      item.kind === 'home' ? { user: item.requestId, outbox: item._id } : { requestId: item.requestId, outbox: item._id },
    );
    if (item.kind === 'home') return this.publishHome(item, log);
    // Whoever posts in the channel at its next slot lists every "access ended" notice waiting there,
    // so one that finds the slot taken just waits for it: no read, no place in a queue.
    const endedIn = item.kind === 'thread' && item.notice === 'ended' ? item.channel : undefined;
    const slotBusyFor = endedIn ? this.pacer.freeIn(endedIn) : 0;
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
      if (item.kind === 'sync') await this.posts.syncApprovalMessage(request, item.details?.plain === '1');
      else if (item.kind === 'dm') await this.posts.postDm(request, item);
      else if (item.kind === 'delete') await deleteCredentialMessage(this.client, this.store, request, item);
      else {
        const delivered = await this.posts.postThreadNotice(request, item);
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
        const at = item.channel && !endedIn && !item.slotWait ? this.pacer.placeInQueue(item.channel, earliest) : earliest;
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
        const context = {
          err: failure.code,
          kind: item.kind,
          notice: item.notice,
          attempts,
          channel,
          diagnosis: diagnoseSlackError(failure.code, channel),
        };
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
      const delay = backoffMs(attempts, this.opts.retryBaseMs, this.opts.retryMaxMs);
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
}
