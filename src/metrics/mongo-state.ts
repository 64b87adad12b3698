import type { Db } from 'mongodb';
import type { StateSource } from './jit-metrics';

/** The gauges' reads: small queries on indexed fields (by_state_expiry, due). */
export function mongoStateSource(db: Db): StateSource {
  const requests = db.collection<{ resourceId: string; state: string }>('requests');
  const outbox = db.collection<{ due: boolean }>('outbox');
  return {
    async grantsByResource() {
      // One $group per state on a plain field: the in-memory MongoDB the tests use does not group by a compound _id.
      const states = ['active', 'revoking'] as const;
      const counted = await Promise.all(
        states.map((state) =>
          requests
            .aggregate<{ _id: string; count: number }>([{ $match: { state } }, { $group: { _id: '$resourceId', count: { $sum: 1 } } }])
            .toArray(),
        ),
      );
      return states.flatMap((state, i) => (counted[i] ?? []).map((r) => ({ resourceId: r._id, state, count: r.count })));
    },
    outboxPending: () => outbox.countDocuments({ due: true }),
  };
}
