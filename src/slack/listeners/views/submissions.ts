import type {
  AllMiddlewareArgs,
  BlockStaticSelectAction,
  SlackActionMiddlewareArgs,
  SlackViewMiddlewareArgs,
  ViewSubmitAction,
} from '@slack/bolt';
import { UserError } from '../../../domain/errors';
import { requestAccess } from '../../../operations/request-access';
import { precheckRequest } from '../../../operations/precheck-request';
import { checkMayDeny, denyRequest, MAX_DENY_REASON_LENGTH } from '../../../operations/deny-request';
import { checkExtension, requestExtension } from '../../../operations/extend-grant';
import { findResource } from '../../../policy/policy';
import { buildRequestModal, DENY_MODAL, EXTEND_MODAL, FIELD, REQUEST_MODAL } from '../../ui/modals';
import { extensionFiledText, filedText } from '../../ui/messages';
import { plainFromMrkdwn } from '../../ui/escape';
import { explain, ListenerDeps, requestableBy, tellUser, tooFast } from '../deps';

type StateValues = Record<string, Record<string, { value?: string | null; selected_option?: { value?: string } | null }>>;

/** Reads one field from a view's state; anything unexpected (wrong type, missing) reads as empty. */
function field(values: StateValues, id: string): string {
  const entry = values?.[blockIdOf(values, id)]?.[id];
  const value = entry?.selected_option?.value ?? entry?.value;
  return typeof value === 'string' ? value : '';
}

/** The block holding field `id` (the duration's block ID carries the chosen resource: see durationBlockId). */
function blockIdOf(values: StateValues, id: string): string {
  if (values && typeof values === 'object' && !(id in values)) {
    const found = Object.keys(values).find((key) => key.startsWith(`${id}.`));
    if (found) return found;
  }
  return id;
}

/**
 * Checks before the ack get this long: Slack wants the answer within 3 s. Past it the form closes
 * and the filing, which checks everything again, answers by DM.
 */
const PRECHECK_BUDGET_MS = 2000;

type Outcome<T> = { done: true; value: T } | { done: false };

