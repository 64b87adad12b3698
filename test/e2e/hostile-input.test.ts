/**
 * Hostile and malformed input through the real HTTP endpoint (POST /slack/events), signed
 * with the real secret unless a case says otherwise: every case gets a clear refusal (a 4xx
 * with a JSON error, or an ephemeral answer), changes nothing in MongoDB, and leaves the
 * process serving.
 */
import { randomBytes } from 'node:crypto';
import { startTestBot, TestBot, waitUntil } from './harness';
import type { DriverResponse } from './support';
import type { AccessRequest } from '../../src/domain/request';

let t: TestBot;
/** Pending requests the hostile input aims at: one per resource, by different people. */
let alices: AccessRequest; // deploy-hook: approvers U0BOB, U0CAROL
let erins: AccessRequest; // two-keys: approvers U0BOB, U0CAROL, U0DAVE and group S0SRE
let ivys: AccessRequest; // deploy-hook, active: revocable by U0IVY and U0ADMIN only

const requests = () => t.requests();
const audit = () => t.auditEvents();

async function pending(user: string, text: string): Promise<AccessRequest> {
  const res = await t.slack.command(user, text);
  expect(res.status).toBe(200);
  return waitUntil(() => requests().findOne({ requesterId: user, state: 'pending' }), 5000, `${user}'s request`);
}

beforeAll(async () => {
  t = await startTestBot();
  alices = await pending('U0ALICE', 'deploy-hook 30m target of hostile clicks');
  erins = await pending('U0ERIN', 'two-keys 1h another resource');
  const ivy = await pending('U0IVY', 'deploy-hook 1h an active grant');
  await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: ivy._id });
  ivys = await waitUntil(
    async () => {
      const r = await requests().findOne({ _id: ivy._id });
      return r?.state === 'active' ? r : undefined;
    },
    5000,
    'active grant',
  );
  // Everything those set off is delivered before the cases start.
  await waitUntil(async () => (await t.bot.db.collection('outbox').countDocuments({ due: true })) === 0, 10_000, 'the outbox to drain');
  await t.bot.notifier.idle();
});
afterAll(() => t?.stop());

// --------------------------------------------------------------------------- building requests

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'Content-Type': 'application/json' };

/** A signed interactive payload, as Slack posts it (`payload=<json>`). */
function postPayload(payload: unknown): Promise<DriverResponse> {
  return t.slack.raw(form({ payload: JSON.stringify(payload) }), FORM);
}

/** A complete block_actions payload for a click on `action_id` with `value`; `over` replaces any part. */
function click(user: unknown, action: Record<string, unknown>, over: Record<string, unknown> = {}) {
  return {
    type: 'block_actions',
    user: { id: user, username: 'x', name: 'x', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    team: { id: 'T0TEAM', domain: 'test' },
    trigger_id: t.slack.triggerId(),
    container: { type: 'message', message_ts: t.fake.nextTs(), channel_id: 'C0APPROVALS', is_ephemeral: false },
    channel: { id: 'C0APPROVALS', name: 'c0approvals' },
    message: { type: 'message', ts: t.fake.nextTs(), text: '', blocks: [] },
    response_url: t.fake.responseUrl(),
    state: { values: {} },
    actions: [{ type: 'button', block_id: 'decide', action_ts: t.fake.nextTs(), ...action }],
    ...over,
  };
}

/** A complete view_submission payload. */
function submission(user: unknown, view: Record<string, unknown>, over: Record<string, unknown> = {}) {
  return {
    type: 'view_submission',
    team: { id: 'T0TEAM', domain: 'test' },
    user: { id: user, username: 'x', name: 'x', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    trigger_id: t.slack.triggerId(),
    view: { id: 'V0HOSTILE', type: 'modal', private_metadata: '', callback_id: 'deny_modal', state: { values: {} }, ...view },
    response_urls: [],
    ...over,
  };
}

/** Slash command fields as Slack sends them; `over` replaces or (with undefined) removes fields. */
function commandFields(over: Record<string, string | undefined>): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    token: 'unused',
    team_id: 'T0TEAM',
    channel_id: 'C0GENERAL',
    user_id: 'U0ALICE',
    user_name: 'alice',
    command: '/jit-access',
    text: 'list',
    response_url: t.fake.responseUrl(),
    trigger_id: t.slack.triggerId(),
    ...over,
  };
  return Object.fromEntries(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined));
}

