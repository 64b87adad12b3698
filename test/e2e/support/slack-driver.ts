/**
 * Plays Slack's side of the HTTP contract against the real app: signed slash
 * commands, block_actions, view_submission and Events API callbacks posted to
 * `POST /slack/events`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { FakeSlack } from './fake-slack';
import { TEAM_ID } from './fake-slack';

export const APP_ID = 'A0APP';
export const COMMAND = '/jit-access';

export interface DriverOptions {
  /** The app's base URL, e.g. http://127.0.0.1:3000 */
  baseUrl: string;
  signingSecret: string;
  fake: FakeSlack;
  /** Path Slack posts to (default /slack/events). */
  path?: string;
}

export interface DriverResponse {
  status: number;
  /** Response body as text ('' when empty). */
  body: string;
  /** Parsed JSON body, or undefined when the body is empty / not JSON. */
  json: unknown;
  /** Milliseconds from sending until the response body was complete. */
  ms: number;
  headers: Headers;
}

export interface CommandResult extends DriverResponse {
  /** The response_url sent with the command (served by the fake). */
  responseUrl: string;
  /** Its id, as recorded in fake.responses[].id. */
  responseId: string;
  triggerId: string;
}

export interface InteractionResult extends DriverResponse {
  responseUrl: string;
  responseId: string;
  triggerId: string;
  /** The payload that was sent. */
  payload: Record<string, unknown>;
}

export interface RetryOptions {
  /** Sets X-Slack-Retry-Num (and X-Slack-Retry-Reason). */
  retryNum?: number;
  /** Default 'http_timeout'. */
  retryReason?: string;
}

export interface CommandOptions extends RetryOptions {
  channelId?: string;
  channelName?: string;
  triggerId?: string;
  /** Defaults to '/jit-access'. */
  command?: string;
}

export interface BlockActionInput {
  action_id: string;
  value?: string;
  block_id?: string;
  /** Default 'button'. */
  type?: string;
  [extra: string]: unknown;
}

export interface BlockActionOptions extends RetryOptions {
  /** Channel of the message the button is in (default 'C0APPROVALS'; ignored when `view` is given). */
  channel?: string;
  /** ts of that message (default a fresh ts). */
  messageTs?: string;
  /** Extra fields of body.message (e.g. blocks, text, metadata, thread_ts). */
  message?: Record<string, unknown>;
  /** When given, the action comes from a view (App Home by default, or a modal): container {type:'view', view_id}. */
  view?: {
    id?: string;
    type?: 'home' | 'modal';
    callback_id?: string;
    private_metadata?: string;
    state?: { values: StateValues };
    [k: string]: unknown;
  };
  /** Override the container object entirely. */
  container?: Record<string, unknown>;
  /** body.state for messages with inputs. */
  state?: { values: StateValues };
  triggerId?: string;
  /** true for buttons in an ephemeral message. */
  ephemeral?: boolean;
}

export type StateValues = Record<string, Record<string, Record<string, unknown>>>;

export interface ViewInput {
  callback_id: string;
  private_metadata?: string;
  state: { values: StateValues };
  id?: string;
  [extra: string]: unknown;
}

export interface RawOptions {
  /** Unix seconds used in the header and signature (default now). */
  timestamp?: number;
  /** Exact X-Slack-Signature value to send. */
  signature?: string;
  /** Sign with a wrong secret. */
  badSignature?: boolean;
  /** Shift the timestamp this many seconds into the past (and sign it correctly). */
  staleSeconds?: number;
  /** Omit both signature headers. */
  unsigned?: boolean;
  /** Default /slack/events. */
  path?: string;
  /** Default POST. */
  method?: string;
}

export interface ModalInput {
  resource?: string;
  duration?: string;
  reason?: string;
  ticket?: string;
}

/** Slack-shaped `state.values` for the request modal (blocks and actions resource/duration/reason/ticket). */
export function modalValues(input: ModalInput): StateValues {
  const values: StateValues = {};
  if (input.resource !== undefined) {
    values.resource = {
      resource: {
        type: 'static_select',
        selected_option: { value: input.resource, text: { type: 'plain_text', text: input.resource, emoji: true } },
      },
    };
  }
  for (const key of ['duration', 'reason', 'ticket'] as const) {
    const v = input[key];
    if (v !== undefined) values[key] = { [key]: { type: 'plain_text_input', value: v } };
  }
  return values;
}

