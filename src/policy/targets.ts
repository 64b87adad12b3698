import type { z } from 'zod';
import { PROVIDER_TYPES, providerDefinition, typeList } from '../providers/catalog';
import type { AnyProviderDefinition } from '../providers/provider';
import { secretValuesOf } from '../providers/secrets';
import type { ResourceProviderConfig, Target } from './policy';

/** How resolveProviders() reports problems, so ${VAR} errors and path formatting stay in load.ts. */
export interface ProblemSink {
  problem(path: PropertyKey[], message: string): void;
  issues(base: PropertyKey[], issues: readonly z.core.$ZodIssue[]): void;
}

export interface ResolvedProviders {
  targets: Record<string, Target>;
  /** By resource index; undefined where that resource's provider has problems (they are reported). */
  resources: Array<ResourceProviderConfig | undefined>;
  secrets: string[];
  warnings: string[];
}

const TARGET_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;

type Settings = Record<string, unknown>;
const isSettings = (v: unknown): v is Settings => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks `targets:` and every resource's `provider:` against the provider type's schema
 * (README “The policy file”), from the interpolated policy as written, so these problems are reported together
 * with the schema's. A `provider: { target: NAME, …own keys }` is the target's settings plus the
 * resource's own; an inline `provider: { type, … }` is its own target, named after the resource.
 * The target keys and access keys of each provider type are kept apart: a resource that names a
 * target cannot change its connection (that target has one pool), and a target holds no resource's
 * settings.
 */
export function resolveProviders(raw: unknown, sink: ProblemSink): ResolvedProviders {
  const root = isSettings(raw) ? raw : {};
  const rawTargets = isSettings(root.targets) ? root.targets : {};
  const rawResources = Array.isArray(root.resources) ? root.resources : [];
  const out: ResolvedProviders = { targets: {}, resources: [], secrets: [], warnings: [] };

  for (const [name, value] of Object.entries(rawTargets)) {
    const at: PropertyKey[] = ['targets', name];
    if (!TARGET_NAME.test(name)) sink.problem(at, 'expected a target name: lowercase letters, digits and dashes, at most 40');
    if (name === 'default') sink.problem(at, '"default" is reserved (identities use it for every other target); pick another name');
    if (!isSettings(value)) continue; // the schema says what is wrong with it
    const definition = definitionFor(value.type, [...at, 'type'], sink);
    if (!definition) continue;
    const own = withoutKeys(value, ['type']);
    for (const key of Object.keys(own)) {
      if (key in definition.access.shape) {
        sink.problem([...at, key], `"${key}" is set by each resource (provider: { target: ${name}, ${key}: … }), not on the target`);
        delete own[key];
      }
    }
    const parsed = definition.target.strict().safeParse(own);
    if (!parsed.success) {
      sink.issues(at, parsed.error.issues);
      continue;
    }
    out.targets[name] = { name, type: definition.type, settings: parsed.data, inline: false };
    out.secrets.push(...secretValuesOf(definition.target, parsed.data));
  }

  rawResources.forEach((resource, i) => {
    const provider = isSettings(resource) ? resource.provider : undefined;
    if (!isSettings(provider)) return; // missing or not an object: the schema says so
    const at: PropertyKey[] = ['resources', i, 'provider'];
    const id = (resource as Settings).id;
    const resolved =
      'target' in provider ? throughTarget(provider, at, rawTargets, out, sink) : inline(provider, id, at, rawTargets, out, sink);
    out.resources[i] = resolved;
  });

  const used = new Set(out.resources.map((r) => r?.target));
  for (const name of Object.keys(out.targets)) {
    if (!used.has(name)) out.warnings.push(`targets.${name}: not used by any resource`);
  }
  return out;
}

