import { startTestBot, TestBot, waitUntil, defaultPolicy, commandAnswer } from './harness';
import { parsePolicy } from '../../src/policy/load';
import { eventually, scrape, sampleValue } from '../metrics/scrape';

/*
 * Policy reload through the real app (PRODUCT.md §8): what bot.reloadPolicy() does is what SIGHUP
 * does (src/main.ts; the signal itself is tested in policy-reload-signal.test.ts).
 */
const QUICK = `
  - id: quick
    name: Quick demo
    approvers: { users: [U0BOB] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 1000 }
`;
const SHARED = (timeoutMs: number) => `
targets:
  hooks: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: ${timeoutMs} }
`;
const VIA_TARGET = `
  - id: via-target
    name: Through a shared target
    approvers: { users: [U0BOB] }
    provider: { target: hooks }
`;

const ADDED = `
  - id: added-later
    name: Added by a reload
    approvers: { users: [U0ERIN] }
    provider: { type: webhook, url: "{{HOOK}}", secret: "\${HOOK_SECRET}", timeoutMs: 1000 }
`;

/** The default policy plus `extra` resources, with `targets` inserted before `resources:`. */
function policyText(extra: string, targets = SHARED(2000)): string {
  return defaultPolicy(extra).replace('resources:', `${targets.trim()}\nresources:`);
}

let t: TestBot;
/** What the bot's next reload reads (the test's stand-in for the policy file). */
let fileText: string;
const env = () => ({ HOOK_SECRET: 'e2e-webhook-secret-0123456789' });

beforeAll(async () => {
  fileText = policyText(QUICK + VIA_TARGET);
  t = await startTestBot({
    policy: fileText,
    bot: {
      loadPolicy: () => parsePolicy(fileText.replace(/\{\{HOOK\}\}/g, t.hook.url), env(), '/etc/jit-access/policy.yml'),
      metrics: { stateCacheMs: 0 },
    },
  });
});
afterAll(() => t.stop());

const requests = () => t.requests();
const inState = (id: string, state: string, timeoutMs = 8000) =>
  waitUntil(
    async () => {
      const r = await requests().findOne({ _id: id });
      return r?.state === state ? r : undefined;
    },
    timeoutMs,
    `${id} ${state}`,
  );

async function granted(user: string, text: string) {
  await t.slack.command(user, text);
  const req = await waitUntil(() => requests().findOne({ requesterId: user, state: 'pending' }), 5000, 'pending');
  await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
  return inState(req._id, 'active');
}