/** Slack-shaped `state.values` for the deny-reason modal (block and action `deny_reason`). */
export function denyReasonValues(reason: string): StateValues {
  return { deny_reason: { deny_reason: { type: 'plain_text_input', value: reason } } };
}

/** Slack's request signature: v0= + hex HMAC-SHA256(secret, `v0:${ts}:${body}`). */
export function signSlackRequest(signingSecret: string, timestamp: number, rawBody: string | Buffer): string {
  const h = createHmac('sha256', signingSecret);
  h.update(`v0:${timestamp}:`);
  h.update(rawBody);
  return `v0=${h.digest('hex')}`;
}

export class SlackDriver {
  readonly baseUrl: string;
  readonly signingSecret: string;
  readonly fake: FakeSlack;
  readonly path: string;

  constructor(opts: DriverOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.signingSecret = opts.signingSecret;
    this.fake = opts.fake;
    this.path = opts.path ?? '/slack/events';
  }

  static modalValues = modalValues;
  static denyReasonValues = denyReasonValues;
  modalValues(input: ModalInput): StateValues {
    return modalValues(input);
  }
  denyReasonValues(reason: string): StateValues {
    return denyReasonValues(reason);
  }

  /** A fresh trigger_id. */
  triggerId(): string {
    return `${Date.now()}.1337.${randomBytes(8).toString('hex')}`;
  }

  /** Signature for rawBody at timestamp with this driver's secret. */
  sign(rawBody: string | Buffer, timestamp: number = nowSec()): string {
    return signSlackRequest(this.signingSecret, timestamp, rawBody);
  }

  /** Slash command `/jit-access <text>` from userId. */
  async command(userId: string, text: string, opts: CommandOptions = {}): Promise<CommandResult> {
    const responseId = `cmd-${randomBytes(6).toString('hex')}`;
    const responseUrl = this.fake.responseUrl(responseId);
    const triggerId = opts.triggerId ?? this.triggerId();
    const channelId = opts.channelId ?? 'C0GENERAL';
    const form = new URLSearchParams({
      token: 'verification-token-unused',
      team_id: TEAM_ID,
      team_domain: 'test',
      channel_id: channelId,
      channel_name: opts.channelName ?? (channelId.startsWith('D') ? 'directmessage' : channelId.toLowerCase()),
      user_id: userId,
      user_name: this.userName(userId),
      command: opts.command ?? COMMAND,
      text,
      api_app_id: APP_ID,
      is_enterprise_install: 'false',
      response_url: responseUrl,
      trigger_id: triggerId,
    });
    const res = await this.post(form.toString(), 'application/x-www-form-urlencoded', opts);
    return { ...res, responseUrl, responseId, triggerId };
  }

