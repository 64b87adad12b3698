import { MongoClient } from 'mongodb';
import { StoreUnavailable } from '../../src/operations/ports';
import { RequestStore } from '../../src/store/request-store';
import { Outbox } from '../../src/store/outbox';
import { translatingDriverErrors } from '../../src/store/store-unavailable';
import { freePort } from '../support/ports';

describe('the store turns driver errors into StoreUnavailable', () => {
  it('when MongoDB cannot be reached: reads and writes of every store fail with StoreUnavailable, the driver error as cause', async () => {
    const client = new MongoClient(`mongodb://127.0.0.1:${await freePort()}/?directConnection=true`, {
      serverSelectionTimeoutMS: 200,
      connectTimeoutMS: 200,
    });
    const db = client.db('unreachable');
    const store = new RequestStore(db);
    const got = await store.get('r1234').catch((e: unknown) => e);
    expect(got).toBeInstanceOf(StoreUnavailable);
    expect((got as StoreUnavailable).cause).toMatchObject({ name: expect.stringMatching(/^Mongo/) });
    await expect(store.openRequestsOf('U0A')).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(store.audit.forRequest('r1234')).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(store.sshKeys.get('U0A')).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(new Outbox(db).nextDueAt()).rejects.toBeInstanceOf(StoreUnavailable);
    await client.close();
  });

  it('leaves other errors alone: bad input stays a TypeError, a bug stays what it was', async () => {
    const wrapped = translatingDriverErrors({
      async fails(): Promise<void> {
        throw new RangeError('a bug');
      },
      sync(): number {
        return 7;
      },
      async driver(): Promise<void> {
        throw Object.assign(new Error('connection 7 timed out'), { name: 'MongoNetworkTimeoutError' });
      },
    });
    await expect(wrapped.fails()).rejects.toBeInstanceOf(RangeError);
    expect(wrapped.sync()).toBe(7);
    await expect(wrapped.driver()).rejects.toBeInstanceOf(StoreUnavailable);
  });
});
