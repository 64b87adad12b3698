/**
 * What a failed Slack Web API call means, and what someone can do about it: the outbox decides
 * from it whether to retry, wait for Slack to come back, or give up; the logs and the requester's
 * DM say the cause in words, never just "invite the bot".
 */

/** Answers that mean Slack rejects the bot token itself (methods/auth.test, and every method's errors). */
export const TOKEN_REJECTED = new Set(['invalid_auth', 'not_authed', 'account_inactive', 'token_revoked', 'token_expired']);

/** Slack's own trouble, not ours: retried without counting, once Slack answers again. */
const SLACK_TROUBLE = new Set(['fatal_error', 'internal_error', 'service_unavailable', 'request_timeout']);

/** Slack errors that retrying will not fix until someone changes something. */
const PERMANENT = new Set([
  ...TOKEN_REJECTED,
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'missing_scope',
  'user_not_found',
  'cannot_dm_bot',
  'msg_too_long',
  'invalid_blocks',
  'invalid_blocks_format',
  'msg_blocks_too_long',
  'invalid_arguments',
  'message_not_found',
  'cant_update_message',
  // chat.delete: the bot may not delete it (a workspace retention or compliance setting).
  'cant_delete_message',
  'compliance_exports_prevent_deletion',
  'restricted_action',
  'restricted_action_read_only_channel',
  'ekm_access_denied',
]);

/** Refusals of what was sent (the message or view itself): the same content fails the same way every time. */
export const CONTENT_REFUSED = new Set([
  'msg_too_long',
  'invalid_blocks',
  'invalid_blocks_format',
  'msg_blocks_too_long',
  'invalid_arguments',
]);

export interface SlackFailure {
  code: string;
  retryAfterMs?: number;
  permanent: boolean;
  /** Slack did not answer, or answered that it is in trouble: nothing about this call was wrong. */
  unreachable: boolean;
  /** Slack did not answer at all (DNS, refused, timed out): the surest sign it is out of reach. */
  noAnswer?: boolean;
  /** The HTTP status of an HTTP-level failure (`http_503`). */
  status?: number;
  /** The error came from the Web API client (Slack answered, refused, or did not answer), not from the bot. */
  webApi: boolean;
}

/** What went wrong with a Web API call, in terms the outbox acts on. */
export function classifySlackError(err: unknown): SlackFailure {
  const e = err as {
    code?: string;
    data?: { error?: string };
    retryAfter?: number;
    statusCode?: number;
    message?: string;
    original?: { code?: string; message?: string };
  };
  if (e.code === 'slack_webapi_rate_limited')
    return { code: 'ratelimited', retryAfterMs: (e.retryAfter ?? 1) * 1000, permanent: false, unreachable: false, webApi: true };
  if (e.code === 'slack_webapi_platform_error') {
    const code = e.data?.error ?? 'unknown_error';
    return { code, permanent: PERMANENT.has(code), unreachable: SLACK_TROUBLE.has(code), webApi: true };
  }
  if (e.code === 'slack_webapi_http_error') {
    const status = e.statusCode ?? 0;
    return { code: `http_${status || 'error'}`, permanent: false, unreachable: status >= 500 || status === 0, status, webApi: true };
  }
  if (e.code === 'slack_webapi_request_error') {
    const cause = e.original?.code ?? e.original?.message ?? e.message ?? 'no answer';
    return { code: `no answer (${String(cause).slice(0, 120)})`, permanent: false, unreachable: true, noAnswer: true, webApi: true };
  }
  // A bug (e.g. rendering a malformed request) fails the same way every time: give up after a few, loudly.
  if (err instanceof TypeError || err instanceof RangeError)
    return { code: `internal error: ${(e.message ?? '').slice(0, 180)}`, permanent: true, unreachable: false, webApi: false };
  return { code: (e.message ?? String(err)).slice(0, 200), permanent: false, unreachable: false, webApi: false };
}

/**
 * A refused Web API call in a person's words (`invalid_auth`, `ratelimited`, `HTTP 503`,
 * `no answer`), for the listeners' answers; undefined when the error is not the Web API's.
 */
export function slackRefusal(err: unknown): string | undefined {
  const failure = classifySlackError(err);
  if (!failure.webApi) return undefined;
  if (failure.noAnswer) return 'no answer';
  if (failure.status !== undefined) return `HTTP ${failure.status || 'error'}`;
  return failure.code;
}

/** Slack's error code in words: the cause, and who can fix it how. `channel` is where the bot tried to post. */
export function diagnoseSlackError(code: string, channel?: string): string {
  return knownCause(code, channel) ?? `Slack refused it (\`${code}\`).`;
}

/** The cause in words, for the errors that have one someone can act on; undefined for the rest. */
export function knownCause(code: string, channel?: string): string | undefined {
  const where = channel ? `<#${channel}>` : 'the channel';
  if (TOKEN_REJECTED.has(code))
    return 'Slack rejects the bot’s token (SLACK_BOT_TOKEN): the app was uninstalled or the token revoked. An admin must reinstall the app and set the new token.';
  if (CONTENT_REFUSED.has(code))
    return 'Slack refused the message’s content. That is a defect in jit-access, not something you did: tell the bot’s operators, with the request ID.';
  switch (code) {
    case 'not_in_channel':
      return `The bot is not a member of ${where}: ask someone in it to \`/invite\` the bot.`;
    case 'channel_not_found':
      return `Slack knows no channel ${where} that the bot can see: it was deleted, or it is private and the bot is not in it. An admin must fix \`approvalChannel\` in the policy, or invite the bot.`;
    case 'is_archived':
      return `${where} is archived: an admin must unarchive it or point \`approvalChannel\` in the policy elsewhere.`;
    case 'missing_scope':
      return 'The Slack app lacks a permission the bot needs: an admin must re-apply manifest.yml and reinstall the app.';
    case 'restricted_action':
    case 'restricted_action_read_only_channel':
    case 'ekm_access_denied':
      return `A workspace setting stops the bot from posting in ${where}: a Slack admin must allow it, or the policy must name another channel.`;
    case 'user_not_found':
    case 'cannot_dm_bot':
      return 'Slack cannot deliver a direct message to that user.';
    default:
      return undefined;
  }
}
