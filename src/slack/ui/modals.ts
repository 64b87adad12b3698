import type { KnownBlock, View } from '@slack/types';
import { formatDuration } from '../../domain/duration';
import type { AccessRequest } from '../../domain/request';
import type { Resource } from '../../policy/policy';
import { MAX_REASON_LENGTH, MAX_TICKET_LENGTH } from '../../operations/request-access';
import { MAX_DENY_REASON_LENGTH } from '../../operations/deny-request';
import { BLOCK_KIT, contextBlock, fit, plainText, sectionBlock } from './block-kit';
import { mention, userText } from './escape';

export const REQUEST_MODAL = 'request_modal';
export const DENY_MODAL = 'deny_modal';
export const EXTEND_MODAL = 'extend_modal';

/** Block and action IDs are the same, so `state.values[id][id]` finds each field. */
export const FIELD = { resource: 'resource', duration: 'duration', reason: 'reason', ticket: 'ticket', denyReason: 'deny_reason' } as const;

const title = (text: string) => plainText(text, BLOCK_KIT.modalButtonOrTitle);

/** A duration as people type it: `1h30m`. */
function typedDuration(ms: number): string {
  return formatDuration(ms).replace(/ /g, '');
}

/**
 * The duration field's block ID. It changes with the chosen resource: Slack keeps what is in a
 * field whose block and action IDs stay the same across `views.update`, and the point of choosing
 * a resource is to pre-fill that resource's `defaultDuration`.
 */
function durationBlockId(resource: Resource | undefined): string {
  return resource ? `${FIELD.duration}.${resource.id}` : FIELD.duration;
}

/**
 * The request form for the resources `resources` (those the person may request). Choosing a
 * resource (`dispatch_action`) re-renders it with `selected`, whose `defaultDuration` is
 * pre-filled; with a single resource it is chosen from the start.
 */
export function buildRequestModal(resources: Resource[], selected?: Resource): View {
  const chosen = selected ?? (resources.length === 1 ? resources[0] : undefined);
  const base = {
    type: 'modal' as const,
    callback_id: REQUEST_MODAL,
    title: title('Request access'),
    close: plainText('Cancel', BLOCK_KIT.modalButtonOrTitle),
  };
  if (!resources.length) {
    return {
      ...base,
      blocks: [sectionBlock('There is nothing you can request. Ask a policy admin to list you as a requester of a resource.')],
    };
  }
  const option = (r: Resource) => ({
    text: plainText(r.name, BLOCK_KIT.optionText),
    value: r.id.slice(0, BLOCK_KIT.optionValue),
    description: plainText(`${r.id}, up to ${formatDuration(r.maxDuration)}`, BLOCK_KIT.optionDescription),
  });
  const listed = resources.slice(0, BLOCK_KIT.selectOptions);
  const blocks: KnownBlock[] = [
    {
      type: 'input',
      block_id: FIELD.resource,
      dispatch_action: true,
      label: plainText('Resource', BLOCK_KIT.inputLabel),
      element: {
        type: 'static_select',
        action_id: FIELD.resource,
        placeholder: plainText('What do you need?', BLOCK_KIT.placeholder),
        options: listed.map(option),
        ...(chosen && listed.includes(chosen) ? { initial_option: option(chosen) } : {}),
      },
    },
  ];
  if (resources.length > listed.length) {
    blocks.push(
      contextBlock(
        `${resources.length - listed.length} more resources are not in this list: request them with \`/jit-access <resource> <duration> <reason…>\` (\`/jit-access resources\` lists them).`,
      ),
    );
  }
  blocks.push(
    {
      type: 'input',
      block_id: durationBlockId(chosen),
      label: plainText('Duration', BLOCK_KIT.inputLabel),
      hint: plainText(
        chosen
          ? `${formatDuration(chosen.minDuration)} to ${formatDuration(chosen.maxDuration)} for ${chosen.name}; e.g. 30m, 2h, 1h30m`
          : 'e.g. 30m, 2h, 1h30m; within the resource’s limits',
        BLOCK_KIT.inputHint,
      ),
      element: {
        type: 'plain_text_input',
        action_id: FIELD.duration,
        max_length: 20,
        ...(chosen
          ? { initial_value: typedDuration(chosen.defaultDuration) }
          : { placeholder: plainText('Choose a resource first, or type e.g. 1h', BLOCK_KIT.placeholder) }),
      },
    },
    {
      type: 'input',
      block_id: FIELD.reason,
      label: plainText('Reason', BLOCK_KIT.inputLabel),
      element: {
        type: 'plain_text_input',
        action_id: FIELD.reason,
        multiline: true,
        max_length: MAX_REASON_LENGTH,
        placeholder: plainText('Why do you need access?', BLOCK_KIT.placeholder),
      },
    },
    {
      type: 'input',
      block_id: FIELD.ticket,
      optional: true,
      label: plainText('Ticket', BLOCK_KIT.inputLabel),
      element: {
        type: 'plain_text_input',
        action_id: FIELD.ticket,
        max_length: MAX_TICKET_LENGTH,
        placeholder: plainText('INC-1234 or a link', BLOCK_KIT.placeholder),
      },
    },
  );
  return { ...base, submit: plainText('Request', BLOCK_KIT.modalButtonOrTitle), blocks };
}

export function buildDenyModal(request: AccessRequest): View {
  const head = `Deny ${mention(request.requesterId)}'s request \`${request._id}\` for *${request.resourceId}* (${formatDuration(request.durationMs)})?\n*Reason given:* `;
  return {
    type: 'modal',
    callback_id: DENY_MODAL,
    private_metadata: request._id.slice(0, BLOCK_KIT.privateMetadata),
    title: title('Deny request'),
    submit: title('Deny'),
    close: title('Back'),
    blocks: [
      sectionBlock(`${head}${userText(request.reason, BLOCK_KIT.sectionText - head.length)}`),
      {
        type: 'input',
        block_id: FIELD.denyReason,
        label: plainText('Reason (the requester sees it)', BLOCK_KIT.inputLabel),
        element: { type: 'plain_text_input', action_id: FIELD.denyReason, multiline: true, max_length: MAX_DENY_REASON_LENGTH },
      },
    ],
  };
}

export function buildExtendModal(request: AccessRequest): View {
  const sofar = `${formatDuration(request.durationMs)}${request.extendedMs ? ` + ${formatDuration(request.extendedMs)}` : ''}`;
  return {
    type: 'modal',
    callback_id: EXTEND_MODAL,
    private_metadata: request._id.slice(0, BLOCK_KIT.privateMetadata),
    title: title('Extend access'),
    submit: title('Ask'),
    close: title('Back'),
    blocks: [
      sectionBlock(fit(`Extend \`${request._id}\` (*${request.resourceId}*, ${sofar}).`, BLOCK_KIT.sectionText)),
      {
        type: 'input',
        block_id: FIELD.duration,
        label: plainText('Extra time', BLOCK_KIT.inputLabel),
        hint: plainText('e.g. 30m or 1h; the total stays within the resource’s limit', BLOCK_KIT.inputHint),
        element: { type: 'plain_text_input', action_id: FIELD.duration, initial_value: '30m', max_length: 20 },
      },
      {
        type: 'input',
        block_id: FIELD.reason,
        label: plainText('Reason', BLOCK_KIT.inputLabel),
        element: { type: 'plain_text_input', action_id: FIELD.reason, multiline: true, max_length: MAX_REASON_LENGTH },
      },
    ],
  };
}
