import type { KnownBlock } from '@slack/types';
import type { AccessRequest } from '../../domain/request';
import { formatDuration } from '../../domain/duration';
import type { Resource } from '../../policy/policy';
import { providerDefinition } from '../../providers/catalog';
import { mention, slackDate, usergroupMention, userText } from './escape';
import { actionsBlock, BLOCK_KIT, button, contextBlock, fieldsBlock, fit, messageBlocks, sectionBlock } from './block-kit';

export const APPROVE_ACTION = 'approve_request';
export const DENY_ACTION = 'deny_request';
export const APPROVE_EXTENSION_ACTION = 'approve_extension';
export const DENY_EXTENSION_ACTION = 'deny_extension';
export const ACK_BREAK_GLASS_ACTION = 'acknowledge_break_glass';

/** Everyone who may approve, as mentions that notify them. */
function approverMentions(resource: Resource): string {
  return [...resource.approvers.users.map(mention), ...resource.approvers.usergroups.map(usergroupMention)].join(' ');
}

const STANDING_NOTE =
  'The account already had this access (not through jit-access): nothing was granted, and it stays when this grant ends.';
const STANDING_KEPT = 'The account already had this access before, so it was left in place.';

/** "`alice` in `orders-db`": who gets the access, resolved when the request was filed. */
function accountLine(request: Pick<AccessRequest, 'account' | 'target'>): string | undefined {
  if (!request.account) return undefined;
  return `\`${userText(request.account.replace(/`/g, "'"), 300)}\`${request.target ? ` in \`${request.target}\`` : ''}`;
}

/** ` by *on-call SREs*`: the policy rule that decided, escaped (policy text, but shown in Slack). */
function ruleSuffix(rule: string | undefined, lead = ' by'): string {
  return rule ? `${lead} *${userText(rule.replace(/\*/g, ''), 100)}*` : '';
}

function outcome(request: AccessRequest): string {
  const by = request.decidedBy ? ` by ${mention(request.decidedBy)}` : '';
  switch (request.state) {
    case 'pending':
      return (
        `:hourglass_flowing_sand: Waiting for approval: ${request.approvals.length} of ${request.requiredApprovals}` +
        (request.approvals.length ? ` (approved by ${request.approvals.map(mention).join(', ')})` : '') +
        `. Times out ${slackDate(request.pendingUntil)}.`
      );
    case 'granting':
      return `:gear: Approved${by}; granting access…${request.lastError ? ` (attempt failed: ${userText(request.lastError, 1000)})` : ''}`;
    case 'active':
      return `:white_check_mark: ${request.breakGlass ? '*Break-glass* access granted' : request.autoApproved ? `Auto-approved${ruleSuffix(request.approvalRule)}` : `Approved${by}`}. Access until ${slackDate(request.expiresAt!)}${request.extendedMs ? ` (extended by ${formatDuration(request.extendedMs)})` : ''}.${request.standing ? ` ${STANDING_NOTE}` : ''}`;
    case 'revoking':
      return request.lastError
        ? `:rotating_light: *Revocation failing* (attempt ${request.attempts ?? 0}): ${userText(request.lastError, 1000)}. Still retrying; access may still be live.`
        : ':gear: Revoking access…';
    case 'expired':
      return `:lock: Access expired ${slackDate(request.endedAt ?? request.expiresAt ?? new Date())}.${request.standing ? ` ${STANDING_KEPT}` : ''}`;
    case 'revoked':
      return `:lock: Access revoked${request.endedBy ? ` by ${mention(request.endedBy)}` : ''} ${slackDate(request.endedAt ?? new Date())}.${request.standing ? ` ${STANDING_KEPT}` : ''}`;
    case 'denied':
      return `:no_entry: Denied${by}: ${userText(request.denyReason ?? '', 2500)}`;
    case 'cancelled':
      return ':heavy_multiplication_x: Cancelled by the requester.';
    case 'timed_out':
      return ':alarm_clock: Timed out: nobody decided in time.';
    case 'failed':
      return `:x: Granting failed: ${userText(request.lastError ?? 'unknown error', 2500)}`;
  }
}

/** The approval message: one pure function from request to blocks, re-rendered on every change. */
export function buildApprovalMessage(request: AccessRequest, resource: Resource | undefined): { text: string; blocks: KnownBlock[] } {
  const resourceName = resource ? `${userText(resource.name, 500)} (\`${resource.id}\`)` : `\`${request.resourceId}\``;
  const title = request.breakGlass ? ':rotating_light: *Break-glass access*' : ':key: *Access request*';
  const fields = [
    `*Requester*\n${mention(request.requesterId)}`,
    `*Resource*\n${resourceName}`,
    // Approvers see whose account gets the access before they approve (README “Who gets the access”).
    ...(accountLine(request) ? [`*Account*\n${accountLine(request)}`] : []),
    // The key that will be certified (ssh resources): approvers can compare it with the requester's.
    ...(request.sshKeyFingerprint ? [`*SSH key*\n\`${userText(request.sshKeyFingerprint, 100)}\``] : []),
    `*Duration*\n${formatDuration(request.durationMs)}`,
    `*Approvals*\n${request.autoApproved ? `none: auto-approved${ruleSuffix(request.approvalRule)}` : `${request.approvals.length} of ${request.requiredApprovals} needed${ruleSuffix(request.approvalRule, ', by rule')}`}`,
  ];
  if (request.ticket) fields.push(`*Ticket*\n${userText(request.ticket, 1000)}`);
  const blocks: KnownBlock[] = [
    sectionBlock(`${title} \`${request._id}\``),
    fieldsBlock(fields),
    sectionBlock(`*Reason*\n${userText(request.reason, BLOCK_KIT.sectionText - 20)}`),
    contextBlock(outcome(request)),
  ];
  // What approvers must know that a revocation does not undo (the provider's own words).
  const caveat = resource ? providerDefinition(resource.provider.type)?.caveat : undefined;
  if (caveat) blocks.push(contextBlock(`:warning: ${userText(caveat, 1000)}`));
  if (request.breakGlass) {
    const ack = request.breakGlassAck
      ? `:white_check_mark: Acknowledged by ${mention(request.breakGlassAck.by)} ${slackDate(request.breakGlassAck.at)}.`
      : `:rotating_light: *Granted without approval.* ${resource ? approverMentions(resource) : 'Approvers'}: review it and acknowledge.`;
    blocks.splice(1, 0, sectionBlock(ack));
    if (!request.breakGlassAck) {
      blocks.push(actionsBlock(`ack:${request._id}`, [button(ACK_BREAK_GLASS_ACTION, 'Acknowledge', request._id, 'primary')]));
    }
  }
  if (request.state === 'active' && request.extension) {
    const ext = request.extension;
    const until = slackDate(new Date(request.expiresAt!.getTime() + ext.durationMs));
    const head = `:hourglass_flowing_sand: *Extension requested*: +${formatDuration(ext.durationMs)} (until ${until}), ${ext.approvals.length} of ${ext.requiredApprovals} approvals${ruleSuffix(ext.rule, ' (rule')}${ext.rule ? ')' : ''}. Reason: `;
    blocks.push(
      sectionBlock(`${head}${userText(ext.reason, BLOCK_KIT.sectionText - head.length)}`),
      actionsBlock(`extend:${request._id}`, [
        button(APPROVE_EXTENSION_ACTION, 'Approve extension', request._id, 'primary'),
        button(DENY_EXTENSION_ACTION, 'Deny extension', request._id, 'danger'),
      ]),
    );
  }
  if (request.state === 'pending') {
    blocks.push(
      actionsBlock(`decide:${request._id}`, [
        button(APPROVE_ACTION, 'Approve', request._id, 'primary'),
        button(DENY_ACTION, 'Deny', request._id, 'danger'),
      ]),
    );
  }
  const text = fit(
    `Access request ${request._id}: ${request.requesterId} wants ${request.resourceId} for ${formatDuration(request.durationMs)} (${request.state.replace('_', ' ')})`,
    BLOCK_KIT.messageText,
  );
  return { text, blocks: messageBlocks(blocks) };
}

