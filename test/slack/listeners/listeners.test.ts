import pino from 'pino';
import { parsePolicy } from '../../../src/policy/load';
import { jitAccessCommand } from '../../../src/slack/listeners/commands/jit-access';
import { approveClicked, denyClicked } from '../../../src/slack/listeners/actions/decide';
import { appHomeOpened } from '../../../src/slack/listeners/events/app-home';
import { denySubmitted } from '../../../src/slack/listeners/views/submissions';
import { BUSY, WorkLimiter } from '../../../src/slack/listeners/work-limiter';
import type { ListenerDeps } from '../../../src/slack/listeners/deps';
import { HELP_TEXT } from '../../../src/slack/ui/messages';
import { APPROVE_ACTION, DENY_ACTION } from '../../../src/slack/ui/approval-message';
import { DENY_MODAL, FIELD } from '../../../src/slack/ui/modals';
import { pendingRequest } from '../../support/fixtures';
import { testDatabase } from '../../support/mongo';
import { operationContext } from '../../support/operations';
import { boltFakes, buttonClick } from '../../support/bolt-fakes';

const POLICY = `
approvalChannel: C0APPROVALS
defaults: { minDuration: 1m, maxDuration: 4h }
resources:
  - id: deploy-hook
    name: Deploy pipeline admin
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "http://127.0.0.1:9/hook", secret: "listener-test-secret-0123456789" }
`;

let close: () => Promise<void>;
let deps: ListenerDeps;

beforeAll(async () => {
  const t = await testDatabase('listeners');
  close = t.close;
  const ctx = await operationContext(t.db, parsePolicy(POLICY, {}));
  deps = { ctx, logger: pino({ level: 'silent' }) };
});
afterAll(() => close());

const command = (user: string, text: string) => ({ user_id: user, text, trigger_id: 'trigger-1', command: '/jit-access' });

describe('the /jit-access listener', () => {
  it('answers help in the ack itself, and calls nothing else', async () => {
    const f = boltFakes();
    await jitAccessCommand(deps)({ ...f, command: command('U0ALICE', 'help') } as never);
    expect(f.ack.calls).toEqual([[{ response_type: 'ephemeral', text: HELP_TEXT }]]);
    expect(f.respond.calls).toHaveLength(0);
    expect(f.client.views.open.calls).toHaveLength(0);
  });

  it('refuses an unknown flag in the ack, saying what the flags are', async () => {
    const f = boltFakes();
    await jitAccessCommand(deps)({ ...f, command: command('U0ALICE', 'deploy-hook 30m why --urgent') } as never);
    expect(f.ack.calls).toHaveLength(1);
    expect(f.ack.calls[0]?.[0]).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/Unknown flag `--urgent`/) });
  });

  it('checks a request against the policy before the ack: an unknown resource is refused inline', async () => {
    const f = boltFakes();
    await jitAccessCommand(deps)({ ...f, command: command('U0ALICE', 'no-such-thing 30m why') } as never);
    expect(f.ack.calls[0]?.[0]).toMatchObject({ response_type: 'ephemeral', text: expect.stringMatching(/no-such-thing/) });
    expect(f.respond.calls).toHaveLength(0);
  });

  it('acks `list` at once, then answers through respond (ephemeral)', async () => {
    const f = boltFakes();
    await jitAccessCommand(deps)({ ...f, command: command('U0NOBODY', 'list') } as never);
    expect(f.ack.calls).toEqual([[]]);
    expect(f.respond.calls).toHaveLength(1);
    expect(f.respond.calls[0]?.[0]).toMatchObject({ response_type: 'ephemeral', text: expect.any(String) });
  });

  it('opens the request form for an empty command', async () => {
    const f = boltFakes();
    await jitAccessCommand(deps)({ ...f, command: command('U0ALICE', '') } as never);
    expect(f.ack.calls).toEqual([[]]);
    expect(f.client.views.open.calls[0]?.[0]).toMatchObject({ trigger_id: 'trigger-1', view: { type: 'modal' } });
  });

  it("cancels the caller's own pending request after the ack, and says so", async () => {
    const request = await deps.ctx.store.create(pendingRequest({ requesterId: 'U0DORA', resourceId: 'deploy-hook' }), 'U0DORA');
    const f = boltFakes();
    await jitAccessCommand(deps)({ ...f, command: command('U0DORA', `cancel ${request._id}`) } as never);
    expect(f.ack.calls).toEqual([[]]);
    expect(f.respond.calls).toEqual([[{ response_type: 'ephemeral', text: `Request \`${request._id}\` is cancelled.` }]]);
    expect((await deps.ctx.store.get(request._id))?.state).toBe('cancelled');
  });

  it('tells the person to try again when the bot is saturated', async () => {
    const f = boltFakes();
    const limiter = new WorkLimiter(0);
    await jitAccessCommand({ ...deps, limiter })({ ...f, command: command('U0ALICE', 'list') } as never);
    expect(f.ack.calls).toEqual([[]]);
    expect(f.respond.calls[0]?.[0]).toMatchObject({ text: BUSY });
  });
});

