import { formatDuration } from '../../domain/duration';
import type { AccessRequest } from '../../domain/request';
import type { Resource } from '../../policy/policy';
import type { ChannelNotice, RequesterNotice } from '../../operations/ports';
import type { KnownBlock } from '@slack/types';
import type { HomeList } from '../../operations/home-data';
import { diagnoseSlackError } from '../slack-errors';
import { actionsBlock, BLOCK_KIT, button, fitLines, sectionBlock } from './block-kit';
import { EXTEND_ACTION } from './home';
import { escapeText, mention, slackDate, usergroupMention, userText } from './escape';
import { parseSshPublicKey } from '../../domain/ssh-public-key';
import type { RegisteredSshKey } from '../../store/ssh-keys';

/** Texts of ephemeral answers, DMs and thread notices: pure functions, data -> mrkdwn. */

export const HELP_TEXT = [
  '*/jit-access*: just-in-time access, approved in Slack.',
  '• `/jit-access`: open the request form',
  '• `/jit-access <resource> <duration> <reason…> [--ticket <id>]`: request directly, e.g. `/jit-access prod-db-readonly 1h slow queries --ticket INC-42`',
  '• `/jit-access <resource> <duration> <reason…> --break-glass`: emergency access where the resource allows it',
  '• `/jit-access list`: your pending requests and active grants, and what waits for your approval',
  '• `/jit-access resources`: what you can request, and the limits',
  '• `/jit-access revoke <request-id>`: end an active grant now',
  '• `/jit-access extend <request-id> <duration> <reason…>`: ask for more time',
  '• `/jit-access cancel <request-id>`: withdraw a pending request',
  '• `/jit-access audit <request-id>`: a request’s timeline (approvers and admins)',
  '• `/jit-access ssh-key <public key>`: register your SSH public key for `ssh` resources (`ssh-key` alone shows it)',
  'Durations: `90s`, `30m`, `2h`, `1d`, `1h30m`. `--ticket <id>` and `--break-glass` count as flags anywhere after the duration, as whole words; everything after a lone `--` is reason text.',
].join('\n');

function stateLine(r: AccessRequest): string {
  switch (r.state) {
    case 'pending':
      return `pending (${r.approvals.length}/${r.requiredApprovals} approvals), times out ${slackDate(r.pendingUntil)}`;
    case 'granting':
      return 'approved, being granted';
    case 'active':
      return `active until ${slackDate(r.expiresAt!)}${r.breakGlass ? ' :rotating_light: break-glass' : ''}`;
    case 'revoking':
      return `being revoked${r.lastError ? ` (retrying: ${userText(r.lastError, 300)})` : ''}`;
    default:
      return r.state.replace('_', ' ');
  }
}

/** `/jit-access list`: the caller's open requests and grants, and what waits for their decision. */
export function listText(requests: AccessRequest[], waiting: HomeList = { items: [], total: 0 }): string {
  const mine = requests.length
    ? [
        '*Your requests and grants*',
        ...requests.map((r) => `• \`${r._id}\` *${r.resourceId}*, ${formatDuration(r.durationMs)}: ${stateLine(r)}`),
      ]
    : ['You have no pending requests or active grants. `/jit-access` to request access.'];
  const theirs = waiting.total
    ? [
        `*Waiting for your approval* (${waiting.total})`,
        ...waiting.items.map((r) => {
          const what =
            r.state === 'pending'
              ? `${r.approvals.length}/${r.requiredApprovals} approvals`
              : r.extension
                ? `extension by ${formatDuration(r.extension.durationMs)}`
                : 'break-glass, to acknowledge';
          return `• \`${r._id}\` ${mention(r.requesterId)} *${r.resourceId}*, ${formatDuration(r.durationMs)}: ${what}`;
        }),
        ...(waiting.total > waiting.items.length
          ? [`…and ${waiting.total - waiting.items.length} more (oldest first): decide on these first.`]
          : []),
      ]
    : [];
  return fitLines([...mine, ...theirs], BLOCK_KIT.messageText);
}

export function resourcesText(resources: Resource[]): string {
  if (!resources.length) return 'There is nothing you can request. Ask a policy admin.';
  return fitLines(
    [
      '*Resources you can request*',
      ...resources.map((r) => {
        const approvals = r.autoApprove ? 'auto-approved' : `${r.requiredApprovals} approval${r.requiredApprovals > 1 ? 's' : ''}`;
        const rules = r.rules?.length
          ? `, unless one of its ${r.rules.length} approval rule${r.rules.length === 1 ? '' : 's'} decides otherwise`
          : '';
        const extras = `${rules}${r.breakGlass ? `, break-glass up to ${formatDuration(r.breakGlassMaxDuration)}` : ''}`;
        return `• \`${r.id}\` ${escapeText(r.name)}: ${formatDuration(r.minDuration)} to ${formatDuration(r.maxDuration)} (default ${formatDuration(r.defaultDuration)}), ${approvals}${extras}${r.description ? `\n    _${escapeText(r.description)}_` : ''}`;
      }),
    ],
    BLOCK_KIT.messageText,
  );
}

