import * as okta from '@okta/okta-sdk-nodejs';
import { oktaTargetSchema } from '../../../src/providers/okta/config';
import type { OktaAccess } from '../../../src/providers/okta/config';
import { oktaProvider } from '../../../src/providers/okta/okta-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { bound } from '../bound';
import { liveTarget } from '../live-credentials';

/*
 * okta against a real Okta org (a free Integrator / developer org will do): resolves
 * JIT_LIVE_OKTA_LOGIN, adds that user to JIT_LIVE_OKTA_GROUP_ID and removes them again, each state
 * read back with the SDK directly. The user must not be in the group already. Never in CI; skipped otherwise.
 */
const { describe: live, env } = liveTarget('okta', [
  'JIT_LIVE_OKTA_ORG_URL',
  'JIT_LIVE_OKTA_TOKEN',
  'JIT_LIVE_OKTA_GROUP_ID',
  'JIT_LIVE_OKTA_LOGIN',
]);

live('okta provider against Okta (live)', () => {
  // Built in beforeAll: a skipped describe still runs its body, without the variables.
  let p: ReturnType<typeof bound<OktaAccess>>;
  let client: okta.Client;
  let groupId: string;
  const soon = () => ({ deadline: new Date(Date.now() + 30_000) });
  beforeAll(() => {
    const settings = oktaTargetSchema.parse({ orgUrl: env.JIT_LIVE_OKTA_ORG_URL, token: env.JIT_LIVE_OKTA_TOKEN, timeoutMs: 20_000 });
    groupId = env.JIT_LIVE_OKTA_GROUP_ID!;
    p = bound(oktaProvider.create(settings, { targetName: 'live' }), { groupId });
    client = new okta.Client({ orgUrl: settings.orgUrl, token: settings.token, authorizationMode: 'SSWS', cacheMiddleware: null });
  });

  it('check, validate (login to user ID), grant, revoke', async () => {
    expect(await p.check()).toEqual([]);
    const filed = await p.validate({ resourceId: 'live', user: { slackId: 'U0LIVE', account: env.JIT_LIVE_OKTA_LOGIN } }, soon());
    if (!filed.ok) throw new Error(filed.reason);
    const subject: GrantSubject = {
      requestId: `rlive${Date.now().toString(36)}`,
      resourceId: 'live',
      user: { slackId: 'U0LIVE', account: env.JIT_LIVE_OKTA_LOGIN, principal: filed.principal! },
      reason: 'jit-access live test',
      expiresAt: new Date(Date.now() + 600_000),
    };
    const member = async () => {
      for await (const g of await client.userApi.listUserGroups({ userId: filed.principal! })) if (g?.id === groupId) return true;
      return false;
    };
    expect(await p.holds(subject, soon())).toBe(false);
    await p.grant(subject, soon());
    try {
      expect(await member()).toBe(true);
    } finally {
      await p.revoke(subject, soon());
    }
    expect(await member()).toBe(false);
  }, 120_000);
});
