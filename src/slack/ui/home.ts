import type { KnownBlock, View } from '@slack/types';
import { formatDuration } from '../../domain/duration';
import type { AccessRequest } from '../../domain/request';
import { HOME_LIMITS, type HomeData, type HomeList } from '../../operations/home-data';
import { APPROVE_ACTION, APPROVE_EXTENSION_ACTION, DENY_ACTION, DENY_EXTENSION_ACTION, ACK_BREAK_GLASS_ACTION } from './approval-message';
import { actionsBlock, BLOCK_KIT, button, contextBlock, headerBlock, sectionBlock } from './block-kit';
import { mention, slackDate, userText } from './escape';

export const REVOKE_ACTION = 'revoke_grant';
export const EXTEND_ACTION = 'extend_grant';
export const CANCEL_ACTION = 'cancel_request';
export const NEW_REQUEST_ACTION = 'new_request';

function line(r: AccessRequest): string {
  return `\`${r._id}\` *${r.resourceId}* for ${formatDuration(r.durationMs)}: ${userText(r.reason, 600)}`;
}

/** A section of the tab: its header, its rows (or what "none" looks like), how many are not shown, a divider. */
function section(title: string, empty: string, rows: KnownBlock[][], list: { total: number }, more: (n: number) => string): KnownBlock[] {
  const hidden = list.total - rows.length;
  return [
    headerBlock(title),
    ...(rows.length ? rows.flat() : [contextBlock(empty)]),
    ...(hidden > 0 ? [contextBlock(more(hidden))] : []),
    { type: 'divider' },
  ];
}

const shown = (list: HomeList, limit: number) => list.items.slice(0, limit);

/** The App Home tab: one pure function from a person's data to the view; never more than 100 blocks. */
export function buildHomeView(data: HomeData): View {
  const active = shown(data.active, HOME_LIMITS.active).map((r): KnownBlock[] => {
    const status =
      r.state === 'active'
        ? `ends ${slackDate(r.expiresAt!)}${r.extension ? ' · extension pending' : ''}${r.breakGlass && !r.breakGlassAck ? ' · :rotating_light: break-glass, not yet acknowledged' : ''}`
        : r.state === 'revoking'
          ? `being revoked${r.lastError ? ' (retrying)' : ''}`
          : 'being granted';
    const rows: KnownBlock[] = [sectionBlock(`${line(r)}\n${status}`)];
    if (r.state === 'active') {
      rows.push(
        actionsBlock(`home-active:${r._id}`, [
          button(REVOKE_ACTION, 'Revoke now', r._id, 'danger'),
          ...(r.extension ? [] : [button(EXTEND_ACTION, 'Extend', r._id)]),
        ]),
      );
    }
    return rows;
  });
  const pending = shown(data.pending, HOME_LIMITS.pending).map((r): KnownBlock[] => [
    sectionBlock(`${line(r)}\n${r.approvals.length} of ${r.requiredApprovals} approvals · times out ${slackDate(r.pendingUntil)}`),
    actionsBlock(`home-pending:${r._id}`, [button(CANCEL_ACTION, 'Cancel', r._id)]),
  ]);
  const toDecide = shown(data.toDecide, HOME_LIMITS.toDecide).map((r): KnownBlock[] => {
    if (r.state === 'pending') {
      return [
        sectionBlock(
          `${mention(r.requesterId)} asks for ${line(r)}${r.ticket ? ` (ticket ${userText(r.ticket, 300)})` : ''}\n${r.approvals.length} of ${r.requiredApprovals} approvals`,
        ),
        actionsBlock(`home-decide:${r._id}`, [
          button(APPROVE_ACTION, 'Approve', r._id, 'primary'),
          button(DENY_ACTION, 'Deny', r._id, 'danger'),
        ]),
      ];
    }
    if (r.extension) {
      return [
        sectionBlock(
          `${mention(r.requesterId)} asks to extend ${line(r)} by ${formatDuration(r.extension.durationMs)}: ${userText(r.extension.reason, 600)}`,
        ),
        actionsBlock(`home-extend:${r._id}`, [
          button(APPROVE_EXTENSION_ACTION, 'Approve extension', r._id, 'primary'),
          button(DENY_EXTENSION_ACTION, 'Deny extension', r._id, 'danger'),
        ]),
      ];
    }
    return [
      sectionBlock(`:rotating_light: Break-glass: ${mention(r.requesterId)} took ${line(r)}`),
      actionsBlock(`home-ack:${r._id}`, [button(ACK_BREAK_GLASS_ACTION, 'Acknowledge', r._id, 'primary')]),
    ];
  });
  const ended = data.ended
    .slice(0, HOME_LIMITS.ended)
    .map((r): KnownBlock[] => [contextBlock(`\`${r._id}\` *${r.resourceId}*: ${r.state} ${slackDate(r.endedAt ?? r.updatedAt)}`)]);
  const seeList = (what: string) => (n: number) => `${n} more ${what} — see \`/jit-access list\`.`;
  const blocks: KnownBlock[] = [
    sectionBlock('*Just-in-time access*', { accessory: button(NEW_REQUEST_ACTION, 'Request access', 'new', 'primary') }),
    { type: 'divider' },
    ...section(
      `Your active grants (${data.active.total})`,
      'No active grants.',
      active,
      data.active,
      seeList(data.active.total - active.length === 1 ? 'grant' : 'grants'),
    ),
    ...section(`Your pending requests (${data.pending.total})`, 'No pending requests.', pending, data.pending, seeList('pending')),
    ...section(
      `Waiting for your approval (${data.toDecide.total})`,
      'Nothing waits for you.',
      toDecide,
      data.toDecide,
      seeList('waiting for you'),
    ),
    ...section('Recently ended', 'Nothing yet.', ended, { total: ended.length }, () => ''),
  ];
  return { type: 'home', blocks: blocks.slice(0, BLOCK_KIT.viewBlocks) };
}