export function filedText(r: AccessRequest): string {
  if (r.state === 'pending') {
    const rule = r.approvalRule ? ` (the rule *${userText(r.approvalRule.replace(/\*/g, ''), 100)}*)` : '';
    return `Request \`${r._id}\` for *${r.resourceId}* (${formatDuration(r.durationMs)}) is waiting for ${r.requiredApprovals} approval${r.requiredApprovals > 1 ? 's' : ''}${rule} in <#${r.approvalChannel}>.`;
  }
  if (r.state === 'active') return `Request \`${r._id}\`: access to *${r.resourceId}* granted until ${slackDate(r.expiresAt!)}.`;
  if (r.state === 'failed') return `Request \`${r._id}\`: granting *${r.resourceId}* failed: ${userText(r.lastError ?? '', 1000)}`;
  return `Request \`${r._id}\` for *${r.resourceId}* is ${r.state.replace('_', ' ')}.`;
}

export function requesterNoticeText(r: AccessRequest, notice: RequesterNotice, details: Record<string, string> = {}): string {
  const what = `*${r.resourceId}* (\`${r._id}\`)`;
  switch (notice) {
    case 'approved':
      return `:white_check_mark: Access to ${what} granted until ${slackDate(r.expiresAt!)}${r.account ? ` for account \`${userText(r.account, 200)}\`` : ''}.${r.grantNotice ? `\n:warning: ${userText(r.grantNotice, 1000)}` : ''}`;
    case 'denied':
      return `:no_entry: Your request for ${what} was denied by ${mention(r.decidedBy ?? 'an approver')}: ${userText(r.denyReason ?? '', 2500)}`;
    case 'failed':
      return `:x: Your request for ${what} was approved, but granting failed: ${userText(details.error ?? r.lastError ?? 'unknown error', 1000)}. Nothing was granted; try again later or ask the approvers.`;
    case 'expiring':
      return `:hourglass: Your access to ${what} expires ${slackDate(r.expiresAt!)}. To keep it: \`/jit-access extend ${r._id} <duration> <reason>\`.`;
    case 'ended':
      return r.state === 'revoked'
        ? `:lock: Your access to ${what} was revoked${r.endedBy && r.endedBy !== r.requesterId ? ` by ${mention(r.endedBy)}` : ''}.`
        : `:lock: Your access to ${what} has expired.`;
    case 'timed_out':
      return `:alarm_clock: Your request for ${what} timed out: nobody decided in time. Request again if you still need it.`;
    case 'filed':
      return filedText(r);
    case 'extended':
      return `:hourglass_flowing_sand: Your access to ${what} was extended until ${slackDate(r.expiresAt!)}.`;
    case 'extension_denied':
      return `:no_entry: Your extension of ${what} was denied${details.by ? ` by ${mention(details.by)}` : ''}. Access still ends ${slackDate(r.expiresAt!)}.`;
  }
}

export function channelNoticeText(r: AccessRequest, notice: ChannelNotice, details: Record<string, string> = {}): string {
  switch (notice) {
    case 'ended':
      return r.state === 'revoked'
        ? `:lock: Access ended: ${mention(r.requesterId)}'s grant of *${r.resourceId}* was revoked${r.endedBy ? ` by ${mention(r.endedBy)}` : ''}.`
        : `:lock: Access ended: ${mention(r.requesterId)}'s grant of *${r.resourceId}* expired.`;
    case 'grant_failed':
      return `:x: Granting *${r.resourceId}* to ${mention(r.requesterId)} failed: ${userText(details.error ?? '', 1000)}. Cleanup: ${userText(details.cleanup ?? 'n/a', 1000)}.`;
    case 'revoke_failing':
      return `:rotating_light: <!here> *Revocation of \`${r._id}\` (${r.resourceId}, ${mention(r.requesterId)}) is failing* after ${userText(details.attempts ?? '?', 20)} attempts: ${userText(details.error ?? '', 1000)}. Access may still be live; the bot keeps retrying. Check the target system.`;
    case 'extension_requested':
      return `:hourglass_flowing_sand: ${mention(r.requesterId)} asks to extend \`${r._id}\` by ${formatDuration(Number(details.durationMs))}: ${userText(details.reason ?? '', 2500)}. Approve or deny it on the message above.`;
    case 'reminder': {
      const users = (details.users ?? '').split(',').filter(Boolean).map(mention);
      const groups = (details.usergroups ?? '').split(',').filter(Boolean).map(usergroupMention);
      if (r.breakGlass && r.state !== 'pending') {
        return `:bell: ${[...users, ...groups].join(' ') || 'Approvers'}: break-glass access \`${r._id}\` by ${mention(r.requesterId)} to *${r.resourceId}* is not acknowledged yet. Review it and click Acknowledge on the message above.`;
      }
      return `:bell: ${[...users, ...groups].join(' ') || 'Approvers'}: request \`${r._id}\` from ${mention(r.requesterId)} for *${r.resourceId}* is still waiting (${r.approvals.length} of ${r.requiredApprovals} approvals). It times out ${slackDate(r.pendingUntil)}.`;
    }
  }
}

