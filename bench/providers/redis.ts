import { createHash, randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { temporaryName } from '../../src/providers/temporary-name';
import type { LatencyCase } from '../lib/provider-latency';
import { adminRules } from '../../test/support/redis-recipe';

/**
 * Redis, one node (JIT_BENCH_REDIS_URL, default the `default` user at 127.0.0.1:6379), as the
 * README's least-privilege ACL user: the provider sends ACL SETUSER (reset, the rules, a password
 * hash, on); on revoke ACL DELUSER and ACL SAVE (answered "no ACL file" here). The bare ioredis
 * client, logged in as the same user, sends the same three commands.
 */
const rootUrl = process.env.JIT_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const run = randomBytes(4).toString('hex');
const admin = `jit_bench_admin_${run}`;
const password = `bench-${run}-pw`;
const account = `bench${run}`;
const rules = ['~orders:*', '+@read'];
let root: Redis | undefined;
let bare: Redis | undefined;

function adminUrl(): string {
  const u = new URL(rootUrl);
  u.username = admin;
  u.password = password;
  return u.toString();
}

const latencyCase: LatencyCase = {
  label: 'redis (1 node)',
  async setUp() {
    root = new Redis(rootUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    await root.call('ACL', 'SETUSER', admin, ...adminRules(password));
    bare = new Redis(adminUrl(), { lazyConnect: true, enableReadyCheck: false });
    const policy = [
      'approvalChannel: C0BENCH',
      `identities: { U0BENCH: ${account} }`,
      'resources:',
      '  - id: bench-cache',
      '    name: bench',
      '    approvers: { users: [U0APPROVER] }',
      `    provider: { type: redis, url: "\${BENCH_REDIS_ADMIN_URL}", rules: "${rules.join(' ')}" }`,
    ].join('\n');
    return { policy, resourceId: 'bench-cache', env: { BENCH_REDIS_ADMIN_URL: adminUrl() } };
  },
  async subject(i) {
    return {
      requestId: `rbench${String(i).padStart(3, '0')}`,
      resourceId: 'bench-cache',
      user: { slackId: 'U0BENCH', account },
      reason: 'bench',
      expiresAt: new Date(Date.now() + 3_600_000),
    };
  },
  async bareGrant(subject) {
    const hash = createHash('sha256').update(randomBytes(24).toString('base64url')).digest('hex');
    await bare!.call('ACL', 'SETUSER', temporaryName(account, subject.requestId, 64), 'reset', ...rules, `#${hash}`, 'on');
  },
  async bareRevoke(subject) {
    await bare!.call('ACL', 'DELUSER', temporaryName(account, subject.requestId, 64));
    await bare!.call('ACL', 'SAVE').catch(() => undefined); // "not configured to use an ACL file" here, as for the provider
  },
  async tearDown() {
    bare?.disconnect();
    if (root) {
      const users = (await root.call('ACL', 'USERS')) as string[];
      const ours = users.filter((u) => u.includes(run));
      if (ours.length) await root.call('ACL', 'DELUSER', ...ours);
      root.disconnect();
    }
  },
};

export default latencyCase;
