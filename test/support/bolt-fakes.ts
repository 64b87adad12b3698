import pino from 'pino';

/** One recorded call of a fake. */
export type Call = unknown[];

/** A function that records its calls and resolves to `result`. */
function recorder<T = unknown>(result?: T): ((...args: unknown[]) => Promise<T | undefined>) & { calls: Call[] } {
  const calls: Call[] = [];
  const fn = async (...args: unknown[]) => {
    calls.push(args);
    return result;
  };
  return Object.assign(fn, { calls });
}

/** The `ack`, `respond` and Web API `client` a Bolt listener gets, each recording what it was called with. */
export function boltFakes() {
  const client = {
    views: { open: recorder({ ok: true }), update: recorder({ ok: true }), publish: recorder({ ok: true }) },
    chat: { postMessage: recorder({ ok: true, ts: '1.000' }) },
    conversations: { open: recorder({ ok: true, channel: { id: 'D0FAKE' } }) },
  };
  return { ack: recorder(), respond: recorder(), client, logger: pino({ level: 'silent' }) };
}

/** A block_actions body for a button click by `user` (a channel message's click has a response_url). */
export function buttonClick(user: string, actionId: string, value: string, inChannel = true) {
  const action = { type: 'button', action_id: actionId, block_id: 'b', value, action_ts: '1.0' };
  const body = {
    type: 'block_actions',
    user: { id: user },
    trigger_id: 'trigger-1',
    actions: [action],
    ...(inChannel ? { response_url: 'https://hooks.slack.invalid/response/1' } : {}),
  };
  return { body, action };
}
