/**
 * The load generator: Slack's side of the HTTP contract (signed slash commands and
 * block_actions, shaped like test/e2e/support/slack-driver.ts sends them), and three
 * ways to send them: open-loop at a steady rate, a burst, and closed-loop saturation.
 *
 * Latency is the time from writing the request until the HTTP response is complete.
 * Open-loop means each request leaves on its schedule whatever happened to earlier ones;
 * how late the generator itself was in sending is recorded apart (`lagMs`).
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { signSlackRequest, APP_ID, COMMAND } from '../../test/e2e/support/slack-driver';
import { TEAM_ID } from '../../test/e2e/support/fake-slack';
import { SIGNING_SECRET } from './constants';

export type Kind = 'request' | 'list' | 'help' | 'approve';

export interface Outgoing {
  kind: Kind;
  body: string;
}

export interface Sample {
  kind: Kind;
  /** Send to response complete. */
  ms: number;
  /** How late the generator sent it relative to its schedule (open loop only). */
  lagMs: number;
  status: number;
  /** Network error or timeout, else undefined. */
  error?: string;
  /** performance.now() at send. */
  sentAt: number;
}

export const isOk = (s: Sample) => s.status === 200 && !s.error;

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 10_000 });

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

/** Builds signed Slack payloads and sends them to one app. */
export class SlackLoad {
  private readonly url: URL;
  private seq = 0;
  constructor(
    baseUrl: string,
    private readonly fakeUrl: string,
    private readonly timeoutMs = 10_000,
  ) {
    this.url = new URL('/slack/events', baseUrl);
  }

  command(userId: string, text: string, kind: Kind): Outgoing {
    const form = new URLSearchParams({
      token: 'verification-token-unused',
      team_id: TEAM_ID,
      team_domain: 'test',
      channel_id: 'C0GENERAL',
      channel_name: 'c0general',
      user_id: userId,
      user_name: userId.toLowerCase(),
      command: COMMAND,
      text,
      api_app_id: APP_ID,
      is_enterprise_install: 'false',
      response_url: `${this.fakeUrl}/response/cmd-${++this.seq}`,
      trigger_id: `${Date.now()}.1337.${randomBytes(8).toString('hex')}`,
    });
    return { kind, body: form.toString() };
  }

  approve(userId: string, requestId: string): Outgoing {
    const ts = `${nowSec()}.${String(++this.seq % 1e6).padStart(6, '0')}`;
    const payload = {
      type: 'block_actions',
      user: { id: userId, username: userId.toLowerCase(), name: userId.toLowerCase(), team_id: TEAM_ID },
      api_app_id: APP_ID,
      token: 'verification-token-unused',
      container: { type: 'message', message_ts: ts, channel_id: 'C0APPROVALS', is_ephemeral: false },
      trigger_id: `${Date.now()}.1337.${randomBytes(8).toString('hex')}`,
      team: { id: TEAM_ID, domain: 'test' },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: 'C0APPROVALS', name: 'c0approvals' },
      message: { type: 'message', user: 'UBOT', bot_id: 'BBOT', team: TEAM_ID, text: '', blocks: [], ts },
      state: { values: {} },
      response_url: `${this.fakeUrl}/response/act-${++this.seq}`,
      actions: [
        {
          type: 'button',
          block_id: randomBytes(3).toString('hex'),
          action_id: 'approve_request',
          value: requestId,
          text: { type: 'plain_text', text: 'Approve', emoji: true },
          style: 'primary',
          action_ts: ts,
        },
      ],
    };
    return { kind: 'approve', body: new URLSearchParams({ payload: JSON.stringify(payload) }).toString() };
  }

  /** Signs (at send time, as Slack does) and posts one request. */
  send(out: Outgoing, lagMs = 0): Promise<Sample> {
    const ts = nowSec();
    const headers = {
      'Content-Type': 'application/x-www-form-urlencoded',
      'Content-Length': Buffer.byteLength(out.body),
      'X-Slack-Request-Timestamp': String(ts),
      'X-Slack-Signature': signSlackRequest(SIGNING_SECRET, ts, out.body),
      'User-Agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
    };
    return new Promise<Sample>((resolve) => {
      const sentAt = performance.now();
      let settled = false;
      const done = (status: number, error?: string) => {
        if (settled) return;
        settled = true;
        resolve({ kind: out.kind, ms: performance.now() - sentAt, lagMs, status, error, sentAt });
      };
      const req = http.request(this.url, { method: 'POST', headers, agent, timeout: this.timeoutMs }, (res) => {
        res.on('data', () => {});
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', (err) => done(res.statusCode ?? 0, err.message));
      });
      req.on('timeout', () => {
        req.destroy(new Error(`timeout after ${this.timeoutMs} ms`));
      });
      req.on('error', (err) => done(0, err.message));
      req.end(out.body);
    });
  }
}

/** Sends rate/s for `seconds`, each request on its own schedule regardless of earlier answers. */
export async function openLoop(load: SlackLoad, rate: number, seconds: number, next: (i: number) => Outgoing): Promise<Sample[]> {
  const n = Math.max(1, Math.round(rate * seconds));
  const interval = 1000 / rate;
  const start = performance.now();
  const inflight: Array<Promise<Sample>> = [];
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (i < n && start + i * interval <= now) {
        const due = start + i * interval;
        inflight.push(load.send(next(i), now - due));
        i++;
      }
      if (i >= n) return resolve();
      setTimeout(tick, Math.max(0, start + i * interval - performance.now()));
    };
    tick();
  });
  return Promise.all(inflight);
}

/** n requests written at once. */
export function burst(load: SlackLoad, n: number, next: (i: number) => Outgoing): Promise<Sample[]> {
  const outs = Array.from({ length: n }, (_, i) => next(i));
  return Promise.all(outs.map((o) => load.send(o)));
}

/** `concurrency` senders, each sending its next request as soon as the previous one is answered. */
export async function closedLoop(
  load: SlackLoad,
  concurrency: number,
  seconds: number,
  next: (i: number) => Outgoing,
): Promise<{ samples: Sample[]; elapsedMs: number }> {
  const samples: Sample[] = [];
  const start = performance.now();
  const end = start + seconds * 1000;
  let i = 0;
  const worker = async () => {
    while (performance.now() < end) samples.push(await load.send(next(i++)));
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { samples, elapsedMs: performance.now() - start };
}
