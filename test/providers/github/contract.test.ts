import { FakeGitHub } from '../../fakes/github';
import { describeProviderContract } from '../contract';

/** The github provider against the local GitHub fake (test/fakes/github.ts): team membership, and a repository permission. */
const TOKEN = 'ghp_contract_token_0123456789';
let fake: FakeGitHub;
let setUps = 0;
let n = 0;

const lifecycle = {
  setUp: async () => {
    if (setUps++ > 0) return;
    fake = await FakeGitHub.start('acme');
    fake.addToken(TOKEN);
    fake.addTeam('oncall');
    fake.addRepo('api');
  },
  tearDown: async () => {
    if (--setUps === 0) await fake.stop();
  },
};

const common = {
  ...lifecycle,
  type: 'github',
  secretKeys: ['token', 'privateKey'],
  target: () => ({ org: 'acme', token: TOKEN, baseUrl: fake.url, timeoutMs: 3000 }),
  hangingTarget: (port: number) => ({ org: 'acme', token: TOKEN, baseUrl: `http://127.0.0.1:${port}` }),
  // Organization members: GitHub gives them the access at once (outsiders get invitations: see github-provider.test.ts).
  newAccount: async () => {
    const login = `member-${++n}`;
    fake.addOrgMember(login);
    return login;
  },
  unknownAccount: () => 'nobody-at-all',
};

describeProviderContract({
  ...common,
  variant: 'team',
  access: () => ({ team: 'oncall' }),
  hasAccess: async (subject) => fake.teamMembership('oncall', subject.user.account!)?.state === 'active',
  giveStanding: async (login) => fake.setTeamMember('oncall', login, 'member'),
  failGrants: {
    permanent: true,
    // The team gets synced with an identity provider: GitHub refuses API changes to its membership (403).
    arrange: async () => {
      fake.syncTeam('oncall');
      return async () => fake.syncTeam('oncall', false);
    },
  },
});

describeProviderContract({
  ...common,
  variant: 'repository permission',
  access: () => ({ repo: 'api', permission: 'push' }),
  hasAccess: async (subject) => ['push', 'maintain', 'admin'].includes(fake.permissionOn('api', subject.user.account!)),
  giveStanding: async (login) => fake.setCollaborator('api', login, 'maintain'),
  failGrants: {
    permanent: true,
    // The user is already a direct collaborator with a lower permission: refused, as a revoke could not restore it.
    arrange: async (login) => {
      fake.setCollaborator('api', login!, 'pull');
      return async () => fake.setCollaborator('api', login!, undefined);
    },
  },
});
