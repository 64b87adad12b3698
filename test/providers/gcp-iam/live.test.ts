import { ProjectsClient, FoldersClient, OrganizationsClient } from '@google-cloud/resource-manager';
import { GoogleAuth, OAuth2Client } from 'google-auth-library';
import { gcpIamTargetSchema } from '../../../src/providers/gcp-iam/config';
import type { GcpIamAccess, GcpIamTargetConfig } from '../../../src/providers/gcp-iam/config';
import { gcpIamProvider } from '../../../src/providers/gcp-iam/gcp-iam-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { bound } from '../bound';
import { liveTarget } from '../live-credentials';

/*
 * gcp-iam against the real Cloud Resource Manager, with Application Default Credentials (e.g.
 * GOOGLE_APPLICATION_CREDENTIALS=<key file>) or JIT_LIVE_GCP_ACCESS_TOKEN. Grants JIT_LIVE_GCP_ROLE
 * on JIT_LIVE_GCP_RESOURCE to JIT_LIVE_GCP_MEMBER for ten minutes (a condition Google enforces),
 * reads the policy back with the official client, extends, revokes. Never in CI; skipped otherwise.
 */
const { describe: live, env } = liveTarget(
  'gcp-iam',
  ['JIT_LIVE_GCP_RESOURCE', 'JIT_LIVE_GCP_ROLE', 'JIT_LIVE_GCP_MEMBER'],
  ['JIT_LIVE_GCP_ACCESS_TOKEN', 'JIT_LIVE_GCP_API_ENDPOINT'],
);

live('gcp-iam provider against Google Cloud (live)', () => {
  // Built in beforeAll: a skipped describe still runs its body, without the variables.
  const resource = env.JIT_LIVE_GCP_RESOURCE!;
  const role = env.JIT_LIVE_GCP_ROLE!;
  let settings: GcpIamTargetConfig;
  let p: ReturnType<typeof bound<GcpIamAccess>>;
  const soon = () => ({ deadline: new Date(Date.now() + 30_000) });
  const subject: GrantSubject = {
    requestId: `rlive${Date.now().toString(36)}`,
    resourceId: 'live',
    user: { slackId: 'U0LIVE', account: (env.JIT_LIVE_GCP_MEMBER ?? '').replace(/^user:/, '') },
    reason: 'jit-access live test',
    expiresAt: new Date(Date.now() + 600_000),
  };
  beforeAll(() => {
    settings = gcpIamTargetSchema.parse({
      ...(env.JIT_LIVE_GCP_ACCESS_TOKEN ? { accessToken: env.JIT_LIVE_GCP_ACCESS_TOKEN } : {}),
      ...(env.JIT_LIVE_GCP_API_ENDPOINT ? { apiEndpoint: env.JIT_LIVE_GCP_API_ENDPOINT } : {}),
      timeoutMs: 20_000,
    });
    p = bound(gcpIamProvider.create(settings, { targetName: 'live' }), { resource, role });
  });

  /** The policy as the official client reads it, independently of the provider. */
  async function ownBinding() {
    const transporterOptions = { fetchImplementation: fetch };
    let auth: { authClient: OAuth2Client } | { auth: GoogleAuth };
    if (env.JIT_LIVE_GCP_ACCESS_TOKEN) {
      const authClient = new OAuth2Client({ transporterOptions });
      authClient.setCredentials({ access_token: env.JIT_LIVE_GCP_ACCESS_TOKEN });
      auth = { authClient };
    } else {
      auth = {
        auth: new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'], clientOptions: { transporterOptions } }),
      };
    }
    const url = new URL(settings.apiEndpoint);
    const where = {
      apiEndpoint: url.hostname,
      port: Number(url.port || (url.protocol === 'http:' ? 80 : 443)),
      protocol: url.protocol.replace(':', ''),
    };
    const Client = resource.startsWith('projects/')
      ? ProjectsClient
      : resource.startsWith('folders/')
        ? FoldersClient
        : OrganizationsClient;
    const client = new Client({ fallback: true, ...where, ...auth });
    try {
      const [policy] = await client.getIamPolicy({ resource, options: { requestedPolicyVersion: 3 } });
      return policy.bindings?.find((b) => b.condition?.title === `jit-access ${subject.requestId}`);
    } finally {
      await client.close();
    }
  }

  afterAll(async () => {
    await p?.revoke(subject, soon()).catch(() => undefined);
    await p?.close();
  });

  it('check() finds the permissions it needs', async () => {
    expect(await p.check()).toEqual([]);
  }, 60_000);

  it('grants a binding with the expiry condition, extends it, revokes it', async () => {
    expect(await p.holds(subject, soon())).toBe(false);
    await p.grant(subject, soon());
    const granted = await ownBinding();
    expect(granted?.condition?.expression).toBe(`request.time < timestamp("${subject.expiresAt.toISOString()}")`);
    const later = { ...subject, expiresAt: new Date(subject.expiresAt.getTime() + 300_000) };
    await p.extend(later, soon());
    expect((await ownBinding())?.condition?.expression).toBe(`request.time < timestamp("${later.expiresAt.toISOString()}")`);
    await p.revoke(later, soon());
    expect(await ownBinding()).toBeUndefined();
  }, 120_000);
});