async function within<T>(work: Promise<T>, ms: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Outcome<T>>((resolve) => {
    timer = setTimeout(() => resolve({ done: false }), ms);
  });
  try {
    return await Promise.race([work.then((value) => ({ done: true as const, value })), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Field errors as Slack shows them: plain text (mrkdwn markers would show literally), in the block they are about. */
function fieldErrors(values: StateValues, errors: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, message] of Object.entries(errors)) if (message) out[blockIdOf(values, key)] = plainFromMrkdwn(message).slice(0, 300);
  return out;
}

type ViewSubmission = SlackViewMiddlewareArgs<ViewSubmitAction> & AllMiddlewareArgs;

/** Choosing a resource re-renders the form with that resource's defaultDuration filled in. */
export function resourceChosen(deps: ListenerDeps) {
  const { ctx } = deps;
  return async ({ ack, body, action, client }: SlackActionMiddlewareArgs<BlockStaticSelectAction> & AllMiddlewareArgs): Promise<void> => {
    await ack();
    const user = body.user.id;
    const view = body.view;
    if (!view || view.callback_id !== REQUEST_MODAL) return;
    const chosen = findResource(ctx.policy, String(action.selected_option?.value ?? ''));
    try {
      const mine = await requestableBy(ctx, user);
      await client.views.update({
        view_id: view.id,
        hash: view.hash,
        view: buildRequestModal(mine, chosen && mine.includes(chosen) ? chosen : undefined),
      });
    } catch (err) {
      // A newer version of the form (hash_conflict) or Slack unavailable: the form stays as it is.
      deps.logger.warn({ user, err: (err as Error).message }, 'could not update the request form');
    }
  };
}

/** The request form: checked while it is open (errors shown on its fields), then filed after the ack; the answer comes by DM. */
export function requestSubmitted(deps: ListenerDeps) {
  const { ctx } = deps;
  return async ({ ack, body, view, client }: ViewSubmission): Promise<void> => {
    const user = body.user.id;
    const values = view.state.values as StateValues;
    const input = {
      resourceId: field(values, FIELD.resource),
      duration: field(values, FIELD.duration),
      reason: field(values, FIELD.reason),
      ticket: field(values, FIELD.ticket) || undefined,
    };
    const log = deps.logger.child({ user, view: REQUEST_MODAL, resource: input.resourceId.slice(0, 40) });
    const checked = await within(precheckRequest(ctx, user, input), PRECHECK_BUDGET_MS).catch((err) => {
      log.warn({ err: (err as Error).message }, 'could not check the request before the form closed; filing checks again');
      return { done: false } as const;
    });
    if (checked.done && Object.keys(checked.value).length)
      return ack({ response_action: 'errors', errors: fieldErrors(values, checked.value) });
    const slowDown = tooFast(deps, user);
    if (slowDown) return ack({ response_action: 'errors', errors: fieldErrors(values, { [FIELD.resource]: slowDown }) });
    await ack();
    let text: string;
    try {
      text = filedText(await requestAccess(ctx, user, input));
    } catch (err) {
      text = explain(err, log, {});
    }
    await tellUser(client, user, text).catch((err) => log.error({ err: (err as Error).message }, 'could not tell the requester'));
  };
}

/** The deny form: a reason is required; the approver is checked again before the form closes and on the denial itself. */
export function denySubmitted(deps: ListenerDeps) {
  const { ctx } = deps;
  return async ({ ack, body, view, client }: ViewSubmission): Promise<void> => {
    const user = body.user.id;
    const values = view.state.values as StateValues;
    const reason = field(values, FIELD.denyReason).trim();
    if (!reason) return ack({ response_action: 'errors', errors: { [FIELD.denyReason]: 'Say why; the requester will see it.' } });
    if (reason.length > MAX_DENY_REASON_LENGTH)
      return ack({
        response_action: 'errors',
        errors: { [FIELD.denyReason]: `The reason is too long: at most ${MAX_DENY_REASON_LENGTH} characters.` },
      });
    const log = deps.logger.child({ user, view: DENY_MODAL, requestId: String(view.private_metadata ?? '').slice(0, 20) });
    // Still allowed, still pending: said in the form, which stays open.
    const allowed = await within(
      checkMayDeny(ctx, view.private_metadata, user).then(() => undefined),
      PRECHECK_BUDGET_MS,
    ).catch((err) => {
      if (err instanceof UserError) return { done: true as const, value: err.message };
      log.warn({ err: (err as Error).message }, 'could not check the denial before the form closed');
      return { done: false } as const;
    });
    if (allowed.done && allowed.value)
      return ack({ response_action: 'errors', errors: fieldErrors(values, { [FIELD.denyReason]: allowed.value }) });
    await ack();
    try {
      await denyRequest(ctx, view.private_metadata, user, reason);
    } catch (err) {
      await tellUser(client, user, explain(err, log, {})).catch((e) =>
        log.error({ err: (e as Error).message }, 'could not tell the approver'),
      );
    }
  };
}

/** The extension form: checked while it is open, then filed after the ack; the answer comes by DM. */
export function extendSubmitted(deps: ListenerDeps) {
  const { ctx } = deps;
  return async ({ ack, body, view, client }: ViewSubmission): Promise<void> => {
    const user = body.user.id;
    const values = view.state.values as StateValues;
    const duration = field(values, FIELD.duration);
    const reason = field(values, FIELD.reason);
    const log = deps.logger.child({ user, view: EXTEND_MODAL, requestId: String(view.private_metadata ?? '').slice(0, 20) });
    const checked = await within(
      checkExtension(ctx, view.private_metadata, user, duration, reason).then(() => undefined),
      PRECHECK_BUDGET_MS,
    ).catch((err) => {
      if (err instanceof UserError)
        return { done: true as const, value: Object.keys(err.fields).length ? { ...err.fields } : { [FIELD.duration]: err.message } };
      log.warn({ err: (err as Error).message }, 'could not check the extension before the form closed; filing checks again');
      return { done: false } as const;
    });
    if (checked.done && checked.value) return ack({ response_action: 'errors', errors: fieldErrors(values, checked.value) });
    const slowDown = tooFast(deps, user);
    if (slowDown) return ack({ response_action: 'errors', errors: fieldErrors(values, { [FIELD.duration]: slowDown }) });
    await ack();
    let text: string;
    try {
      text = extensionFiledText(await requestExtension(ctx, view.private_metadata, user, duration, reason));
    } catch (err) {
      text = explain(err, log, {});
    }
    await tellUser(client, user, text).catch((e) => log.error({ err: (e as Error).message }, 'could not tell the requester'));
  };
}
