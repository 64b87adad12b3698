import type { WebClient } from '@slack/web-api';
import pino from 'pino';
import { Db } from 'mongodb';
import { Outbox } from '../../src/store/outbox';
import { RequestStore } from '../../src/store/request-store';
import { OutboxNotifier, DEFAULT_NOTIFIER_OPTIONS } from '../../src/slack/notifier';
import type { Policy } from '../../src/policy/policy';
import { testDatabase } from '../support/mongo';
import { pendingRequest } from '../support/fixtures';

let db: Db;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ db, close } = await testDatabase('notifier_priority'));
});
afterAll(() => close());

/** A Slack client whose DMs take 40 ms each, recording how many were in flight at once. */
function slowSlack(): { client: WebClient; maxInFlight: () => number; sent: () => number } {
  let inFlight = 0;
  let max = 0;
  let sent = 0;
  const client = {
    conversations: { open: async ({ users }: { users: string }) => ({ ok: true, channel: { id: `D${users}` } }) },
    chat: {
      postMessage: async () => {
        inFlight++;
        max = Math.max(max, inFlight);
        await new Promise((r) => setTimeout(r, 40));
        inFlight--;
        sent++;
        return { ok: true, ts: '1.0' };
      },
    },
  } as unknown as WebClient;
  return { client, maxInFlight: () => max, sent: () => sent };
}

async function deliverTwelveDms(busy: boolean): Promise<{ max: number; sent: number }> {
  const store = new RequestStore(db);
  const outbox = new Outbox(db);
  const slack = slowSlack();
  const notifier = new OutboxNotifier(slack.client, outbox, store, {} as Policy, pino({ level: 'silent' }), { ...DEFAULT_NOTIFIER_OPTIONS, concurrency: 4, pollMs: 50 });
  notifier.yieldTo = () => busy;
  const requests = [];
  for (let i = 0; i < 12; i++) requests.push(await store.create(pendingRequest({ requesterId: `U0PRIO${busy ? 'B' : 'Q'}${i}`, state: 'active' }), 'system'));
  for (const r of requests) await outbox.enqueueOnce(`dm:${r._id}:granted`, { kind: 'dm', requestId: r._id, notice: 'granted' });
  notifier.start();
  const deadline = Date.now() + 10_000;
  while (slack.sent() < 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await notifier.stop();
  return { max: slack.maxInFlight(), sent: slack.sent() };
}

describe('notifications give way to revocations', () => {
  it('delivers with all its workers when nothing else runs', async () => {
    const { max, sent } = await deliverTwelveDms(false);
    expect(sent).toBe(12);
    expect(max).toBeGreaterThan(1);
  });

  it('delivers one at a time (but still delivers) while scheduled work is running', async () => {
    const { max, sent } = await deliverTwelveDms(true);
    expect(sent).toBe(12);
    expect(max).toBe(1);
  });
});
