/** The grammar of `/jit-access` (PRODUCT.md section 2): text in, a typed command or a fix-it message out. */

export type ParsedCommand =
  | { kind: 'modal' }
  | { kind: 'help' }
  | { kind: 'list' }
  | { kind: 'resources' }
  | { kind: 'revoke'; requestId: string }
  | { kind: 'cancel'; requestId: string }
  | { kind: 'audit'; requestId: string }
  | { kind: 'extend'; requestId: string; duration: string; reason: string }
  | { kind: 'request'; resourceId: string; duration: string; reason: string; breakGlass: boolean }
  /** `key` is everything after the verb, untouched (its comment keeps its spaces); empty: show the registered one. */
  | { kind: 'ssh-key'; key: string }
  | { kind: 'error'; message: string };

const MAX_TEXT = 4000;
const ID_COMMANDS = { revoke: 'end an active grant now', cancel: 'withdraw a pending request', audit: 'show a request’s timeline' } as const;

export function parseCommand(raw: string): ParsedCommand {
  const text = (raw ?? '').trim();
  // Before the length check: a key (or a private key pasted by mistake) is judged by register-ssh-key.ts.
  const sshKey = /^ssh-key(?:\s+|$)/i.exec(text);
  if (sshKey) return { kind: 'ssh-key', key: text.slice(sshKey[0].length) };
  if (text.length > MAX_TEXT) return { kind: 'error', message: `That is too long (${text.length} characters). Keep the reason under 1000 characters.` };
  if (!text) return { kind: 'modal' };
  const words = text.split(/\s+/);
  const verb = words[0].toLowerCase();
  if (verb === 'help' || verb === '-h' || verb === '--help') return { kind: 'help' };
  if (verb === 'list' || verb === 'resources') {
    if (words.length > 1) return { kind: 'error', message: `\`${verb}\` takes no arguments: \`/jit-access ${verb}\`.` };
    return { kind: verb };
  }
  if (verb in ID_COMMANDS) {
    const v = verb as keyof typeof ID_COMMANDS;
    if (words.length !== 2) return { kind: 'error', message: `Usage: \`/jit-access ${v} <request-id>\` to ${ID_COMMANDS[v]}. \`/jit-access list\` shows your request IDs.` };
    return { kind: v, requestId: words[1] };
  }
  if (verb === 'extend') {
    if (words.length < 4) {
      return { kind: 'error', message: 'Usage: `/jit-access extend <request-id> <duration> <reason…>`, e.g. `/jit-access extend r7k2m9qxa 30m still debugging INC-42`.' };
    }
    return { kind: 'extend', requestId: words[1], duration: words[2], reason: words.slice(3).join(' ') };
  }
  const breakGlass = words.some((w) => w.toLowerCase() === '--break-glass');
  const rest = words.filter((w) => w.toLowerCase() !== '--break-glass');
  if (rest.length < 3) {
    return {
      kind: 'error',
      message:
        rest.length === 0
          ? 'Usage: `/jit-access <resource> <duration> <reason…> --break-glass`.'
          : rest.length === 1
            ? `Missing duration and reason: \`/jit-access ${rest[0].slice(0, 40)} <duration> <reason…>\`, e.g. \`/jit-access ${rest[0].slice(0, 40)} 1h INC-42 slow queries\`. \`/jit-access help\` lists every command.`
            : `Missing reason: \`/jit-access ${rest[0].slice(0, 40)} ${rest[1].slice(0, 20)} <reason…>\`. Say why you need access.`,
    };
  }
  return { kind: 'request', resourceId: rest[0].toLowerCase(), duration: rest[1], reason: rest.slice(2).join(' '), breakGlass };
}
