import type { KnownBlock } from '@slack/types';
import type { AccessRequest } from '../../domain/request';
import { formatDuration } from '../../domain/duration';
import type { Resource } from '../../policy/policy';
import { escapeText, mention, slackDate, userText } from './escape';

export const APPROVE_ACTION = 'approve_request';
export const DENY_ACTION = 'deny_request';
export const APPROVE_EXTENSION_ACTION = 'approve_extension';
export const DENY_EXTENSION_ACTION = 'deny_extension';
export const ACK_BREAK_GLASS_ACTION = 'acknowledge_break_glass';

/** Everyone who may approve, as mentions that notify them. */
export function approverMentions(resource: Resource): string {
  return [...resource.approvers.users.map(mention), ...resource.approvers.usergroups.map((g) => `<!subteam^${g}>`)].join(' ');
}

const STANDING_NOTE = 'The account already had this access (not through jit-access): nothing was granted, and it stays when this grant ends.';
const STANDING_KEPT = 'The account already had this access before, so it was left in place.';

/** "`alice` in `orders-db`": who gets the access, resolved when the request was filed. */
export function accountLine(request: Pick<AccessRequest, 'account' | 'target'>): string | undefined {
  if (!request.account) return undefined;
  return `\`${escapeText(request.account).replace(/`/g, "'")}\`${request.target ? ` in \`${request.target}\`` : ''}`;
}

function outcome(request: AccessRequest): string {
  const by = request.decidedBy ? ` by ${mention(request.decidedBy)}` : '';
  switch (request.state) {
    case 'pending':
      return `:hourglass_flowing_sand: Waiting for approval: ${request.approvals.length} of ${request.requiredApprovals}` +
        (request.approvals.length ? ` (approved by ${request.approvals.map(mention).join(', ')})` : '') +
        `. Times out ${slackDate(request.pendingUntil)}.`;
    case 'granting':
      return `:gear: Approved${by}; granting access…${request.lastError ? ` (attempt failed: ${escapeText(request.lastError)})` : ''}`;
    case 'active':
      return `:white_check_mark: ${request.breakGlass ? '*Break-glass* access granted' : request.autoApproved ? 'Auto-approved' : `Approved${by}`}. Access until ${slackDate(request.expiresAt!)}${request.extendedMs ? ` (extended by ${formatDuration(request.extendedMs)})` : ''}.${request.standing ? ` ${STANDING_NOTE}` : ''}`;
    case 'revoking':
      return request.lastError
        ? `:rotating_light: *Revocation failing* (attempt ${request.attempts ?? 0}): ${escapeText(request.lastError)}. Still retrying; access may still be live.`
        : ':gear: Revoking access…';
    case 'expired':
      return `:lock: Access expired ${slackDate(request.endedAt ?? request.expiresAt ?? new Date())}.${request.standing ? ` ${STANDING_KEPT}` : ''}`;
    case 'revoked':
      return `:lock: Access revoked${request.endedBy ? ` by ${mention(request.endedBy)}` : ''} ${slackDate(request.endedAt ?? new Date())}.${request.standing ? ` ${STANDING_KEPT}` : ''}`;
    case 'denied':
      return `:no_entry: Denied${by}: ${userText(request.denyReason ?? '')}`;
    case 'cancelled':
      return ':heavy_multiplication_x: Cancelled by the requester.';
    case 'timed_out':
      return ':alarm_clock: Timed out: nobody decided in time.';
    case 'failed':
      return `:x: Granting failed: ${escapeText(request.lastError ?? 'unknown error')}`;
  }
}

/** The approval message: one pure function from request to blocks, re-rendered on every change. */
export function buildApprovalMessage(request: AccessRequest, resource: Resource | undefined): { text: string; blocks: KnownBlock[] } {
  const resourceName = resource ? `${escapeText(resource.name)} (\`${resource.id}\`)` : `\`${request.resourceId}\``;
  const title = request.breakGlass ? ':rotating_light: *Break-glass access*' : ':key: *Access request*';
  const fields = [
    { type: 'mrkdwn' as const, text: `*Requester*\n${mention(request.requesterId)}` },
    { type: 'mrkdwn' as const, text: `*Resource*\n${resourceName}` },
    // Approvers see whose account gets the access before they approve (PRODUCT.md §3.1).
    ...(accountLine(request) ? [{ type: 'mrkdwn' as const, text: `*Account*\n${accountLine(request)}` }] : []),
    // The key that will be certified (ssh resources): approvers can compare it with the requester's.
    ...(request.sshKeyFingerprint ? [{ type: 'mrkdwn' as const, text: `*SSH key*\n\`${escapeText(request.sshKeyFingerprint)}\`` }] : []),
    { type: 'mrkdwn' as const, text: `*Duration*\n${formatDuration(request.durationMs)}` },
    { type: 'mrkdwn' as const, text: `*Approvals*\n${request.approvals.length} of ${request.requiredApprovals} needed` },
  ];
  if (request.ticket) fields.push({ type: 'mrkdwn', text: `*Ticket*\n${userText(request.ticket, 200)}` });
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `${title} \`${request._id}\`` } },
    { type: 'section', fields },
    { type: 'section', text: { type: 'mrkdwn', text: `*Reason*\n${userText(request.reason)}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: outcome(request) }] },
  ];
  if (request.breakGlass) {
    const ack = request.breakGlassAck
      ? `:white_check_mark: Acknowledged by ${mention(request.breakGlassAck.by)} ${slackDate(request.breakGlassAck.at)}.`
      : `:rotating_light: *Granted without approval.* ${resource ? approverMentions(resource) : 'Approvers'}: review it and acknowledge.`;
    blocks.splice(1, 0, { type: 'section', text: { type: 'mrkdwn', text: ack } });
    if (!request.breakGlassAck) {
      blocks.push({
        type: 'actions',
        block_id: `ack:${request._id}`,
        elements: [{ type: 'button', action_id: ACK_BREAK_GLASS_ACTION, style: 'primary', value: request._id, text: { type: 'plain_text', text: 'Acknowledge' } }],
      });
    }
  }
  if (request.state === 'active' && request.extension) {
    const ext = request.extension;
    blocks.push(
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `:hourglass_flowing_sand: *Extension requested*: +${formatDuration(ext.durationMs)} (until ${slackDate(new Date(request.expiresAt!.getTime() + ext.durationMs))}), ${ext.approvals.length} of ${ext.requiredApprovals} approvals. Reason: ${userText(ext.reason)}`,
        },
      },
      {
        type: 'actions',
        block_id: `extend:${request._id}`,
        elements: [
          { type: 'button', action_id: APPROVE_EXTENSION_ACTION, style: 'primary', value: request._id, text: { type: 'plain_text', text: 'Approve extension' } },
          { type: 'button', action_id: DENY_EXTENSION_ACTION, style: 'danger', value: request._id, text: { type: 'plain_text', text: 'Deny extension' } },
        ],
      },
    );
  }
  if (request.state === 'pending') {
    blocks.push({
      type: 'actions',
      block_id: `decide:${request._id}`,
      elements: [
        { type: 'button', action_id: APPROVE_ACTION, style: 'primary', value: request._id, text: { type: 'plain_text', text: 'Approve' } },
        { type: 'button', action_id: DENY_ACTION, style: 'danger', value: request._id, text: { type: 'plain_text', text: 'Deny' } },
      ],
    });
  }
  const text = `Access request ${request._id}: ${request.requesterId} wants ${request.resourceId} for ${formatDuration(request.durationMs)} (${request.state.replace('_', ' ')})`;
  return { text, blocks };
}
