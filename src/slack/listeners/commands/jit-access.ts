import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { UserError } from '../../../domain/errors';
import { requestAccess, validateRequestInput } from '../../../operations/request-access';
import { revokeRequest } from '../../../operations/revoke-access';
import { cancelRequest } from '../../../operations/cancel-request';
import { waitingForDecision } from '../../../operations/home-data';
import { slashCommandText } from '../../ui/escape';
import { buildRequestModal } from '../../ui/modals';
import {
  cancelledText,
  extensionFiledText,
  filedText,
  HELP_TEXT,
  listText,
  resourcesText,
  revokedText,
  sshKeyText,
} from '../../ui/messages';
import { registeredSshKey, registerSshKey } from '../../../operations/register-ssh-key';
import { requestExtension } from '../../../operations/extend-grant';
import { explain, ListenerDeps, requestableBy, runBounded, tooFast } from '../deps';

/** Requests waiting for the caller listed by `list`, at most (oldest first). */
const LIST_WAITING = 50;
import { BUSY } from '../work-limiter';
import { parseCommand } from './parse-command';
import { auditTimeline } from '../../../operations/audit-timeline';
import { auditTimelineText } from '../../ui/audit-timeline';

/** `/jit-access …`: answers that need only the policy go in the ack; the rest runs after it, within the work limiter. */
export function jitAccessCommand(deps: ListenerDeps) {
  const { ctx } = deps;
  return async ({ ack, command, respond, client }: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    const user = command.user_id;
    // Socket Mode payloads are not pre-checked like HTTP ones: never assume the text is a string.
    // Slack sends the text HTML-escaped; what is stored is what the person typed.
    const parsed = parseCommand(slashCommandText(typeof command.text === 'string' ? command.text : ''));
    // Answers that need nothing but the policy go back in the ack itself.
    if (parsed.kind === 'help') return ack({ response_type: 'ephemeral', text: HELP_TEXT });
    if (parsed.kind === 'error') return ack({ response_type: 'ephemeral', text: parsed.message });
    if (parsed.kind === 'request') {
      const checked = validateRequestInput(ctx.policy, parsed);
      if (!checked.ok) return ack({ response_type: 'ephemeral', text: Object.values(checked.errors).join('\n') });
    }
    if (parsed.kind === 'request' || parsed.kind === 'extend') {
      const slowDown = tooFast(deps, user);
      if (slowDown) return ack({ response_type: 'ephemeral', text: slowDown });
    }
    await ack();
    const log = deps.logger.child({ user, command: parsed.kind });
    const reply = (text: string) =>
      respond({ response_type: 'ephemeral', text }).catch((err) =>
        log.error({ err: (err as Error).message }, 'could not answer the command'),
      );
    const ran = await runBounded(deps, async () => {
      try {
        switch (parsed.kind) {
          case 'modal':
            await client.views.open({ trigger_id: command.trigger_id, view: buildRequestModal(await requestableBy(ctx, user)) });
            return;
          case 'list': {
            const [mine, waiting] = await Promise.all([ctx.store.openRequestsOf(user), waitingForDecision(ctx, user, LIST_WAITING)]);
            return void (await reply(listText(mine, waiting)));
          }
          case 'resources':
            return void (await reply(resourcesText(await requestableBy(ctx, user))));
          case 'request': {
            const request = await requestAccess(ctx, user, parsed);
            return void (await reply(filedText(request)));
          }
          case 'revoke':
            return void (await reply(revokedText(await revokeRequest(ctx, parsed.requestId, user), true)));
          case 'cancel':
            return void (await reply(cancelledText(await cancelRequest(ctx, parsed.requestId, user))));
          case 'extend':
            return void (await reply(
              extensionFiledText(await requestExtension(ctx, parsed.requestId, user, parsed.duration, parsed.reason)),
            ));
          case 'audit':
            return void (await reply(auditTimelineText(await auditTimeline(ctx, parsed.requestId, user))));
          case 'ssh-key':
            if (!parsed.key.trim()) return void (await reply(sshKeyText(await registeredSshKey(ctx, user), 'shown')));
            return void (await reply(sshKeyText(await registerSshKey(ctx, user, parsed.key), 'registered')));
        }
      } catch (err) {
        // Never the text of an ssh-key command: it may be a private key pasted by mistake.
        if (!(err instanceof UserError))
          log.warn(parsed.kind === 'ssh-key' ? {} : { text: String(command.text ?? '').slice(0, 200) }, 'command failed');
        await reply(explain(err, log, { user, command: parsed.kind }));
      }
    });
    if (!ran) await reply(BUSY);
  };
}
