import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { tellUser } from '../deps';

type RespondFn = (message: { response_type: 'ephemeral'; replace_original: boolean; text: string }) => Promise<unknown>;

/**
 * Answers a click privately: in the channel through its response_url (ephemeral),
 * and by DM for clicks on the App Home, which has no response_url.
 */
export async function answerClick(
  body: { user: { id: string }; response_url?: string },
  respond: RespondFn,
  client: WebClient,
  text: string,
  log: Logger,
): Promise<void> {
  try {
    if (body.response_url) await respond({ response_type: 'ephemeral', replace_original: false, text });
    else await tellUser(client, body.user.id, text);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'could not answer the click');
  }
}
