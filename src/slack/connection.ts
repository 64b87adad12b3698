import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { classifySlackError, TOKEN_REJECTED } from './slack-errors';

/** Slack answered that it rejects the bot token: the one Slack problem that stops start-up. */
export class SlackTokenRejected extends Error {
  constructor(readonly code: string) {
    super(
      `SLACK_BOT_TOKEN: Slack rejects the bot token (${code}); copy the Bot User OAuth Token (xoxb-…) again from the Slack app, reinstalling it if it was removed`,
    );
    this.name = 'SlackTokenRejected';
  }
}

export interface SlackConnectionOptions {
  /** First retry of `auth.test` after Slack did not answer; doubles each time. */
  retryBaseMs: number;
  retryMaxMs: number;
}

export const DEFAULT_CONNECTION_OPTIONS: SlackConnectionOptions = { retryBaseMs: 1000, retryMaxMs: 30_000 };

/**
 * Whether Slack's Web API answers the bot, and who the bot is there. Bolt's own `auth.test` in the
 * App constructor rejects unhandled when Slack is unreachable (the process dies, and every restart
 * during a Slack or DNS outage crash-loops), so the app is given `authorize` from here instead.
 *
 * At start-up `verify()` asks `auth.test` once: a token Slack rejects stops start-up; no answer
 * (or Slack's own trouble) only starts a background retry, and the bot runs on: expiries are
 * enforced without Slack, notices wait in the outbox. Anything that finds Slack unreachable later
 * reports it here; whoever waits for Slack (the outbox) is called when `auth.test` answers again.
 */
export class SlackConnection {
  private reachable = false;
  private probe?: NodeJS.Timeout;
  private stopped = false;
  private attempt = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly watchers: Array<() => void> = [];
  private lastError?: string;
  private rejectedWith?: string;
  botUserId?: string;
  botId?: string;

  constructor(
    private readonly client: WebClient,
    private readonly token: string,
    private readonly logger: Logger,
    private readonly opts: SlackConnectionOptions = DEFAULT_CONNECTION_OPTIONS,
  ) {}

  /** Slack answered the last time anyone asked. */
  get isReachable(): boolean {
    return this.reachable;
  }

  /**
   * The start-up check. True: Slack knows the token. False: Slack did not answer (retried in the
   * background). Throws SlackTokenRejected when Slack rejects the token.
   */
  async verify(): Promise<boolean> {
    const outcome = await this.check();
    if (outcome === 'rejected') throw new SlackTokenRejected(this.rejectedWith!);
    if (outcome === 'unreachable') {
      this.logger.warn(
        { err: this.lastError },
        'the Slack Web API does not answer (auth.test); starting anyway: expiries go on, notifications wait in the outbox, and auth.test is retried in the background',
      );
      this.scheduleProbe();
    }
    return outcome === 'ok';
  }

  /**
   * A Web API call found Slack unreachable. `certain` (it did not answer at all): Slack counts as
   * away from now on. Otherwise (an HTTP 5xx, Slack's own error), `auth.test` is asked, and Slack
   * counts as away only if that fails too. Either way `auth.test` is asked until it answers.
   */
  reportUnreachable(error: string, certain: boolean): void {
    if (this.stopped) return;
    if (certain) this.markAway(error);
    this.scheduleProbe();
  }

  /** Calls `fn` whenever Slack stops answering (it was answering before). */
  whenAway(fn: () => void): void {
    this.watchers.push(fn);
  }

  /** Calls `fn` once Slack answers (at once if it does now). */
  whenReachable(fn: () => void): void {
    if (this.reachable) fn();
    else this.waiting.push(fn);
  }

  /** Bolt's `authorize`: the one bot token, and the bot's IDs once Slack told them. */
  readonly authorize = async () => ({ botToken: this.token, botId: this.botId, botUserId: this.botUserId });

  stop(): void {
    this.stopped = true;
    if (this.probe) clearTimeout(this.probe);
    this.probe = undefined;
  }

  private async check(): Promise<'ok' | 'rejected' | 'unreachable'> {
    try {
      const result = await this.client.auth.test({ token: this.token });
      this.botUserId = result.user_id;
      this.botId = result.bot_id;
      this.attempt = 0;
      this.lastError = undefined;
      if (!this.reachable) {
        this.reachable = true;
        for (const fn of this.waiting.splice(0)) fn();
      }
      return 'ok';
    } catch (err) {
      const failure = classifySlackError(err);
      this.lastError = failure.code;
      if (TOKEN_REJECTED.has(failure.code)) {
        this.rejectedWith = failure.code;
        this.markAway(failure.code);
        return 'rejected';
      }
      this.markAway(failure.code);
      return 'unreachable';
    }
  }

  private markAway(error: string): void {
    if (!this.reachable) return;
    this.reachable = false;
    this.logger.warn({ err: error }, 'the Slack Web API stopped answering; notifications wait until it answers again');
    for (const fn of this.watchers) fn();
  }

  private scheduleProbe(): void {
    if (this.probe || this.stopped) return;
    const delay = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** this.attempt);
    this.attempt += 1;
    this.probe = setTimeout(() => void this.runProbe(), delay);
    this.probe.unref?.();
  }

  private async runProbe(): Promise<void> {
    this.probe = undefined;
    if (this.stopped) return;
    const wasAway = !this.reachable;
    const outcome = await this.check();
    if (outcome === 'ok') {
      if (wasAway)
        this.logger.info(
          { botUserId: this.botUserId },
          'the Slack Web API answers again (auth.test); delivering the waiting notifications',
        );
      return;
    }
    if (outcome === 'rejected') {
      // Running already (expiries must go on), so this is not a reason to stop: it is said loudly,
      // and notifications keep waiting in the outbox for a restart with a valid token.
      this.logger.error(
        { err: this.rejectedWith },
        'Slack rejects SLACK_BOT_TOKEN: notifications cannot be delivered until it is replaced (then restart); expiries go on',
      );
      this.attempt = Math.max(this.attempt, 30);
    }
    this.scheduleProbe();
  }
}