  /** A click (or select) in a message, the App Home tab or a modal. */
  async blockAction(userId: string, action: BlockActionInput, opts: BlockActionOptions = {}): Promise<InteractionResult> {
    const responseId = `act-${randomBytes(6).toString('hex')}`;
    const responseUrl = this.fake.responseUrl(responseId);
    const triggerId = opts.triggerId ?? this.triggerId();
    const actionTs = this.fake.nextTs();
    const fullAction: Record<string, unknown> = {
      type: 'button',
      block_id: randomBytes(3).toString('hex'),
      ...action,
      action_ts: actionTs,
    };
    if (fullAction.type === 'button' && fullAction.text === undefined) {
      fullAction.text = { type: 'plain_text', text: action.action_id, emoji: true };
    }
    const payload: Record<string, unknown> = {
      type: 'block_actions',
      user: this.userObject(userId),
      api_app_id: APP_ID,
      token: 'verification-token-unused',
      team: { id: TEAM_ID, domain: 'test' },
      enterprise: null,
      is_enterprise_install: false,
      trigger_id: triggerId,
      actions: [fullAction],
    };
    if (opts.view) {
      const viewType = opts.view.type ?? 'home';
      const view = {
        id: opts.view.id ?? (viewType === 'home' ? `VHOME${userId}` : 'V0MODAL'),
        team_id: TEAM_ID,
        type: viewType,
        blocks: [],
        private_metadata: '',
        callback_id: '',
        state: { values: {} },
        hash: `${Date.now()}.abcdef`,
        app_id: APP_ID,
        bot_id: 'BBOT',
        ...opts.view,
      };
      payload.view = view;
      payload.container = opts.container ?? { type: 'view', view_id: view.id };
      // Slack sends no response_url for actions inside views.
      payload.state = view.state;
    } else {
      const channel = opts.channel ?? 'C0APPROVALS';
      const messageTs = opts.messageTs ?? this.fake.nextTs();
      payload.container = opts.container ?? {
        type: 'message',
        message_ts: messageTs,
        channel_id: channel,
        is_ephemeral: opts.ephemeral ?? false,
      };
      payload.channel = { id: channel, name: channel.toLowerCase() };
      if (!opts.ephemeral) {
        payload.message = {
          type: 'message',
          user: 'UBOT',
          bot_id: 'BBOT',
          team: TEAM_ID,
          text: '',
          blocks: [],
          ...opts.message,
          ts: messageTs,
        };
      }
      payload.response_url = responseUrl;
      payload.state = opts.state ?? { values: {} };
    }
    const clean = JSON.parse(JSON.stringify(payload)) as Record<string, unknown>;
    const res = await this.post(
      new URLSearchParams({ payload: JSON.stringify(clean) }).toString(),
      'application/x-www-form-urlencoded',
      opts,
    );
    return { ...res, responseUrl, responseId, triggerId, payload: clean };
  }

  /** Submit a modal. `json` holds e.g. {response_action:'errors', errors:{…}}; null when acked with an empty body. */
  async viewSubmission(userId: string, view: ViewInput, opts: RetryOptions & { responseUrls?: boolean } = {}): Promise<InteractionResult> {
    const triggerId = this.triggerId();
    const responseId = `view-${randomBytes(6).toString('hex')}`;
    const responseUrl = this.fake.responseUrl(responseId);
    const fullView = {
      id: view.id ?? `V${randomBytes(4).toString('hex').toUpperCase()}`,
      team_id: TEAM_ID,
      type: 'modal',
      blocks: [],
      private_metadata: '',
      title: { type: 'plain_text', text: 'Request access' },
      close: null,
      submit: { type: 'plain_text', text: 'Submit' },
      hash: `${Date.now()}.abcdef`,
      clear_on_close: false,
      notify_on_close: false,
      root_view_id: null as string | null,
      previous_view_id: null,
      app_id: APP_ID,
      external_id: '',
      app_installed_team_id: TEAM_ID,
      bot_id: 'BBOT',
      ...view,
    };
    fullView.root_view_id = fullView.root_view_id ?? fullView.id;
    const payload: Record<string, unknown> = {
      type: 'view_submission',
      team: { id: TEAM_ID, domain: 'test' },
      user: this.userObject(userId),
      api_app_id: APP_ID,
      token: 'verification-token-unused',
      trigger_id: triggerId,
      view: fullView,
      response_urls: opts.responseUrls
        ? [{ block_id: 'channel', action_id: 'channel', channel_id: 'C0GENERAL', response_url: responseUrl }]
        : [],
      is_enterprise_install: false,
      enterprise: null,
    };
    const res = await this.post(
      new URLSearchParams({ payload: JSON.stringify(payload) }).toString(),
      'application/x-www-form-urlencoded',
      opts,
    );
    return { ...res, responseUrl, responseId, triggerId, payload };
  }

  /** The user closed a modal (only sent by Slack when notify_on_close is set). */
  async viewClosed(
    userId: string,
    view: Omit<ViewInput, 'state'> & { state?: { values: StateValues } },
    opts: RetryOptions = {},
  ): Promise<DriverResponse> {
    const payload = {
      type: 'view_closed',
      team: { id: TEAM_ID, domain: 'test' },
      user: this.userObject(userId),
      api_app_id: APP_ID,
      token: 'verification-token-unused',
      view: { id: view.id ?? 'V0MODAL', team_id: TEAM_ID, type: 'modal', state: { values: {} }, private_metadata: '', ...view },
      is_cleared: false,
    };
    return this.post(new URLSearchParams({ payload: JSON.stringify(payload) }).toString(), 'application/x-www-form-urlencoded', opts);
  }

