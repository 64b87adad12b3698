import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse as parseQuery } from 'node:querystring';
import type { Logger } from 'pino';
import { RefusalLog } from './refusal-log';

const SLACK_EVENTS_PATH = '/slack/events';
/** Slack's own payloads are a few KB; a larger body is refused with 413. */
export const BODY_LIMIT = 256 * 1024;
/** An oversized body is read and dropped up to this, so its sender gets the 413; beyond it the connection is cut. */
const DISCARD_LIMIT = 8 * 1024 * 1024;
/** Slack's rule: a signature older (or newer) than five minutes is a replay. */
const MAX_SIGNATURE_AGE_S = 5 * 60;
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,20}$/;

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Puts a gate in front of Bolt on POST /slack/events. Bolt answers an oversized body with 413
 * but leaves the unread rest on a keep-alive connection (the next request on it is reset), gives
 * 500 or no answer (a 404 after 3 s) to payloads of the wrong shape, and crashes the request on a
 * JSON `null`. Here every request is read once, within BODY_LIMIT, then: a bad or stale signature
 * is 401, a body that is not UTF-8, not JSON/form data, or not a payload the app handles (a missing
 * user, a number or an object where Slack always sends a string, e.g. `{"$ne": null}` as a button
 * value) is 400, each with a JSON `error` and a log line; nothing of it reaches a listener or
 * MongoDB. What passes goes to Bolt with the body already read (Bolt verifies it again).
 */
export function screenSlackRequests(server: Server, signingSecret: string, log: Logger): void {
  const refusals = new RefusalLog(log);
  server.once('close', () => refusals.stop());
  const downstream = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const pass = () => {
      for (const listener of downstream) listener.call(server, req, res);
    };
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return pass();
    }
    if (req.method !== 'POST' || path !== SLACK_EVENTS_PATH) return pass();
    readLimited(req).then(
      (raw) => {
        const source = req.socket.remoteAddress;
        if (raw === 'too large') {
          refusals.refused(
            source,
            { status: 413, bytes: Number(req.headers['content-length']) || undefined },
            'refused a request to /slack/events: body too large',
          );
          return refuse(res, 413, `the body is larger than ${BODY_LIMIT} bytes`, true);
        }
        const problem = screen(raw, req.headers, signingSecret);
        if (problem) {
          refusals.refused(source, { status: problem.status, problem: problem.error }, 'refused a request to /slack/events');
          return refuse(res, problem.status, problem.error);
        }
        (req as IncomingMessage & { rawBody?: Buffer }).rawBody = raw;
        pass();
      },
      (err: Error) => {
        log.warn({ err: err.message }, 'could not read a request to /slack/events');
        if (!res.headersSent) refuse(res, 400, 'the body could not be read', true);
      },
    );
  });
}

/** The whole body, or 'too large' once it passes BODY_LIMIT (the rest is read and dropped, up to DISCARD_LIMIT). */
function readLimited(req: IncomingMessage): Promise<Buffer | 'too large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > DISCARD_LIMIT) return resolve('too large');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= BODY_LIMIT) chunks.push(chunk);
      else if (size > DISCARD_LIMIT) {
        req.pause();
        resolve('too large');
      }
    });
    req.on('end', () => resolve(size > BODY_LIMIT ? 'too large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function refuse(res: ServerResponse, status: number, error: string, close = false): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json', ...(close ? { Connection: 'close' } : {}) });
  res.end(JSON.stringify({ ok: false, error }));
}

/** Why a request must not reach Bolt, or undefined when it may. */
function screen(raw: Buffer, headers: IncomingMessage['headers'], signingSecret: string): { status: number; error: string } | undefined {
  const form = headers['content-type'] === 'application/x-www-form-urlencoded';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    // Slack signs and sends UTF-8 only; checked after the signature, so strangers learn nothing.
    return signatureProblem(raw, headers, signingSecret) ?? { status: 400, error: 'the body is not valid UTF-8' };
  }
  // Slack's SSL check carries no signature; Bolt answers it and drops everything else in it.
  if (form && parseQuery(text).ssl_check === '1') return undefined;
  const unsigned = signatureProblem(raw, headers, signingSecret);
  if (unsigned) return unsigned;
  let body: unknown;
  try {
    // Parsed as Bolt parses it, so what is checked is what the listeners get.
    const fields = form ? parseQuery(text) : undefined;
    body = fields ? (typeof fields.payload === 'string' ? JSON.parse(fields.payload) : fields) : JSON.parse(text);
  } catch {
    return { status: 400, error: 'the body is neither JSON nor a form with a JSON payload' };
  }
  const problem = payloadProblem(body);
  return problem ? { status: 400, error: problem } : undefined;
}

