import type { AccessRequest } from '../../src/domain/request';
import type { TestBot } from './harness';
import { waitUntil } from './harness';

/**
 * The steps of a request through the real app, as a provider's e2e test takes them: file with the
 * slash command, approve with a signed click, revoke with the command, and the refusals that store
 * nothing. `approver` approves everything; approval messages go to `channel`.
 */
export function flowSteps(t: TestBot, approver = 'U0BOB', channel = 'C0APPROVALS') {
  const requests = () => t.bot.ctx.store.requests;
  const stateOf = async (id: string) => (await requests().findOne({ _id: id }))?.state;
  const waitForState = (id: string, state: AccessRequest['state'], timeoutMs = 10_000) =>
    waitUntil(async () => ((await stateOf(id)) === state ? ((await requests().findOne({ _id: id })) as AccessRequest) : undefined), timeoutMs, `request ${id} to be ${state}`);

  /** Files a request; returns it once pending, with its approval message's blocks as text. */
  async function file(user: string, resource: string, reason: string, duration = '30m') {
    const res = await t.slack.command(user, `${resource} ${duration} ${reason}`);
    expect(res.status).toBe(200);
    const req = await waitUntil(() => requests().findOne({ requesterId: user, resourceId: resource, reason }), 5000, `${user}'s request`);
    expect(req.state).toBe('pending');
    const message = await t.fake.waitFor('chat.postMessage', (c) => c.args.channel === channel && JSON.stringify(c.args.blocks ?? '').includes(req._id));
    return { req, blocks: JSON.stringify(message.args.blocks) };
  }

  /** Clicks Approve and waits until the request left pending/granting; returns it. */
  async function approve(id: string): Promise<AccessRequest> {
    const click = await t.slack.blockAction(approver, { action_id: 'approve_request', value: id }, { channel });
    expect(click.status).toBe(200);
    return waitUntil(async () => {
      const r = await requests().findOne({ _id: id });
      return r && r.state !== 'pending' && r.state !== 'granting' ? r : undefined;
    }, 15_000, `request ${id} to finish granting`);
  }

  async function fileAndApprove(user: string, resource: string, reason: string, duration = '30m'): Promise<AccessRequest> {
    const { req } = await file(user, resource, reason, duration);
    return approve(req._id);
  }

  /** The requester's ephemeral refusal; nothing stored, nobody notified. */
  async function refusal(user: string, resource: string, reason: string): Promise<string> {
    const res = await t.slack.command(user, `${resource} 30m ${reason}`);
    expect(res.status).toBe(200);
    const answer = await t.fake.waitForResponse((r) => r.id === res.responseId, 10_000);
    expect(answer.body.response_type).toBe('ephemeral');
    expect(await requests().countDocuments({ requesterId: user, reason })).toBe(0);
    expect(t.fake.calls.filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes(reason))).toEqual([]);
    return String(answer.body.text);
  }

  async function revokeAsRequester(user: string, id: string): Promise<AccessRequest> {
    const res = await t.slack.command(user, `revoke ${id}`);
    expect(String((await t.fake.waitForResponse((r) => r.id === res.responseId)).body.text)).toMatch(/is revoked/);
    return waitForState(id, 'revoked');
  }

  /** The request's audit events once `action` is among them. */
  const auditOnce = (id: string, action: string) =>
    waitUntil(async () => {
      const events = await t.bot.ctx.store.audit.forRequest(id);
      return events.some((e) => e.action === action) ? events : undefined;
    }, 5000, `audit event ${action} of ${id}`);

  /** A DM to `user` whose text matches. */
  const dm = (user: string, text: RegExp) => t.fake.waitFor('chat.postMessage', (c) => c.args.channel === `D${user}` && text.test(String(c.args.text)), 10_000);

  return { requests, stateOf, waitForState, file, approve, fileAndApprove, refusal, revokeAsRequester, auditOnce, dm };
}
