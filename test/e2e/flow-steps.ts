import type { AccessRequest } from '../../src/domain/request';
import type { SlackCall } from './support';
import type { TestBot } from './harness';
import { waitUntil } from './harness';

/** The top of the e2e policies: approvals in C0APPROVALS, durations from 1 s, accounts derivable from example.com. */
export const POLICY_HEAD = `approvalChannel: C0APPROVALS
admins: [U0ADMIN]
defaults: { minDuration: 1s, maxDuration: 4h }
emailDomains: [example.com]`;

/**
 * The steps a provider's end-to-end flow takes through the real app (PRODUCT.md §2, §5): file a
 * request with the slash command, approve it with a signed click, revoke it with the command, or be
 * refused at filing (nothing stored, nobody asked). `approver` clicks Approve in `channel`.
 */
export function flowSteps(t: TestBot, approver = 'U0BOB', channel = 'C0APPROVALS') {
  const requests = () => t.requests();
  const stateOf = async (id: string) => (await requests().findOne({ _id: id }))?.state;
  const waitForState = (id: string, state: AccessRequest['state'], timeoutMs = 10_000) =>
    waitUntil(
      async () => ((await stateOf(id)) === state ? ((await requests().findOne({ _id: id })) as AccessRequest) : undefined),
      timeoutMs,
      `request ${id} to be ${state}`,
    );

  /** Files a request; returns it once pending, with its approval message (and its blocks as text). */
  async function file(user: string, resource: string, reason: string, duration = '30m') {
    const res = await t.slack.command(user, `${resource} ${duration} ${reason}`);
    expect(res.status).toBe(200);
    const req = await waitUntil(() => requests().findOne({ requesterId: user, resourceId: resource, reason }), 5000, `${user}'s request`);
    expect(req.state).toBe('pending');
    const message: SlackCall = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === channel && JSON.stringify(c.args.blocks ?? '').includes(req._id),
    );
    return { req, message, blocks: JSON.stringify(message.args.blocks) };
  }

  /** Clicks Approve and waits until the request left pending/granting; returns it. */
  async function approve(id: string): Promise<AccessRequest> {
    const click = await t.slack.blockAction(approver, { action_id: 'approve_request', value: id }, { channel });
    expect(click.status).toBe(200);
    return waitUntil(
      async () => {
        const r = await requests().findOne({ _id: id });
        return r && r.state !== 'pending' && r.state !== 'granting' ? r : undefined;
      },
      15_000,
      `request ${id} to finish granting`,
    );
  }

  async function fileAndApprove(user: string, resource: string, reason: string, duration = '30m'): Promise<AccessRequest> {
    const { req } = await file(user, resource, reason, duration);
    return approve(req._id);
  }

  async function revokeAsRequester(user: string, id: string): Promise<AccessRequest> {
    const res = await t.slack.command(user, `revoke ${id}`);
    expect(String((await t.fake.waitForResponse((r) => r.id === res.responseId)).body.text)).toMatch(/is revoked/);
    return waitForState(id, 'revoked');
  }

  /** A request refused when filed: the ephemeral answer; nothing stored, nobody asked. */
  async function refusal(user: string, resource: string, reason: string): Promise<string> {
    const res = await t.slack.command(user, `${resource} 30m ${reason}`);
    expect(res.status).toBe(200);
    const answer = await t.fake.waitForResponse((r) => r.id === res.responseId, 10_000);
    expect(answer.body.response_type).toBe('ephemeral');
    expect(await requests().countDocuments({ requesterId: user, reason })).toBe(0);
    expect(t.fake.calls.filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes(reason))).toEqual([]);
    return String(answer.body.text);
  }

  /** The request's audit events once `action` is among them. */
  const auditOnce = (id: string, action: string) =>
    waitUntil(
      async () => {
        const events = await t.bot.ctx.store.audit.forRequest(id);
        return events.some((e) => e.action === action) ? events : undefined;
      },
      5000,
      `audit event ${action} of ${id}`,
    );

  /** The requester's DM whose text contains (or matches) `text`. */
  const dm = (user: string, text: string | RegExp) =>
    t.fake.waitFor(
      'chat.postMessage',
      (c) =>
        c.args.channel === `D${user}` && (typeof text === 'string' ? String(c.args.text).includes(text) : text.test(String(c.args.text))),
      10_000,
    );

  /**
   * The start-up check's warnings (`provider check: …` log lines) of every resource but `last`, once
   * `last` (a resource the test breaks on purpose, checked after the others) has warned.
   */
  async function checkWarnings(last: string): Promise<Array<{ resource?: string; msg?: string }>> {
    const warnings = () =>
      t.logs
        .map((line) => JSON.parse(line) as { resource?: string; msg?: string })
        .filter((l) => l.resource !== undefined && /provider check/.test(l.msg ?? ''));
    await waitUntil(async () => warnings().some((l) => l.resource === last), 10_000, `the start-up check of ${last}`);
    return warnings().filter((l) => l.resource !== last);
  }

  /** The start-up check warned about `broken` (with `warning`) and nothing else, and `secret` is in no log line. */
  async function expectStartUpCheck(broken: string, warning: string, secret: string): Promise<void> {
    expect(await checkWarnings(broken)).toEqual([]);
    expect(t.logs.join('\n')).toContain(warning);
    expect(t.logs.join('\n')).not.toContain(secret);
  }

  return { requests, stateOf, waitForState, file, approve, fileAndApprove, revokeAsRequester, refusal, auditOnce, dm, expectStartUpCheck };
}
