/**
 * The grammar of `/jit-access` (README “Using it”): text in, a typed command or a fix-it message out.
 *
 * Requests are `<resource> <duration> <reason…>`, plus flags. The rule for flags: after the
 * duration, a word that is exactly `--break-glass`, `--ticket` (followed by the ticket as the next
 * word) or `--ticket=<id>` is a flag, wherever it stands; every other word is reason text, in its
 * order. A lone `--` ends the flags: everything after it is reason text, flag-looking words
 * included. Any other word starting with `--` is refused as an unknown flag (a typo such as
 * `--breakglass` must not silently file an ordinary request). Before the duration there are no
 * flags. Slack clients that turn `--` into a dash (`—ticket`) are understood too.
 */

export type ParsedCommand =
  | { kind: 'modal' }
  | { kind: 'help' }
  | { kind: 'list' }
  | { kind: 'resources' }
  | { kind: 'revoke'; requestId: string }
  | { kind: 'cancel'; requestId: string }
  | { kind: 'audit'; requestId: string }
  | { kind: 'extend'; requestId: string; duration: string; reason: string }
  | { kind: 'request'; resourceId: string; duration: string; reason: string; ticket?: string; breakGlass: boolean }
  /** `key` is everything after the verb, untouched (its comment keeps its spaces); empty: show the registered one. */
  | { kind: 'ssh-key'; key: string }
  | { kind: 'error'; message: string };

const MAX_TEXT = 4000;
const ID_COMMANDS = {
  revoke: 'end an active grant now',
  cancel: 'withdraw a pending request',
  audit: 'show a request’s timeline',
} as const;

/** `—ticket` / `–ticket` (a client's "smart dashes") read as `--ticket`. */
function asFlag(word: string): string {
  return word.replace(/^[\u2014\u2013](?=[a-z-])/i, '--').toLowerCase();
}

/** The words after `<resource> <duration>`, split into reason words and flags. */
function parseRest(words: string[]): { reason: string; ticket?: string; breakGlass: boolean } | { error: string } {
  const reason: string[] = [];
  let ticket: string | undefined;
  let breakGlass = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    const flag = asFlag(word);
    if (flag === '--' || word === '\u2014' || word === '\u2013') {
      reason.push(...words.slice(i + 1));
      break;
    }
    if (flag === '--break-glass') {
      breakGlass = true;
    } else if (flag === '--ticket' || flag.startsWith('--ticket=')) {
      const value = flag === '--ticket' ? words[++i] : word.slice(word.indexOf('=') + 1);
      if (!value || asFlag(value).startsWith('--')) return { error: '`--ticket` needs the ticket after it, e.g. `--ticket INC-42`.' };
      if (ticket !== undefined) return { error: 'Give `--ticket` once.' };
      ticket = value;
    } else if (flag.startsWith('--') && flag.length > 2) {
      return {
        error: `Unknown flag \`${word.slice(0, 30)}\`: the flags are \`--ticket <id>\` and \`--break-glass\`. To write it in the reason, put it after a lone \`--\`.`,
      };
    } else {
      reason.push(word);
    }
  }
  return { reason: reason.join(' '), ticket, breakGlass };
}

export function parseCommand(raw: string): ParsedCommand {
  const text = (raw ?? '').trim();
  // Before the length check: a key (or a private key pasted by mistake) is judged by register-ssh-key.ts.
  const sshKey = /^ssh-key(?:\s+|$)/i.exec(text);
  if (sshKey) return { kind: 'ssh-key', key: text.slice(sshKey[0].length) };
  if (text.length > MAX_TEXT)
    return { kind: 'error', message: `That is too long (${text.length} characters). Keep the reason under 1000 characters.` };
  if (!text) return { kind: 'modal' };
  const words = text.split(/\s+/);
  const [first = '', second = '', third = ''] = words;
  const verb = first.toLowerCase();
  if (verb === 'help' || verb === '-h' || verb === '--help') return { kind: 'help' };
  if (verb === 'list' || verb === 'resources') {
    if (words.length > 1) return { kind: 'error', message: `\`${verb}\` takes no arguments: \`/jit-access ${verb}\`.` };
    return { kind: verb };
  }
  if (verb in ID_COMMANDS) {
    const v = verb as keyof typeof ID_COMMANDS;
    if (words.length !== 2)
      return {
        kind: 'error',
        message: `Usage: \`/jit-access ${v} <request-id>\` to ${ID_COMMANDS[v]}. \`/jit-access list\` shows your request IDs.`,
      };
    return { kind: v, requestId: second };
  }
  if (verb === 'extend') {
    if (words.length < 4) {
      return {
        kind: 'error',
        message:
          'Usage: `/jit-access extend <request-id> <duration> <reason…>`, e.g. `/jit-access extend r7k2m9qxa 30m still debugging INC-42`.',
      };
    }
    return { kind: 'extend', requestId: second, duration: third, reason: words.slice(3).join(' ') };
  }
  if (asFlag(first).startsWith('--') || (words.length > 1 && asFlag(second).startsWith('--'))) {
    return {
      kind: 'error',
      message:
        'Flags go after the resource and the duration: `/jit-access <resource> <duration> <reason…> [--ticket <id>] [--break-glass]`.',
    };
  }
  if (words.length < 2) {
    return {
      kind: 'error',
      message: `Missing duration and reason: \`/jit-access ${first.slice(0, 40)} <duration> <reason…>\`, e.g. \`/jit-access ${first.slice(0, 40)} 1h INC-42 slow queries\`. \`/jit-access help\` lists every command.`,
    };
  }
  const rest = parseRest(words.slice(2));
  if ('error' in rest) return { kind: 'error', message: rest.error };
  if (!rest.reason.trim()) {
    return {
      kind: 'error',
      message: `Missing reason: \`/jit-access ${first.slice(0, 40)} ${second.slice(0, 20)} <reason…>\`. Say why you need access.`,
    };
  }
  return {
    kind: 'request',
    resourceId: first.toLowerCase(),
    duration: second,
    reason: rest.reason,
    ...(rest.ticket ? { ticket: rest.ticket } : {}),
    breakGlass: rest.breakGlass,
  };
}
