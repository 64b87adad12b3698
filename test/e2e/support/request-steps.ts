import type { AccessRequest } from '../../../src/domain/request';
import { waitUntil } from '../harness';
import type { TestBot } from '../harness';

/**
 * The steps a provider's end-to-end test takes through the real app, as a person in Slack would:
 * file with `/jit-access`, approve with a click, revoke with `/jit-access revoke`, and read what
 * came back (the ephemeral answer, the credentials DM). Every step waits for its effect in MongoDB
 * or at the fake Slack API, so a test reads as the story it tells.
 */
export class RequestSteps {
  constructor(
    private readonly t: () => TestBot,
    private readonly approver = 'U0BOB',
    private readonly channel = 'C0APPROVALS',
  ) {}

  private get requests() {
    return this.t().requests();
  }

  async stateOf(id: string): Promise<string | undefined> {
    return (await this.requests.findOne({ _id: id }))?.state;
  }

  async get(id: string): Promise<AccessRequest> {
    const found = await this.requests.findOne({ _id: id });
    if (!found) throw new Error(`no request ${id}`);
    return found;
  }

  waitForState(id: string, state: string, timeoutMs = 10_000): Promise<true> {
    return waitUntil(async () => ((await this.stateOf(id)) === state ? true : undefined), timeoutMs, `request ${id} to be ${state}`);
  }

  /** Files a request and returns it once it is pending, with its approval message. */
  async file(user: string, resource: string, reason: string, duration = '30m') {
    const t = this.t();
    const res = await t.slack.command(user, `${resource} ${duration} ${reason}`);
    expect(res.status).toBe(200);
    const req = await waitUntil(
      () => this.requests.findOne({ requesterId: user, resourceId: resource, reason }),
      5000,
      `${user}'s request`,
    );
    expect(req.state).toBe('pending');
    const message = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === this.channel && JSON.stringify(c.args.blocks ?? '').includes(req._id),
    );
    return { req, message };
  }

  /** The approver clicks Approve; returns once the request left `pending`/`granting`. */
  async approve(id: string): Promise<void> {
    const click = await this.t().slack.blockAction(this.approver, { action_id: 'approve_request', value: id }, { channel: this.channel });
    expect(click.status).toBe(200);
    await waitUntil(
      async () => {
        const s = await this.stateOf(id);
        return s !== 'pending' && s !== 'granting' ? true : undefined;
      },
      10_000,
      `request ${id} to finish granting`,
    );
  }

  async fileAndApprove(user: string, resource: string, reason: string, duration = '30m'): Promise<AccessRequest> {
    const { req } = await this.file(user, resource, reason, duration);
    await this.approve(req._id);
    return this.get(req._id);
  }

  /** A request refused when it is filed: the requester's ephemeral answer; nothing stored, nobody notified. */
  async refusal(user: string, resource: string, reason: string): Promise<string> {
    const t = this.t();
    const res = await t.slack.command(user, `${resource} 30m ${reason}`);
    expect(res.status).toBe(200);
    const answer = await t.fake.waitForResponse((r) => r.id === res.responseId, 10_000);
    expect(answer.body.response_type).toBe('ephemeral');
    expect(await this.requests.countDocuments({ requesterId: user, reason })).toBe(0);
    expect(t.fake.calls.filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes(reason))).toEqual([]);
    return String(answer.body.text);
  }

  async revokeAsRequester(user: string, id: string): Promise<void> {
    const t = this.t();
    const res = await t.slack.command(user, `revoke ${id}`);
    expect(String((await t.fake.waitForResponse((r) => r.id === res.responseId)).body.text)).toMatch(/is revoked/);
    await this.waitForState(id, 'revoked');
  }

  /** The credentials DM the requester got with `title` (and `containing`, e.g. the user name of one grant), as `Label → value`. */
  async credentials(user: string, title: string, containing = ''): Promise<Record<string, string>> {
    const dm = await this.t().fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === `D${user}` && String(c.args.text).includes(title) && String(c.args.text).includes(containing),
    );
    const fields: Record<string, string> = {};
    // `• Label: \`value\`` lines (src/slack/ui/messages.ts secretText).
    for (const match of String(dm.args.text).matchAll(/• ([^:\n]+): `([^`]*)`/g)) fields[match[1]!] = match[2]!;
    return fields;
  }

  /**
   * The start-up provider checks' warnings, once the check of `lastResource` (the policy's last
   * resource, one that is meant to warn) has reported: resources are checked in order, so the others
   * are done by then. Returns the warnings of every other resource.
   */
  async startupWarningsBefore(lastResource: string): Promise<Array<{ resource?: string; msg?: string }>> {
    const warnings = () =>
      this.t()
        .logs.map((line) => JSON.parse(line) as { resource?: string; msg?: string })
        .filter((l) => l.resource !== undefined && /provider check/.test(l.msg ?? ''));
    await waitUntil(async () => warnings().some((l) => l.resource === lastResource), 10_000, `the ${lastResource} check`);
    return warnings().filter((l) => l.resource !== lastResource);
  }

  /** A credential reaches the requester's DM and nothing else: not MongoDB, the audit log, the logs, or a channel. */
  async expectOnlyInDm(id: string, user: string, credential: string): Promise<void> {
    const t = this.t();
    const stored = JSON.stringify([await this.get(id), await t.bot.ctx.store.audit.forRequest(id)]);
    expect(stored).not.toContain(credential);
    expect(t.logs.join('\n')).not.toContain(credential);
    expect(t.fake.calls.filter((c) => JSON.stringify(c.args).includes(credential)).map((c) => c.args.channel)).toEqual([`D${user}`]);
  }
}
