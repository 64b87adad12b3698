import { sendInterruptedNotices } from '../../src/operations/interrupted-notices';
import type { Notifier } from '../../src/operations/ports';
import type { StoredRequest, PendingEvent } from '../../src/store/request-store';
import { pendingRequest } from '../support/fixtures';

function recorder(): { notifier: Notifier; sent: string[] } {
  const sent: string[] = [];
  const notifier = {
    requestChanged: async () => undefined,
    refreshHome: async () => undefined,
    notifyRequester: async (_r: unknown, notice: string) => void sent.push(`requester:${notice}`),
    notifyChannel: async (_r: unknown, notice: string) => void sent.push(`channel:${notice}`),
    sendSecret: async () => undefined,
    deleteCredentials: async () => undefined,
  } as unknown as Notifier;
  return { notifier, sent };
}

function changed(state: StoredRequest['state'], event: Partial<PendingEvent>): StoredRequest {
  return {
    ...pendingRequest({ state, lastError: 'HTTP 500' }),
    lastEvent: { changeId: 'c1', at: new Date(), actor: 'system', action: state as PendingEvent['action'], to: state, ...event },
  };
}

describe('notices of an interrupted operation', () => {
  it.each([
    ['expired', {}, ['requester:ended', 'channel:ended']],
    ['revoked', { action: 'revoked' }, ['requester:ended', 'channel:ended']],
    ['denied', {}, ['requester:denied']],
    ['timed_out', {}, ['requester:timed_out']],
    ['failed', { action: 'grant_failed' }, ['requester:failed', 'channel:grant_failed']],
    ['active', { action: 'granted' }, ['requester:approved']],
    // An extension or a warning also leaves the request active: not a grant, nothing to resend here.
    ['active', { action: 'extended' }, []],
    ['pending', { action: 'approval_recorded' }, []],
    ['cancelled', {}, []],
  ] as const)('%s after %j: %j', async (state, event, expected) => {
    const { notifier, sent } = recorder();
    expect(await sendInterruptedNotices(notifier, changed(state, event))).toEqual(expected);
    expect(sent.sort()).toEqual([...expected].sort());
  });

  it('sends nothing when the last change did not move the request to its current state', async () => {
    const { notifier, sent } = recorder();
    expect(await sendInterruptedNotices(notifier, changed('expired', { to: 'revoking', action: 'revocation_failed' }))).toEqual([]);
    expect(await sendInterruptedNotices(notifier, { ...pendingRequest({ state: 'denied' }) })).toEqual([]);
    expect(sent).toEqual([]);
  });
});
