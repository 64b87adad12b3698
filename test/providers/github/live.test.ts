import { Octokit } from '@octokit/rest';
import { githubTargetSchema } from '../../../src/providers/github/config';
import type { GithubAccess, GithubTargetConfig } from '../../../src/providers/github/config';
import { githubProvider } from '../../../src/providers/github/github-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { bound } from '../bound';
import { liveTarget } from '../live-credentials';

/*
 * github against the real API (github.com, or GitHub Enterprise with JIT_LIVE_GITHUB_BASE_URL):
 * adds JIT_LIVE_GITHUB_LOGIN to JIT_LIVE_GITHUB_TEAM of JIT_LIVE_GITHUB_ORG and removes them again,
 * and, with JIT_LIVE_GITHUB_REPO (and JIT_LIVE_GITHUB_PERMISSION, default pull), does the same
 * with a repository permission; each state read back with Octokit directly. Use a sandbox org and a
 * test account that is not in the team. Never in CI; skipped otherwise.
 */
const { describe: live, env } = liveTarget(
  'github',
  ['JIT_LIVE_GITHUB_TOKEN', 'JIT_LIVE_GITHUB_ORG', 'JIT_LIVE_GITHUB_TEAM', 'JIT_LIVE_GITHUB_LOGIN'],
  ['JIT_LIVE_GITHUB_BASE_URL', 'JIT_LIVE_GITHUB_REPO', 'JIT_LIVE_GITHUB_PERMISSION'],
);

live('github provider against GitHub (live)', () => {
  // Built in beforeAll: a skipped describe still runs its body, without the variables.
  const org = env.JIT_LIVE_GITHUB_ORG!;
  const login = env.JIT_LIVE_GITHUB_LOGIN!;
  let settings: GithubTargetConfig;
  let octokit: Octokit;
  let team: ReturnType<typeof bound<GithubAccess>>;
  const soon = () => ({ deadline: new Date(Date.now() + 30_000) });
  const subject: GrantSubject = {
    requestId: `rlive${Date.now().toString(36)}`,
    resourceId: 'live',
    user: { slackId: 'U0LIVE', account: login },
    reason: 'jit-access live test',
    expiresAt: new Date(Date.now() + 600_000),
  };
  beforeAll(() => {
    settings = githubTargetSchema.parse({
      org,
      token: env.JIT_LIVE_GITHUB_TOKEN,
      ...(env.JIT_LIVE_GITHUB_BASE_URL ? { baseUrl: env.JIT_LIVE_GITHUB_BASE_URL } : {}),
      timeoutMs: 20_000,
    });
    octokit = new Octokit({
      auth: env.JIT_LIVE_GITHUB_TOKEN,
      baseUrl: settings.baseUrl,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    });
    team = bound(githubProvider.create(settings, { targetName: 'live' }), { team: env.JIT_LIVE_GITHUB_TEAM! });
  });
  const membership = () =>
    octokit.rest.teams.getMembershipForUserInOrg({ org, team_slug: env.JIT_LIVE_GITHUB_TEAM!, username: login }).then(
      (r) => r.data.state,
      (e: { status?: number }) => (e.status === 404 ? undefined : Promise.reject(e)),
    );

  it('team: check, validate, grant (active or pending), revoke', async () => {
    expect(await team.check()).toEqual([]);
    expect(await team.validate(subject, soon())).toEqual({ ok: true });
    expect(await team.holds(subject, soon())).toBe(false);
    const granted = await team.grant(subject, soon());
    try {
      expect(['active', 'pending']).toContain(await membership());
      if (granted.notice) console.warn(`live github: ${granted.notice}`);
    } finally {
      await team.revoke(subject, { ...soon(), details: granted.details });
    }
    expect(await membership()).toBeUndefined();
  }, 120_000);

  (env.JIT_LIVE_GITHUB_REPO ? it : it.skip)(
    'repository permission: grant, read back, revoke',
    async () => {
      const repo = env.JIT_LIVE_GITHUB_REPO!;
      const permission = (env.JIT_LIVE_GITHUB_PERMISSION ?? 'pull') as 'pull';
      const p = bound(githubProvider.create(settings, { targetName: 'live' }), { repo, permission });
      expect(await p.check()).toEqual([]);
      const granted = await p.grant(subject, soon());
      try {
        if (!granted.details?.invitation) {
          const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner: org, repo, username: login });
          expect(data.user?.permissions?.[permission]).toBe(true);
        }
      } finally {
        await p.revoke(subject, { ...soon(), details: granted.details });
      }
      const invitations = await octokit.paginate(octokit.rest.repos.listInvitations, { owner: org, repo, per_page: 100 });
      expect(invitations.filter((i) => i.invitee?.login?.toLowerCase() === login.toLowerCase())).toEqual([]);
    },
    120_000,
  );
});
