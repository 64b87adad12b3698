import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { UserError } from '../../domain/errors';
import { StoreUnavailable, type OperationContext } from '../../operations/ports';
import type { WorkLimiter } from './work-limiter';
import type { FilingRateLimiter } from './filing-limiter';
import { mayRequest, type Resource } from '../../policy/policy';
import { knownCause, slackRefusal } from '../slack-errors';

/** What every listener gets: the operations' context and a way to answer people. */
export interface ListenerDeps {
  ctx: OperationContext;
  logger: Logger;
  /** Bounds the work started after acks; absent means unbounded. */
  limiter?: WorkLimiter;
  /** Bounds how often one person files requests and extensions; absent means unbounded. */
  filingLimiter?: FilingRateLimiter;
}

/** Counts one filing by `userId`: undefined when allowed, else the "slow down" answer. */
export function tooFast(deps: ListenerDeps, userId: string): string | undefined {
  return deps.filingLimiter?.take(userId);
}

/** The resources `userId` may request (user groups resolved through Slack). */
export async function requestableBy(ctx: OperationContext, userId: string): Promise<Resource[]> {
  const mine: Resource[] = [];
  for (const r of ctx.policy.resources) if (await mayRequest(r, userId, ctx.directory)) mine.push(r);
  return mine;
}

export const TRY_AGAIN = 'The bot cannot reach its database right now, so nothing was changed. Please try again in a minute.';

/**
 * Listeners call Slack (views.open, usergroups.users.list) only before they change anything,
 * so a refused call means the action was not done.
 */
function slackRefusedText(code: string): string {
  const cause = knownCause(code);
  return `Slack refused a call the bot needed (\`${code}\`), so this was not done. Please try again in a minute; if it keeps happening, tell the bot’s operators.${cause ? ` ${cause}` : ''}`;
}

/** The message a person sees for an error: theirs to fix, a retry, or a plain apology. Everything but UserError is logged. */
export function explain(err: unknown, logger: Logger, context: Record<string, unknown>): string {
  if (err instanceof UserError) return err.message;
  if (err instanceof StoreUnavailable) {
    logger.error({ ...context, err: (err as Error).message }, 'database unavailable');
    return TRY_AGAIN;
  }
  const slackError = slackRefusal(err);
  if (slackError) {
    logger.error({ ...context, err: (err as Error).message, slackError }, 'Slack refused a call');
    return slackRefusedText(slackError);
  }
  logger.error({ ...context, err: (err as Error)?.message, stack: (err as Error)?.stack }, 'unexpected error');
  return 'Something went wrong on our side and nothing may have changed. Please try again; if it keeps happening, tell the bot’s operators.';
}

/** A DM from the bot, for answers that have no response_url (modal submissions). */
export async function tellUser(client: WebClient, userId: string, text: string): Promise<void> {
  const opened = await client.conversations.open({ users: userId });
  await client.chat.postMessage({ channel: opened.channel!.id!, text, unfurl_links: false });
}

/** Runs after-ack work within the limiter; false when the bot is saturated and nothing ran. */
export async function runBounded(deps: ListenerDeps, work: () => Promise<void>): Promise<boolean> {
  if (!deps.limiter) {
    await work();
    return true;
  }
  return deps.limiter.run(work);
}
