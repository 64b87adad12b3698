import { z } from 'zod';
import { secret } from '../secrets';

/** Repository permissions GitHub grants, lowest first (the REST API's names). */
export const PERMISSIONS = ['pull', 'triage', 'push', 'maintain', 'admin'] as const;
export type RepoPermission = (typeof PERMISSIONS)[number];

/** GitHub logins: letters, digits and single dashes inside, at most 39 characters. */
export const GITHUB_LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;

/** Target keys: one organization, one credential. */
export const githubTargetSchema = z
  .object({
    org: z.string().regex(GITHUB_LOGIN, 'expected an organization login'),
    /** A fine-grained or classic personal access token (typically `${GITHUB_TOKEN}`). */
    token: secret(z.string().min(8)).optional(),
    /** Or a GitHub App installed on the organization: its ID, private key (PEM) and installation ID. */
    appId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
    privateKey: secret(z.string().includes('PRIVATE KEY', { message: 'expected the App’s private key (PEM)' })).optional(),
    installationId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]).optional(),
    /** API base URL: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server. */
    baseUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).default('https://api.github.com'),
    /** Per-call deadline in milliseconds (default 10 s). */
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .superRefine((t, ctx) => {
    const app = [t.appId, t.privateKey, t.installationId].filter((v) => v !== undefined).length;
    if (t.token !== undefined && app > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message: 'set token or the GitHub App (appId, privateKey, installationId), not both',
      });
    else if (t.token === undefined && app === 0)
      ctx.addIssue({ code: 'custom', path: [], message: 'expected token, or appId, privateKey and installationId of a GitHub App' });
    else if (t.token === undefined && app < 3)
      ctx.addIssue({ code: 'custom', path: [], message: 'a GitHub App needs all of appId, privateKey and installationId' });
  });

/** Each resource's own keys: a team, or a repository and a permission on it. */
export const githubAccessSchema = z
  .object({
    /** The team's slug (as in github.com/orgs/<org>/teams/<slug>). */
    team: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'expected a team slug (lowercase, as in its URL)')
      .optional(),
    /** A repository of the organization, by name. */
    repo: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'expected a repository name')
      .optional(),
    permission: z.enum(PERMISSIONS).optional(),
  })
  .superRefine((a, ctx) => {
    if ((a.team === undefined) === (a.repo === undefined))
      ctx.addIssue({ code: 'custom', path: [], message: 'expected team, or repo and permission (one of them)' });
    if (a.repo !== undefined && a.permission === undefined)
      ctx.addIssue({ code: 'custom', path: ['permission'], message: `a repo needs a permission: ${PERMISSIONS.join(', ')}` });
    if (a.team !== undefined && a.permission !== undefined)
      ctx.addIssue({ code: 'custom', path: ['permission'], message: 'a team grant is a membership; permission is for repo grants' });
  });

export type GithubTargetConfig = z.output<typeof githubTargetSchema>;
export type GithubAccess = z.output<typeof githubAccessSchema>;
