import { Db } from 'mongodb';
import { RequestStore, OpenRequestExistsError } from '../../src/store/request-store';
import { testDatabase } from '../support/mongo';
import { pendingRequest } from '../support/fixtures';

let db: Db;
let close: () => Promise<void>;
let store: RequestStore;

beforeAll(async () => {
  const t = await testDatabase('store');
  db = t.db;
  close = t.close;
  store = new RequestStore(db);
  await store.ensureIndexes();
  await store.ensureIndexes(); // idempotent
});
afterAll(() => close());

describe('RequestStore', () => {
  it('lets exactly one of 50 concurrent pending -> granting attempts win', async () => {
    const req = await store.create(pendingRequest({ requesterId: 'U0RACE' }), 'U0RACE');
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.transition(req._id, 'pending', 'granting', { actor: `U0APPROVER${i}`, action: 'approved' }),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.get(req._id))!.state).toBe('granting');
    const events = await store.audit.forRequest(req._id);
    expect(events.map((e) => e.action)).toEqual(['requested', 'approved']);
  });

  it('lets exactly one of three replicas (three connections) claim each of 100 requests', async () => {
    const { MongoClient } = await import('mongodb');
    const uri = process.env.JIT_TEST_MONGODB_URI ?? process.env.MONGODB_URI!;
    const clients = await Promise.all([1, 2, 3].map(() => new MongoClient(uri).connect()));
    try {
      const stores = clients.map((c) => new RequestStore(c.db(db.databaseName)));
      const reqs = await Promise.all(
        Array.from({ length: 100 }, (_, i) => store.create(pendingRequest({ requesterId: `U0REPL${i}` }), 'system')),
      );
      const wins = await Promise.all(
        stores.flatMap((s, n) => reqs.map((r) => s.transition(r._id, 'pending', 'granting', { actor: `replica${n}`, action: 'approved' }))),
      );
      expect(wins.filter(Boolean)).toHaveLength(100);
      for (const r of reqs) expect((await store.audit.forRequest(r._id)).filter((e) => e.action === 'approved')).toHaveLength(1);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('refuses a second open request for the same requester and resource, by the unique index', async () => {
    const first = await store.create(pendingRequest({ requesterId: 'U0DUP' }), 'U0DUP');
    await expect(store.create(pendingRequest({ requesterId: 'U0DUP' }), 'U0DUP')).rejects.toBeInstanceOf(OpenRequestExistsError);
    // Concurrent creates: still only one.
    const attempts = await Promise.allSettled(
      Array.from({ length: 10 }, () => store.create(pendingRequest({ requesterId: 'U0DUP2' }), 'U0DUP2')),
    );
    expect(attempts.filter((a) => a.status === 'fulfilled')).toHaveLength(1);
    // Other resources and other users are not affected.
    await store.create(pendingRequest({ requesterId: 'U0DUP', resourceId: 'other' }), 'U0DUP');
    // Once the first ends, a new request is possible.
    await store.transition(first._id, 'pending', 'denied', { actor: 'U0BOB', action: 'denied' });
    await expect(store.create(pendingRequest({ requesterId: 'U0DUP' }), 'U0DUP')).resolves.toBeTruthy();
  });

  it('counts an approver once and never the requester', async () => {
    const req = await store.create(pendingRequest({ requesterId: 'U0APPR', requiredApprovals: 2 }), 'U0APPR');
    expect(await store.recordApproval(req._id, 'U0BOB')).toMatchObject({ approvals: ['U0BOB'] });
    expect(await store.recordApproval(req._id, 'U0BOB')).toBeNull();
    expect(await store.recordApproval(req._id, 'U0APPR')).toBeNull();
    const concurrent = await Promise.all([store.recordApproval(req._id, 'U0CAROL'), store.recordApproval(req._id, 'U0CAROL')]);
    expect(concurrent.filter(Boolean)).toHaveLength(1);
    expect((await store.get(req._id))!.approvals.sort()).toEqual(['U0BOB', 'U0CAROL']);
    await store.transition(req._id, 'pending', 'denied', { actor: 'U0BOB', action: 'denied' });
    expect(await store.recordApproval(req._id, 'U0DAVE')).toBeNull(); // decided: no more approvals
  });

  it('refuses transitions the lifecycle does not allow, and stale ones', async () => {
    const req = await store.create(pendingRequest({ requesterId: 'U0LIFE' }), 'U0LIFE');
    await expect(store.transition(req._id, 'pending', 'active', { actor: 'x', action: 'granted' })).rejects.toThrow(
      /cannot go from pending to active/,
    );
    expect(await store.transition(req._id, 'active', 'revoking', { actor: 'system', action: 'expiring' })).toBeNull();
    expect((await store.get(req._id))!.state).toBe('pending');
  });

  it('returns exactly the due grants, pending timeouts and stuck work', async () => {
    const now = new Date();
    const ago = (ms: number) => new Date(now.getTime() - ms);
    const later = (ms: number) => new Date(now.getTime() + ms);
    const mk = (over: Parameters<typeof pendingRequest>[0]) =>
      store.create(
        pendingRequest({ requesterId: `U0Q${Math.random().toString(36).slice(2, 8).toUpperCase()}`, resourceId: 'queries', ...over }),
        'system',
      );
    const due1 = await mk({ state: 'active', expiresAt: ago(5000) });
    const due2 = await mk({ state: 'active', expiresAt: ago(1000) });
    await mk({ state: 'active', expiresAt: later(60_000) });
    await mk({ state: 'revoking', expiresAt: ago(5000), leaseUntil: later(30_000) });
    const lapsed = await mk({ state: 'revoking', expiresAt: ago(5000), leaseUntil: ago(1) });
    const timedOut = await mk({ pendingUntil: ago(1) });
    await mk({ pendingUntil: later(60_000) });
    const grantingLapsed = await mk({ state: 'granting', leaseUntil: ago(1000) });

    const dueIds = (await store.dueWork('expiry', now)).filter((r) => r.resourceId === 'queries').map((r) => r._id);
    expect(dueIds).toEqual([due1._id, due2._id]);
    expect((await store.dueWork('timeout', now)).filter((r) => r.resourceId === 'queries').map((r) => r._id)).toEqual([timedOut._id]);
    expect((await store.dueWork('revoking', now, 1000)).filter((r) => r.resourceId === 'queries').map((r) => r._id)).toEqual([lapsed._id]);
    expect((await store.dueWork('granting', now, 1000)).filter((r) => r.resourceId === 'queries').map((r) => r._id)).toEqual([
      grantingLapsed._id,
    ]);
    expect(await store.nextDeadline('expiry')).toBeInstanceOf(Date);
  });

  it('lists a user’s open requests only', async () => {
    const a = await store.create(pendingRequest({ requesterId: 'U0LIST', resourceId: 'a' }), 'U0LIST');
    const b = await store.create(pendingRequest({ requesterId: 'U0LIST', resourceId: 'b' }), 'U0LIST');
    await store.transition(b._id, 'pending', 'cancelled', { actor: 'U0LIST', action: 'cancelled' });
    expect((await store.openRequestsOf('U0LIST')).map((r) => r._id)).toEqual([a._id]);
  });

  it('leaves one audit event per transition, with actor, states and details', async () => {
    const req = await store.create(pendingRequest({ requesterId: 'U0AUDIT' }), 'U0AUDIT', { reason: 'x' });
    await store.recordApproval(req._id, 'U0BOB');
    await store.transition(req._id, 'pending', 'granting', { actor: 'U0BOB', action: 'approved' });
    await store.transition(req._id, 'granting', 'active', { actor: 'system', action: 'granted', set: { expiresAt: new Date() } });
    await store.transition(req._id, 'active', 'revoking', { actor: 'system', action: 'expiring', set: { endReason: 'expiry' } });
    await store.transition(req._id, 'revoking', 'expired', { actor: 'system', action: 'expired' });
    const events = await store.audit.forRequest(req._id);
    expect(events.map((e) => [e.action, e.actor, e.from ?? null, e.to])).toEqual([
      ['requested', 'U0AUDIT', null, 'pending'],
      ['approval_recorded', 'U0BOB', 'pending', 'pending'],
      ['approved', 'U0BOB', 'pending', 'granting'],
      ['granted', 'system', 'granting', 'active'],
      ['expiring', 'system', 'active', 'revoking'],
      ['expired', 'system', 'revoking', 'expired'],
    ]);
    const final = (await store.get(req._id))!;
    expect(final.openKey).toBeUndefined();
    expect(final.endedAt).toBeInstanceOf(Date);
  });
});
