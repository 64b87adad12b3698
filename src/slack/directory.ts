import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import type { UserDirectory } from '../operations/ports';
import type { SlackConnection } from './connection';
import { classifySlackError } from './slack-errors';

/**
 * Who is in a user group, and a user's e-mail, from the Web API. Group membership is
 * read at click time (a short cache absorbs bursts), so removals take effect quickly.
 * While Slack is known not to answer, look-ups fail at once instead of each waiting for its
 * timeout: a revocation that would like the requester's e-mail must not wait on Slack.
 */
export class SlackDirectory implements UserDirectory {
  private readonly groups = new Map<string, { at: number; members: string[] }>();
  private readonly emails = new Map<string, { at: number; email?: string }>();

  constructor(
    private readonly client: WebClient,
    private readonly groupTtlMs = 10_000,
    private readonly emailTtlMs = 10 * 60_000,
    private readonly connection?: SlackConnection,
  ) {}

  async usergroupMembers(usergroupId: string): Promise<string[]> {
    const cached = this.groups.get(usergroupId);
    if (cached && Date.now() - cached.at < this.groupTtlMs) return cached.members;
    const res = await this.call(() => this.client.usergroups.users.list({ usergroup: usergroupId }));
    const members = res.users ?? [];
    this.groups.set(usergroupId, { at: Date.now(), members });
    return members;
  }

  async emailOf(userId: string): Promise<string | undefined> {
    const cached = this.emails.get(userId);
    if (cached && Date.now() - cached.at < this.emailTtlMs) return cached.email;
    const res = await this.call(() => this.client.users.info({ user: userId }));
    const email = res.user?.profile?.email;
    this.emails.set(userId, { at: Date.now(), email });
    return email;
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    if (this.connection && !this.connection.isReachable) {
      // Shaped like the Web API client's own "no answer", so callers explain it the same way.
      throw Object.assign(new Error('the Slack Web API does not answer right now'), { code: 'slack_webapi_request_error' });
    }
    try {
      return await request();
    } catch (err) {
      const failure = classifySlackError(err);
      if (failure.unreachable) this.connection?.reportUnreachable(failure.code, failure.noAnswer === true);
      throw err;
    }
  }
}

/**
 * Slack look-ups that fail are logged here with whom they were about, then rethrown: callers
 * decide what it means (an approval click is refused; a grant goes on without the e-mail).
 */
export class LoggedDirectory implements UserDirectory {
  constructor(
    private readonly inner: UserDirectory,
    private readonly logger: Logger,
  ) {}

  async usergroupMembers(usergroupId: string): Promise<string[]> {
    try {
      return await this.inner.usergroupMembers(usergroupId);
    } catch (err) {
      this.logger.warn({ usergroup: usergroupId, err: lookupError(err) }, 'could not read a user group from Slack (usergroups.users.list)');
      throw err;
    }
  }

  async emailOf(userId: string): Promise<string | undefined> {
    try {
      return await this.inner.emailOf(userId);
    } catch (err) {
      this.logger.warn({ user: userId, err: lookupError(err) }, 'could not read a user from Slack (users.info)');
      throw err;
    }
  }
}

function lookupError(err: unknown): string {
  return classifySlackError(err).code;
}
