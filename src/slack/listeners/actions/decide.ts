import type { AllMiddlewareArgs, BlockButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { approveRequest } from '../../../operations/approve-request';
import { checkMayDeny } from '../../../operations/deny-request';
import { buildDenyModal } from '../../ui/modals';
import { explain, ListenerDeps, runBounded } from '../deps';
import { BUSY } from '../work-limiter';
import { answerClick } from './answer';

export type ButtonClick = SlackActionMiddlewareArgs<BlockButtonAction> & AllMiddlewareArgs;

/* Approve and Deny buttons, in the channel and on the App Home. Policy is checked on every click. */

/** Approve: the approval is recorded (and the grant started) after the ack; a refusal is answered privately. */
export function approveClicked(deps: ListenerDeps) {
  const { ctx } = deps;
  return async ({ ack, body, action, respond, client }: ButtonClick): Promise<void> => {
    await ack();
    const user = body.user.id;
    const log = deps.logger.child({ requestId: String(action.value).slice(0, 20), user, action: 'approve' });
    const ran = await runBounded(deps, async () => {
      try {
        await approveRequest(ctx, action.value, user);
      } catch (err) {
        await answerClick(body, respond, client, explain(err, log, {}), log);
      }
    });
    if (!ran) await answerClick(body, respond, client, BUSY, log);
  };
}

/** Deny: opens the form that asks why (the denial itself is the form's submission). */
export function denyClicked(deps: ListenerDeps) {
  const { ctx } = deps;
  return async ({ ack, body, action, respond, client }: ButtonClick): Promise<void> => {
    await ack();
    const user = body.user.id;
    const log = deps.logger.child({ requestId: String(action.value).slice(0, 20), user, action: 'deny' });
    try {
      const request = await checkMayDeny(ctx, action.value, user);
      await client.views.open({ trigger_id: body.trigger_id, view: buildDenyModal(request) });
    } catch (err) {
      await answerClick(body, respond, client, explain(err, log, {}), log);
    }
  };
}
