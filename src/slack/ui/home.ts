import type { KnownBlock, View } from '@slack/types';
import { formatDuration } from '../../domain/duration';
import type { AccessRequest } from '../../domain/request';
import type { HomeData } from '../../operations/home-data';
import { APPROVE_ACTION, APPROVE_EXTENSION_ACTION, DENY_ACTION, DENY_EXTENSION_ACTION, ACK_BREAK_GLASS_ACTION } from './approval-message';
import { escapeText, mention, slackDate, userText } from './escape';

export const REVOKE_ACTION = 'revoke_grant';
export const EXTEND_ACTION = 'extend_grant';
export const CANCEL_ACTION = 'cancel_request';
export const NEW_REQUEST_ACTION = 'new_request';

const button = (action_id: string, text: string, value: string, style?: 'primary' | 'danger') => ({
  type: 'button' as const,
  action_id,
  value,
  text: { type: 'plain_text' as const, text },
  ...(style ? { style } : {}),
});

function line(r: AccessRequest): string {
  return `\`${r._id}\` *${escapeText(r.resourceId)}* for ${formatDuration(r.durationMs)}: ${userText(r.reason, 200)}`;
}

function section(title: string, empty: string, rows: KnownBlock[]): KnownBlock[] {
  return [{ type: 'header', text: { type: 'plain_text', text: title } }, ...(rows.length ? rows : [{ type: 'context', elements: [{ type: 'mrkdwn', text: empty }] } as KnownBlock]), { type: 'divider' }];
}

/** The App Home tab: one pure function from a person's data to the view. */
export function buildHomeView(data: HomeData): View {
  const active = data.active.map((r): KnownBlock[] => {
    const status =
      r.state === 'active'
        ? `ends ${slackDate(r.expiresAt!)}${r.extension ? ' · extension pending' : ''}${r.breakGlass && !r.breakGlassAck ? ' · :rotating_light: break-glass, not yet acknowledged' : ''}`
        : r.state === 'revoking'
          ? `being revoked${r.lastError ? ' (retrying)' : ''}`
          : 'being granted';
    const rows: KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: `${line(r)}\n${status}` } }];
    if (r.state === 'active') {
      rows.push({
        type: 'actions',
        block_id: `home-active:${r._id}`,
        elements: [button(REVOKE_ACTION, 'Revoke now', r._id, 'danger'), ...(r.extension ? [] : [button(EXTEND_ACTION, 'Extend', r._id)])],
      });
    }
    return rows;
  });
  const pending = data.pending.map((r): KnownBlock[] => [
    { type: 'section', text: { type: 'mrkdwn', text: `${line(r)}\n${r.approvals.length} of ${r.requiredApprovals} approvals · times out ${slackDate(r.pendingUntil)}` } },
    { type: 'actions', block_id: `home-pending:${r._id}`, elements: [button(CANCEL_ACTION, 'Cancel', r._id)] },
  ]);
  const toDecide = data.toDecide.map((r): KnownBlock[] => {
    if (r.state === 'pending') {
      return [
        { type: 'section', text: { type: 'mrkdwn', text: `${mention(r.requesterId)} asks for ${line(r)}${r.ticket ? ` (ticket ${userText(r.ticket, 100)})` : ''}\n${r.approvals.length} of ${r.requiredApprovals} approvals` } },
        { type: 'actions', block_id: `home-decide:${r._id}`, elements: [button(APPROVE_ACTION, 'Approve', r._id, 'primary'), button(DENY_ACTION, 'Deny', r._id, 'danger')] },
      ];
    }
    if (r.extension) {
      return [
        { type: 'section', text: { type: 'mrkdwn', text: `${mention(r.requesterId)} asks to extend ${line(r)} by ${formatDuration(r.extension.durationMs)}: ${userText(r.extension.reason, 200)}` } },
        { type: 'actions', block_id: `home-extend:${r._id}`, elements: [button(APPROVE_EXTENSION_ACTION, 'Approve extension', r._id, 'primary'), button(DENY_EXTENSION_ACTION, 'Deny extension', r._id, 'danger')] },
      ];
    }
    return [
      { type: 'section', text: { type: 'mrkdwn', text: `:rotating_light: Break-glass: ${mention(r.requesterId)} took ${line(r)}` } },
      { type: 'actions', block_id: `home-ack:${r._id}`, elements: [button(ACK_BREAK_GLASS_ACTION, 'Acknowledge', r._id, 'primary')] },
    ];
  });
  const ended = data.ended.map((r): KnownBlock => ({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `\`${r._id}\` *${escapeText(r.resourceId)}*: ${r.state} ${slackDate(r.endedAt ?? r.updatedAt)}` }],
  }));
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: '*Just-in-time access*' }, accessory: button(NEW_REQUEST_ACTION, 'Request access', 'new', 'primary') },
    { type: 'divider' },
    ...section('Your active grants', 'No active grants.', active.flat()),
    ...section('Your pending requests', 'No pending requests.', pending.flat()),
    ...section('Waiting for your approval', 'Nothing waits for you.', toDecide.flat()),
    ...section('Recently ended', 'Nothing yet.', ended),
  ];
  return { type: 'home', blocks: blocks.slice(0, 100) };
}
