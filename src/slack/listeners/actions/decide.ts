import type { App, BlockButtonAction } from '@slack/bolt';
import { approveRequest } from '../../../operations/approve-request';
import { checkMayDeny } from '../../../operations/deny-request';
import { APPROVE_ACTION, DENY_ACTION } from '../../ui/approval-message';
import { buildDenyModal } from '../../ui/modals';
import { explain, ListenerDeps, runBounded } from '../deps';
import { BUSY } from '../work-limiter';
import { answerClick } from './answer';

/** Approve and Deny buttons, in the channel and on the App Home. Policy is checked on every click. */
export function registerDecisionActions(app: App, deps: ListenerDeps): void {
  const { ctx } = deps;

  app.action<BlockButtonAction>(APPROVE_ACTION, async ({ ack, body, action, respond, client }) => {
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
  });

  app.action<BlockButtonAction>(DENY_ACTION, async ({ ack, body, action, respond, client }) => {
    await ack();
    const user = body.user.id;
    const log = deps.logger.child({ requestId: String(action.value).slice(0, 20), user, action: 'deny' });
    try {
      const request = await checkMayDeny(ctx, action.value, user);
      await client.views.open({ trigger_id: body.trigger_id, view: buildDenyModal(request) });
    } catch (err) {
      await answerClick(body, respond, client, explain(err, log, {}), log);
    }
  });
}
