import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { awsAccessSchema, awsTargetSchema } from '../../../src/providers/aws-identity-center/config';
import { AwsIdentityCenterProvider } from '../../../src/providers/aws-identity-center/aws-identity-center-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { bound } from '../bound';
import { liveEnv } from '../live-env';

/*
 * The aws-identity-center provider against a REAL IAM Identity Center, with the AWS SDK's default
 * credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID…, SSO, instance roles). It assigns the permission
 * set to the user in the account, checks that AWS lists it, and deletes it again; a user who already
 * has that assignment is left alone (the test stops there). Use a sandbox account and user.
 */
const { env, describeLive } = liveEnv('IAM Identity Center', [
  'JIT_LIVE_AWS_INSTANCE_ARN',
  'JIT_LIVE_AWS_IDENTITY_STORE_ID',
  'JIT_LIVE_AWS_REGION',
  'JIT_LIVE_AWS_ACCOUNT_ID',
  'JIT_LIVE_AWS_PERMISSION_SET_ARN',
  'JIT_LIVE_AWS_USER',
]);

describeLive('aws-identity-center against a real IAM Identity Center', () => {
  jest.setTimeout(180_000);
  // (A skipped describe still runs its body: everything that reads the variables waits for the tests.)
  let p: ReturnType<typeof bound<z.output<typeof awsAccessSchema>>>;
  beforeAll(() => {
    p = bound(
      new AwsIdentityCenterProvider(
        awsTargetSchema.parse({
          instanceArn: env.JIT_LIVE_AWS_INSTANCE_ARN,
          identityStoreId: env.JIT_LIVE_AWS_IDENTITY_STORE_ID,
          region: env.JIT_LIVE_AWS_REGION,
          // Optional: a VPC endpoint or proxy in front of sso-admin and identitystore.
          ...(process.env.JIT_LIVE_AWS_ENDPOINT ? { endpoint: process.env.JIT_LIVE_AWS_ENDPOINT } : {}),
        }),
        'live',
      ),
      awsAccessSchema.parse({ accountId: env.JIT_LIVE_AWS_ACCOUNT_ID, permissionSetArn: env.JIT_LIVE_AWS_PERMISSION_SET_ARN }),
    );
  });
  const call = () => ({ deadline: new Date(Date.now() + 60_000) });
  afterAll(() => p?.close());

  it('check, resolve the user, assign (polled to SUCCEEDED), see it listed, unassign', async () => {
    expect(await p.check()).toEqual([]);
    const found = await p.validate({ resourceId: 'live', user: { slackId: 'ULIVE', account: env.JIT_LIVE_AWS_USER! } }, call());
    expect(found).toMatchObject({ ok: true, principal: expect.any(String) });
    const principal = (found as { principal: string }).principal;
    const subject: GrantSubject = {
      requestId: `rlive${randomBytes(3).toString('hex')}`,
      resourceId: 'live',
      user: { slackId: 'ULIVE', account: env.JIT_LIVE_AWS_USER!, principal },
      reason: 'jit-access live test',
      expiresAt: new Date(Date.now() + 15 * 60_000),
    };
    if (await p.holds(subject, call())) {
      console.warn(
        `Live test stopped: ${env.JIT_LIVE_AWS_USER} already has this assignment (standing access is never touched). Use another user.`,
      );
      return;
    }
    // Each call has the provider's usual 10 s; an assignment that takes longer is polled again by the next attempt.
    const attempt = async (work: () => Promise<unknown>) => {
      for (let i = 1; ; i++) {
        try {
          return await work();
        } catch (err) {
          if (i >= 6 || !(err as { retryable?: boolean }).retryable) throw err;
        }
      }
    };
    const ten = () => ({ deadline: new Date(Date.now() + 10_000) });
    const { details } = (await attempt(() => p.grant(subject, ten()))) as { details: Record<string, string> };
    try {
      expect(details).toEqual({ principalId: principal });
      expect(await p.holds(subject, call())).toBe(true);
    } finally {
      await attempt(() => p.revoke(subject, { ...ten(), details }));
    }
    expect(await p.holds(subject, call())).toBe(false);
  });
});
