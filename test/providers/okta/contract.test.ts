import { FakeOkta, isolateOktaConfig } from '../../fakes/okta';
import { describeProviderContract } from '../contract';

/** The okta provider against the local Okta fake (test/fakes/okta.ts), without ~/.okta or OKTA_* in sight. */
const TOKEN = 'ssws-contract-token-0123';
let fake: FakeOkta;
let isolation: ReturnType<typeof isolateOktaConfig>;
let group: string;
const ids = new Map<string, string>();
let n = 0;

describeProviderContract({
  type: 'okta',
  secretKeys: ['token'],
  setUp: async () => {
    isolation = isolateOktaConfig();
    fake = await FakeOkta.start();
    fake.addToken(TOKEN);
    group = fake.addGroup('prod-admins');
  },
  tearDown: async () => {
    await fake.stop();
    isolation.restore();
  },
  target: () => ({ orgUrl: fake.url, token: TOKEN, timeoutMs: 3000 }),
  access: () => ({ groupId: group }),
  hangingTarget: (port) => ({ orgUrl: `http://127.0.0.1:${port}`, token: TOKEN }),
  newAccount: async () => {
    const login = `contract${++n}@example.com`;
    ids.set(login, fake.addUser(login));
    return login;
  },
  unknownAccount: () => 'nobody@example.com',
  hasAccess: async (subject) => fake.isMember(group, ids.get(subject.user.account!)!),
  giveStanding: async (login) => fake.addMember(group, ids.get(login)!),
  failGrants: {
    permanent: true,
    // The group turns out to be an app-imported one: Okta refuses membership changes (400 E0000001).
    arrange: async () => {
      fake.setGroupType(group, 'APP_GROUP');
      return async () => fake.setGroupType(group, 'OKTA_GROUP');
    },
  },
});
