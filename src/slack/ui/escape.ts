import { fit } from './block-kit';

/**
 * User-typed text in Slack mrkdwn: escaping &, < and > is what Slack asks for, and it
 * is enough that `<!channel>`, `<@U…>` and `<https://evil|click>` show as text.
 */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Escaped first, then cut to `max` characters of the escaped text (with an ellipsis), so text
 * full of `<&>` cannot grow past a block's limit; never cut inside an entity.
 */
export function userText(text: string, max: number): string {
  return fit(escapeText(text), max);
}

/**
 * Text Slack delivered in a slash command, as the user typed it. Slack sends `&`, `<` and `>`
 * HTML-escaped (`&amp;`, `&lt;`, `&gt;`); decoded once here, and escaped once when shown, so
 * nobody ever sees `&amp;lt;`.
 */
export function slashCommandText(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** A time people read in their own time zone, with a fallback for old clients. */
export function slackDate(date: Date, format = '{date_short_pretty} at {time}'): string {
  return `<!date^${Math.floor(date.getTime() / 1000)}^${format}|${date.toISOString()}>`;
}

export function mention(userId: string): string {
  return /^[UW][A-Z0-9]+$/.test(userId) ? `<@${userId}>` : escapeText(userId);
}

export function usergroupMention(groupId: string): string {
  return /^S[A-Z0-9]+$/.test(groupId) ? `<!subteam^${groupId}>` : escapeText(groupId);
}

/**
 * Mrkdwn meant for a place Slack shows as plain text (modal field errors): code spans and
 * emphasis markers would show literally, so they are dropped.
 */
export function plainFromMrkdwn(text: string): string {
  return text.replace(/`([^`]*)`/g, '$1').replace(/(^|[\s(])[*_]([^*_\n]+)[*_](?=[\s).,:;!?]|$)/g, '$1$2');
}