const denyValues = (reason: string) => ({ deny_reason: { deny_reason: { type: 'plain_text_input', value: reason } } });
const responseId = (url: string) => decodeURIComponent(url.split('/response/')[1] ?? '');

// --------------------------------------------------------------------------- checking outcomes

interface World {
  requests: number;
  audit: number;
  targets: Array<Pick<AccessRequest, '_id' | 'state' | 'approvals' | 'version'> | null>;
  grants: number;
}

async function world(): Promise<World> {
  const targets = await Promise.all(
    [alices, erins, ivys].map(async (r) => {
      const now = await requests().findOne({ _id: r._id });
      return now && { _id: now._id, state: now.state, approvals: now.approvals, version: now.version };
    }),
  );
  return { requests: await requests().countDocuments({}), audit: await audit().countDocuments({}), targets, grants: t.hook.calls().length };
}

/** Where the refusal shows up. */
type Refusal =
  | { status: 400 | 401 | 413 } // a 4xx with a JSON `error`
  | { ack: RegExp } // the ack itself: an ephemeral message (commands) or field errors (modals)
  | { respond: RegExp } // an ephemeral message through the payload's response_url
  | { dm: RegExp; to: string }; // a DM (modal submissions have no response_url)

interface Case {
  name: string;
  send: () => Promise<{ res: DriverResponse; responseUrl?: string }>;
  refusal: Refusal;
}

async function refusalText(out: { res: DriverResponse; responseUrl?: string }, refusal: Refusal, since: number): Promise<string> {
  const { res } = out;
  if ('status' in refusal) {
    expect(res.status).toBe(refusal.status);
    expect(res.json).toMatchObject({ ok: false, error: expect.any(String) });
    return String((res.json as { error: string }).error);
  }
  expect(res.status).toBe(200);
  if ('ack' in refusal) return JSON.stringify(res.json);
  if ('respond' in refusal) {
    const id = responseId(out.responseUrl!);
    const answer = await t.fake.waitForResponse((r) => r.id === id, 5000);
    expect(answer.body).toMatchObject({ response_type: 'ephemeral' });
    return String(answer.body.text);
  }
  const dm = await t.fake.waitFor('chat.postMessage', (c) => c.at >= since && c.args.channel === `D${refusal.to}`, 5000);
  return String(dm.args.text);
}

/** Sends the payload made by `make` (at run time) and remembers its response_url. */
const withUrl = (make: () => { response_url?: unknown }) => async () => {
  const payload = make();
  return { res: await postPayload(payload), responseUrl: payload.response_url as string };
};
const MB = 1024 * 1024;

// --------------------------------------------------------------------------- the table

