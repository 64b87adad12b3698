import type { Collection, Filter } from 'mongodb';
import type { AccessRequest } from '../domain/request';
import type { AuditLog } from './audit-log';
import type { PendingEvent, StoredRequest } from './request-store';

/** Unrecorded changes younger than this may just be mid-flight (their own append is coming). */
export const REPAIR_SETTLE_MS = 2000;
/** How far back a repair looks. */
const REPAIR_WINDOW_MS = 24 * 3_600_000;

/**
 * Appends the audit events of changes that MongoDB applied but that were never recorded (their
 * answer was lost, or the bot stopped before recording them), from the event each change wrote
 * with itself. Returns the requests whose event this call recorded (on several replicas at once,
 * each event is returned by exactly one), with that event as `lastEvent`.
 */
export async function repairUnrecordedChanges(
  requests: Collection<AccessRequest>,
  audit: AuditLog,
  record: (request: AccessRequest, event: PendingEvent) => Promise<boolean>,
  now: Date,
): Promise<StoredRequest[]> {
  const since = new Date(now.getTime() - REPAIR_WINDOW_MS);
  const settled = new Date(now.getTime() - REPAIR_SETTLE_MS);
  const found = (await requests
    .find({ 'lastEvent.at': { $gte: since, $lte: settled } } as Filter<AccessRequest>)
    .limit(5000)
    .toArray()) as StoredRequest[];
  const candidates = found.filter((r): r is StoredRequest & { lastEvent: PendingEvent } => r.lastEvent !== undefined);
  if (!candidates.length) return [];
  const eventId = (r: { _id: string; lastEvent: PendingEvent }) => `${r._id}:${r.lastEvent.changeId}`;
  const recorded = new Set(
    (
      await audit.events
        .find({ _id: { $in: candidates.map(eventId) } })
        .project<{ _id: string }>({ _id: 1 })
        .toArray()
    ).map((e) => e._id),
  );
  const repaired: StoredRequest[] = [];
  for (const request of candidates) {
    if (recorded.has(eventId(request))) continue;
    if (await record(request, request.lastEvent)) repaired.push(request);
  }
  return repaired;
}
