import type { WebClient } from '@slack/web-api';
import type { AccessRequest, MessageRef } from '../domain/request';
import type { ChannelNotice, Notifier, RequesterNotice } from '../operations/ports';
import type { Outbox } from '../store/outbox';
import { secretText } from './ui/messages';
import { classifySlackError } from './slack-errors';
import type { DeliveryWorker } from './delivery/worker';
import type { DmChannels } from './delivery/dm-channels';
import { deletionItems } from './credential-cleanup';

export { DEFAULT_DELIVERY_OPTIONS as DEFAULT_NOTIFIER_OPTIONS, type DeliveryOptions as OutboxNotifierOptions } from './delivery/worker';

const HOME_DEBOUNCE_MS = 1000;

/**
 * The Notifier port over the Slack Web API. Every notice is written to the outbox in MongoDB (so
 * nothing holds up a grant or a revocation and nothing is lost if Slack is down) and the delivery
 * worker (slack/delivery/) is told; only credentials go straight to the person's DM, never stored.
 */
export class OutboxNotifier implements Notifier {
  constructor(
    private readonly client: WebClient,
    private readonly outbox: Outbox,
    private readonly delivery: DeliveryWorker,
    private readonly dmChannels: DmChannels,
    /** Who sees a request on their App Home. */
    private readonly peopleConcerned: (request: AccessRequest) => string[],
  ) {}

  async requestChanged(request: AccessRequest): Promise<void> {
    await Promise.all([
      this.outbox.enqueueSync(request._id, request.approvalChannel),
      // Home tabs follow changes within a second; a burst of changes costs one render per person.
      ...this.peopleConcerned(request).map((userId) => this.outbox.homes.enqueue(userId, HOME_DEBOUNCE_MS)),
    ]);
    this.delivery.kick();
  }

  async refreshHome(userId: string): Promise<void> {
    await this.outbox.homes.enqueue(userId);
    this.delivery.kick();
  }

  async notifyRequester(request: AccessRequest, notice: RequesterNotice, details?: Record<string, string>): Promise<void> {
    const repeat = details?.n;
    await this.outbox.enqueueOnce(`dm:${request._id}:${notice}${repeat ? `:${repeat}` : ''}`, {
      kind: 'dm',
      requestId: request._id,
      notice,
      ...(details ? { details } : {}),
    });
    this.delivery.kick();
  }

  async notifyChannel(request: AccessRequest, notice: ChannelNotice, details?: Record<string, string>): Promise<void> {
    // Repeated alerts are distinct events; every other notice goes out once per request.
    const repeat = notice === 'revoke_failing' ? details?.attempts : details?.n;
    const key = `thread:${request._id}:${notice}${repeat ? `:${repeat}` : ''}`;
    await this.outbox.enqueueOnce(key, {
      kind: 'thread',
      requestId: request._id,
      notice,
      channel: request.approvalChannel,
      ...(details ? { details } : {}),
    });
    this.delivery.kick();
  }

  /** Resolves once the delivery worker has nothing due right now (tests, shutdown). */
  idle(): Promise<void> {
    return this.delivery.idle();
  }

  async sendSecret(userId: string, title: string, fields: Array<{ label: string; value: string }>): Promise<MessageRef> {
    const text = secretText(title, fields);
    let lastErr: unknown;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const channel = await this.dmChannels.of(userId);
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
    this.delivery.kick();
  }
}
