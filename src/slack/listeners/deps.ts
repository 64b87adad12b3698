import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { UserError } from '../../domain/errors';
import type { OperationContext } from '../../operations/context';

/** What every listener gets: the operations' context and a way to answer people. */
export interface ListenerDeps {
  ctx: OperationContext;
  logger: Logger;
}

export const TRY_AGAIN =
  'The bot cannot reach its database right now, so nothing was changed. Please try again in a minute.';

function isDatabaseError(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  return name.startsWith('Mongo') || /ECONNREFUSED|topology|server selection/i.test((err as Error)?.message ?? '');
}

/** The message a person sees for an error: theirs to fix, a retry, or a plain apology. Everything but UserError is logged. */
export function explain(err: unknown, logger: Logger, context: Record<string, unknown>): string {
  if (err instanceof UserError) return err.message;
  if (isDatabaseError(err)) {
    logger.error({ ...context, err: (err as Error).message }, 'database unavailable');
    return TRY_AGAIN;
  }
  logger.error({ ...context, err: (err as Error)?.message, stack: (err as Error)?.stack }, 'unexpected error');
  return 'Something went wrong on our side and nothing may have changed. Please try again; if it keeps happening, tell the bot’s operators.';
}

/** A DM from the bot, for answers that have no response_url (modal submissions). */
export async function tellUser(client: WebClient, userId: string, text: string): Promise<void> {
  const opened = await client.conversations.open({ users: userId });
  await client.chat.postMessage({ channel: opened.channel!.id!, text, unfurl_links: false });
}