/** `provider: { target: NAME, …own keys }`. */
function throughTarget(
  provider: Settings,
  at: PropertyKey[],
  rawTargets: Settings,
  out: ResolvedProviders,
  sink: ProblemSink,
): ResourceProviderConfig | undefined {
  const name = provider.target;
  if (typeof name !== 'string') {
    sink.problem([...at, 'target'], 'expected the name of one of the targets');
    return undefined;
  }
  const target = out.targets[name];
  if (!target) {
    // A target with problems of its own is already reported; naming it again would only repeat them.
    if (!(name in rawTargets)) {
      const known = Object.keys(rawTargets);
      sink.problem(
        [...at, 'target'],
        `no target "${name}"${known.length ? ` (targets: ${known.join(', ')})` : ' (the policy has no targets:)'}`,
      );
    }
    return undefined;
  }
  const definition = providerDefinition(target.type)!;
  if ('type' in provider && provider.type !== target.type) {
    sink.problem([...at, 'type'], `target ${name} is of type "${target.type}"; leave type out, or name a ${String(provider.type)} target`);
    return undefined;
  }
  const own = withoutKeys(provider, ['target', 'type']);
  let ok = true;
  for (const key of Object.keys(own)) {
    if (key in definition.target.shape) {
      const accessKeys = Object.keys(definition.access.shape);
      sink.problem(
        [...at, key],
        `comes from target ${name}: a resource that names a target sets only its own keys${accessKeys.length ? ` (${accessKeys.join(', ')})` : ' (a ' + target.type + ' resource has none)'}; for other connection settings, define another target`,
      );
      ok = false;
    }
  }
  if (!ok) return undefined;
  return accessOf(definition, target, own, at, out, sink);
}

/** `provider: { type, …target keys, …access keys }`: the resource is its own target. */
function inline(
  provider: Settings,
  id: unknown,
  at: PropertyKey[],
  rawTargets: Settings,
  out: ResolvedProviders,
  sink: ProblemSink,
): ResourceProviderConfig | undefined {
  const definition = definitionFor(provider.type, [...at, 'type'], sink, true);
  if (!definition) return undefined;
  if (typeof id !== 'string') return undefined; // the schema reports the id
  const idPath = [...at.slice(0, 2), 'id'];
  if (id in rawTargets) {
    sink.problem(
      idPath,
      `"${id}" is also the name of a target; a resource with an inline provider is its own target, named after it: rename one, or write provider: { target: ${id} }`,
    );
    return undefined;
  }
  if (id === 'default') {
    sink.problem(
      idPath,
      '"default" is reserved (identities use it for every other target); pick another id, or move the provider into targets:',
    );
    return undefined;
  }
  // Keys of neither kind go with the target part, whose strict schema names them as unknown.
  const accessPart = pick(provider, Object.keys(definition.access.shape));
  const targetPart = withoutKeys(provider, ['type', ...Object.keys(accessPart)]);
  const parsed = definition.target.strict().safeParse(targetPart);
  if (!parsed.success) sink.issues(at, parsed.error.issues);
  const target: Target = { name: id, type: definition.type, settings: parsed.success ? parsed.data : {}, inline: true };
  const access = accessOf(definition, target, accessPart, at, out, sink);
  if (!parsed.success || !access) return undefined;
  if (out.targets[id]) return undefined; // a duplicate resource id: reported with the resources
  out.targets[id] = target;
  out.secrets.push(...secretValuesOf(definition.target, parsed.data));
  return access;
}

function accessOf(
  definition: AnyProviderDefinition,
  target: Target,
  own: Settings,
  at: PropertyKey[],
  out: ResolvedProviders,
  sink: ProblemSink,
): ResourceProviderConfig | undefined {
  const parsed = definition.access.strict().safeParse(own);
  if (!parsed.success) {
    sink.issues(at, parsed.error.issues);
    return undefined;
  }
  out.secrets.push(...secretValuesOf(definition.access, parsed.data));
  return { target: target.name, type: definition.type, access: parsed.data };
}

function definitionFor(type: unknown, at: PropertyKey[], sink: ProblemSink, orTarget = false): AnyProviderDefinition | undefined {
  if (type === undefined) {
    sink.problem(
      at.slice(0, -1),
      orTarget
        ? `expected "type" (${typeList(PROVIDER_TYPES)}) or "target" (the name of one of the targets)`
        : `required: "type" (${typeList(PROVIDER_TYPES)})`,
    );
    return undefined;
  }
  const definition = typeof type === 'string' ? providerDefinition(type) : undefined;
  if (!definition) sink.problem(at, `expected a provider with type ${typeList(PROVIDER_TYPES)}`);
  return definition;
}

function withoutKeys(value: Settings, keys: string[]): Settings {
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k)));
}

function pick(value: Settings, keys: string[]): Settings {
  return Object.fromEntries(Object.entries(value).filter(([k]) => keys.includes(k)));
}
