import type { WebClient } from '@slack/web-api';
import type { AccessRequest } from '../../domain/request';
import type { RequestRepository } from '../../operations/ports';
import type { Outbox, OutboxItem } from '../../store/outbox';
import { coalescedEndedText } from '../ui/messages';
import { type ChannelPacer, WaitForSlot } from './channel-pacer';

/** One coalesced "access ended" post being put together; other workers' notices may join it until it goes out. */
interface Gathering {
  open: boolean;
  joined: AccessRequest[];
  /** Whether the post went out (and so carried the joined notices). */
  posted: Promise<boolean>;
}

/**
 * Many grants ending in one channel at once (a backlog after an outage, a policy-wide expiry)
 * share one post listing them all, instead of one thread reply each at one per second.
 */
export class EndedNoticeCoalescer {
  /** Channels whose "access ended" notices a worker of this process is gathering into one post. */
  private readonly gathering = new Map<string, Gathering>();

  constructor(
    private readonly client: WebClient,
    private readonly outbox: Outbox,
    private readonly store: RequestRepository,
    private readonly pacer: ChannelPacer,
    private readonly leaseMs: number,
  ) {}

  /**
   * Posts `request`'s "access ended" notice together with the others waiting in `channel`: true
   * when one post carried it, false when it is alone (the caller posts it in its thread).
   * Throws WaitForSlot when the channel's slot is taken.
   */
  async postTogether(channel: string, request: AccessRequest): Promise<boolean> {
    const known = this.pacer.freeIn(channel);
    if (known > 0) throw new WaitForSlot(known);
    // Another worker of this process is gathering this channel's notices: join its post.
    const current = this.gathering.get(channel);
    if (current) {
      if (!current.open) throw new WaitForSlot(this.pacer.intervalMs);
      current.joined.push(request);
      if (await current.posted) return true;
      throw new WaitForSlot(this.pacer.intervalMs);
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
      await this.pacer.take(channel);
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
    if (posted) await Promise.all(batch.map((b) => this.outbox.complete(b)));
    return posted;
  }

  /** Other "access ended" notices waiting in the channel (the one being delivered is leased by us, so never among them). */
  private claimMoreEnded(channel: string): Promise<OutboxItem[]> {
    // One post lists at most 100 grants; the rest wait for the channel's next slot.
    return this.outbox.claimMany(this.leaseMs, 99, { kind: 'thread', channel, notice: 'ended' }, true);
  }
}
