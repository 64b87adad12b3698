/**
 * A small checker for Slack app manifests, so `npm test` catches a manifest that Slack would
 * refuse at "Create New App -> From an app manifest", offline and without a JSON-Schema library.
 *
 * Source of every rule below: Slack's published JSON Schema, repository slackapi/manifest-schema,
 * file schemas/manifest.schema.2.0.0.json (the schema that manifest.schema.json selects for
 * `_metadata.major_version: 2`; schemas/manifest.schema.1.0.0.json has the same numbers for the
 * parts modelled here). Definitions used, with their limits:
 *
 *   app-manifests.v1.display_information.schema   required [name], additionalProperties false
 *     name               string 1..35
 *     description        string 1..140
 *     background_color   string 4..7, "regex": ^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$
 *     long_description   string 175..4000  (docs.slack.dev/reference/app-manifest says 174; we use
 *                                           the schema's stricter 175)
 *   app-manifests.v1.features.app_home            booleans home_tab_enabled, messages_tab_enabled,
 *                                                  messages_tab_read_only_enabled
 *   app-manifests.v1.features.bot_user            required [display_name]
 *     display_name       string 1..80 (the schema sets no character pattern)
 *     always_online      boolean
 *   app-manifests.v1.features.slash_commands      array 1..50 items, each required [command, description]
 *     command            string 2..32, pattern ^\/
 *     url                string ..3000, pattern ^https?:\/\/
 *     description        string 1..2000
 *     usage_hint         string 1..1000
 *     should_escape      boolean
 *   app-manifests.v1.oauth_config.scopes          bot / user / bot_optional / user_optional:
 *                                                  arrays of ..255 strings of ..50 characters
 *   app-manifests.v1.oauth_config.redirect_urls   unique array of ..1000 strings of ..2500
 *   app-manifests.v1.settings.event_subscriptions request_url ..3500 ^https?:\/\/;
 *                                                  bot_events / user_events unique, ..100 strings of ..50
 *   app-manifests.v1.settings.interactivity       required [is_enabled]; request_url and
 *                                                  message_menu_options_url ..3500 ^https?:\/\/
 *   app-manifests.v1.settings.schema              org_deploy_enabled, socket_mode_enabled,
 *                                                  token_rotation_enabled, is_hosted: booleans
 *   app-manifests.metadata                        integers major_version, minor_version, ...
 *
 * Every object modelled here has `additionalProperties: false` in the schema, so an unknown key
 * (a typo such as `slash_command`) is reported. Parts this app does not use (functions, workflows,
 * datastores, ...) are accepted as-is at the top level.
 */

type StringRule = { type: 'string'; minLength?: number; maxLength?: number; pattern?: RegExp };
type ArrayRule = { type: 'array'; items: Rule; minItems?: number; maxItems?: number; uniqueItems?: boolean };
type ObjectRule = { type: 'object'; properties: Record<string, Rule>; required?: string[] };
type Rule = StringRule | ArrayRule | ObjectRule | { type: 'boolean' } | { type: 'integer' } | { type: 'any' };

const str = (minLength?: number, maxLength?: number, pattern?: RegExp): StringRule => ({ type: 'string', minLength, maxLength, pattern });
const bool: Rule = { type: 'boolean' };
const int: Rule = { type: 'integer' };
const any: Rule = { type: 'any' };
const obj = (properties: Record<string, Rule>, required: string[] = []): ObjectRule => ({ type: 'object', properties, required });
const arr = (items: Rule, opts: Omit<ArrayRule, 'type' | 'items'> = {}): ArrayRule => ({ type: 'array', items, ...opts });

const HTTP_URL = /^https?:\/\//;
const scopeList = arr(str(undefined, 50), { maxItems: 255 });
const eventList = arr(str(undefined, 50), { maxItems: 100, uniqueItems: true });

