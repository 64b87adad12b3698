import type { App } from '@slack/bolt';
import { requestAccess, validateRequestInput } from '../../../operations/request-access';
import { denyRequest } from '../../../operations/deny-request';
import { DENY_MODAL, EXTEND_MODAL, FIELD, REQUEST_MODAL } from '../../ui/modals';
import { requestExtension } from '../../../operations/extend-grant';
import { parseDuration } from '../../../domain/duration';
import { extensionFiledText } from '../../ui/messages';
import { filedText } from '../../ui/messages';
import { explain, ListenerDeps, tellUser } from '../deps';

type StateValues = Record<string, Record<string, { value?: string | null; selected_option?: { value?: string } | null }>>;

/** Reads one field from a view's state; anything unexpected (wrong type, missing) reads as empty. */
function field(values: StateValues, id: string): string {
  const entry = values?.[id]?.[id];
  const value = entry?.selected_option?.value ?? entry?.value;
  return typeof value === 'string' ? value : '';
}

export function registerViewSubmissions(app: App, deps: ListenerDeps): void {
  const { ctx } = deps;

  app.view(REQUEST_MODAL, async ({ ack, body, view, client }) => {
    const user = body.user.id;
    const values = view.state.values as StateValues;
    const input = {
      resourceId: field(values, FIELD.resource),
      duration: field(values, FIELD.duration),
      reason: field(values, FIELD.reason),
      ticket: field(values, FIELD.ticket) || undefined,
    };
    const checked = validateRequestInput(ctx.policy, input);
    if (!checked.ok) {
      const errors: Record<string, string> = {};
      for (const [key, message] of Object.entries(checked.errors)) errors[key] = message.slice(0, 150);
      return ack({ response_action: 'errors', errors });
    }
    await ack();
    const log = deps.logger.child({ user, view: REQUEST_MODAL, resource: input.resourceId });
    let text: string;
    try {
      text = filedText(await requestAccess(ctx, user, input));
    } catch (err) {
      text = explain(err, log, {});
    }
    await tellUser(client, user, text).catch((err) => log.error({ err: (err as Error).message }, 'could not tell the requester'));
  });

  app.view(DENY_MODAL, async ({ ack, body, view, client }) => {
    const user = body.user.id;
    const reason = field(view.state.values as StateValues, FIELD.denyReason).trim();
    if (!reason) return ack({ response_action: 'errors', errors: { [FIELD.denyReason]: 'Say why; the requester will see it.' } });
    await ack();
    const log = deps.logger.child({ user, view: DENY_MODAL, requestId: String(view.private_metadata ?? '').slice(0, 20) });
    try {
      await denyRequest(ctx, view.private_metadata, user, reason);
    } catch (err) {
      await tellUser(client, user, explain(err, log, {})).catch((e) => log.error({ err: (e as Error).message }, 'could not tell the approver'));
    }
  });

  app.view(EXTEND_MODAL, async ({ ack, body, view, client }) => {
    const user = body.user.id;
    const values = view.state.values as StateValues;
    const duration = field(values, FIELD.duration);
    const reason = field(values, FIELD.reason).trim();
    const errors: Record<string, string> = {};
    try {
      parseDuration(duration);
    } catch (err) {
      errors[FIELD.duration] = (err as Error).message.slice(0, 150);
    }
    if (!reason) errors[FIELD.reason] = 'Say why you need more time.';
    if (Object.keys(errors).length) return ack({ response_action: 'errors', errors });
    await ack();
    const log = deps.logger.child({ user, view: EXTEND_MODAL, requestId: String(view.private_metadata ?? '').slice(0, 20) });
    let text: string;
    try {
      text = extensionFiledText(await requestExtension(ctx, view.private_metadata, user, duration, reason));
    } catch (err) {
      text = explain(err, log, {});
    }
    await tellUser(client, user, text).catch((e) => log.error({ err: (e as Error).message }, 'could not tell the requester'));
  });
}
