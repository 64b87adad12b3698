import type { View } from '@slack/types';
import { formatDuration } from '../../domain/duration';
import type { Resource } from '../../policy/policy';
import { escapeText } from './escape';

export const REQUEST_MODAL = 'request_modal';
export const DENY_MODAL = 'deny_modal';
export const EXTEND_MODAL = 'extend_modal';

/** Block and action IDs are the same, so `state.values[id][id]` finds each field. */
export const FIELD = { resource: 'resource', duration: 'duration', reason: 'reason', ticket: 'ticket', denyReason: 'deny_reason' } as const;

const plain = (text: string) => ({ type: 'plain_text' as const, text, emoji: true });

export function buildRequestModal(resources: Resource[]): View {
  return {
    type: 'modal',
    callback_id: REQUEST_MODAL,
    title: plain('Request access'),
    submit: plain('Request'),
    close: plain('Cancel'),
    blocks: [
      {
        type: 'input',
        block_id: FIELD.resource,
        label: plain('Resource'),
        element: {
          type: 'static_select',
          action_id: FIELD.resource,
          placeholder: plain('What do you need?'),
          options: resources.slice(0, 100).map((r) => ({
            text: plain(r.name.slice(0, 75)),
            value: r.id,
            description: plain(`${r.id}, up to ${formatDuration(r.maxDuration)}`.slice(0, 75)),
          })),
        },
      },
      {
        type: 'input',
        block_id: FIELD.duration,
        label: plain('Duration'),
        hint: plain('e.g. 30m, 2h, 1h30m; within the resource’s limits'),
        element: { type: 'plain_text_input', action_id: FIELD.duration, initial_value: '1h', max_length: 20 },
      },
      {
        type: 'input',
        block_id: FIELD.reason,
        label: plain('Reason'),
        element: { type: 'plain_text_input', action_id: FIELD.reason, multiline: true, max_length: 1000, placeholder: plain('Why do you need access?') },
      },
      {
        type: 'input',
        block_id: FIELD.ticket,
        optional: true,
        label: plain('Ticket'),
        element: { type: 'plain_text_input', action_id: FIELD.ticket, max_length: 200, placeholder: plain('INC-1234 or a link') },
      },
    ],
  };
}

export function buildDenyModal(requestId: string, context: string): View {
  return {
    type: 'modal',
    callback_id: DENY_MODAL,
    private_metadata: requestId,
    title: plain('Deny request'),
    submit: plain('Deny'),
    close: plain('Back'),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: escapeText(context).slice(0, 2900) } },
      {
        type: 'input',
        block_id: FIELD.denyReason,
        label: plain('Reason (the requester sees it)'),
        element: { type: 'plain_text_input', action_id: FIELD.denyReason, multiline: true, max_length: 1000 },
      },
    ],
  };
}

export function buildExtendModal(requestId: string, context: string): View {
  return {
    type: 'modal',
    callback_id: EXTEND_MODAL,
    private_metadata: requestId,
    title: plain('Extend access'),
    submit: plain('Ask'),
    close: plain('Back'),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: escapeText(context).slice(0, 2900) } },
      {
        type: 'input',
        block_id: FIELD.duration,
        label: plain('Extra time'),
        hint: plain('e.g. 30m or 1h; the total stays within the resource’s limit'),
        element: { type: 'plain_text_input', action_id: FIELD.duration, initial_value: '30m', max_length: 20 },
      },
      {
        type: 'input',
        block_id: FIELD.reason,
        label: plain('Reason'),
        element: { type: 'plain_text_input', action_id: FIELD.reason, multiline: true, max_length: 1000 },
      },
    ],
  };
}
