/**
 * User-typed text in Slack mrkdwn: escaping &, < and > is what Slack asks for, and it
 * is enough that `<!channel>`, `<@U…>` and `<https://evil|click>` show as text.
 */
export function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escaped, and cut to `max` characters so a block never exceeds Slack's limits. */
export function userText(text: string, max = 1000): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return escapeText(cut);
}

/** A time people read in their own time zone, with a fallback for old clients. */
export function slackDate(date: Date, format = '{date_short_pretty} at {time}'): string {
  return `<!date^${Math.floor(date.getTime() / 1000)}^${format}|${date.toISOString()}>`;
}

export function mention(userId: string): string {
  return /^[UW][A-Z0-9]+$/.test(userId) ? `<@${userId}>` : escapeText(userId);
}
