import { startTestBot, TestBot, waitUntil, defaultPolicy } from './harness';
import { webhookProvider } from '../../src/providers/webhook/webhook-provider';
import type { AccessRequest } from '../../src/domain/request';

/*
 * Credentials sent by DM are deleted from the DM when the grant ends (PRODUCT.md §5): chat.delete
 * through the outbox, retried, audited. The webhook target here also hands out a one-time login,
 * as postgres, mysql or redis in `mode: ephemeral` do, so the whole path runs through the real
 * app, the outbox and the fake Slack (whose chat.delete behaves as Slack documents it).
 */
const PASSWORD = 'one-time-pass-0123456789';
const create = webhookProvider.create.bind(webhookProvider);
jest.spyOn(webhookProvider, 'create').mockImplementation((settings, env) => {
  const real = create(settings, env);
  return {
    ...real,
    grant: async (access, subject, opts) => ({
      ...(await real.grant(access, subject, opts)),
      secretForRequester: {
        title: `Login for ${subject.resourceId}`,
        fields: [
          { label: 'user', value: `jit_${subject.requestId}` },
          { label: 'password', value: PASSWORD },
        ],
      },
    }),
    revoke: (access, subject, opts) => real.revoke(access, subject, opts),
    extend: real.extend ? (access, subject, opts) => real.extend!(access, subject, opts) : undefined,
  } as ReturnType<typeof create>;
});

let t: TestBot;
beforeAll(async () => {
  t = await startTestBot({
    policy: defaultPolicy(`
  - id: quick
    name: Quick demo
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 1000 }
`),
  });
});
afterAll(() => t.stop());
beforeEach(() => t.fake.heal());

const requests = () => t.requests();
async function granted(user: string, text: string): Promise<AccessRequest> {
  await t.slack.command(user, text);
  const req = await waitUntil(() => requests().findOne({ requesterId: user, state: 'pending' }), 5000, 'pending');
  await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
  return waitUntil(
    async () => {
      const r = await requests().findOne({ _id: req._id });
      return r?.state === 'active' && r.credentialMessages?.length ? r : undefined;
    },
    8000,
    'active, with its credential DM recorded',
  );
}
const credentialDm = (user: string) =>
  [...t.fake.messages.values()].find((m) => m.channel === `D${user}` && String(m.text).includes(PASSWORD));
const actions = async (id: string) => (await t.bot.ctx.store.audit.forRequest(id)).map((e) => e.action);

describe('credential DMs', () => {
  it('are deleted from the DM when the grant expires; the audit says so', async () => {
    const grant = await granted('U0CRED1', 'quick 2s needs a login');
    const dm = credentialDm('U0CRED1')!;
    expect(dm).toBeDefined();
    expect(String(dm.text)).toContain('this message is deleted then');
    expect(grant.credentialMessages).toEqual([{ channel: dm.channel, ts: dm.ts }]);
    // Only where the message is is stored, never the secret.
    expect(JSON.stringify(await requests().findOne({ _id: grant._id }))).not.toContain(PASSWORD);
    await waitUntil(async () => (await requests().findOne({ _id: grant._id }))?.state === 'expired', 8000, 'expired');
    const deleted = await t.fake.waitFor('chat.delete', (c) => c.args.ts === dm.ts && !c.failed, 5000);
    expect(deleted.args.channel).toBe(dm.channel);
    expect(credentialDm('U0CRED1')).toBeUndefined();
    expect(t.fake.deletedMessages.has(`${dm.channel}:${dm.ts}`)).toBe(true);
    await waitUntil(async () => (await actions(grant._id)).includes('credentials_deleted'), 3000, 'audited');
    const event = (await t.bot.ctx.store.audit.forRequest(grant._id)).find((e) => e.action === 'credentials_deleted')!;
    expect(event).toMatchObject({ actor: 'system', details: { channel: dm.channel, ts: dm.ts } });
    // The other DMs (granted, ended) stay.
    expect([...t.fake.messages.values()].filter((m) => m.channel === 'DU0CRED1').length).toBeGreaterThanOrEqual(2);
  });

  it('are deleted when the grant is revoked early, retried while Slack fails', async () => {
    const grant = await granted('U0CRED2', 'quick 1h needs a login');
    const dm = credentialDm('U0CRED2')!;
    t.fake.failNext('chat.delete', { status: 500, times: 2 });
    await t.slack.command('U0CRED2', `revoke ${grant._id}`);
    await t.fake.waitForCount('chat.delete', 3, (c) => c.args.ts === dm.ts, 10_000);
    await waitUntil(async () => !credentialDm('U0CRED2'), 5000, 'the DM gone');
    await waitUntil(async () => (await actions(grant._id)).includes('credentials_deleted'), 3000, 'audited');
    expect(t.fake.callsTo('chat.delete').filter((c) => c.args.ts === dm.ts && !c.failed)).toHaveLength(1);
  });

  it('a DM already gone counts as deleted (message_not_found), once', async () => {
    const grant = await granted('U0CRED3', 'quick 1h needs a login');
    const dm = credentialDm('U0CRED3')!;
    t.fake.messages.delete(`${dm.channel}:${dm.ts}`);
    await t.slack.command('U0CRED3', `revoke ${grant._id}`);
    const call = await t.fake.waitFor('chat.delete', (c) => c.args.ts === dm.ts, 8000);
    expect(call.response.error).toBe('message_not_found');
    await waitUntil(async () => (await actions(grant._id)).includes('credentials_deleted'), 3000, 'audited');
    const event = (await t.bot.ctx.store.audit.forRequest(grant._id)).find((e) => e.action === 'credentials_deleted')!;
    expect(event.details).toMatchObject({ note: 'the message was already gone' });
    await new Promise((r) => setTimeout(r, 500));
    expect(t.fake.callsTo('chat.delete').filter((c) => c.args.ts === dm.ts)).toHaveLength(1);
  });

  it('a deletion Slack refuses for good is given up after retries, and the audit says it failed', async () => {
    const grant = await granted('U0CRED4', 'quick 1h needs a login');
    const dm = credentialDm('U0CRED4')!;
    t.fake.failAlways('chat.delete', { error: 'cant_delete_message' });
    await t.slack.command('U0CRED4', `revoke ${grant._id}`);
    await waitUntil(async () => (await actions(grant._id)).includes('credentials_delete_failed'), 15_000, 'the failure audited');
    const event = (await t.bot.ctx.store.audit.forRequest(grant._id)).find((e) => e.action === 'credentials_delete_failed')!;
    expect(event.details).toMatchObject({ ts: dm.ts, error: 'cant_delete_message' });
    expect(t.fake.callsTo('chat.delete').filter((c) => c.args.ts === dm.ts).length).toBe(5);
    expect(t.logs.join('\n')).not.toContain(PASSWORD);
  });
});
