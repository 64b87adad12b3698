import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseDocument } from 'yaml';
import { validateManifest } from './manifest-schema';
import { captured } from '../support/checks';

/** manifest.yml: valid for Slack, and asking for exactly the scopes the code needs. */

const ROOT = join(__dirname, '..', '..');
const MANIFEST_PATH = join(ROOT, 'manifest.yml');
const SRC = join(ROOT, 'src');

type Json = Record<string, any>;

function loadManifest(): { text: string; manifest: Json } {
  const text = readFileSync(MANIFEST_PATH, 'utf8');
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new Error(`manifest.yml is not valid YAML:\n${doc.errors.map((e) => e.message).join('\n')}`);
  return { text, manifest: doc.toJS() as Json };
}

/** The bot scopes the manifest must request, no more, no less. */
export const REQUIRED_SCOPES = ['commands', 'chat:write', 'im:write', 'users:read', 'users:read.email', 'usergroups:read'];

/**
 * Web API method -> bot scopes it needs (https://docs.slack.dev/reference/methods/<method>).
 * A method the scan finds that is not listed here fails the test: add it, with its scopes.
 */
export const METHOD_SCOPES: Record<string, string[]> = {
  'chat.postMessage': ['chat:write'],
  'chat.update': ['chat:write'],
  'chat.postEphemeral': ['chat:write'],
  'chat.delete': ['chat:write'],
  'chat.scheduleMessage': ['chat:write'],
  'chat.getPermalink': [],
  'conversations.open': ['im:write'],
  'users.info': ['users:read'], // + users:read.email when the code reads profile.email (see below)
  'users.lookupByEmail': ['users:read.email'],
  'usergroups.users.list': ['usergroups:read'],
  'usergroups.list': ['usergroups:read'],
  'views.open': [],
  'views.update': [],
  'views.push': [],
  'views.publish': [],
  'auth.test': [],
  'apps.connections.open': [], // Socket Mode, called with the app-level token
};

/**
 * Blanks out line and block comments (keeping newlines, so line numbers hold); strings are left alone.
 * A scanner, not a parser: good enough for this repository's source, and errs towards keeping code.
 */
export function stripComments(source: string): string {
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (quote) {
      out += c;
      if (c === '\\') out += source[++i] ?? '';
      else if (c === quote || (c === '\n' && quote !== '`')) quote = undefined; // '…' and "…" end at the line
    } else if (c === '\\') {
      out += c + (source[++i] ?? ''); // escapes outside strings: regex literals such as /:\/\//
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      out += '\n';
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop - 1;
    } else {
      if (c === "'" || c === '"' || c === '`') quote = c;
      out += c;
    }
  }
  return out;
}

export type ApiCall = { method: string; file: string; line: number; readsEmail: boolean };

/**
 * Finds Slack Web API calls in TypeScript source:
 *  - `client.chat.postMessage(`, `app.client.usergroups.users.list(`, `this.slackClient.views.publish(`
 *    (any receiver whose name ends in client/Client, two or more lower-camel segments, then `(`);
 *  - `.apiCall('chat.postMessage'` and string literals naming a method of METHOD_SCOPES
 *    (wrappers such as `call('users.info', ...)`);
 *  - Bolt's `say(` (chat.postMessage).
 * `readsEmail` is true when the same file reads a profile e-mail (`profile.email`, `profile?.email`,
 * or a line naming both `profile` and `email`).
 */