/** Many grants ending in one channel at once become one message, so the channel is not flooded. */
export function coalescedEndedText(requests: AccessRequest[]): string {
  const lines = requests.map((r) => `• \`${r._id}\` ${mention(r.requesterId)} *${r.resourceId}*: ${r.state}`);
  return fitLines([`:lock: Access ended for ${requests.length} grants:`, ...lines], BLOCK_KIT.messageText);
}

export function secretText(title: string, fields: Array<{ label: string; value: string }>): string {
  return [
    `:key: *${escapeText(title)}*`,
    ...fields.map((f) => `• ${escapeText(f.label)}: \`${escapeText(f.value)}\``),
    '_Keep these to yourself; they stop working when the grant ends, and this message is deleted then._',
  ].join('\n');
}

/** The answer to a revocation asked for by hand; `followUp`: the person will be told when a failing one is done. */
export function revokedText(r: AccessRequest, followUp: boolean): string {
  if (r.state === 'revoking')
    return `Revoking \`${r._id}\` is failing; the bot keeps retrying${followUp ? ' and will tell you when it is done' : ''}.`;
  return `Access \`${r._id}\` to *${r.resourceId}* is revoked.`;
}

export function cancelledText(r: AccessRequest): string {
  return `Request \`${r._id}\` is cancelled.`;
}

export function extensionFiledText(r: AccessRequest): string {
  if (r.extension) {
    return `Extension of \`${r._id}\` by ${formatDuration(r.extension.durationMs)} is waiting for ${r.extension.requiredApprovals} approval${r.extension.requiredApprovals > 1 ? 's' : ''} in <#${r.approvalChannel}>.`;
  }
  return `Access \`${r._id}\` to *${r.resourceId}* now ends ${slackDate(r.expiresAt!)}.`;
}

/** The expiring-soon DM carries an Extend button, so keeping access is one click away. */
export function expiringDmBlocks(r: AccessRequest, text: string): KnownBlock[] {
  return [sectionBlock(text), actionsBlock(`expiring:${r._id}`, [button(EXTEND_ACTION, 'Extend', r._id)])];
}

/** The requester's DM when Slack refused the approval message for good: why, and what can be done. */
export function approvalUnpostedText(r: AccessRequest, channel: string, error: string): string {
  return (
    `Your request \`${r._id}\` for *${r.resourceId}* could not be posted in <#${channel}> (Slack said \`${userText(error, 200)}\`), ` +
    `so its approvers have not been asked there. ${diagnoseSlackError(error, channel)} ` +
    'It is still pending: approvers can decide on it from the bot’s App Home or with `/jit-access list`, so tell one of them.'
  );
}

const SSH_KEY_HOW_TO = '`/jit-access ssh-key <public key>`, with the one line of your `.pub` file (e.g. `~/.ssh/id_ed25519.pub`)';

/** The answer to `/jit-access ssh-key`: the key just registered, or the one on file (or none). */
export function sshKeyText(key: RegisteredSshKey | null, how: 'registered' | 'shown'): string {
  if (!key) return `You have no SSH key registered. \`ssh\` resources certify one: register it with ${SSH_KEY_HOW_TO}.`;
  const parsed = parseSshPublicKey(key.publicKey);
  const label = parsed.ok ? parsed.key.label : key.type;
  const comment = parsed.ok && parsed.key.comment ? `, ${userText(parsed.key.comment, 100)}` : '';
  const what = `\`${key.fingerprint}\` (${escapeText(label)}, ${key.bits} bits${comment})`;
  if (how === 'registered') {
    return `:key: Your SSH key is registered: ${what}. Check it against \`ssh-keygen -lf ~/.ssh/id_ed25519.pub\`. \`ssh\` resources will certify this key; requests already filed keep the key they were filed with.`;
  }
  return `:key: Your registered SSH key: ${what}, since ${slackDate(key.registeredAt)}. Replace it with ${SSH_KEY_HOW_TO}.`;
}