describe('policy reload', () => {
  it('a valid policy is swapped in for new requests and clicks: an added resource can be requested, new approvers decide', async () => {
    expect(await commandAnswer(t, 'U0R1', 'added-later 1h reload test')).toMatch(/Unknown resource "added-later"/);
    fileText = policyText(QUICK + VIA_TARGET + ADDED);
    const outcome = await t.bot.reloadPolicy();
    expect(outcome).toMatchObject({ applied: true, added: ['added-later'], removed: [] });
    await t.slack.command('U0R1', 'added-later 1h reload test');
    const req = await waitUntil(
      () => requests().findOne({ requesterId: 'U0R1', resourceId: 'added-later', state: 'pending' }),
      5000,
      'filed',
    );
    // Bob approves other resources, not this one; the approver the new policy names does.
    await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: req._id });
    expect((await requests().findOne({ _id: req._id }))?.state).toBe('pending');
    await t.slack.blockAction('U0ERIN', { action_id: 'approve_request', value: req._id });
    await inState(req._id, 'active');
    const log = t.logs.filter((l) => l.includes('"policy reloaded"'));
    expect(log).toHaveLength(1);
    expect(JSON.parse(log[0]!)).toMatchObject({
      added: ['added-later'],
      targets: { kept: expect.arrayContaining(['hooks', 'deploy-hook']) },
    });
    expect(sampleValue((await scrape(t.bot.port)).samples, 'jit_grants_active', { resource: 'added-later' })).toBe(1);
  });

  it('an invalid policy is refused, each problem logged on its own line, and the running policy kept', async () => {
    const before = t.bot.policy.current;
    const kept = fileText;
    fileText = kept
      .replace('name: Quick demo', 'name: Quick demo\n    maxDuraton: 2h')
      .replace('requiredApprovals: 2', 'requiredApprovals: 0');
    const seen = t.logs.length;
    const outcome = await t.bot.reloadPolicy();
    expect(outcome.applied).toBe(false);
    const refused = t.logs
      .slice(seen)
      .filter((l) => l.includes('policy reload refused:'))
      .map((l) => JSON.parse(l).msg as string);
    expect(refused).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^policy reload refused: \/etc\/jit-access\/policy.yml|^policy reload refused: resources\[\d\]: unknown key "maxDuraton"/,
        ),
        expect.stringMatching(/resources\[1\]\.requiredApprovals/),
      ]),
    );
    expect(refused.length).toBe((outcome as { problems: string[] }).problems.length);
    expect(t.bot.policy.current).toBe(before);
    // Not YAML at all: one line, with where.
    fileText = 'resources: [';
    const again = await t.bot.reloadPolicy();
    expect(again).toMatchObject({
      applied: false,
      problems: [expect.stringMatching(/^\/etc\/jit-access\/policy.yml \(line \d+\): not valid YAML/)],
    });
    expect(t.bot.policy.current).toBe(before);
    // Still working on the old policy.
    fileText = kept;
    await granted('U0R2', 'quick 1h still works');
    const samples = (await scrape(t.bot.port)).samples;
    expect(sampleValue(samples, 'jit_policy_reloads_total', { result: 'refused' })).toBe(2);
    expect(sampleValue(samples, 'jit_policy_reloads_total', { result: 'applied' })).toBe(1);
  });

  it('a resource removed from the policy keeps its open grants: they expire and are revoked with the provider they were granted with', async () => {
    const grant = await granted('U0R3', 'quick 3s removed later');
    fileText = policyText(VIA_TARGET + ADDED);
    const outcome = await t.bot.reloadPolicy();
    expect(outcome).toMatchObject({ applied: true, removed: expect.arrayContaining(['quick']), providers: { retained: ['quick'] } });
    expect(t.logs.some((l) => l.includes('resource quick was removed but has open requests'))).toBe(true);
    // New requests for it are refused…
    expect(await commandAnswer(t, 'U0R4', 'quick 1h gone')).toMatch(/Unknown resource "quick"/);
    // …and the grant it has still ends on time, through its old provider.
    const revoke = await t.hook.waitFor('revoke', (c) => (c.body as { requestId?: string })?.requestId === grant._id, 10_000);
    expect(revoke.signatureValid).toBe(true);
    await inState(grant._id, 'expired');
    await eventually(t.bot.port, 'jit_revocations_total', { resource: 'quick', result: 'succeeded' }, 1);
    // Its other grant (filed in the previous test) is still open: the provider stays until it ends too.
    expect(t.bot.providers.retainedResources()).toEqual(['quick']);
    const other = (await requests().findOne({ requesterId: 'U0R2', resourceId: 'quick', state: 'active' }))!;
    await t.slack.command('U0R2', `revoke ${other._id}`);
    await inState(other._id, 'revoked');
    await t.hook.waitFor('revoke', (c) => (c.body as { requestId?: string })?.requestId === other._id);
    // Once nothing of it is open, the next reload (or the minutely sweep) lets its provider go.
    const next = await t.bot.reloadPolicy();
    expect(next).toMatchObject({ applied: true, providers: { retained: [] } });
  });

  it('a target whose settings changed is re-created, the old instance closed; targets left as they were keep theirs', async () => {
    const before = t.bot.providers.forResource('via-target');
    fileText = policyText(VIA_TARGET + ADDED, SHARED(1500));
    const outcome = await t.bot.reloadPolicy();
    expect(outcome).toMatchObject({ applied: true, changed: [], providers: { created: ['hooks'], closed: ['hooks'] } });
    expect((outcome as { providers: { kept: string[] } }).providers.kept).toEqual(
      expect.arrayContaining(['deploy-hook', 'two-keys', 'self-serve']),
    );
    await t.bot.providers.closing;
    expect(t.bot.providers.forResource('via-target')).not.toBe(before);
    // The new instance grants; a call through the old binding reaches the new instance, not a closed one.
    const grant = await granted('U0R5', 'via-target 1h after the change');
    expect(grant.state).toBe('active');
    await expect(before.check()).resolves.toEqual(expect.any(Array));
  });
});
