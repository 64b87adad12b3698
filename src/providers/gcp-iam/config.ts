import { z } from 'zod';
import { secret } from '../secrets';

/** Basic roles: IAM refuses conditions on them, so a grant could never expire by itself. */
const BASIC_ROLES = ['roles/owner', 'roles/editor', 'roles/viewer'] as const;

/** Target keys: how to reach Cloud Resource Manager and as whom. */
export const gcpIamTargetSchema = z
  .object({
    /**
     * A service-account key (the JSON file's content, typically `${GCP_SA_KEY}`). Without it and
     * without `accessToken`: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the
     * metadata server of GCE/GKE/Cloud Run, `gcloud auth application-default login`).
     */
    credentials: secret(z.string().min(2)).optional(),
    /** A ready OAuth 2.0 access token (`gcloud auth print-access-token`); it expires, so for short runs and tests. */
    accessToken: secret(z.string().min(8)).optional(),
    /** Base URL of the Resource Manager API; the REST transport is used either way. */
    apiEndpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).default('https://cloudresourcemanager.googleapis.com'),
    /** Per-call deadline in milliseconds (default 10 s). */
    timeoutMs: z.number().int().positive().max(120_000).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.credentials !== undefined && t.accessToken !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['accessToken'], message: 'set credentials or accessToken, not both' });
    }
    if (t.credentials !== undefined) {
      const problem = serviceAccountKeyProblem(t.credentials);
      if (problem) ctx.addIssue({ code: 'custom', path: ['credentials'], message: problem });
    }
  });

/** Each resource's own keys: where, and which role. */
export const gcpIamAccessSchema = z.object({
  resource: z
    .string()
    .regex(
      /^(projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]|folders\/\d{1,30}|organizations\/\d{1,30})$/,
      'expected projects/<project-id>, folders/<number> or organizations/<number>',
    ),
  role: z
    .string()
    .regex(
      /^(roles\/[A-Za-z0-9_.]{1,128}|(projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]|organizations\/\d{1,30})\/roles\/[A-Za-z0-9_.]{3,64})$/,
      'expected roles/<name>, projects/<id>/roles/<name> or organizations/<number>/roles/<name>',
    )
    .refine((role) => !(BASIC_ROLES as readonly string[]).includes(role), {
      message: `basic roles (${BASIC_ROLES.join(', ')}) cannot have IAM conditions, so their grants could not expire in Google Cloud itself; use a predefined or custom role`,
    }),
});

export type GcpIamTargetConfig = z.output<typeof gcpIamTargetSchema>;
export type GcpIamAccess = z.output<typeof gcpIamAccessSchema>;

/** The `type: service_account` JSON key, checked at load without echoing any of it. */
function serviceAccountKeyProblem(text: string): string | undefined {
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch {
    return 'expected the JSON of a service-account key (it is not JSON)';
  }
  const k = key as Record<string, unknown>;
  if (k?.type !== 'service_account' || typeof k.client_email !== 'string' || typeof k.private_key !== 'string') {
    return 'expected the JSON of a service-account key (type service_account, with client_email and private_key)';
  }
  return undefined;
}

/**
 * Accounts are Google identities of people: `alice@example.com` or `user:alice@example.com` (the
 * IAM member is always `user:<e-mail>`). Groups and service accounts are refused: a grant to a
 * group gives the access to every member.
 */
export const GCP_ACCOUNT = /^(user:)?[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/;

export function memberOf(account: string): string {
  return `user:${account.replace(/^user:/, '').toLowerCase()}`;
}
