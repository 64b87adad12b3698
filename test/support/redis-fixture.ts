import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { REDIS_ROOT_URL, asRedisRoot, redisClient } from '../providers/redis-available';
import { adminRules } from './redis-recipe';

/*
 * The bot's least-privilege ACL user on one or more Redis nodes, set up exactly as the README's
 * recipe says, and helpers to look at what the bot did. ACL users are server-wide: every name
 * carries the run's random suffix, and tearDown() deletes them from every node it touched.
 */

export class RedisFixture {
  readonly run = randomBytes(4).toString('hex');
  readonly admin = `jit_rd_admin_${this.run}`;
  readonly adminPassword = `rd-admin-pw-${this.run}-Kq3`;
  /** The `default`-user URLs of every node set up, for clean-up. */
  private readonly nodes = new Set<string>();
  private readonly clients: Redis[] = [];

  /** The admin's URL for the node at `rootUrl` (default: the shared server), or at `port` on 127.0.0.1. */
  adminUrl(rootUrl = REDIS_ROOT_URL, password = this.adminPassword): string {
    const u = new URL(rootUrl);
    u.username = this.admin;
    u.password = password;
    return u.toString();
  }

  /** Creates the bot's ACL user on each node (default: the shared server). */
  async setUp(...rootUrls: string[]): Promise<void> {
    for (const url of rootUrls.length ? rootUrls : [REDIS_ROOT_URL]) {
      this.nodes.add(url);
      await asRedisRoot((c) => c.call('ACL', 'SETUSER', this.admin, ...adminRules(this.adminPassword)), url);
    }
  }

  async tearDown(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    for (const url of this.nodes) {
      await asRedisRoot(async (c) => {
        const users = (await c.call('ACL', 'USERS')) as string[];
        // Also check()'s probe users (one per target name, disabled), in case a test left one.
        const ours = users.filter((u) => u.includes(this.run) || u.startsWith('jit_check_'));
        if (ours.length) await c.call('ACL', 'DELUSER', ...ours);
      }, url).catch(() => undefined); // a private node may be gone already
    }
  }

  /** Rules of `user` on the node, or undefined when it does not exist there. */
  async userOn(user: string, rootUrl = REDIS_ROOT_URL): Promise<{ on: boolean; commands: string; keys: string } | undefined> {
    return asRedisRoot(async (c) => {
      const reply = (await c.call('ACL', 'GETUSER', user)) as unknown[] | null;
      if (!reply) return undefined;
      const get = (name: string) => reply[reply.indexOf(name) + 1];
      return { on: (get('flags') as string[]).includes('on'), commands: String(get('commands')), keys: String(get('keys')) };
    }, rootUrl);
  }

  /**
   * A connection authenticated as `username`; the caller need not close it. Rejects with the
   * server's answer (WRONGPASS) when AUTH fails: the AUTH is sent on an open connection, since a
   * failed handshake only surfaces as "Connection is closed".
   */
  async login(url: string, username: string, password: string): Promise<Redis> {
    const c = redisClient(url);
    this.clients.push(c);
    await c.call('AUTH', username, password);
    return c;
  }
}
