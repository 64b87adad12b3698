import type { App } from '@slack/bolt';
import { revokeRequest } from '../../../operations/revoke-access';
import { cancelRequest } from '../../../operations/cancel-request';
import { approveExtension, denyExtension } from '../../../operations/extend-grant';
import { acknowledgeBreakGlass } from '../../../operations/acknowledge-break-glass';
import { requireRequest } from '../../../operations/constraints';
import { UserError } from '../../../domain/errors';
import { ACK_BREAK_GLASS_ACTION, APPROVE_EXTENSION_ACTION, DENY_EXTENSION_ACTION } from '../../ui/approval-message';
import { CANCEL_ACTION, EXTEND_ACTION, REVOKE_ACTION } from '../../ui/home';
import { buildExtendModal, buildRequestModal } from '../../ui/modals';
import { cancelledText, revokedText } from '../../ui/messages';
import { explain, ListenerDeps, requestableBy, runBounded } from '../deps';
import { BUSY } from '../work-limiter';
import { answerClick } from './answer';
import type { ButtonClick } from './decide';
import type { OperationContext } from '../../../operations/ports';

type Handler = (
  ctx: OperationContext,
  requestId: unknown,
  userId: string,
  extra: { triggerId: string; client: App['client'] },
) => Promise<string | undefined>;

/** Buttons on grants (App Home, DMs, approval messages): each runs one operation, with the same checks as the command. */
export const GRANT_BUTTONS: Record<string, Handler> = {
  [REVOKE_ACTION]: async (ctx, id, user) => revokedText(await revokeRequest(ctx, id, user), false),
  [CANCEL_ACTION]: async (ctx, id, user) => cancelledText(await cancelRequest(ctx, id, user)),
  [APPROVE_EXTENSION_ACTION]: async (ctx, id, user) => void (await approveExtension(ctx, id, user)),
  [DENY_EXTENSION_ACTION]: async (ctx, id, user) => void (await denyExtension(ctx, id, user)),
  [ACK_BREAK_GLASS_ACTION]: async (ctx, id, user) => void (await acknowledgeBreakGlass(ctx, id, user)),
  [EXTEND_ACTION]: async (ctx, id, user, { triggerId, client }) => {
    const r = await requireRequest(ctx, id);
    if (r.requesterId !== user) throw new UserError(`Only the requester can extend ${r._id}.`);
    if (r.state !== 'active') throw new UserError(`Request ${r._id} is not an active grant.`);
    await client.views.open({ trigger_id: triggerId, view: buildExtendModal(r) });
    return undefined;
  },
};

/** A button on a grant: runs its operation after the ack and answers the clicker privately. */
export function grantButtonClicked(deps: ListenerDeps, actionId: string, handler: Handler) {
  return async ({ ack, body, action, respond, client }: ButtonClick): Promise<void> => {
    await ack();
    const user = body.user.id;
    const log = deps.logger.child({ requestId: String(action.value).slice(0, 20), user, action: actionId });
    const ran = await runBounded(deps, async () => {
      try {
        const text = await handler(deps.ctx, action.value, user, { triggerId: body.trigger_id, client });
        if (text) await answerClick(body, respond, client, text, log);
      } catch (err) {
        await answerClick(body, respond, client, explain(err, log, {}), log);
      }
    });
    if (!ran) await answerClick(body, respond, client, BUSY, log);
  };
}

/** "Request access" on the App Home: the request form, listing what the person may request. */
export function newRequestClicked(deps: ListenerDeps) {
  return async ({ ack, body, client }: ButtonClick): Promise<void> => {
    await ack();
    await requestableBy(deps.ctx, body.user.id)
      .then((mine) => client.views.open({ trigger_id: body.trigger_id, view: buildRequestModal(mine) }))
      .catch((err) => deps.logger.error({ user: body.user.id, err: (err as Error).message }, 'could not open the request form'));
  };
}
