import type { GrantSubject } from '../../../src/providers/provider';
import { temporaryName } from '../../../src/providers/temporary-name';
import { RedisFixture } from '../../support/redis-fixture';
import { describeProviderContract } from '../contract';
import { asRedisRoot, describeWithRedis } from '../redis-available';

/**
 * The redis provider against the Redis at 127.0.0.1:6379 (skipped without it, outside CI),
 * connecting as the README's least-privilege ACL user. Every grant is its own temporary user, so
 * the standing-access and overlap parts check what the provider declares (nothing to share).
 */
const rd = new RedisFixture();
let accounts = 0;

const userOf = (subject: GrantSubject, details?: Record<string, string>) =>
  details?.username ?? temporaryName(subject.user.account ?? subject.user.slackId, subject.requestId, 64);

describeProviderContract(
  {
    type: 'redis',
    secretKeys: ['url', 'urls'],
    setUp: () => rd.setUp(),
    tearDown: () => rd.tearDown(),
    target: () => ({ url: rd.adminUrl(), timeoutMs: 3000 }),
    access: () => ({ rules: '~orders:* +@read' }),
    hangingTarget: (port: number) => ({ url: rd.adminUrl(`redis://127.0.0.1:${port}`) }),
    // The user is created for the grant; the account only names it.
    newAccount: async () => `acct${++accounts}${rd.run}`,
    hasAccess: async (subject, details) => (await rd.userOn(userOf(subject, details)))?.on === true,
    failGrants: {
      // The bot's ACL user loses ACL SETUSER until undone: NOPERM, which retrying cannot fix.
      permanent: true,
      arrange: async () => {
        await asRedisRoot((c) => c.call('ACL', 'SETUSER', rd.admin, '-acl|setuser'));
        return async () => void (await asRedisRoot((c) => c.call('ACL', 'SETUSER', rd.admin, '+acl|setuser')));
      },
    },
  },
  describeWithRedis,
);
