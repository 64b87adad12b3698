import { startTestBot, TestBot, waitUntil } from './harness';
import { BUSY } from '../../src/slack/listeners/work-limiter';

/** Work after acks is bounded: past the bound people are told to retry and nothing piles up. */
let t: TestBot;
beforeAll(async () => {
  t = await startTestBot({ bot: { maxInFlight: 2 } });
});
afterAll(() => t.stop());

describe('after-ack work is bounded', () => {
  it('beyond maxInFlight, clicks are acknowledged, answered "busy", and change nothing; they work once there is room', async () => {
    const users = ['U0BP1', 'U0BP2', 'U0BP3', 'U0BP4', 'U0BP5'];
    const ids: string[] = [];
    for (const user of users) {
      const filed = await t.slack.command(user, 'deploy-hook 10m backpressure');
      const answer = await t.fake.waitForResponse((r) => r.id === filed.responseId);
      ids.push(/`(r[a-z0-9]{8})`/.exec(String(answer.body.text))?.[1] ?? 'no request ID in the answer');
    }
    // The target hangs, so the first grants hold their slots.
    t.hook.hang(1500);
    const clicks = await Promise.all(ids.map((id) => t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: id })));
    expect(clicks.map((c) => c.status)).toEqual([200, 200, 200, 200, 200]);
    const answers = await Promise.all(
      clicks.map((c) =>
        t.fake
          .waitForResponse((r) => r.id === c.responseId, 1000)
          .then((r) => String(r.body.text))
          .catch(() => undefined),
      ),
    );
    const busy = answers.filter((a) => a === BUSY).length;
    expect(busy).toBe(3);
    const approved = await t.requests().countDocuments({ _id: { $in: ids }, approvals: 'U0BOB' });
    expect(approved).toBe(2);
    t.hook.hang(0);
    await waitUntil(async () => (await t.requests().countDocuments({ _id: { $in: ids }, state: 'active' })) === 2, 10_000, 'two grants');
    // Once there is room, the refused ones go through.
    const refused = ids.filter((_, i) => answers[i] === BUSY);
    // A grant's slot is freed only after its notices are queued, which may come just after it turns
    // active: a click that is told "busy" again is clicked again, as a person would.
    for (const id of refused) {
      await waitUntil(
        async () => {
          const click = await t.slack.blockAction('U0BOB', { action_id: 'approve_request', value: id });
          const answer = await t.fake
            .waitForResponse((r) => r.id === click.responseId, 1000)
            .then((r) => String(r.body.text))
            .catch(() => undefined);
          return answer === BUSY ? undefined : true;
        },
        5000,
        `${id} accepted`,
      );
      await waitUntil(async () => (await t.bot.ctx.store.get(id))?.state === 'active', 5000, `${id} granted`);
    }
  });
});
