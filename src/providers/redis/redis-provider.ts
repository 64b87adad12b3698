import { createHash, randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { z } from 'zod';
import { messageOf, withinDeadline } from '../deadline';
import type { ExtendOptions, GrantResult, GrantSubject, ProviderCallOptions, RevokeOptions, TargetProvider } from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { isTemporaryNameFor, temporaryName } from '../temporary-name';
import { ACCOUNT_PATTERN, REDIS_USER_NAME_MAX, redisAccessSchema, redisTargetSchema } from './config';
import type { RedisAccess, RedisTargetConfig } from './config';

/*
 * Redis 6+ ACL users (ioredis). Every grant creates its own temporary user on every node of the
 * target; revoke deletes it everywhere. What the bot's own ACL user needs is in the README
 * ("Redis provider"); check() reports what is missing.
 *
 * Pitfalls this is built around:
 * - `ACL SETUSER` *adds* to an existing user's rules: a retried grant must not stack on the first,
 *   so every SETUSER starts with `reset` (no passwords, no keys, no commands, off).
 * - `ACL DELUSER` of a missing user answers 0, not an error (so revoke is idempotent), and
 *   disconnects the deleted user's clients: access ends at once, also for open connections.
 * - ACL users are not replicated: every node is told (`urls`), and a node that cannot be reached
 *   fails the call (grants are then compensated, revokes retried).
 * - Persistence: the bot never saves its temporary users (they are not meant to outlive the
 *   grant, nor a restart). Where a node has an `aclfile`, someone else's `ACL SAVE` during a grant
 *   would write the user there and a restart would bring it back after its revoke; so revoke runs
 *   `ACL SAVE` after deleting, which rewrites the file without it. Nodes without an aclfile answer
 *   that they have none, which is fine: their ACL users vanish at restart.
 */

const DEFAULT_TIMEOUT_MS = 10_000;
/** Replies that retrying cannot fix: missing permissions, bad credentials, invalid rules, a command the node lacks. */
const PERMANENT_REPLY = /^(NOPERM|WRONGPASS|NOAUTH|ERR Error in ACL SETUSER modifier|ERR unknown (sub)?command|ERR unknown subcommand)/;
const NO_ACL_FILE = /not configured to use an ACL file/i;

/**
 * The driver, loaded when the first redis target is created rather than when the catalog is: a bot
 * with no redis target does not pay for it at start-up.
 */
function ioredis(): typeof Redis {
  return (require('ioredis') as { Redis: typeof Redis }).Redis;
}

interface Node {
  /** `host:port`, for messages (never the URL: it carries the bot's password). */
  where: string;
  host: string;
  port: number;
  tls: boolean;
  client: Redis;
  /** The ACL user the bot logs in as (`default` when the URL names none). */
  user: string;
  /** The last connection error, which says more than the driver's "max retries" when a call gives up. */
  lastError?: string;
}

/** One target: one connection per node, shared by every resource that names it. */
export class RedisProvider implements TargetProvider<RedisAccess> {
  private readonly nodes: Node[];
  private readonly timeoutMs: number;
  /** Strings that must never appear in an error message or warning. */
  private readonly secrets: string[];

  constructor(
    config: RedisTargetConfig,
    private readonly targetName: string,
  ) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const urls = config.urls ?? (config.url ? [config.url] : []);
    this.secrets = secretVariants(urls);
    this.nodes = urls.map((url) => {
      const parsed = new URL(url);
      const client = new (ioredis())(url, {
        lazyConnect: true,
        connectTimeout: this.timeoutMs,
        // Each call has its own deadline; one reconnection attempt per command is enough.
        maxRetriesPerRequest: 1,
        retryStrategy: (times) => Math.min(times * 200, 2_000),
        // The ready check runs INFO, which the bot's least-privilege user may not.
        enableReadyCheck: false,
        // On close, a node that does not answer the FIN is cut off after this long.
        disconnectTimeout: 500,
      });
      const host = parsed.hostname.replace(/^\[|\]$/g, '');
      const port = parsed.port ? Number(parsed.port) : 6379;
      const user = decodeURIComponent(parsed.username) || 'default';
      const node: Node = { where: `${host}:${port}`, host, port, tls: parsed.protocol === 'rediss:', client, user };
      // Without a listener a lost connection would be an unhandled 'error' event; the next call reconnects.
      client.on('error', (err: unknown) => void (node.lastError = messageOf(err)));
      client.on('ready', () => void (node.lastError = undefined));
      return node;
    });
  }

  async grant(access: RedisAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    const username = temporaryName(labelOf(subject), subject.requestId, REDIS_USER_NAME_MAX);
    // A retried grant gets a new password (the first was never delivered) and, after reset, the same rules.
    const password = randomBytes(24).toString('base64url');
    const passwordHash = createHash('sha256').update(password).digest('hex');
    await this.onEveryNode(
      opts.deadline,
      `create ACL user ${username}`,
      (node) => node.client.call('ACL', 'SETUSER', username, 'reset', ...rulesOf(access), `#${passwordHash}`, 'on'),
      // Not on every node: take it back where it was made (its password was never delivered), so a
      // node that is down does not leave a live user on the others while the compensating revoke waits for it.
      (node) => node.client.call('ACL', 'DELUSER', username),
    );
    const [first] = this.nodes;
    const command = `redis-cli -h ${first!.host} -p ${first!.port}${first!.tls ? ' --tls' : ''} --user ${username} --askpass`;
    return {
      secretForRequester: {
        title: `Redis credentials for ${subject.resourceId}`,
        fields: [
          this.nodes.length === 1
            ? { label: 'Server', value: first!.where }
            : { label: 'Nodes', value: this.nodes.map((n) => n.where).join(', ') },
          { label: 'User', value: username },
          { label: 'Password', value: password },
          { label: 'TLS', value: first!.tls ? 'yes' : 'no' },
          { label: 'Valid until', value: subject.expiresAt.toISOString() },
          { label: 'Connect', value: command },
        ],
      },
      details: { username },
    };
  }

  /** Redis users have no expiry of their own: the bot's timer moves, nothing changes in Redis. */
  async extend(_access: RedisAccess, _subject: GrantSubject, _opts: ExtendOptions): Promise<void> {}

  async revoke(_access: RedisAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    const username = this.usernameFor(subject, opts.details);
    await this.onEveryNode(opts.deadline, `delete ACL user ${username}`, async (node) => {
      // 0 when there is no such user (already revoked, or lost in a restart): done. Its clients are disconnected.
      await node.client.call('ACL', 'DELUSER', username);
      try {
        await node.client.call('ACL', 'SAVE');
      } catch (err) {
        if (!NO_ACL_FILE.test(messageOf(err))) throw err;
      }
    });
  }

  async check(access: RedisAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    const problems: string[] = [];
    const listed = new Set(this.nodes.map((n) => n.where));
    await Promise.all(
      this.nodes.map(async (node) => {
        const at = `${this.label}, node ${node.where}`;
        try {
          // The rules, and the right to create and delete users, proved on a user that can never log in
          // (off, no password). One name per target: a probe that could not be deleted is reused, not piled up.
          const probe = `jit_check_${createHash('sha256').update(this.targetName).digest('hex').slice(0, 8)}`;
          await this.call(node, deadline, () => node.client.call('ACL', 'SETUSER', probe, 'reset', ...rulesOf(access), 'off'));
          await this.call(node, deadline, () => node.client.call('ACL', 'DELUSER', probe));
          // Revoke runs ACL SAVE after ACL DELUSER (see above): a user that may not would fail every revoke.
          // ACL DRYRUN is Redis 7+: on 6, or where the bot may not dry-run (+acl|dryrun), this part is not checked.
          const me = node.user;
          const save = await this.call(node, deadline, () => node.client.call('ACL', 'DRYRUN', me, 'ACL', 'SAVE')).catch((err: unknown) => {
            if (/unknown subcommand|NOPERM/i.test(messageOf(err))) return 'OK';
            throw err;
          });
          if (save !== 'OK')
            problems.push(`${at}: the bot's user ${me} may not run ACL SAVE, which revoke runs after ACL DELUSER (add +acl|save to it)`);
          for (const other of replicationPeers(await this.call(node, deadline, () => node.client.call('ROLE')))) {
            if (!listed.has(other))
              problems.push(`${at}: replicates with ${other}, which is not in urls (ACL users are not replicated: list every node)`);
          }
        } catch (err) {
          const text =
            /max retries per request/i.test(messageOf(err)) && node.lastError ? `unreachable: ${node.lastError}` : messageOf(err);
          problems.push(`${at}: ${scrubSecrets(text, this.secrets)}`);
        }
      }),
    );
    return problems;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.nodes.map(async ({ client }) => {
        // Only an open (or opening) connection has a socket to wait for; disconnect() cuts it after disconnectTimeout.
        const open = ['connecting', 'connect', 'ready'].includes(client.status);
        const closed = open ? new Promise<void>((resolve) => client.once('end', () => resolve())) : undefined;
        client.disconnect();
        await closed;
      }),
    );
  }

  private get label(): string {
    return `redis target ${this.targetName}`;
  }

  /**
   * Runs `work` on every node at once; any node failing fails the call (naming the nodes), after
   * `undo` ran, best effort, on the nodes where `work` succeeded.
   */
  private async onEveryNode(
    deadline: Date,
    what: string,
    work: (node: Node) => Promise<unknown>,
    undo?: (node: Node) => Promise<unknown>,
  ): Promise<void> {
    const results = await Promise.allSettled(this.nodes.map((node) => this.call(node, deadline, () => work(node))));
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ node: this.nodes[i]!, err: r.reason as unknown }] : []));
    if (failed.length === 0) return;
    if (undo) {
      const succeeded = this.nodes.filter((_, i) => results[i]!.status === 'fulfilled');
      await Promise.allSettled(succeeded.map((node) => this.call(node, deadline, () => undo(node))));
    }
    const retryable = failed.some(({ err }) => !PERMANENT_REPLY.test(messageOf(err)));
    const text = failed.map(({ node, err }) => `${node.where}: ${this.describe(err)}`).join('; ');
    const done = this.nodes.length - failed.length;
    throw new ProviderError(
      `${this.label}: ${what} failed on ${failed.length} of ${this.nodes.length} node(s)${done ? ` (done on ${done})` : ''}: ${text}`,
      retryable,
    );
  }

  private call<T>(node: Node, deadline: Date, work: () => Promise<T>): Promise<T> {
    return withinDeadline(work(), deadline, `node ${node.where}`);
  }

  private describe(err: unknown): string {
    return scrubSecrets(messageOf(err), this.secrets);
  }

  /** What grant() recorded, else what it would have named; never a user jit-access did not name for this request. */
  private usernameFor(subject: GrantSubject, details: Record<string, string> | undefined): string {
    const recorded = details?.username;
    if (recorded === undefined) return temporaryName(labelOf(subject), subject.requestId, REDIS_USER_NAME_MAX);
    if (!isTemporaryNameFor(recorded, subject.requestId, REDIS_USER_NAME_MAX)) {
      throw new ProviderError(
        `${this.label}: refusing to delete ACL user ${JSON.stringify(recorded)}, which jit-access did not name for this request`,
        false,
      );
    }
    return recorded;
  }
}

