/**
 * A local stand-in for the Slack Web API (`POST /api/<method>`) and for
 * response_url endpoints (`POST /response/<id>`), for end-to-end tests that
 * point the real app at it with SLACK_API_URL.
 *
 * Every call is recorded; calls can be awaited; faults (ok:false errors, HTTP
 * 429/500, delays) can be injected per method; the whole API can go down (every connection is
 * cut unanswered, as in a Slack or DNS outage) and come back.
 *
 * Like real Slack, it refuses blocks and views past Block Kit's documented limits
 * (block-kit-rules.ts): `invalid_blocks` for messages, `invalid_arguments` for views,
 * `msg_too_long` for text, with Slack's `[json-pointer:…]` messages.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { WebSocketServer, WebSocket } from 'ws';
import { Recorder, brief, readBody } from './recorder';
import { messageProblems, textProblems, viewProblems } from './block-kit-rules';

export type Args = Record<string, unknown>;
export type SlackBody = Record<string, unknown>;

export interface SlackCall {
  /** Web API method, e.g. 'chat.postMessage'. */
  method: string;
  /** Arguments; JSON-string fields (blocks, attachments, view, metadata, …) are parsed back into objects. */
  args: Args;
  /** Date.now() when the request arrived. */
  at: number;
  /** Token from `Authorization: Bearer …` (or a `token` body field). */
  token: string | undefined;
  /** true when the answer was not a success (ok:false or non-2xx), injected or not. */
  failed: boolean;
  /** true when the answer came from failNext/failAlways, or the API was down. */
  injected: boolean;
  /** HTTP status answered. */
  status: number;
  /** JSON body answered. */
  response: SlackBody;
  contentType: string;
}

export interface ResponseUrlPost {
  /** The <id> in /response/<id>. */
  id: string;
  /** Parsed JSON body (or form fields). */
  body: Args;
  at: number;
  /** HTTP status answered (200 unless failResponses()). */
  status: number;
}

export interface FaultOptions {
  /** ok:false error code (HTTP 200 unless status is given). */
  error?: string;
  /** HTTP status, e.g. 429 (body {ok:false,error:'ratelimited'}, Retry-After header) or 500. */
  status?: number;
  /** Seconds for the Retry-After header (default 1 for a 429). */
  retryAfter?: number;
  /** How many calls the fault applies to (failNext only; default 1). */
  times?: number;
  /** Delay the answer by this many ms. Alone (no error/status) it only slows the method down. */
  delayMs?: number;
}

export interface FakeUser {
  email?: string;
  name?: string;
  realName?: string;
  deleted?: boolean;
  isBot?: boolean;
  tz?: string;
}

/** Custom answer for a method; the returned object gets ok:true unless it sets ok. */
export type MethodHandler = (args: Args, call: { method: string; token: string | undefined }) => SlackBody | Promise<SlackBody>;

export interface StoredMessage {
  channel: string;
  ts: string;
  text: unknown;
  blocks: unknown;
  threadTs?: string;
  /** Every args object posted/updated for this message, oldest first. */
  history: Args[];
}

/** A message the app sent over a Socket Mode connection (an ack is `{envelope_id, payload?}`). */
export interface SocketMessage {
  /** Which connection it came on (1-based, in connection order). */
  connection: number;
  /** Parsed JSON (undefined when it was not JSON). */
  data: Record<string, unknown> | undefined;
  raw: string;
  at: number;
}

export interface SocketEnvelopeOptions {
  /** Default: a fresh UUID. */
  envelopeId?: string;
  /** Default true for slash_commands and interactive, false otherwise (as Slack does). */
  acceptsResponsePayload?: boolean;
  retryAttempt?: number;
  retryReason?: string;
  /** Connection to send on (default the newest open one). */
  connection?: FakeSocketConnection;
}