function signatureProblem(
  raw: Buffer,
  headers: IncomingMessage['headers'],
  signingSecret: string,
): { status: number; error: string } | undefined {
  const signature = headers['x-slack-signature'];
  const timestamp = headers['x-slack-request-timestamp'];
  const refused = { status: 401, error: 'the request is not signed by Slack' };
  if (typeof signature !== 'string' || typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) return refused;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > MAX_SIGNATURE_AGE_S) return refused;
  const expected = Buffer.from(`v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(raw).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : refused;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields that Slack always sends as strings, when present: anything else is forged. */
function notStrings(o: Json, keys: string[], prefix = ''): string | undefined {
  const bad = keys.find((k) => o[k] !== undefined && typeof o[k] !== 'string');
  return bad ? `${prefix}${bad} must be a string` : undefined;
}

function userProblem(user: unknown): string | undefined {
  return isObject(user) && typeof user.id === 'string' && SLACK_USER_ID.test(user.id) ? undefined : 'user.id must be a Slack user ID';
}

function viewProblem(view: unknown, submitted: boolean): string | undefined {
  if (!isObject(view)) return 'view must be an object';
  const strings = notStrings(view, ['id', 'callback_id', 'private_metadata', 'type'], 'view.');
  if (strings) return strings;
  if (submitted && !(isObject(view.state) && isObject(view.state.values))) return 'view.state.values must be an object';
  return undefined;
}

/**
 * The payloads the app handles, in the shapes Slack sends them (checked in Bolt's own order:
 * event, command, options, then type). Values are not judged here, only their types: the
 * listeners and operations say what is wrong with a well-formed value.
 */
function payloadProblem(body: unknown): string | undefined {
  if (!isObject(body)) return 'the payload must be a JSON object';
  if (body.event !== undefined) {
    if (!isObject(body.event) || typeof body.event.type !== 'string') return 'event must be an object with a type';
    if (body.event.type === 'app_home_opened' && !(typeof body.event.user === 'string' && SLACK_USER_ID.test(body.event.user)))
      return 'event.user must be a Slack user ID';
    return undefined;
  }
  if (body.command !== undefined) {
    // A repeated form field arrives as an array.
    const strings = notStrings(body, ['command', 'text', 'user_id', 'response_url', 'trigger_id', 'channel_id', 'team_id']);
    if (strings) return strings;
    if (typeof body.user_id !== 'string' || !SLACK_USER_ID.test(body.user_id)) return 'user_id must be a Slack user ID';
    if (typeof body.text !== 'string') return 'text is missing';
    return undefined;
  }
  if (body.name !== undefined) return 'unsupported payload type';
  switch (body.type) {
    case 'url_verification':
      return typeof body.challenge === 'string' ? undefined : 'challenge must be a string';
    case 'block_actions': {
      const problem = userProblem(body.user) ?? notStrings(body, ['trigger_id', 'response_url']);
      if (problem) return problem;
      if (!Array.isArray(body.actions) || body.actions.length === 0) return 'actions must be a non-empty array';
      for (const action of body.actions) {
        if (!isObject(action) || typeof action.action_id !== 'string') return 'every action needs a string action_id';
        const bad = notStrings(action, ['value', 'block_id', 'type'], 'actions[].');
        if (bad) return bad;
      }
      return body.view === undefined ? undefined : viewProblem(body.view, false);
    }
    case 'view_submission':
    case 'view_closed':
      return userProblem(body.user) ?? notStrings(body, ['trigger_id']) ?? viewProblem(body.view, body.type === 'view_submission');
    default:
      return 'unsupported payload type';
  }
}
