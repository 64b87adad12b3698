import type { WebClient } from '@slack/web-api';
import type { KnownBlock } from '@slack/types';
import type { AccessRequest } from '../../domain/request';
import type { ChannelNotice, RequesterNotice, RequestRepository } from '../../operations/ports';
import type { Policy } from '../../policy/policy';
import { findResource } from '../../policy/policy';
import type { Outbox, OutboxItem } from '../../store/outbox';
import { buildApprovalMessage, buildPlainApprovalMessage } from '../ui/approval-message';
import { approvalUnpostedText, channelNoticeText, expiringDmBlocks, requesterNoticeText } from '../ui/messages';
import type { ChannelPacer } from './channel-pacer';
import type { EndedNoticeCoalescer } from './coalescing';
import type { DmChannels } from './dm-channels';

/** Requests that ended before anyone had to decide: with no approval message yet, none is posted (nothing to decide, nothing was granted). */
const ENDED_UNDECIDED: ReadonlyArray<AccessRequest['state']> = ['cancelled', 'denied', 'timed_out'];

/** The requester's DM when Slack refused the approval message for good (outbox notice name). */
export const APPROVAL_UNPOSTED = 'approval_unposted';

/** What each kind of outbox item posts in Slack: the approval message, a DM, a thread notice. */
export class SlackPosts {
  constructor(
    private readonly client: WebClient,
    private readonly outbox: Outbox,
    private readonly store: RequestRepository,
    private readonly policy: Policy,
    private readonly pacer: ChannelPacer,
    private readonly coalescer: EndedNoticeCoalescer,
    private readonly dmChannels: DmChannels,
  ) {}

  async syncApprovalMessage(request: AccessRequest, plain: boolean): Promise<void> {
    // Ended before anyone had to decide (cancelled, say, while Slack was away): nothing to post.
    if (!request.approvalMessage && ENDED_UNDECIDED.includes(request.state)) return;
    const message = plain
      ? buildPlainApprovalMessage(request)
      : buildApprovalMessage(request, findResource(this.policy, request.resourceId));
    await this.postOrUpdateApprovalMessage(request, message);
  }

  private async postOrUpdateApprovalMessage(request: AccessRequest, message: { text: string; blocks: KnownBlock[] }): Promise<void> {
    if (request.approvalMessage) {
      await this.client.chat.update({ channel: request.approvalMessage.channel, ts: request.approvalMessage.ts, ...message });
      return;
    }
    await this.pacer.take(request.approvalChannel);
    const posted = await this.client.chat.postMessage({ channel: request.approvalChannel, ...message, unfurl_links: false });
    if (!posted.ts) throw new Error('chat.postMessage returned no message timestamp');
    const ref = { channel: posted.channel ?? request.approvalChannel, ts: posted.ts };
    await this.store.recordApprovalMessage(request._id, ref);
    // The state may have moved on while we posted; render once more if so.
    const now = await this.store.get(request._id);
    if (now && now.version !== request.version) await this.outbox.enqueueSync(request._id, request.approvalChannel);
  }

  async postDm(request: AccessRequest, item: OutboxItem): Promise<void> {
    const text =
      item.notice === APPROVAL_UNPOSTED
        ? approvalUnpostedText(request, item.details?.channel ?? request.approvalChannel, item.details?.error ?? 'unknown_error')
        : requesterNoticeText(request, item.notice as RequesterNotice, item.details);
    const blocks = item.notice === 'expiring' && request.state === 'active' ? expiringDmBlocks(request, text) : undefined;
    await this.client.chat.postMessage({
      channel: await this.dmChannels.of(request.requesterId),
      text,
      ...(blocks ? { blocks } : {}),
      unfurl_links: false,
    });
  }

  /** Returns false when the notice must wait (no approval message yet). */
  async postThreadNotice(request: AccessRequest, item: OutboxItem): Promise<boolean> {
    if (!request.approvalMessage) {
      // The thread's parent is not posted yet: wait for it, without counting an attempt. When none
      // is coming (Slack refused it for good, or there was nothing to post), the notice goes in the
      // channel itself: alerts are never dropped for want of a thread.
      if ((await this.outbox.syncOwed(request._id)) || (await this.store.get(request._id))?.approvalMessage) {
        await this.outbox.retryLater(item, new Date(Date.now() + 500), 'waiting for the approval message', false);
        return false;
      }
      await this.pacer.take(request.approvalChannel);
      await this.client.chat.postMessage({
        channel: request.approvalChannel,
        text: channelNoticeText(request, item.notice as ChannelNotice, item.details),
        unfurl_links: false,
      });
      return true;
    }
    if (item.notice === 'ended') {
      // Posted together with the others ending in the channel, or (alone) in its thread with the slot just taken.
      if (await this.coalescer.postTogether(request.approvalMessage.channel, request)) return true;
    } else {
      await this.pacer.take(request.approvalMessage.channel);
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
}