/** The readable part of the temporary user's name: the account when there is one (it only labels), else the Slack ID. */
function labelOf(subject: GrantSubject): string {
  const account = subject.user.account;
  return account !== undefined && ACCOUNT_PATTERN.test(account) ? account : subject.user.slackId;
}

function rulesOf(access: RedisAccess): string[] {
  return access.rules.split(/\s+/).filter((r) => r !== '');
}

/**
 * `ROLE`'s answer as `host:port` of the other nodes it replicates with: a master's replicas
 * (`['master', offset, [[host, port, offset], …]]`), or a replica's master (`['slave', host, port, …]`).
 */
function replicationPeers(role: unknown): string[] {
  if (!Array.isArray(role)) return [];
  if (role[0] === 'master' && Array.isArray(role[2])) {
    return role[2].filter(Array.isArray).map((r: unknown[]) => `${String(r[0])}:${String(r[1])}`);
  }
  if (role[0] === 'slave' && typeof role[1] === 'string') return [`${role[1]}:${String(role[2])}`];
  return [];
}

/**
 * The redis provider: a temporary ACL user per grant, on every node, with the resource's `rules`
 * and a random password sent to the requester by DM; deleted (and its clients disconnected) on revoke.
 */
export const redisProvider = defineProvider({
  type: 'redis',
  target: redisTargetSchema,
  access: redisAccessSchema,
  account: {
    derive: 'local-part',
    // Every grant creates its own user; an account, when there is one, only makes its name readable.
    need: 'optional',
    format: z.string().regex(ACCOUNT_PATTERN, 'expected letters, digits, _ . or -, at most 64 characters'),
  },
  extension: 'native',
  // Every grant is its own user: nothing to share with another grant, nothing that could be standing.
  overlap: { key: () => undefined, standing: 'not-inspectable' },
  create: (target, env) => new RedisProvider(target, env.targetName),
});
