import { startTestBot, TestBot, waitUntil } from './harness';

/*
 * Who gets the access, through the real app and a real webhook receiver: identities by target name,
 * provider type and default; accounts derived only from e-mails in emailDomains; the account shown
 * to approvers, fixed at filing and sent unchanged with every call.
 */

const policy = `
approvalChannel: C0APPROVALS
defaults: { minDuration: 1s }
emailDomains: [example.com]
identities:
  U0BOB: { default: bob, webhook: bob-hook, audit-hook: bob-audit }
targets:
  hooks:
    type: webhook
    url: "{{HOOK}}"
    secret: "\${HOOK_SECRET}"
    timeoutMs: 2000
resources:
  - id: deploy
    name: Deploy
    approvers: { users: [U0ALICE] }
    provider: { target: hooks }
  - id: audit-hook
    name: Audit
    approvers: { users: [U0ALICE] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 2000 }
`;

describe('who gets the access (webhook targets)', () => {
  let t: TestBot;
  beforeAll(async () => {
    t = await startTestBot({ policy });
    t.fake.users.set('U0CAROL', { email: 'Carol@Example.com', name: 'carol' });
    t.fake.users.set('U0EVE', { email: 'carol@evil.example', name: 'eve' });
  });
  afterAll(() => t.stop());

  const requests = () => t.requests();

  async function fileAndApprove(user: string, resource: string, reason: string, beforeApproval?: () => void) {
    await t.slack.command(user, `${resource} 10m ${reason}`);
    const req = await waitUntil(() => requests().findOne({ requesterId: user, resourceId: resource, reason }), 5000, `${user}'s request`);
    const message = await t.fake.waitFor(
      'chat.postMessage',
      (c) => c.args.channel === 'C0APPROVALS' && JSON.stringify(c.args.blocks ?? '').includes(req._id),
    );
    beforeApproval?.();
    await t.slack.blockAction('U0ALICE', { action_id: 'approve_request', value: req._id });
    const grant = await t.hook.waitFor('grant', (c) => c.body?.requestId === req._id);
    return { req, message, grant };
  }

  it('resolves identities by target name, then provider type, then default', async () => {
    const viaType = await fileAndApprove('U0BOB', 'deploy', 'by type');
    expect(viaType.req).toMatchObject({ target: 'hooks', account: 'bob-hook', accountSource: 'identities' });
    expect(viaType.grant.body?.user).toEqual({ slackId: 'U0BOB', email: 'bob@example.com', account: 'bob-hook' });
    expect(JSON.stringify(viaType.message.args.blocks)).toContain('`bob-hook` in `hooks`');

    const viaName = await fileAndApprove('U0BOB', 'audit-hook', 'by target name');
    expect(viaName.grant.body?.user).toMatchObject({ account: 'bob-audit' });
    expect(JSON.stringify(viaName.message.args.blocks)).toContain('`bob-audit` in `audit-hook`');
  });

  it('derives an account from an e-mail in emailDomains, fixed at filing: a later e-mail change does not move it', async () => {
    const { req, grant } = await fileAndApprove('U0CAROL', 'deploy', 'derived', () => {
      // After filing and before approval: her profile now says something else.
      t.fake.users.set('U0CAROL', { email: 'someone.else@example.com', name: 'carol' });
    });
    expect(req).toMatchObject({ account: 'carol', accountSource: 'email', email: 'Carol@Example.com' });
    expect(grant.body?.user).toEqual({ slackId: 'U0CAROL', email: 'Carol@Example.com', account: 'carol' });
    await t.slack.command('U0CAROL', `revoke ${req._id}`);
    const revoke = await t.hook.waitFor('revoke', (c) => c.body?.requestId === req._id);
    expect(revoke.body?.user).toEqual(grant.body?.user);
  });

  it('an e-mail outside emailDomains yields no account: the webhook, which needs none, gets the Slack ID and e-mail only', async () => {
    const { req, message, grant } = await fileAndApprove('U0EVE', 'deploy', 'outsider');
    expect(req.account).toBeUndefined();
    expect(grant.body?.user).toEqual({ slackId: 'U0EVE', email: 'carol@evil.example', account: null });
    expect(JSON.stringify(message.args.blocks)).not.toContain('*Account*');
  });
});

describe('a policy with neither identities nor emailDomains', () => {
  it('starts, with one warning that no account can be derived', async () => {
    const t = await startTestBot({
      policy: `
approvalChannel: C0APPROVALS
resources:
  - id: deploy
    name: Deploy
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}" }
`,
    });
    try {
      const warnings = t.logs.filter((line) => line.includes('no account can be derived'));
      expect(warnings).toHaveLength(1);
      expect(JSON.parse(warnings[0]!)).toMatchObject({
        level: 'warn',
        msg: expect.stringContaining('neither identities nor emailDomains'),
      });
    } finally {
      await t.stop();
    }
  });
});
