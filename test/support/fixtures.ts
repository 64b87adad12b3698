import { newRequestId, openKeyOf, AccessRequest } from '../../src/domain/request';

/** A pending request as the request operation would create it. */
export function pendingRequest(over: Partial<AccessRequest> = {}): AccessRequest {
  const now = new Date();
  const requesterId = over.requesterId ?? 'U0ALICE';
  const resourceId = over.resourceId ?? 'deploy-hook';
  return {
    _id: newRequestId(),
    requesterId,
    resourceId,
    durationMs: 3_600_000,
    reason: 'investigate incident',
    state: 'pending',
    openKey: openKeyOf(requesterId, resourceId),
    approvals: [],
    requiredApprovals: 1,
    createdAt: now,
    updatedAt: now,
    pendingUntil: new Date(now.getTime() + 30 * 60_000),
    approvalChannel: 'C0APPROVALS',
    version: 0,
    ...over,
  };
}
