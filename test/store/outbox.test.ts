import { Db, MongoClient } from 'mongodb';
import { Outbox } from '../../src/store/outbox';
import { testDatabase } from '../support/mongo';

let db: Db;
let uri: string;
let dbName: string;
let close: () => Promise<void>;
const clients: MongoClient[] = [];

beforeAll(async () => {
  const t = await testDatabase('outbox');
  ({ db, uri, dbName, close } = t);
  await new Outbox(db).ensureIndexes();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await close();
});

/** An Outbox on its own connection, as another replica would have. */
async function replica(now?: () => Date): Promise<Outbox> {
  const client = new MongoClient(uri);
  await client.connect();
  clients.push(client);
  return new Outbox(client.db(dbName), now);
}

describe('Outbox', () => {
  it('three replicas claiming the same 60 due items: each item goes to exactly one of them', async () => {
    const seed = new Outbox(db);
    for (let i = 0; i < 60; i++)
      await seed.enqueueOnce(`dm:claim-race-${i}:granted`, { kind: 'dm', requestId: `claim-race-${i}`, notice: 'granted' });
    const replicas = await Promise.all([replica(), replica(), replica()]);
    const won: string[] = [];
    await Promise.all(
      replicas.map(async (outbox) => {
        for (;;) {
          const items = (await outbox.claimMany(60_000, 4, { kind: 'dm' })).filter((item) => item.requestId.startsWith('claim-race-'));
          if (!items.length) return;
          won.push(...items.map((item) => item._id));
        }
      }),
    );
    expect(won).toHaveLength(60);
    expect(new Set(won).size).toBe(60);
  });

  it('a claimed item can be released, and is claimable again at once', async () => {
    const outbox = new Outbox(db);
    await outbox.enqueueOnce('dm:release-1:granted', { kind: 'dm', requestId: 'release-1', notice: 'granted' });
    const [candidate] = await outbox.dueCandidates(1, { kind: 'dm', notice: 'granted' });
    if (!candidate) throw new Error('the enqueued item is not due');
    const claimed = await outbox.tryClaim(candidate, 60_000);
    expect(claimed).not.toBeNull();
    expect(await outbox.tryClaim(candidate, 60_000)).toBeNull(); // the same stale copy: already taken
    expect((await outbox.dueCandidates(10, { kind: 'dm' })).map((i) => i._id)).not.toContain('dm:release-1:granted');
    await outbox.release(claimed!);
    expect((await outbox.dueCandidates(10, { kind: 'dm' })).map((i) => i._id)).toContain('dm:release-1:granted');
  });

  it('a burst of changes for one person writes their debounced App Home item once, still due for one render after them', async () => {
    const outbox = new Outbox(db);
    const writes = jest.spyOn(outbox.items, 'updateOne');
    try {
      for (let i = 0; i < 10; i++) await outbox.homes.enqueue('U0HOMEBURST', 1000);
      // Written once: until it is due no worker can claim it, so its one render shows every change.
      expect(writes).toHaveBeenCalledTimes(1);
      const item = await outbox.items.findOne({ _id: 'home:U0HOMEBURST' });
      expect(item!.dueAt.getTime()).toBeGreaterThan(Date.now() + 500);
      // An immediate refresh (the person opened the tab) is an item of its own, due now; the debounced
      // one keeps its time, so it still cannot be claimed early and the next change is still skipped.
      await outbox.homes.enqueue('U0HOMEBURST');
      await outbox.homes.enqueue('U0HOMEBURST', 1000);
      expect(writes).toHaveBeenCalledTimes(2);
      expect((await outbox.items.findOne({ _id: 'home:U0HOMEBURST' }))!.dueAt).toEqual(item!.dueAt);
      expect((await outbox.items.findOne({ _id: 'home-now:U0HOMEBURST' }))!.dueAt.getTime()).toBeLessThanOrEqual(Date.now());
    } finally {
      writes.mockRestore();
    }
  });

  it('a tab opened while a change is being written cannot make a later change go unrendered', async () => {
    const outbox = new Outbox(db);
    // The change's write and the refresh race; then another change comes and is skipped.
    await Promise.all([outbox.homes.enqueue('U0HOMERACE', 1000), outbox.homes.enqueue('U0HOMERACE')]);
    await outbox.homes.enqueue('U0HOMERACE', 1000);
    // The skipped change is covered: the debounced item is still there and not yet claimable,
    // whatever the refresh did (it has an item of its own).
    const debounced = await outbox.items.findOne({ _id: 'home:U0HOMERACE' });
    expect(debounced!.due).toBe(true);
    expect(debounced!.dueAt.getTime()).toBeGreaterThan(Date.now() + 300);
    expect((await outbox.dueCandidates(50, { kind: 'home' })).map((i) => i._id)).not.toContain('home:U0HOMERACE');
  });

  it('writes a debounced App Home item again once it is close to due (it may be claimed then)', async () => {
    let clock = Date.now();
    const outbox = new Outbox(db, () => new Date(clock));
    const writes = jest.spyOn(outbox.items, 'updateOne');
    try {
      await outbox.homes.enqueue('U0HOMELATE', 1000);
      clock += 800; // within the margin before the due time
      await outbox.homes.enqueue('U0HOMELATE', 1000);
      expect(writes).toHaveBeenCalledTimes(2);
      expect((await outbox.items.findOne({ _id: 'home:U0HOMELATE' }))!.seq).toBe(2);
    } finally {
      writes.mockRestore();
    }
  });

  it('gives a channel posting slot to one replica per interval, and knows a taken slot without asking MongoDB', async () => {
    const [a, b] = await Promise.all([replica(), replica()]);
    const waits = await Promise.all([a.slots.take('C0SLOTS', 1000), b.slots.take('C0SLOTS', 1000)]);
    expect(waits.filter((w) => w === 0)).toHaveLength(1);
    expect(Math.max(...waits)).toBeGreaterThan(900);
    // Both now know the slot is taken until about a second from now: no query for it.
    const gateWrites = jest.spyOn(a.slots['gates'], 'updateOne');
    try {
      expect(await a.slots.take('C0SLOTS', 1000)).toBeGreaterThan(800);
      expect(a.slots.freeIn('C0SLOTS')).toBeGreaterThan(800);
      expect(gateWrites).not.toHaveBeenCalled();
    } finally {
      gateWrites.mockRestore();
    }
    await new Promise((r) => setTimeout(r, 1050));
    const next = await Promise.all([a.slots.take('C0SLOTS', 1000), b.slots.take('C0SLOTS', 1000)]);
    expect(next.filter((w) => w === 0)).toHaveLength(1);
  });
});