const cases: Case[] = [
  // Bodies the HTTP layer refuses before Bolt or any listener sees them.
  { name: '1 MB body', send: async () => ({ res: await t.slack.raw(`payload=${'a'.repeat(MB)}`, FORM) }), refusal: { status: 413 } },
  {
    name: '1 MB JSON body, unsigned',
    send: async () => ({ res: await t.slack.raw(`{"x":"${'a'.repeat(MB)}"}`, JSON_TYPE, { unsigned: true }) }),
    refusal: { status: 413 },
  },
  {
    name: 'non-UTF-8 form body',
    send: async () => ({
      res: await t.slack.raw(Buffer.concat([Buffer.from('command=%2Fjit-access&text='), Buffer.from([0xff, 0xfe, 0xc3, 0x28])]), FORM),
    }),
    refusal: { status: 400 },
  },
  {
    name: 'non-UTF-8 JSON body',
    send: async () => ({ res: await t.slack.raw(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), JSON_TYPE) }),
    refusal: { status: 400 },
  },
  {
    name: 'non-UTF-8 body with a bad signature',
    send: async () => ({ res: await t.slack.raw(Buffer.from([0xff, 0xfe]), FORM, { badSignature: true }) }),
    refusal: { status: 401 },
  },
  { name: 'JSON null', send: async () => ({ res: await t.slack.raw('null', JSON_TYPE) }), refusal: { status: 400 } },
  { name: 'payload=null', send: async () => ({ res: await t.slack.raw(form({ payload: 'null' }), FORM) }), refusal: { status: 400 } },
  { name: 'JSON array', send: async () => ({ res: await t.slack.raw('[{"type":"block_actions"}]', JSON_TYPE) }), refusal: { status: 400 } },
  {
    name: 'payload that is not JSON',
    send: async () => ({ res: await t.slack.raw(form({ payload: '{"type": "block_actions",' }), FORM) }),
    refusal: { status: 400 },
  },
  { name: 'empty body', send: async () => ({ res: await t.slack.raw('', FORM) }), refusal: { status: 400 } },
  {
    name: 'payload type a number',
    send: async () => ({ res: await postPayload({ type: 42, user: { id: 'U0BOB' } }) }),
    refusal: { status: 400 },
  },
  {
    name: 'payload of a type the app does not handle',
    send: async () => ({ res: await postPayload({ type: 'shortcut', callback_id: 'x', user: { id: 'U0BOB' } }) }),
    refusal: { status: 400 },
  },

  // Payloads of the wrong shape: numbers, arrays, objects where Slack always sends strings; a missing user.
  {
    name: 'Approve without a user',
    send: async () => ({
      res: await postPayload({ ...click('U0BOB', { action_id: 'approve_request', value: alices._id }), user: undefined }),
    }),
    refusal: { status: 400 },
  },
  {
    name: 'Approve with user.id a number',
    send: async () => ({ res: await postPayload(click(12345, { action_id: 'approve_request', value: alices._id })) }),
    refusal: { status: 400 },
  },
  {
    name: 'Approve with user.id {"$ne": null}',
    send: async () => ({ res: await postPayload(click({ $ne: null }, { action_id: 'approve_request', value: alices._id })) }),
    refusal: { status: 400 },
  },
  {
    name: 'Approve with user.id {"$in": [approvers]}',
    send: async () => ({
      res: await postPayload(click({ $in: ['U0BOB', 'U0CAROL'] }, { action_id: 'approve_request', value: alices._id })),
    }),
    refusal: { status: 400 },
  },
  {
    name: 'Approve with value {"$ne": null}',
    send: async () => ({ res: await postPayload(click('U0BOB', { action_id: 'approve_request', value: { $ne: null } })) }),
    refusal: { status: 400 },
  },
  {
    name: 'Approve with value {"$gt": ""}',
    send: async () => ({ res: await postPayload(click('U0BOB', { action_id: 'approve_request', value: { $gt: '' } })) }),
    refusal: { status: 400 },
  },
  {
    name: 'Approve with value an array of IDs',
    send: async () => ({ res: await postPayload(click('U0BOB', { action_id: 'approve_request', value: [alices._id, erins._id] })) }),
    refusal: { status: 400 },
  },
  {
    name: 'Approve with value a number',
    send: async () => ({ res: await postPayload(click('U0BOB', { action_id: 'approve_request', value: 7 })) }),
    refusal: { status: 400 },
  },
  {
    name: 'Deny with value {"$where": "…"}',
    send: async () => ({ res: await postPayload(click('U0BOB', { action_id: 'deny_request', value: { $where: 'sleep(1000) || true' } })) }),
    refusal: { status: 400 },
  },
  {
    name: 'Revoke with value {"$ne": null}',
    send: async () => ({ res: await postPayload(click('U0ADMIN', { action_id: 'revoke_grant', value: { $ne: null } })) }),
    refusal: { status: 400 },
  },
  {
    name: 'click whose actions is an object',
    send: async () => ({ res: await postPayload({ ...click('U0BOB', {}), actions: { action_id: 'approve_request', value: alices._id } }) }),
    refusal: { status: 400 },
  },
  {
    name: 'click whose action_id is an object',
    send: async () => ({ res: await postPayload(click('U0BOB', { action_id: { $regex: '.*' }, value: alices._id })) }),
    refusal: { status: 400 },
  },
  {
    name: 'click with block_id an object',
    send: async () => ({
      res: await postPayload(click('U0BOB', { action_id: 'approve_request', value: alices._id, block_id: { $ne: null } })),
    }),
    refusal: { status: 400 },
  },
  {
    name: 'command repeating text (an array)',
    send: async () => ({ res: await t.slack.raw(`${form(commandFields({ text: 'deploy-hook' }))}&text=1h&text=reason`, FORM) }),
    refusal: { status: 400 },
  },
  {
    name: 'command repeating user_id (an array)',
    send: async () => ({ res: await t.slack.raw(`${form(commandFields({ text: 'list' }))}&user_id=U0BOB`, FORM) }),
    refusal: { status: 400 },
  },
  {
    name: 'command without user_id',
    send: async () => ({ res: await t.slack.raw(form(commandFields({ user_id: undefined, text: 'deploy-hook 1h nobody asked' })), FORM) }),
    refusal: { status: 400 },
  },
  {
    name: 'command without text',
    send: async () => ({ res: await t.slack.raw(form(commandFields({ text: undefined })), FORM) }),
    refusal: { status: 400 },
  },
  {
    name: 'command as JSON with user_id {"$ne": null}',
    send: async () => ({
      res: await t.slack.raw(JSON.stringify({ ...commandFields({}), user_id: { $ne: null }, text: 'list' }), JSON_TYPE),
    }),
    refusal: { status: 400 },
  },
  {
    name: 'command as JSON with text an object',
    send: async () => ({ res: await t.slack.raw(JSON.stringify({ ...commandFields({}), text: { $where: '1' } }), JSON_TYPE) }),
    refusal: { status: 400 },
  },
  {
    name: 'deny modal with private_metadata {"$gt": ""}',
    send: async () => ({
      res: await postPayload(submission('U0BOB', { private_metadata: { $gt: '' }, state: { values: denyValues('no') } })),
    }),
    refusal: { status: 400 },
  },
  {
    name: 'deny modal without a user',
    send: async () => ({
      res: await postPayload({
        ...submission('U0BOB', { private_metadata: alices._id, state: { values: denyValues('no') } }),
        user: undefined,
      }),
    }),
    refusal: { status: 400 },
  },
  {
    name: 'request modal without state',
    send: async () => ({ res: await postPayload(submission('U0ALICE', { callback_id: 'request_modal', state: undefined })) }),
    refusal: { status: 400 },
  },
  {
    name: 'request modal with state.values a string',
    send: async () => ({
      res: await postPayload(submission('U0ALICE', { callback_id: 'request_modal', state: { values: 'deploy-hook 1h x' } })),
    }),
    refusal: { status: 400 },
  },
  {
    name: 'modal submission without a view',
    send: async () => ({ res: await postPayload({ ...submission('U0ALICE', {}), view: undefined }) }),
    refusal: { status: 400 },
  },
  {
    name: 'App Home opened by user {"$ne": null}',
    send: async () => ({
      res: await t.slack.raw(
        JSON.stringify({
          type: 'event_callback',
          team_id: 'T0TEAM',
          api_app_id: 'A0APP',
          event_id: 'Ev1',
          event: { type: 'app_home_opened', user: { $ne: null }, tab: 'home' },
        }),
        JSON_TYPE,
      ),
    }),
    refusal: { status: 400 },
  },

  // Well-formed payloads with hostile values: the listeners and operations refuse them.
  {
    name: 'Approve with value "{\\"$ne\\": null}" (a string, as Slack would send it)',
    send: withUrl(() => click('U0BOB', { action_id: 'approve_request', value: '{"$ne": null}' })),
    refusal: { respond: /is not a request ID/ },
  },
  {
    name: 'Approve on a request that does not exist',
    send: withUrl(() => click('U0BOB', { action_id: 'approve_request', value: 'rzzzzzzzz' })),
    refusal: { respond: /There is no request rzzzzzzzz/ },
  },
  {
    name: 'Approve on another resource’s request by a non-approver of it',
    send: withUrl(() => click('U0DAVE', { action_id: 'approve_request', value: alices._id })),
    refusal: { respond: /Only approvers of deploy-hook/ },
  },
  {
    name: 'Approve by the requester',
    send: withUrl(() => click('U0ALICE', { action_id: 'approve_request', value: alices._id })),
    refusal: { respond: /cannot approve your own request/ },
  },
  {
    name: 'Approve whose block_id and message are forged to point at a request the clicker may approve',
    send: withUrl(() =>
      click(
        'U0DAVE',
        { action_id: 'approve_request', value: alices._id, block_id: `decide:${erins._id}` },
        { container: { type: 'message', message_ts: '1.1', channel_id: 'C0DBA' }, channel: { id: 'C0DBA' } },
      ),
    ),
    refusal: { respond: /Only approvers of deploy-hook/ },
  },
  {
    name: 'Approve on an active grant',
    send: withUrl(() => click('U0CAROL', { action_id: 'approve_request', value: ivys._id })),
    refusal: { respond: /is active, so it cannot be approved/ },
  },
  {
    name: 'Deny by a stranger',
    send: withUrl(() => click('U0MALLORY', { action_id: 'deny_request', value: erins._id })),
    refusal: { respond: /Only approvers of two-keys/ },
  },
  {
    name: 'Revoke button on someone else’s grant',
    send: withUrl(() => click('U0MALLORY', { action_id: 'revoke_grant', value: ivys._id })),
    refusal: { respond: /Only the requester or a policy admin/ },
  },
  {
    name: 'Cancel button on someone else’s request',
    send: withUrl(() => click('U0MALLORY', { action_id: 'cancel_request', value: alices._id })),
    refusal: { respond: /Only the requester can cancel/ },
  },
  {
    name: 'command: cancel someone else’s request',
    send: async () => {
      const r = await t.slack.command('U0MALLORY', `cancel ${alices._id}`);
      return { res: r, responseUrl: r.responseUrl };
    },
    refusal: { respond: /Only the requester can cancel/ },
  },
  {
    name: 'command: revoke {"$where":"sleep(1000)"}',
    send: async () => {
      const r = await t.slack.command('U0ADMIN', 'revoke {"$where":"sleep(1000)"}');
      return { res: r, responseUrl: r.responseUrl };
    },
    refusal: { respond: /is not a request ID/ },
  },
  {
    name: 'command: audit {"$gt":""}',
    send: async () => {
      const r = await t.slack.command('U0ADMIN', 'audit {"$gt":""}');
      return { res: r, responseUrl: r.responseUrl };
    },
    refusal: { respond: /is not a request ID/ },
  },
  {
    name: 'command: resource named $where',
    send: async () => ({ res: await t.slack.command('U0MALLORY', '$where 1h function(){return true}') }),
    refusal: { ack: /Unknown resource/ },
  },
  {
    name: 'command: duration 99999999d',
    send: async () => ({ res: await t.slack.command('U0MALLORY', 'deploy-hook 99999999d forever') }),
    refusal: { ack: /too long/ },
  },
  {
    name: 'command: duration 999999999999999d',
    send: async () => ({ res: await t.slack.command('U0MALLORY', 'deploy-hook 999999999999999d forever') }),
    refusal: { ack: /too long|not a duration/ },
  },
  {
    name: 'command: reason of 100 KB',
    send: async () => ({ res: await t.slack.command('U0MALLORY', `deploy-hook 1h ${'x'.repeat(100 * 1024)}`) }),
    refusal: { ack: /too long/ },
  },
  {
    name: 'request modal: duration 99999999d',
    send: async () => ({
      res: await t.slack.viewSubmission('U0MALLORY', {
        callback_id: 'request_modal',
        state: { values: t.slack.modalValues({ resource: 'deploy-hook', duration: '99999999d', reason: 'x' }) },
      }),
    }),
    refusal: { ack: /"response_action":"errors".*too long/ },
  },
  {
    name: 'request modal: reason of 100 KB',
    send: async () => ({
      res: await t.slack.viewSubmission('U0MALLORY', {
        callback_id: 'request_modal',
        state: { values: t.slack.modalValues({ resource: 'deploy-hook', duration: '1h', reason: 'y'.repeat(100 * 1024) }) },
      }),
    }),
    refusal: { ack: /"reason":"The reason is too long/ },
  },
  {
    name: 'request modal: resource {"$ne": null} as the selected option',
    send: async () => ({
      res: await postPayload(
        submission('U0MALLORY', {
          callback_id: 'request_modal',
          state: {
            values: {
              resource: { resource: { type: 'static_select', selected_option: { value: { $ne: null } } } },
              duration: { duration: { type: 'plain_text_input', value: '1h' } },
              reason: { reason: { type: 'plain_text_input', value: 'x' } },
            },
          },
        }),
      ),
    }),
    refusal: { ack: /"resource":"Unknown resource/ },
  },
  {
    name: 'deny modal: private_metadata "{\\"$gt\\": \\"\\"}" (a string)',
    send: async () => ({
      res: await postPayload(submission('U0BOB', { private_metadata: '{"$gt": ""}', state: { values: denyValues('no') } })),
    }),
    refusal: { ack: /is not a request ID/ },
  },
  {
    name: 'deny modal: private_metadata naming another resource’s request, by a non-approver of it',
    send: async () => ({
      res: await postPayload(submission('U0DAVE', { private_metadata: alices._id, state: { values: denyValues('no') } })),
    }),
    refusal: { ack: /Only approvers of deploy-hook/ },
  },
  {
    name: 'deny modal: a reason of 100 KB',
    send: async () => ({
      res: await postPayload(
        submission('U0CAROL', { private_metadata: alices._id, state: { values: denyValues('z'.repeat(100 * 1024)) } }),
      ),
    }),
    refusal: { ack: /too long/ },
  },
];

describe('hostile input through POST /slack/events', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s: refused, nothing changes, the process keeps serving', async (_name, c) => {
    const before = await world();
    const since = Date.now();
    const out = await c.send();
    const text = await refusalText(out, c.refusal, since);
    if ('ack' in c.refusal || 'respond' in c.refusal || 'dm' in c.refusal) {
      const expected = 'ack' in c.refusal ? c.refusal.ack : 'respond' in c.refusal ? c.refusal.respond : c.refusal.dm;
      expect(text).toMatch(expected);
    }
    // Anything the request set off has had time to happen.
    await new Promise((r) => setTimeout(r, 100));
    await t.bot.notifier.idle();
    expect(await world()).toEqual(before);
    expect((await t.slack.get('/healthz')).status).toBe(200);
  });

  it('none of it reached a listener as an unhandled error, and a normal request works afterwards', async () => {
    const crashes = t.logs.filter((l) => /unhandled listener error|An unhandled error occurred|not acknowledged within 3 seconds/.test(l));
    expect(crashes).toEqual([]);
    // Logged, but at most once a minute per source (all of these came from one): see hardening.test.ts.
    const refusals = t.logs.filter((l) => l.includes('refused a request to /slack/events') || l.includes('body too large'));
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.length).toBeLessThanOrEqual(3);

    const filed = await pending('U0NORA', 'deploy-hook 10m after the storm');
    await t.slack.blockAction('U0CAROL', { action_id: 'approve_request', value: filed._id });
    await t.hook.waitFor('grant', (c) => c.body?.requestId === filed._id);
    await waitUntil(async () => (await requests().findOne({ _id: filed._id }))?.state === 'active', 5000, 'active');
  });

  it('the connection a 413 was sent on is not reused with the unread rest of the body', async () => {
    for (let i = 0; i < 3; i++) {
      const big = await t.slack.raw(`payload=${'b'.repeat(2 * MB)}`, FORM);
      expect(big.status).toBe(413);
      const list = await t.slack.command('U0ALICE', 'list');
      expect(list.status).toBe(200);
    }
  });

  it('operator-looking text is stored as the literal text it is, and shown escaped', async () => {
    const reason = `{"$where": "sleep(5000)"} '; db.requests.drop(); <!channel>`;
    const filed = await pending('U0OTTO', `deploy-hook 10m ${reason}`);
    expect(filed.reason).toBe(reason);
    const posted = await t.fake.waitFor('chat.postMessage', (c) => JSON.stringify(c.args.blocks ?? '').includes(filed._id));
    expect(JSON.stringify(posted.args.blocks)).toContain('&lt;!channel&gt;');
    expect(await requests().countDocuments({ reason })).toBe(1);
    await t.slack.command('U0OTTO', `cancel ${filed._id}`);
    await waitUntil(async () => (await requests().findOne({ _id: filed._id }))?.state === 'cancelled', 5000, 'cancelled');
  });

  it('the store treats operator objects where IDs belong as matching nothing, and refuses to write them', async () => {
    const store = t.bot.ctx.store;
    const operator = { $ne: null } as unknown as string;
    expect(await store.get(operator)).toBeNull();
    expect(await store.openRequestsOf(operator)).toEqual([]);
    expect(await store.recentlyEndedOf(operator)).toEqual([]);
    const before = await world();
    await expect(store.recordApproval(alices._id, operator)).rejects.toThrow(TypeError);
    await expect(store.recordApproval(operator, 'U0BOB')).rejects.toThrow(TypeError);
    await expect(store.transition(operator, 'pending', 'denied', { actor: 'U0BOB', action: 'denied' })).rejects.toThrow(TypeError);
    await expect(
      store.create(
        { ...alices, _id: `r${randomBytes(4).toString('hex').slice(0, 8)}`, requesterId: undefined as unknown as string, openKey: 'x' },
        'system',
      ),
    ).rejects.toThrow(TypeError);
    expect(await world()).toEqual(before);
  });
});