/** One app connection to the fake Socket Mode endpoint. */
export class FakeSocketConnection {
  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    /** Path and query the app connected with. */
    readonly url: string,
  ) {}

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends one JSON message to the app, as Slack would. */
  send(message: unknown): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(JSON.stringify(message), (err) => (err ? reject(err) : resolve())));
  }

  /** What Slack sends right after the connection opens; the client is not "connected" before it. */
  hello(): Promise<void> {
    return this.send({
      type: 'hello',
      num_connections: 1,
      debug_info: { host: 'applink-fake', build_number: 1, approximate_connection_time: 18060 },
      connection_info: { app_id: 'A0APP' },
    });
  }

  /** Asks the app to reconnect, as Slack does before recycling a connection. */
  disconnectMessage(reason = 'refresh_requested'): Promise<void> {
    return this.send({ type: 'disconnect', reason, debug_info: { host: 'applink-fake' } });
  }
}

interface Fault extends FaultOptions {
  remaining: number; // Infinity for failAlways
}

/** Fields that @slack/web-api JSON-encodes inside form bodies. */
const JSON_FIELDS = new Set(['blocks', 'attachments', 'view', 'metadata', 'unfurls', 'user_auth_blocks', 'options']);

export const TEAM_ID = 'T0TEAM';
const BOT_USER_ID = 'UBOT';
const BOT_ID = 'BBOT';

export class FakeSlack {
  readonly url: string;
  readonly apiUrl: string;
  /** Users known to users.info / users.lookupByEmail. */
  readonly users = new Map<string, FakeUser>();
  /** Usergroup id -> member user ids, for usergroups.users.list. */
  readonly usergroups = new Map<string, string[]>();
  /** URL returned by apps.connections.open: by default this fake's own Socket Mode endpoint. */
  socketUrl: string;
  /** Socket Mode: send the `hello` message as soon as an app connects (as Slack does). */
  socketAutoHello = true;
  /** Messages posted with chat.postMessage, kept current by chat.update; key `${channel}:${ts}`. */
  readonly messages = new Map<string, StoredMessage>();
  /** Messages removed with chat.delete; key `${channel}:${ts}`. */
  readonly deletedMessages = new Map<string, StoredMessage>();
  /** Last view published per user (views.publish). */
  readonly homeViews = new Map<string, Args>();

  private readonly callLog = new Recorder<SlackCall>();
  private readonly responseLog = new Recorder<ResponseUrlPost>();
  private readonly faults = new Map<string, Fault[]>();
  private readonly handlers = new Map<string, MethodHandler>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private responseFaults: { status: number; remaining: number }[] = [];
  private isDown = false;
  private lastTsMicros = 0;
  private viewSeq = 0;
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly socketLog = new Recorder<FakeSocketConnection>();
  private readonly socketMessageLog = new Recorder<SocketMessage>();