describe('the Approve and Deny buttons', () => {
  it('Approve acks first; a refused approval is answered privately in the channel', async () => {
    const f = boltFakes();
    const { body, action } = buttonClick('U0BOB', APPROVE_ACTION, 'rzzzzzzzz');
    await approveClicked(deps)({ ...f, body, action } as never);
    expect(f.ack.calls).toEqual([[]]);
    expect(f.respond.calls[0]?.[0]).toEqual({
      response_type: 'ephemeral',
      replace_original: false,
      text: expect.stringMatching(/no request rzzzzzzzz/),
    });
  });

  it('Approve by the requester is refused, and nothing is recorded', async () => {
    const request = await deps.ctx.store.create(pendingRequest({ requesterId: 'U0ALICE', resourceId: 'deploy-hook' }), 'U0ALICE');
    const f = boltFakes();
    const { body, action } = buttonClick('U0ALICE', APPROVE_ACTION, request._id);
    await approveClicked(deps)({ ...f, body, action } as never);
    expect(f.respond.calls[0]?.[0]).toMatchObject({ text: expect.stringMatching(/cannot approve your own request/) });
    expect((await deps.ctx.store.get(request._id))?.approvals).toEqual([]);
  });

  it('a click on the App Home (no response_url) is answered by DM', async () => {
    const f = boltFakes();
    const { body, action } = buttonClick('U0BOB', DENY_ACTION, 'rzzzzzzzz', false);
    await denyClicked(deps)({ ...f, body, action } as never);
    expect(f.respond.calls).toHaveLength(0);
    expect(f.client.conversations.open.calls[0]?.[0]).toEqual({ users: 'U0BOB' });
    expect(f.client.chat.postMessage.calls[0]?.[0]).toMatchObject({
      channel: 'D0FAKE',
      text: expect.stringMatching(/no request rzzzzzzzz/),
    });
  });

  it('Deny by an approver opens the form that asks why', async () => {
    const request = await deps.ctx.store.create(pendingRequest({ requesterId: 'U0CAROL', resourceId: 'deploy-hook' }), 'U0CAROL');
    const f = boltFakes();
    const { body, action } = buttonClick('U0BOB', DENY_ACTION, request._id);
    await denyClicked(deps)({ ...f, body, action } as never);
    expect(f.client.views.open.calls[0]?.[0]).toMatchObject({
      trigger_id: 'trigger-1',
      view: { callback_id: DENY_MODAL, private_metadata: request._id },
    });
  });
});

describe('the deny form', () => {
  it('keeps the form open with an error on the reason field when no reason is given', async () => {
    const f = boltFakes();
    const view = {
      callback_id: DENY_MODAL,
      private_metadata: 'rzzzzzzzz',
      state: { values: { [FIELD.denyReason]: { [FIELD.denyReason]: { value: '  ' } } } },
    };
    await denySubmitted(deps)({ ...f, body: { user: { id: 'U0BOB' } }, view } as never);
    expect(f.ack.calls).toEqual([[{ response_action: 'errors', errors: { [FIELD.denyReason]: 'Say why; the requester will see it.' } }]]);
  });
});

describe('the App Home listener', () => {
  it('republishes the Home tab when it is opened, and ignores the Messages tab', async () => {
    const refreshed: string[] = [];
    const listener = appHomeOpened({ ...deps, refreshHome: async (user) => void refreshed.push(user) });
    await listener({ event: { type: 'app_home_opened', user: 'U0ALICE', tab: 'messages' } } as never);
    await listener({ event: { type: 'app_home_opened', user: 'U0ALICE', tab: 'home' } } as never);
    expect(refreshed).toEqual(['U0ALICE']);
  });
});
