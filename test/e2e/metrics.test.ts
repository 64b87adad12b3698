import { startTestBot, TestBot, waitUntil, defaultPolicy } from './harness';
import { eventually, scrape, sampleValue } from '../metrics/scrape';

/*
 * GET /metrics after flows through the real app (signed HTTP, fake Slack, a real webhook target):
 * every count is what the flows did, labelled by the policy's resources.
 */
let t: TestBot;
beforeAll(async () => {
  t = await startTestBot({
    policy: defaultPolicy(`
  - id: quick
    name: Quick demo
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 1000 }
`),
    // Scrapes see MongoDB as it is now, not a second ago.
    bot: { metrics: { stateCacheMs: 0 } },
  });
});
afterAll(() => t.stop());

const requests = () => t.requests();

async function pending(user: string, text: string) {
  await t.slack.command(user, text);
  return waitUntil(() => requests().findOne({ requesterId: user, state: 'pending' }), 5000, `pending request of ${user}`);
}

async function inState(id: string, state: string, timeoutMs = 8000) {
  return waitUntil(
    async () => {
      const r = await requests().findOne({ _id: id });
      return r?.state === state ? r : undefined;
    },
    timeoutMs,
    `${id} ${state}`,
  );
}

describe('GET /metrics', () => {
  it('serves the Prometheus text format with the default process and Node.js metrics, before any flow', async () => {
    const { status, contentType, samples } = await scrape(t.bot.port);
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes')).toBe(true);
    // Every resource of the policy has its gauge, at 0 before anything is granted.
    for (const resource of ['deploy-hook', 'two-keys', 'self-serve', 'quick'])
      expect(samples.find((s) => s.name === 'jit_grants_active' && s.labels.resource === resource)?.value).toBe(0);
    expect(samples.find((s) => s.name === 'jit_outbox_pending')).toBeDefined();
  });

  it('counts requests by outcome, active grants, revocations, their lateness and provider calls, as the flows happened', async () => {
    // Approved, then revoked early by its requester.
    const approved = await pending('U0M1', 'deploy-hook 1h metrics approved');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: approved._id });
    await inState(approved._id, 'active');
    // Auto-approved: filed and auto_approved.
    await t.slack.command('U0M2', 'self-serve 1h metrics auto');
    const auto = await waitUntil(() => requests().findOne({ requesterId: 'U0M2', state: 'active' }), 8000, 'auto-approved grant');
    // Denied.
    const denied = await pending('U0M3', 'two-keys 1h metrics denied');
    await t.slack.viewSubmission('U0BOB', {
      callback_id: 'deny_modal',
      private_metadata: denied._id,
      state: { values: t.slack.denyReasonValues('not now') },
    });
    await inState(denied._id, 'denied');
    await eventually(t.bot.port, 'jit_requests_total', { resource: 'two-keys', outcome: 'denied' }, 1);
    // Cancelled.
    const cancelled = await pending('U0M4', 'quick 1h metrics cancelled');
    await t.slack.command('U0M4', `cancel ${cancelled._id}`);
    await inState(cancelled._id, 'cancelled');
    await eventually(t.bot.port, 'jit_requests_total', { resource: 'quick', outcome: 'cancelled' }, 1);
    // A short grant that expires and is revoked.
    const short = await pending('U0M5', 'quick 2s metrics expiry');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: short._id });
    await inState(short._id, 'active');

    let samples = (await scrape(t.bot.port)).samples;
    expect(sampleValue(samples, 'jit_grants_active', { resource: 'deploy-hook' })).toBe(1);
    expect(sampleValue(samples, 'jit_grants_active', { resource: 'self-serve' })).toBe(1);
    expect(sampleValue(samples, 'jit_grants_active', { resource: 'quick' })).toBe(1);

    await t.slack.command('U0M1', `revoke ${approved._id}`);
    await inState(approved._id, 'revoked');
    await inState(short._id, 'expired', 10_000);
    await eventually(t.bot.port, 'jit_revocations_total', { resource: 'quick', result: 'succeeded' }, 1);
    await eventually(t.bot.port, 'jit_revocations_total', { resource: 'deploy-hook', result: 'succeeded' }, 1);

    samples = (await scrape(t.bot.port)).samples;
    const requested = (resource: string, outcome: string) => sampleValue(samples, 'jit_requests_total', { resource, outcome });
    expect(requested('deploy-hook', 'filed')).toBe(1);
    expect(requested('deploy-hook', 'approved')).toBe(1);
    expect(requested('self-serve', 'filed')).toBe(1);
    expect(requested('self-serve', 'auto_approved')).toBe(1);
    expect(requested('self-serve', 'approved')).toBe(0);
    expect(requested('two-keys', 'filed')).toBe(1);
    expect(requested('two-keys', 'denied')).toBe(1);
    expect(requested('quick', 'filed')).toBe(2);
    expect(requested('quick', 'cancelled')).toBe(1);
    expect(requested('quick', 'approved')).toBe(1);
    expect(sampleValue(samples, 'jit_grants_active', { resource: 'deploy-hook' })).toBe(0);
    expect(sampleValue(samples, 'jit_grants_active', { resource: 'quick' })).toBe(0);
    expect(sampleValue(samples, 'jit_grants_active', { resource: 'self-serve' })).toBe(1);
    expect(sampleValue(samples, 'jit_revocations_total', { resource: 'deploy-hook', result: 'succeeded' })).toBe(1);
    expect(sampleValue(samples, 'jit_revocations_total', { resource: 'quick', result: 'succeeded' })).toBe(1);
    // Lateness is observed for the grant that ended at its expiry, not for the one revoked early.
    expect(sampleValue(samples, 'jit_revocation_lateness_seconds_count', { resource: 'quick' })).toBe(1);
    expect(sampleValue(samples, 'jit_revocation_lateness_seconds_count', { resource: 'deploy-hook' })).toBe(0);
    const late = sampleValue(samples, 'jit_revocation_lateness_seconds_sum', { resource: 'quick' });
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(5);
    // Three grants went through the webhook, and two revocations.
    expect(sampleValue(samples, 'jit_provider_call_duration_seconds_count', { provider: 'webhook', action: 'grant', result: 'ok' })).toBe(
      3,
    );
    expect(sampleValue(samples, 'jit_provider_call_duration_seconds_count', { provider: 'webhook', action: 'revoke', result: 'ok' })).toBe(
      2,
    );
    expect(auto.resourceId).toBe('self-serve');
  });

  it('counts failing revocations and shows the grant as revoking until the target answers', async () => {
    const grant = await pending('U0M6', 'deploy-hook 1s metrics failing');
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: grant._id });
    await inState(grant._id, 'active');
    t.hook.respondWith(503);
    await waitUntil(async () => ((await requests().findOne({ _id: grant._id }))?.attempts ?? 0) >= 2, 10_000, 'two failed revocations');
    let samples = (await scrape(t.bot.port)).samples;
    expect(sampleValue(samples, 'jit_revocations_total', { resource: 'deploy-hook', result: 'failed' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(samples, 'jit_grants_revoking', { resource: 'deploy-hook' })).toBe(1);
    expect(
      sampleValue(samples, 'jit_provider_call_duration_seconds_count', { provider: 'webhook', action: 'revoke', result: 'error' }),
    ).toBeGreaterThanOrEqual(2);
    t.hook.respondWith(200);
    await inState(grant._id, 'expired', 15_000);
    await eventually(t.bot.port, 'jit_revocation_lateness_seconds_count', { resource: 'deploy-hook' }, 1);
    samples = (await scrape(t.bot.port)).samples;
    expect(sampleValue(samples, 'jit_grants_revoking', { resource: 'deploy-hook' })).toBe(0);
    expect(sampleValue(samples, 'jit_revocation_lateness_seconds_count', { resource: 'deploy-hook' })).toBe(1);
  });

  it('counts Slack Web API errors by method and Slack’s error code', async () => {
    t.fake.failNext('chat.postMessage', { error: 'channel_not_found', times: 1 });
    await pending('U0M7', 'quick 1h metrics slack error');
    await t.fake.waitFor('chat.postMessage', (c) => c.failed);
    await waitUntil(
      async () =>
        sampleValue((await scrape(t.bot.port)).samples, 'jit_slack_api_errors_total', {
          method: 'chat.postMessage',
          error: 'channel_not_found',
        }) === 1,
      5000,
      'the Slack error counted',
    );
  });

  it('never makes a label of what a user typed: an unknown resource is refused and counted nowhere', async () => {
    await t.slack.command('U0M8', 'no-such-resource-xyz 1h hello');
    await new Promise((r) => setTimeout(r, 200));
    const { text } = await scrape(t.bot.port);
    expect(text).not.toContain('no-such-resource-xyz');
  });
});
