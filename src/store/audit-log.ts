import { randomBytes } from 'node:crypto';
import type { Collection, Db, Filter } from 'mongodb';
import type { AuditAction } from '../domain/audit';
import { translatingDriverErrors } from './store-unavailable';

/** One audit event per document: appended, never updated or deleted by the bot. */
export interface AuditEvent {
  _id: string;
  at: Date;
  requestId: string;
  resourceId: string;
  requesterId: string;
  /** The request's version after this change: orders one request's events exactly. */
  version?: number;
  /** A Slack user ID, or `system` for the scheduler and the bot itself. */
  actor: string;
  action: AuditAction;
  from?: string;
  to?: string;
  details?: Record<string, unknown>;
}

export interface AuditQuery {
  since?: Date;
  until?: Date;
  resourceId?: string;
  /** Requester or actor. */
  userId?: string;
  requestId?: string;
}

export class AuditLog {
  readonly events: Collection<AuditEvent>;

  constructor(db: Db) {
    this.events = db.collection<AuditEvent>('audit_events');
    // biome-ignore lint/correctness/noConstructorReturn: every caller gets the error-translating view of the store
    return translatingDriverErrors(this);
  }

  async ensureIndexes(): Promise<void> {
    await this.events.createIndex({ requestId: 1, version: 1 }, { name: 'by_request' });
    await this.events.createIndex({ at: 1 }, { name: 'by_time' });
  }

  /** Appends an event; false if one with its ID was there already (appending twice is a no-op). */
  async append(event: Omit<AuditEvent, '_id'> & { _id?: string }): Promise<boolean> {
    const doc: AuditEvent = { ...event, _id: event._id ?? `${event.requestId}:${randomBytes(6).toString('hex')}` };
    try {
      await this.events.insertOne(doc);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== 11000) throw err;
      return false;
    }
  }

  forRequest(requestId: string): Promise<AuditEvent[]> {
    return this.events.find({ requestId }).sort({ version: 1, at: 1 }).toArray();
  }

  /** A cursor in time order, for the export CLI: it streams, never loads everything. */
  cursor(query: AuditQuery) {
    const filter: Filter<AuditEvent> = {};
    if (query.since || query.until) {
      filter.at = {};
      if (query.since) filter.at.$gte = query.since;
      if (query.until) filter.at.$lt = query.until;
    }
    if (query.resourceId) filter.resourceId = query.resourceId;
    if (query.requestId) filter.requestId = query.requestId;
    if (query.userId) filter.$or = [{ requesterId: query.userId }, { actor: query.userId }];
    return this.events.find(filter).sort({ at: 1, _id: 1 }).batchSize(500);
  }
}
