import pino from 'pino';
import type { Db } from 'mongodb';
import type { AccessRequest } from '../../src/domain/request';
import { DEFAULT_SETTINGS, type Notifier, type OperationContext, type UserDirectory } from '../../src/operations/ports';
import type { Policy } from '../../src/policy/policy';
import { ProviderRegistry } from '../../src/providers/registry';
import { LeaseLocks } from '../../src/store/lease-locks';
import { RequestStore } from '../../src/store/request-store';

/** What a recording notifier was told, in order. */
export interface Told {
  kind: 'requestChanged' | 'requester' | 'channel' | 'secret' | 'deleteCredentials';
  requestId?: string;
  notice?: string;
}

/** A Notifier that records what it is told and sends nothing. */
export function recordingNotifier(told: Told[] = []): Notifier & { told: Told[] } {
  return {
    told,
    requestChanged: async (r: AccessRequest) => void told.push({ kind: 'requestChanged', requestId: r._id }),
    notifyRequester: async (r, notice) => void told.push({ kind: 'requester', requestId: r._id, notice }),
    notifyChannel: async (r, notice) => void told.push({ kind: 'channel', requestId: r._id, notice }),
    sendSecret: async () => void told.push({ kind: 'secret' }),
    deleteCredentials: async (r) => void told.push({ kind: 'deleteCredentials', requestId: r._id }),
  };
}

/** A directory with fixed user groups and `<id>@example.com` e-mails. */
function staticDirectory(groups: Record<string, string[]> = {}): UserDirectory {
  return { usergroupMembers: async (id) => groups[id] ?? [], emailOf: async (id) => `${id.toLowerCase()}@example.com` };
}

/** The operations' context over a real store in `db`, with a recording notifier and a silent logger. */
export async function operationContext(
  db: Db,
  policy: Policy,
  over: Partial<OperationContext> = {},
): Promise<OperationContext & { notifier: ReturnType<typeof recordingNotifier> }> {
  const store = new RequestStore(db);
  await store.ensureIndexes();
  return {
    policy,
    store,
    providers: new ProviderRegistry(policy),
    locks: new LeaseLocks(db),
    notifier: recordingNotifier(),
    directory: staticDirectory(),
    logger: pino({ level: 'silent' }),
    settings: DEFAULT_SETTINGS,
    now: () => new Date(),
    ...over,
  } as OperationContext & { notifier: ReturnType<typeof recordingNotifier> };
}
