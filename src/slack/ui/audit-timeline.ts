import type { AccessRequest } from '../../domain/request';
import type { AuditEvent } from '../../store/audit-log';
import { BLOCK_KIT, fitLines } from './block-kit';
import { mention, slackDate, userText } from './escape';

export function auditTimelineText({ request, events }: { request: AccessRequest; events: AuditEvent[] }): string {
  const lines = events.map((e) => {
    const actor = e.actor === 'system' ? 'system' : mention(e.actor);
    const change = e.from && e.from !== e.to ? ` (${e.from} → ${e.to})` : '';
    const details = e.details ? ` ${userText(JSON.stringify(e.details), 300)}` : '';
    return `• ${slackDate(e.at, '{date_short} {time_secs}')} *${e.action}*${change} by ${actor}${details}`;
  });
  return fitLines(
    [`*Audit timeline of \`${request._id}\`* (${request.resourceId}, now ${request.state})`, ...lines],
    BLOCK_KIT.messageText,
    (n) => `…and ${n} later events: \`npm run audit -- --request ${request._id}\` exports all of them.`,
  );
}