export function findApiCalls(text: string, file: string): ApiCall[] {
  const source = stripComments(text);
  const calls: ApiCall[] = [];
  const lineOf = (index: number) => source.slice(0, index).split('\n').length;
  const readsEmail =
    /\bprofile\s*\??\.\s*email\b/.test(source) || source.split('\n').some((l) => /\bprofile\b/.test(l) && /\bemail\b/.test(l));
  const add = (method: string, index: number) => calls.push({ method, file, line: lineOf(index), readsEmail });

  const chained = /\b[\w$]*[cC]lient\s*\??\.\s*((?:[a-z][A-Za-z]*\s*\??\.\s*)+[a-z][A-Za-z]*)\s*\(/g;
  for (const m of source.matchAll(chained)) add(captured(m, 1).replace(/[\s?]/g, ''), m.index ?? 0);

  const apiCall = /\.apiCall\s*\(\s*['"`]([A-Za-z.]+)['"`]/g;
  const apiCallAt = new Set<number>();
  for (const m of source.matchAll(apiCall)) {
    const method = captured(m, 1);
    const at = (m.index ?? 0) + m[0].indexOf(method) - 1;
    apiCallAt.add(at);
    add(method, m.index ?? 0);
  }

  const literal = /['"`]([a-z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+)['"`]/g;
  for (const m of source.matchAll(literal)) {
    if (apiCallAt.has(m.index ?? 0)) continue; // already counted as apiCall('…')
    const method = captured(m, 1);
    if (Object.hasOwn(METHOD_SCOPES, method)) add(method, m.index ?? 0);
  }

  for (const m of source.matchAll(/(?<![\w$.])say\s*\(/g)) add('chat.postMessage', m.index ?? 0);
  return calls;
}

function tsFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return [];
  }
  return entries.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => join(dir, f));
}

export function scanSource(dir = SRC): ApiCall[] {
  return tsFiles(dir).flatMap((file) => findApiCalls(readFileSync(file, 'utf8'), relative(ROOT, file)));
}

/** Scopes needed by the calls, each with the reasons (`chat.postMessage at src/x.ts:12`). */
export function neededScopes(calls: ApiCall[], manifest: Json): { needed: Map<string, string[]>; unknown: string[] } {
  const needed = new Map<string, string[]>();
  const need = (scope: string, why: string) => needed.set(scope, [...(needed.get(scope) ?? []), why]);
  const unknown: string[] = [];
  for (const call of calls) {
    const where = `${call.method} at ${call.file}:${call.line}`;
    const scopes = Object.hasOwn(METHOD_SCOPES, call.method) ? METHOD_SCOPES[call.method] : undefined;
    if (!scopes) {
      unknown.push(where);
      continue;
    }
    for (const scope of scopes) need(scope, where);
    if (call.method === 'users.info' && call.readsEmail) need('users:read.email', `${where} (reads profile e-mail)`);
  }
  const commands: unknown[] = manifest.features?.slash_commands ?? [];
  if (commands.length > 0) need('commands', 'features.slash_commands in manifest.yml');
  return { needed, unknown };
}

describe('manifest.yml', () => {
  const { text, manifest } = loadManifest();

  test('is valid YAML and satisfies the rules of slackapi/manifest-schema', () => {
    expect(validateManifest(manifest)).toEqual([]);
    expect(manifest._metadata).toEqual({ major_version: 2, minor_version: 1 });
  });

  test('the checker reports a broken manifest, naming each problem', () => {
    const broken = structuredClone(manifest);
    broken.display_information.name = 'Just-In-Time Production Access Requests'; // 39 > 35
    broken.display_information.background_color = 'navy';
    broken.display_information.long_description = 'Too short.';
    broken.features.bot_user.display_name = '';
    broken.features.slash_commands[0].command = 'jit-access';
    broken.features.slash_commands[0].usage_hint = 'x'.repeat(1001);
    broken.features.slash_command = []; // typo: unknown key
    delete broken.settings.interactivity.is_enabled;
    broken.settings.socket_mode_enabled = 'yes';
    broken.oauth_config.scopes.bot.push('x'.repeat(51));
    const problems = validateManifest(broken).join('\n');
    for (const path of [
      'display_information.name',
      'display_information.background_color',
      'display_information.long_description',
      'features.bot_user.display_name',
      'features.slash_commands[0].command',
      'features.slash_commands[0].usage_hint',
      'features.slash_command: unknown key',
      'settings.interactivity.is_enabled: required',
      'settings.socket_mode_enabled',
      'oauth_config.scopes.bot[6]',
    ])
      expect(problems).toContain(path);
    expect(validateManifest({ features: {} })).toContain('display_information: required');
    expect(validateManifest({ _metadata: { major_version: 3 }, display_information: { name: 'x' } })).toContain(
      '_metadata.major_version: must be 1 or 2',
    );
  });

  test('declares the app: name, bot user, App Home tab and its event', () => {
    expect(manifest.display_information.name).toBe('JIT Access');
    expect(manifest.display_information.description).toEqual(expect.any(String));
    expect(manifest.features.bot_user).toEqual({ display_name: 'jit-access', always_online: true });
    expect(manifest.features.app_home).toEqual({
      home_tab_enabled: true,
      messages_tab_enabled: true,
      messages_tab_read_only_enabled: true,
    });
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(['app_home_opened']);
  });

  test('has the /jit-access command with a usage hint naming every subcommand', () => {
    const commands = manifest.features.slash_commands;
    expect(commands).toHaveLength(1);
    const [cmd] = commands;
    expect(cmd.command).toBe('/jit-access');
    expect(cmd.should_escape).toBe(false);
    expect(cmd.description.length).toBeGreaterThan(0);
    // PRODUCT.md section 2.
    for (const word of [
      'resource',
      'duration',
      'reason',
      'list',
      'resources',
      'revoke',
      'extend',
      'cancel',
      'audit',
      'help',
      '--break-glass',
    ])
      expect(cmd.usage_hint).toContain(word);
  });

  test('interactivity on, Socket Mode on, no request URLs needed; HTTP-mode switch documented', () => {
    const s = manifest.settings;
    expect(s.interactivity.is_enabled).toBe(true);
    expect(s.socket_mode_enabled).toBe(true);
    expect(s.org_deploy_enabled).toBe(false);
    expect(s.token_rotation_enabled).toBe(false);
    if (s.socket_mode_enabled) {
      expect(s.interactivity.request_url).toBeUndefined();
      expect(s.event_subscriptions.request_url).toBeUndefined();
      expect(manifest.features.slash_commands[0].url).toBeUndefined();
    } else {
      // HTTP mode: every Slack request goes to the bot's one endpoint.
      for (const url of [s.interactivity.request_url, s.event_subscriptions.request_url, manifest.features.slash_commands[0].url])
        expect(url).toMatch(/^https:\/\/.+\/slack\/events$/);
    }
    expect(text).toMatch(/socket_mode_enabled: false/); // the comment explaining HTTP mode
    expect(text).toContain('https://<host>/slack/events');
  });

  test('requests exactly REQUIRED_SCOPES as bot scopes, and no user scopes', () => {
    const bot: string[] = manifest.oauth_config.scopes.bot;
    expect(new Set(bot).size).toBe(bot.length);
    expect([...bot].sort()).toEqual([...REQUIRED_SCOPES].sort());
    expect(manifest.oauth_config.scopes.user).toBeUndefined();
  });
});

describe('Web API scan (the scope check is tied to the code)', () => {
  test('finds the call forms the scope check relies on', () => {
    const src = [
      'await client.chat.postMessage({ channel, text });',
      'await app.client.chat\n  .update({ channel, ts });',
      'const r = await this.slackClient.usergroups.users.list({ usergroup });',
      'const u = await client.users.info({ user }); const email = u.user?.profile?.email;',
      "await web.apiCall('conversations.open', { users: id });",
      "await call('views.publish', { user_id, view });",
      "await say('hi');",
      "mongoClient.db('x'); await client.close(); logger.info('users.info failed');",
      "await client.reactions.add({ name: 'x' });",
      "/** implemented with `usergroups.list` */ const url = 'https://slack.com/api/'; // client.chat.delete(",
    ].join('\n');
    const calls = findApiCalls(src, 'fixture.ts');
    expect(calls.map((c) => `${c.method}:${c.line}`)).toEqual([
      'chat.postMessage:1',
      'chat.update:2',
      'usergroups.users.list:4',
      'users.info:5',
      'reactions.add:10',
      'conversations.open:6',
      'views.publish:7',
      'chat.postMessage:8',
    ]);
    expect(calls.every((c) => c.readsEmail)).toBe(true);
    const { needed, unknown } = neededScopes(calls, { features: { slash_commands: [{ command: '/x' }] } });
    expect([...needed.keys()].sort()).toEqual(['chat:write', 'commands', 'im:write', 'usergroups:read', 'users:read', 'users:read.email']);
    expect(unknown).toEqual(['reactions.add at fixture.ts:10']);
    expect(findApiCalls('const name = user.real_name;', 'f.ts')).toEqual([]);
  });

  // PENDING until src/ makes its Slack Web API calls (src/slack is being written concurrently):
  // with zero calls found this test fails on purpose instead of passing vacuously.
  test('[needs src Slack calls] manifest scopes == scopes of the Web API methods src/ calls', () => {
    const { manifest } = loadManifest();
    const calls = scanSource();
    if (calls.length === 0)
      throw new Error(
        "No Slack Web API calls found under src/ (looked for client.<family>.<method>(, .apiCall('x.y', say( ...).\n" +
          'The scope check cannot pass vacuously: it runs once src/slack calls chat.postMessage, users.info, etc.',
      );
    const { needed, unknown } = neededScopes(calls, manifest);
    expect(unknown).toEqual([]); // a method missing from METHOD_SCOPES: add it with its scopes
    const granted = new Set<string>(manifest.oauth_config.scopes.bot);
    const missing = [...needed].filter(([scope]) => !granted.has(scope)).map(([scope, why]) => `${scope} (needed by ${why.join(', ')})`);
    const unused = [...granted].filter((scope) => !needed.has(scope)).map((scope) => `${scope} (no called method needs it)`);
    expect({ missing, unused }).toEqual({ missing: [], unused: [] });
  });
});
