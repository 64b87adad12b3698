import { WebClient, type WebClientOptions, type WebAPICallResult } from '@slack/web-api';
import { classifySlackError } from '../slack/slack-errors';

/** Where failed Slack Web API calls are counted (`jit_slack_api_errors_total`). */
export interface SlackErrorCounter {
  slackApiError(method: string, error: string): void;
}

/**
 * A Web API client that counts its failed calls by method and error. Every method of the client
 * (chat.postMessage, views.publish, …) is bound to `apiCall` when the client is built, so the
 * override catches them all. Errors are Slack's own codes, `ratelimited`, `http_<status>`, or
 * `no_answer`: never free text.
 */
export class CountingWebClient extends WebClient {
  constructor(
    token: string,
    options: WebClientOptions,
    private readonly counter: SlackErrorCounter,
  ) {
    super(token, options);
  }

  override async apiCall(method: string, options?: Record<string, unknown>): Promise<WebAPICallResult> {
    try {
      return await super.apiCall(method, options);
    } catch (err) {
      const failure = classifySlackError(err);
      this.counter.slackApiError(method, failure.noAnswer ? 'no_answer' : failure.code);
      throw err;
    }
  }
}