/** The manifest rules (see the header for where each number comes from). */
const MANIFEST_SCHEMA: ObjectRule = obj(
  {
    $schema: str(),
    _metadata: obj({ schema_version: int, min_version: int, major_version: int, minor_version: int }),
    app_directory: any,
    display_information: obj(
      {
        name: str(1, 35),
        description: str(1, 140),
        background_color: str(4, 7, /^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$/),
        long_description: str(175, 4000),
      },
      ['name'],
    ),
    features: obj({
      app_home: obj({ home_tab_enabled: bool, messages_tab_enabled: bool, messages_tab_read_only_enabled: bool }),
      bot_user: obj({ display_name: str(1, 80), always_online: bool }, ['display_name']),
      functions: any,
      shortcuts: any,
      slash_commands: arr(
        obj(
          {
            command: str(2, 32, /^\//),
            url: str(undefined, 3000, HTTP_URL),
            description: str(1, 2000),
            usage_hint: str(1, 1000),
            should_escape: bool,
          },
          ['command', 'description'],
        ),
        { minItems: 1, maxItems: 50 },
      ),
      workflow_steps: any,
      unfurl_domains: any,
      assistant_view: any,
      agent_view: any,
      code_channels: any,
    }),
    oauth_config: obj({
      redirect_urls: arr(str(undefined, 2500), { maxItems: 1000, uniqueItems: true }),
      scopes: obj({ user: scopeList, bot: scopeList, user_optional: scopeList, bot_optional: scopeList }),
      token_management_enabled: bool,
      pkce_enabled: bool,
    }),
    settings: obj({
      allowed_ip_address_ranges: any,
      event_subscriptions: obj({
        request_url: str(undefined, 3500, HTTP_URL),
        user_events: eventList,
        bot_events: eventList,
        metadata_subscriptions: any,
      }),
      incoming_webhooks: obj({ incoming_webhooks_enabled: bool }),
      interactivity: obj(
        {
          is_enabled: bool,
          request_url: str(undefined, 3500, HTTP_URL),
          message_menu_options_url: str(undefined, 3500, HTTP_URL),
        },
        ['is_enabled'],
      ),
      org_deploy_enabled: bool,
      socket_mode_enabled: bool,
      is_hosted: bool,
      token_rotation_enabled: bool,
      siws_links: any,
      hermes_app_type: str(),
      function_runtime: str(),
      is_mcp_enabled: bool,
    }),
    functions: any,
    workflows: any,
    datastores: any,
    outgoing_domains: any,
    types: any,
    external_auth_providers: any,
    mcp_servers: any,
  },
  ['display_information'],
);

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function check(value: unknown, rule: Rule, path: string, problems: string[]): void {
  const at = path || '(manifest)';
  switch (rule.type) {
    case 'any':
      return;
    case 'boolean':
      if (typeof value !== 'boolean') problems.push(`${at}: expected true or false`);
      return;
    case 'integer':
      if (!Number.isInteger(value)) problems.push(`${at}: expected an integer`);
      return;
    case 'string': {
      if (typeof value !== 'string') {
        problems.push(`${at}: expected a string`);
        return;
      }
      // JSON Schema counts characters (code points), not UTF-16 units.
      const length = [...value].length;
      if (rule.minLength !== undefined && length < rule.minLength)
        problems.push(`${at}: ${length} characters, at least ${rule.minLength} required`);
      if (rule.maxLength !== undefined && length > rule.maxLength)
        problems.push(`${at}: ${length} characters, at most ${rule.maxLength} allowed`);
      if (rule.pattern && !rule.pattern.test(value)) problems.push(`${at}: must match ${rule.pattern}`);
      return;
    }
    case 'array': {
      if (!Array.isArray(value)) {
        problems.push(`${at}: expected a list`);
        return;
      }
      if (rule.minItems !== undefined && value.length < rule.minItems) problems.push(`${at}: at least ${rule.minItems} item(s) required`);
      if (rule.maxItems !== undefined && value.length > rule.maxItems) problems.push(`${at}: at most ${rule.maxItems} items allowed`);
      if (rule.uniqueItems) {
        const seen = new Set<string>();
        for (const item of value) {
          const key = JSON.stringify(item);
          if (seen.has(key)) problems.push(`${at}: duplicate item ${key}`);
          seen.add(key);
        }
      }
      value.forEach((item, i) => check(item, rule.items, `${path}[${i}]`, problems));
      return;
    }
    case 'object': {
      if (!isPlainObject(value)) {
        problems.push(`${at}: expected a mapping`);
        return;
      }
      for (const key of rule.required ?? []) if (!(key in value)) problems.push(`${path ? `${path}.` : ''}${key}: required`);
      for (const [key, v] of Object.entries(value)) {
        const sub = rule.properties[key];
        const subPath = path ? `${path}.${key}` : key;
        if (!sub) {
          problems.push(`${subPath}: unknown key`);
          continue;
        }
        check(v, sub, subPath, problems);
      }
      return;
    }
  }
}

/**
 * Problems Slack's manifest schema would report, one line each, named by their path
 * (`display_information.name: 41 characters, at most 35 allowed`). Empty when the manifest is valid.
 */
export function validateManifest(manifest: unknown): string[] {
  const problems: string[] = [];
  check(manifest, MANIFEST_SCHEMA, '', problems);
  // manifest.schema.json: major_version selects the schema; only 1 and 2 exist.
  if (isPlainObject(manifest) && isPlainObject(manifest._metadata)) {
    const major = manifest._metadata.major_version;
    if (major !== undefined && major !== 1 && major !== 2) problems.push('_metadata.major_version: must be 1 or 2');
  }
  return problems;
}