/**
 * The approval message reduced to what the bot itself wrote (no reason, ticket or errors), for
 * when Slack refuses the full rendering for good: its outcome still shows and its buttons go away.
 */
export function buildPlainApprovalMessage(request: AccessRequest): { text: string; blocks: KnownBlock[] } {
  const state = request.state.replace('_', ' ');
  const blocks: KnownBlock[] = [
    sectionBlock(
      `${request.breakGlass ? ':rotating_light: *Break-glass access*' : ':key: *Access request*'} \`${request._id}\`: ${mention(request.requesterId)} asked for \`${request.resourceId}\` for ${formatDuration(request.durationMs)}.`,
    ),
    contextBlock(`Now *${state}*. Slack refused the full message; \`/jit-access audit ${request._id}\` shows everything.`),
  ];
  if (request.state === 'pending') {
    blocks.push(
      actionsBlock(`decide:${request._id}`, [
        button(APPROVE_ACTION, 'Approve', request._id, 'primary'),
        button(DENY_ACTION, 'Deny', request._id, 'danger'),
      ]),
    );
  }
  if (request.breakGlass && !request.breakGlassAck) {
    blocks.push(actionsBlock(`ack:${request._id}`, [button(ACK_BREAK_GLASS_ACTION, 'Acknowledge', request._id, 'primary')]));
  }
  return { text: `Access request ${request._id} (${state})`, blocks };
}
