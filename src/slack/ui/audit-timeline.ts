import type { AccessRequest } from '../../domain/request';
import type { AuditEvent } from '../../store/audit-log';
import { escapeText, mention, slackDate } from './escape';

export function auditTimelineText({ request, events }: { request: AccessRequest; events: AuditEvent[] }): string {
  const lines = events.map((e) => {
    const actor = e.actor === 'system' ? 'system' : mention(e.actor);
    const change = e.from && e.from !== e.to ? ` (${e.from} → ${e.to})` : '';
    const details = e.details ? ` ${escapeText(JSON.stringify(e.details)).slice(0, 300)}` : '';
    return `• ${slackDate(e.at, '{date_short} {time_secs}')} *${e.action}*${change} by ${actor}${details}`;
  });
  return [`*Audit timeline of \`${request._id}\`* (${request.resourceId}, now ${request.state})`, ...lines].join('\n');
}
