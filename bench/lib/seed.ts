/**
 * Active grants written straight into MongoDB, shaped as the grant operation leaves them
 * (see src/operations/grant-access.ts and test/support/fixtures.ts): `active`, a unique
 * openKey, an approval message already posted, target, e-mail and account resolved (at
 * filing), the expiring-soon DM already sent (no warnAt). Webhook grants carry no access key.
 */
import { MongoClient } from 'mongodb';
import { newRequestId, openKeyOf, AccessRequest } from '../../src/domain/request';

/** Alternates between the bench policy's two resources, so two approval channels share the load. */
const RESOURCES = [
  { id: 'deploy-hook', channel: 'C0APPROVALS' },
  { id: 'db-hook', channel: 'C0DBA' },
];

export function activeGrant(i: number, userPrefix: string, expiresAt: Date, durationMs = 30 * 60_000): AccessRequest {
  const resource = RESOURCES[i % RESOURCES.length] as { id: string; channel: string };
  const requesterId = `U0${userPrefix}${i.toString(36).toUpperCase().padStart(4, '0')}`;
  const grantedAt = new Date(expiresAt.getTime() - durationMs);
  const createdAt = new Date(grantedAt.getTime() - 60_000);
  const ts = `${Math.floor(createdAt.getTime() / 1000)}.${String(i % 1e6).padStart(6, '0')}`;
  return {
    _id: newRequestId(),
    requesterId,
    resourceId: resource.id,
    durationMs,
    reason: 'benchmark grant',
    state: 'active',
    openKey: openKeyOf(requesterId, resource.id),
    approvals: ['U0BOB'],
    requiredApprovals: 1,
    createdAt,
    updatedAt: grantedAt,
    pendingUntil: new Date(createdAt.getTime() + 30 * 60_000),
    approvalChannel: resource.channel,
    approvalMessage: { channel: resource.channel, ts },
    decidedBy: 'U0BOB',
    grantedAt,
    expiresAt,
    attempts: 0,
    // Both bench resources have inline providers: each is its own target.
    target: resource.id,
    email: `${requesterId.toLowerCase()}@example.com`,
    account: requesterId.toLowerCase(),
    version: 3,
  };
}

export async function seedGrants(uri: string, dbName: string, grants: AccessRequest[]): Promise<void> {
  const client = new MongoClient(uri);
  await client.connect();
  try {
    const requests = client.db(dbName).collection<AccessRequest>('requests');
    for (let i = 0; i < grants.length; i += 1000) await requests.insertMany(grants.slice(i, i + 1000), { ordered: false });
  } finally {
    await client.close();
  }
}
