import { z } from 'zod';
import { secret } from '../secrets';

/** Target keys: one Okta org, one API token. */
export const oktaTargetSchema = z.object({
  /** https://<your-org>.okta.com (or an Okta custom domain); for tests, a local URL. */
  orgUrl: z.url({ protocol: /^https?$/, error: 'expected the org URL, e.g. https://example.okta.com' }),
  /** An SSWS API token (typically `${OKTA_API_TOKEN}`), created by an admin holding only the role the README names. */
  token: secret(z.string().min(8)),
  /** Per-call deadline in milliseconds (default 10 s). */
  timeoutMs: z.number().int().positive().max(120_000).optional(),
});

/** Each resource's own key: which group. */
export const oktaAccessSchema = z.object({
  /** The group's ID (00g…), as in the admin console's URL of the group: names are not unique. */
  groupId: z.string().regex(/^00g[A-Za-z0-9]{8,30}$/, 'expected an Okta group ID (00g…)'),
});

export type OktaTargetConfig = z.output<typeof oktaTargetSchema>;
export type OktaAccess = z.output<typeof oktaAccessSchema>;

/** An Okta login (an e-mail by default; orgs may allow other shapes): no spaces, no slashes, at most 100 characters. */
export const OKTA_LOGIN = /^[^\s/\\?#%]{1,100}$/;
/** What validate() stores: the user's ID. */
export const OKTA_USER_ID = /^[A-Za-z0-9]{8,40}$/;