  private constructor(private readonly server: http.Server) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.url}/api/`;
    this.socketUrl = `ws://127.0.0.1:${port}/socket?ticket=${randomBytes(8).toString('hex')}`;
    server.on('upgrade', (req, socket, head) => {
      if (!(req.url ?? '').startsWith('/socket')) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws, req.url ?? '/socket'));
    });
  }

  static async start(): Promise<FakeSlack> {
    let fake: FakeSlack | undefined;
    const server = http.createServer((req, res) => {
      if (!fake) {
        res.writeHead(503).end();
        return;
      }
      fake.onRequest(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error: 'fake_slack_internal', detail: String(err) }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    fake = new FakeSlack(server);
    return fake;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.callLog.abortAll('FakeSlack stopped');
    this.responseLog.abortAll('FakeSlack stopped');
    this.socketLog.abortAll('FakeSlack stopped');
    this.socketMessageLog.abortAll('FakeSlack stopped');
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ---------------------------------------------------------------- calls

  /** Every Web API call, in arrival order (failed ones included). */
  get calls(): readonly SlackCall[] {
    return this.callLog.records;
  }

  callsTo(method: string): SlackCall[] {
    return this.callLog.records.filter((c) => c.method === method);
  }

  lastCall(method: string): SlackCall | undefined {
    const list = this.callsTo(method);
    return list[list.length - 1];
  }

  /** Resolves with the first recorded call (past or future) to `method` matching `predicate`. Failed attempts match too; filter on `c.failed` if needed. */
  waitFor(method: string, predicate?: (c: SlackCall) => boolean, timeoutMs = 5000): Promise<SlackCall> {
    return this.callLog.waitFor(
      (c) => c.method === method && (!predicate || predicate(c)),
      timeoutMs,
      () => this.describeWait(method, predicate),
    );
  }

  /** Resolves with the first n matching calls. */
  waitForCount(method: string, n: number, predicate?: (c: SlackCall) => boolean, timeoutMs = 5000): Promise<SlackCall[]> {
    return this.callLog.waitForCount(
      (c) => c.method === method && (!predicate || predicate(c)),
      n,
      timeoutMs,
      () => this.describeWait(method, predicate),
    );
  }

  /** Forgets recorded calls and response_url posts (not users, usergroups, faults or handlers). */
  clear(): void {
    this.callLog.clear();
    this.responseLog.clear();
  }

  private describeWait(method: string, predicate?: (c: SlackCall) => boolean): string {
    const seen = this.callsTo(method).map((c) => brief(c.args, 200));
    return `${method}${predicate ? ' (with predicate)' : ''}; calls to it so far: ${seen.length ? seen.join(' | ') : 'none'}`;
  }

  // ---------------------------------------------------------------- faults & handlers

  /** The next `times` (default 1) calls to `method` fail as described. Faults queue up in order. */
  failNext(method: string, opts: FaultOptions = {}): void {
    const list = this.faults.get(method) ?? [];
    list.push({ ...opts, remaining: opts.times ?? 1 });
    this.faults.set(method, list);
  }

  /**
   * The whole Web API (and response_url) stops answering: every connection is cut without an
   * answer, as when Slack or DNS is down. Calls are still recorded (status 0). Until up().
   */
  down(): void {
    this.isDown = true;
  }

  up(): void {
    this.isDown = false;
  }

  /** Every call to `method` fails as described until heal(). */
  failAlways(method: string, opts: FaultOptions = {}): void {
    const list = this.faults.get(method) ?? [];
    list.push({ ...opts, remaining: Number.POSITIVE_INFINITY });
    this.faults.set(method, list);
  }

  /** Shorthand: every call to `method` is answered normally but `ms` late. */
  slow(method: string, ms: number): void {
    this.failAlways(method, { delayMs: ms });
  }

  /** Removes injected faults for `method` (all methods when omitted), incl. response_url faults when omitted. */
  heal(method?: string): void {
    if (method === undefined) {
      this.faults.clear();
      this.responseFaults = [];
    } else this.faults.delete(method);
  }

  /** Replaces the built-in answer for `method` (undefined restores it). */
  handle(method: string, handler: MethodHandler | undefined): void {
    if (handler) this.handlers.set(method, handler);
    else this.handlers.delete(method);
  }

  /** The next `times` response_url posts are answered with HTTP `status` (e.g. 404 expired_url). */
  failResponses(status: number, times = 1): void {
    this.responseFaults.push({ status, remaining: times });
  }

  // ---------------------------------------------------------------- response_url

  /** Mints a response_url served by this fake. */
  responseUrl(id: string = randomBytes(6).toString('hex')): string {
    return `${this.url}/response/${encodeURIComponent(id)}`;
  }

  get responses(): readonly ResponseUrlPost[] {
    return this.responseLog.records;
  }

  /** Posts to one response_url (by id or full URL). */
  responsesTo(idOrUrl: string): ResponseUrlPost[] {
    const id = idOrUrl.includes('/response/') ? decodeURIComponent(idOrUrl.split('/response/')[1] ?? '') : idOrUrl;
    return this.responseLog.records.filter((r) => r.id === id);
  }

  waitForResponse(predicate?: (r: ResponseUrlPost) => boolean, timeoutMs = 5000): Promise<ResponseUrlPost> {
    return this.responseLog.waitFor(
      (r) => !predicate || predicate(r),
      timeoutMs,
      () => {
        const seen = this.responseLog.records.map((r) => `${r.id}: ${brief(r.body, 200)}`);
        return `response_url post; posts so far: ${seen.length ? seen.join(' | ') : 'none'}`;
      },
    );
  }

  // ---------------------------------------------------------------- Socket Mode

  /** Every app connection to the Socket Mode endpoint, in order (closed ones included). */
  get socketConnections(): readonly FakeSocketConnection[] {
    return this.socketLog.records;
  }

  /** Resolves with the n-th (1-based, default first) connection, past or future. */
  async waitForSocket(n = 1, timeoutMs = 5000): Promise<FakeSocketConnection> {
    const all = await this.socketLog.waitForCount(
      () => true,
      n,
      timeoutMs,
      () => `Socket Mode connection #${n}`,
    );
    return all[n - 1] as FakeSocketConnection;
  }

  /** Every message the app sent over Socket Mode (acks included), in arrival order. */
  get socketMessages(): readonly SocketMessage[] {
    return this.socketMessageLog.records;
  }

  /** Resolves with the first message (past or future) from the app matching `predicate`. */
  waitForSocketMessage(predicate: (m: SocketMessage) => boolean, timeoutMs = 5000): Promise<SocketMessage> {
    return this.socketMessageLog.waitFor(predicate, timeoutMs, () => {
      const seen = this.socketMessageLog.records.map((m) => brief(m.raw, 200));
      return `Socket Mode message from the app; so far: ${seen.length ? seen.join(' | ') : 'none'}`;
    });
  }

  /** Resolves with the app's ack (`{envelope_id, payload?}`) of an envelope. */
  waitForAck(envelopeId: string, timeoutMs = 5000): Promise<SocketMessage> {
    return this.waitForSocketMessage((m) => m.data?.envelope_id === envelopeId, timeoutMs);
  }

  /**
   * Sends a Socket Mode envelope `{envelope_id, type, payload, accepts_response_payload}` to the app
   * (type 'slash_commands', 'interactive' or 'events_api'); returns its envelope_id.
   */
  async sendEnvelope(type: string, payload: Args, opts: SocketEnvelopeOptions = {}): Promise<string> {
    const conn = opts.connection ?? [...this.socketLog.records].reverse().find((c) => c.open);
    if (!conn) throw new Error('no open Socket Mode connection');
    const envelopeId = opts.envelopeId ?? randomUUID();
    const envelope: Args = {
      envelope_id: envelopeId,
      type,
      payload,
      accepts_response_payload: opts.acceptsResponsePayload ?? (type === 'slash_commands' || type === 'interactive'),
    };
    if (opts.retryAttempt !== undefined) envelope.retry_attempt = opts.retryAttempt;
    if (opts.retryReason !== undefined) envelope.retry_reason = opts.retryReason;
    await conn.send(envelope);
    return envelopeId;
  }

  private onSocket(ws: WebSocket, url: string): void {
    const conn = new FakeSocketConnection(this.socketLog.records.length + 1, ws, url);
    ws.on('message', (data, isBinary) => {
      const raw = isBinary ? '' : data.toString();
      let parsed: Record<string, unknown> | undefined;
      try {
        const v = JSON.parse(raw) as unknown;
        if (v && typeof v === 'object' && !Array.isArray(v)) parsed = v as Record<string, unknown>;
      } catch {
        parsed = undefined;
      }
      this.socketMessageLog.push({ connection: conn.id, data: parsed, raw, at: Date.now() });
    });
    ws.on('error', () => {});
    if (this.socketAutoHello) void conn.hello().catch(() => {});
    this.socketLog.push(conn);
  }

  // ---------------------------------------------------------------- state helpers

  /** Current state of a message posted through the fake (after chat.update calls). */
  message(channel: string, ts: string): StoredMessage | undefined {
    return this.messages.get(`${channel}:${ts}`);
  }

  /** A fresh, strictly increasing Slack timestamp ('1700000000.000100' style, based on the clock). */
  nextTs(): string {
    this.lastTsMicros = Math.max(Date.now() * 1000, this.lastTsMicros + 100);
    const x = this.lastTsMicros;
    return `${Math.floor(x / 1e6)}.${String(x % 1e6).padStart(6, '0')}`;
  }

  // ---------------------------------------------------------------- HTTP plumbing

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const at = Date.now();
    const u = new URL(req.url ?? '/', this.url);
    if (this.isDown) {
      const method = decodeURIComponent(/^\/api\/(.+)$/.exec(u.pathname)?.[1] ?? u.pathname);
      this.callLog.push({ method, args: {}, at, token: undefined, failed: true, injected: true, status: 0, response: {}, contentType: '' });
      req.socket.destroy();
      return;
    }
    const raw = await readBody(req);
    const contentType = String(req.headers['content-type'] ?? '');

    if (u.pathname.startsWith('/response/')) {
      const id = decodeURIComponent(u.pathname.slice('/response/'.length));
      const body = await parseBody(raw, contentType, req.headers);
      const fault = this.responseFaults[0];
      let status = 200;
      let error = 'injected_failure';
      if (fault) {
        status = fault.status;
        if (--fault.remaining <= 0) this.responseFaults.shift();
      } else {
        const blocks = typeof body.blocks === 'string' ? tryJson(body.blocks) : body.blocks;
        const problems = [...textProblems(body.text), ...messageProblems(blocks)];
        if (problems.length) {
          status = 400;
          error = textProblems(body.text).length ? 'msg_too_long' : 'invalid_blocks';
        }
      }
      this.responseLog.push({ id, body, at, status });
      sendJson(res, status, status === 200 ? { ok: true } : { ok: false, error });
      return;
    }

    const m = /^\/api\/(.+)$/.exec(u.pathname);
    if (!m || (req.method !== 'POST' && req.method !== 'GET')) {
      sendJson(res, 404, { ok: false, error: 'not_found' });
      return;
    }
    const method = decodeURIComponent(m[1] as string);
    const args: Args = Object.fromEntries(u.searchParams.entries());
    Object.assign(args, await parseBody(raw, contentType, req.headers));
    for (const [k, v] of Object.entries(args)) {
      if (JSON_FIELDS.has(k) && typeof v === 'string') args[k] = tryJson(v);
    }
    const auth = String(req.headers.authorization ?? '');
    const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1];
    const token = bearer ?? (typeof args.token === 'string' ? args.token : undefined);

    let status = 200;
    let response: SlackBody;
    const headers: Record<string, string> = {};
    let injected = false;
    let delayMs = 0;

    const fault = this.takeFault(method);
    if (fault) delayMs = fault.delayMs ?? 0;
    if (fault && (fault.error !== undefined || fault.status !== undefined)) {
      injected = true;
      status = fault.status ?? 200;
      if (status === 429) {
        headers['Retry-After'] = String(fault.retryAfter ?? 1);
        response = { ok: false, error: fault.error ?? 'ratelimited' };
      } else {
        if (fault.retryAfter !== undefined) headers['Retry-After'] = String(fault.retryAfter);
        response = { ok: false, error: fault.error ?? (status >= 500 ? 'internal_error' : 'request_failed') };
      }
    } else if (!token) {
      response = { ok: false, error: 'not_authed' };
    } else if (refusal(method, args)) {
      response = refusal(method, args)!;
    } else {
      const handler = this.handlers.get(method);
      try {
        response = handler ? { ok: true, ...(await handler(args, { method, token })) } : this.answer(method, args);
      } catch (err) {
        status = 500;
        response = { ok: false, error: 'fake_handler_threw', detail: String(err) };
      }
    }

    this.callLog.push({
      method,
      args,
      at,
      token,
      failed: status < 200 || status >= 300 || response.ok !== true,
      injected,
      status,
      response,
      contentType,
    });

    if (delayMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          resolve();
        }, delayMs);
        this.timers.add(t);
      });
    }
    if (res.destroyed) return;
    sendJson(res, status, response, headers);
  }

  private takeFault(method: string): Fault | undefined {
    const list = this.faults.get(method);
    const f = list?.[0];
    if (!list || !f) return undefined;
    f.remaining -= 1;
    if (f.remaining <= 0) list.shift();
    if (list.length === 0) this.faults.delete(method);
    return f;
  }

  // ---------------------------------------------------------------- built-in answers

  private answer(method: string, args: Args): SlackBody {
    const str = (k: string): string | undefined =>
      typeof args[k] === 'string' ? (args[k] as string) : args[k] === undefined ? undefined : String(args[k]);
    switch (method) {
      case 'api.test':
        return { ok: true, args };
      case 'auth.test':
        return {
          ok: true,
          url: 'https://test.slack.com/',
          team: 'Test',
          user: 'jit-access',
          team_id: TEAM_ID,
          user_id: BOT_USER_ID,
          bot_id: BOT_ID,
          is_enterprise_install: false,
        };
      case 'chat.postMessage': {
        const channel = str('channel');
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (args.text === undefined && args.blocks === undefined && args.attachments === undefined) return { ok: false, error: 'no_text' };
        const outChannel = /^[UW]/.test(channel) ? `D${channel}` : channel;
        const ts = this.nextTs();
        const message: SlackBody = { type: 'message', text: args.text ?? '', user: BOT_USER_ID, bot_id: BOT_ID, ts, team: TEAM_ID };
        if (args.blocks !== undefined) message.blocks = args.blocks;
        if (args.attachments !== undefined) message.attachments = args.attachments;
        if (args.metadata !== undefined) message.metadata = args.metadata;
        if (args.thread_ts !== undefined) message.thread_ts = str('thread_ts');
        this.messages.set(`${outChannel}:${ts}`, {
          channel: outChannel,
          ts,
          text: args.text,
          blocks: args.blocks,
          threadTs: str('thread_ts'),
          history: [args],
        });
        return { ok: true, channel: outChannel, ts, message };
      }
      case 'chat.update': {
        const channel = str('channel');
        const ts = str('ts');
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (!ts) return { ok: false, error: 'message_not_found' };
        const key = `${channel}:${ts}`;
        const prev = this.messages.get(key);
        const next: StoredMessage = {
          channel,
          ts,
          text: args.text ?? prev?.text,
          blocks: args.blocks ?? prev?.blocks,
          threadTs: prev?.threadTs,
          history: [...(prev?.history ?? []), args],
        };
        this.messages.set(key, next);
        return {
          ok: true,
          channel,
          ts,
          text: next.text ?? '',
          message: { type: 'message', text: next.text ?? '', blocks: next.blocks, user: BOT_USER_ID, bot_id: BOT_ID },
        };
      }
      case 'chat.delete': {
        // As Slack documents it: the message must exist (in that channel), and only the bot's own
        // messages may be deleted with a bot token (the fake holds only those). Deleted is gone:
        // a second delete is message_not_found.
        const channel = str('channel');
        const ts = str('ts');
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (!ts) return { ok: false, error: 'message_not_found' };
        const key = `${channel}:${ts}`;
        const message = this.messages.get(key);
        if (!message) return { ok: false, error: 'message_not_found' };
        this.messages.delete(key);
        this.deletedMessages.set(key, message);
        return { ok: true, channel, ts };
      }
      case 'chat.postEphemeral':
        if (!str('channel')) return { ok: false, error: 'channel_not_found' };
        if (!str('user')) return { ok: false, error: 'user_not_in_channel' };
        return { ok: true, message_ts: this.nextTs() };
      case 'chat.getPermalink': {
        const channel = str('channel') ?? '';
        const ts = str('message_ts') ?? '';
        return { ok: true, channel, permalink: `https://test.slack.com/archives/${channel}/p${ts.replace('.', '')}` };
      }
      case 'chat.scheduleMessage':
        return { ok: true, channel: str('channel'), scheduled_message_id: `Q${++this.viewSeq}`, post_at: args.post_at };
      case 'views.open':
      case 'views.push': {
        if (!str('trigger_id') && !str('interactivity_pointer')) return { ok: false, error: 'invalid_arguments' };
        return { ok: true, view: this.viewOut(args, `V${String(++this.viewSeq).padStart(8, '0')}`) };
      }
      case 'views.update': {
        const id = str('view_id') ?? `V${String(++this.viewSeq).padStart(8, '0')}`;
        return { ok: true, view: this.viewOut(args, id) };
      }
      case 'views.publish': {
        const user = str('user_id');
        if (!user) return { ok: false, error: 'invalid_arguments' };
        const view = this.viewOut(args, `VHOME${user}`);
        this.homeViews.set(user, view);
        return { ok: true, view };
      }
      case 'conversations.open': {
        const users = Array.isArray(args.users) ? args.users.map(String) : (str('users') ?? '').split(',').filter(Boolean);
        const channelArg = str('channel');
        const first = users[0];
        if (!first && !channelArg) return { ok: false, error: 'user_not_found' };
        const id = channelArg ?? (users.length > 1 ? `G${users.join('')}` : `D${first}`);
        return { ok: true, no_op: false, already_open: false, channel: { id } };
      }
      case 'conversations.info': {
        const channel = str('channel');
        if (!channel) return { ok: false, error: 'channel_not_found' };
        return {
          ok: true,
          channel: {
            id: channel,
            name: channel.toLowerCase(),
            is_channel: channel.startsWith('C'),
            is_im: channel.startsWith('D'),
            is_member: true,
          },
        };
      }
      case 'conversations.join':
        return { ok: true, channel: { id: str('channel') } };
      case 'reactions.add':
      case 'reactions.remove':
        return { ok: true };
      case 'users.info': {
        const id = str('user') ?? '';
        const u = this.users.get(id);
        if (!u) return { ok: false, error: 'user_not_found' };
        return { ok: true, user: userOut(id, u) };
      }
      case 'users.lookupByEmail': {
        const email = (str('email') ?? '').toLowerCase();
        for (const [id, u] of this.users) if (u.email?.toLowerCase() === email) return { ok: true, user: userOut(id, u) };
        return { ok: false, error: 'users_not_found' };
      }
      case 'usergroups.users.list': {
        const id = str('usergroup') ?? '';
        const members = this.usergroups.get(id);
        if (!members) return { ok: false, error: 'no_such_subteam' };
        return { ok: true, users: [...members] };
      }
      case 'usergroups.list':
        return {
          ok: true,
          usergroups: [...this.usergroups].map(([id, users]) => ({
            id,
            team_id: TEAM_ID,
            handle: id.toLowerCase(),
            name: id,
            users: [...users],
            user_count: users.length,
          })),
        };
      case 'team.info':
        return { ok: true, team: { id: TEAM_ID, name: 'Test', domain: 'test' } };
      case 'apps.connections.open':
        return { ok: true, url: this.socketUrl };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  private viewOut(args: Args, id: string): Args {
    const view = typeof args.view === 'object' && args.view !== null ? (args.view as Args) : {};
    return {
      team_id: TEAM_ID,
      state: { values: {} },
      hash: `${Date.now()}.${randomBytes(4).toString('hex')}`,
      app_id: 'A0APP',
      bot_id: BOT_ID,
      root_view_id: id,
      previous_view_id: null,
      external_id: args.external_id ?? '',
      ...view,
      id,
    };
  }
}

const MESSAGE_METHODS = new Set(['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'chat.scheduleMessage']);
const VIEW_METHODS = new Set(['views.open', 'views.push', 'views.update', 'views.publish']);

/** What real Slack answers for content past Block Kit's limits, or undefined when it takes it. */
function refusal(method: string, args: Args): SlackBody | undefined {
  const refuse = (error: string, problems: string[]) => ({
    ok: false,
    error,
    errors: problems,
    response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) },
  });
  if (MESSAGE_METHODS.has(method)) {
    const tooLong = textProblems(args.text);
    if (tooLong.length) return refuse('msg_too_long', tooLong);
    const problems = messageProblems(args.blocks);
    if (problems.length) return refuse('invalid_blocks', problems);
  }
  if (VIEW_METHODS.has(method)) {
    const problems = viewProblems(args.view);
    if (problems.length) return refuse('invalid_arguments', problems);
  }
  return undefined;
}

function userOut(id: string, u: FakeUser): Args {
  const name = u.name ?? id.toLowerCase();
  const realName = u.realName ?? name;
  return {
    id,
    team_id: TEAM_ID,
    name,
    real_name: realName,
    deleted: u.deleted ?? false,
    is_bot: u.isBot ?? false,
    tz: u.tz ?? 'Europe/London',
    profile: { email: u.email, real_name: realName, display_name: name },
  };
}

function tryJson(s: string): unknown {
  const t = s.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return s;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return s;
  }
}

async function parseBody(raw: Buffer, contentType: string, headers: http.IncomingHttpHeaders): Promise<Args> {
  if (raw.length === 0) return {};
  const ct = contentType.toLowerCase();
  if (ct.includes('application/json')) {
    const parsed = JSON.parse(raw.toString('utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Args) : { _body: parsed };
  }
  if (ct.includes('multipart/form-data')) {
    const form = await new Response(raw, { headers: { 'content-type': String(headers['content-type']) } }).formData();
    const out: Args = {};
    form.forEach((v, k) => {
      out[k] = typeof v === 'string' ? v : `[file ${v.size} bytes]`;
    });
    return out;
  }
  // x-www-form-urlencoded (also the default when no content type is sent)
  return Object.fromEntries(new URLSearchParams(raw.toString('utf8')).entries());
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