  /** An Events API callback wrapping `event` (e.g. {type:'app_home_opened', user, tab:'home'}). */
  async event(
    event: Record<string, unknown>,
    opts: RetryOptions & { eventId?: string } = {},
  ): Promise<DriverResponse & { eventId: string }> {
    const eventId = opts.eventId ?? `Ev${randomBytes(6).toString('hex').toUpperCase()}`;
    const now = nowSec();
    const body = {
      token: 'verification-token-unused',
      team_id: TEAM_ID,
      context_team_id: TEAM_ID,
      api_app_id: APP_ID,
      event: { event_ts: this.fake.nextTs(), ...event },
      type: 'event_callback',
      event_id: eventId,
      event_time: now,
      authorizations: [{ enterprise_id: null, team_id: TEAM_ID, user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: `4-${randomBytes(8).toString('hex')}`,
    };
    const res = await this.post(JSON.stringify(body), 'application/json', opts);
    return { ...res, eventId };
  }

  /** Shorthand for event({type:'app_home_opened', user, channel, tab:'home'}). */
  appHomeOpened(userId: string, opts: RetryOptions = {}): Promise<DriverResponse & { eventId: string }> {
    return this.event({ type: 'app_home_opened', user: userId, channel: `D${userId}`, tab: 'home' }, opts);
  }

  /** Slack's url_verification handshake. */
  urlVerification(challenge = 'challenge-token'): Promise<DriverResponse> {
    return this.post(JSON.stringify({ token: 'verification-token-unused', challenge, type: 'url_verification' }), 'application/json', {});
  }

  /**
   * Sends `body` with `headers` (Content-Type defaults to x-www-form-urlencoded), signed
   * correctly unless opts say otherwise. For forged, stale and oversized requests.
   */
  async raw(body: string | Buffer, headers: Record<string, string> = {}, opts: RawOptions = {}): Promise<DriverResponse> {
    const ts = (opts.timestamp ?? nowSec()) - (opts.staleSeconds ?? 0);
    const h: Record<string, string> = {};
    const hasContentType = Object.keys(headers).some((k) => k.toLowerCase() === 'content-type');
    if (!hasContentType) h['Content-Type'] = 'application/x-www-form-urlencoded';
    if (!opts.unsigned) {
      h['X-Slack-Request-Timestamp'] = String(ts);
      h['X-Slack-Signature'] =
        opts.signature ?? (opts.badSignature ? signSlackRequest(`${this.signingSecret}-wrong`, ts, body) : this.sign(body, ts));
    }
    Object.assign(h, headers);
    return this.send(opts.path ?? this.path, opts.method ?? 'POST', body, h);
  }

  /** Plain GET against the app (e.g. /healthz). */
  async get(path: string): Promise<DriverResponse> {
    return this.send(path, 'GET', undefined, {});
  }

  // ----------------------------------------------------------------

  private async post(rawBody: string, contentType: string, retry: RetryOptions): Promise<DriverResponse> {
    const ts = nowSec();
    const headers: Record<string, string> = {
      'Content-Type': contentType,
      'X-Slack-Request-Timestamp': String(ts),
      'X-Slack-Signature': this.sign(rawBody, ts),
      'User-Agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    };
    if (retry.retryNum !== undefined) {
      headers['X-Slack-Retry-Num'] = String(retry.retryNum);
      headers['X-Slack-Retry-Reason'] = retry.retryReason ?? 'http_timeout';
    }
    return this.send(this.path, 'POST', rawBody, headers);
  }

  private async send(
    path: string,
    method: string,
    body: string | Buffer | undefined,
    headers: Record<string, string>,
  ): Promise<DriverResponse> {
    const started = performance.now();
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : new Uint8Array(body),
    });
    const text = await res.text();
    const ms = performance.now() - started;
    let json: unknown;
    if (text.length > 0) {
      try {
        json = JSON.parse(text) as unknown;
      } catch {
        json = undefined;
      }
    }
    return { status: res.status, body: text, json, ms, headers: res.headers };
  }

  private userName(userId: string): string {
    return this.fake.users.get(userId)?.name ?? userId.toLowerCase();
  }

  private userObject(userId: string): Record<string, unknown> {
    const name = this.userName(userId);
    return { id: userId, username: name, name, team_id: TEAM_ID };
  }
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}
