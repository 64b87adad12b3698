import type { StoredRequest } from '../store/request-store';
import type { Notifier } from './ports';

/**
 * An operation tells people after its change is recorded in the audit log. When that change is
 * found applied but unrecorded (the bot stopped, or MongoDB's answer was lost, between the two),
 * nobody was told: this sends what the operation would have sent, judged from the change itself.
 * Called only by the replica that recorded the event, so nothing goes out twice. Returns the
 * notices sent, for the log.
 *
 * Not recoverable: one-time credentials (`mode: ephemeral`) are never stored, so they cannot be
 * sent again; the requester is told access was granted and can revoke and request again.
 */
export async function sendInterruptedNotices(notifier: Notifier, request: StoredRequest): Promise<string[]> {
  const event = request.lastEvent;
  // Only a change that moved the request to where it is now (a later one would have its own event).
  if (!event || event.to !== request.state) return [];
  switch (request.state) {
    case 'expired':
    case 'revoked':
      await Promise.all([notifier.notifyRequester(request, 'ended'), notifier.notifyChannel(request, 'ended')]);
      return ['requester:ended', 'channel:ended'];
    case 'denied':
      await notifier.notifyRequester(request, 'denied');
      return ['requester:denied'];
    case 'timed_out':
      await notifier.notifyRequester(request, 'timed_out');
      return ['requester:timed_out'];
    case 'failed': {
      const error = request.lastError ?? 'unknown error';
      await notifier.notifyRequester(request, 'failed', { error });
      await notifier.notifyChannel(request, 'grant_failed', { error, cleanup: 'unknown (the bot stopped while granting)' });
      return ['requester:failed', 'channel:grant_failed'];
    }
    case 'active':
      if (event.action !== 'granted') return [];
      await notifier.notifyRequester(request, 'approved');
      return ['requester:approved'];
    default:
      return [];
  }
}
