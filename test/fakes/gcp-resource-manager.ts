import { createHash } from 'node:crypto';
import { VendorFake } from './http-fake';
import type { FakeRequest, FakeResponse, HttpFake } from './http-fake';

/*
 * A local Cloud Resource Manager v3 (IAM methods only), as its REST reference and the IAM docs
 * describe it, for the official client's REST transport (`fallback: true`):
 *
 *   POST /v3/{projects|folders|organizations}/<id>:getIamPolicy        {"options":{"requestedPolicyVersion":3}}
 *   POST /v3/.../<id>:setIamPolicy                                     {"policy":{...,"etag"},"updateMask":"bindings,etag"}
 *   POST /v3/.../<id>:testIamPermissions                               {"permissions":[...]}
 *
 * Documented behaviour it keeps (cloud.google.com/iam/docs/policies, .../conditions-overview):
 * - every policy has an etag; a write with a stale etag fails 409 ABORTED ("There were concurrent
 *   policy changes …"); a write without one is accepted as a blind overwrite, so a version-1 writer
 *   that read and wrote without the etag drops every condition (`writesWithoutEtag` counts them);
 * - policies with conditional bindings must be read and written with version 3; asking for an older
 *   version returns version 1 with each conditional binding's role renamed `<role>_withcond_<hash>`
 *   and no condition; a policy without conditions is returned as version 1;
 * - a conditional binding needs version 3 in the write; basic roles cannot be conditional;
 * - at most 1,500 members in a policy (each occurrence counts);
 * - unknown or forbidden resources answer 403 PERMISSION_DENIED (getIamPolicy, setIamPolicy) and an
 *   empty permission set (testIamPermissions); a request without a bearer token gets 401.
 * Conditions are evaluated for `hasRole()` as IAM would at request time, for the one expression
 * shape jit-access writes (`request.time < timestamp("…")`) and conjunctions of such comparisons.
 */

interface FakeCondition {
  expression: string;
  title?: string;
  description?: string;
}

export interface FakeBinding {
  role: string;
  members: string[];
  condition?: FakeCondition;
}

interface StoredPolicy {
  version: number;
  etag: string;
  bindings: FakeBinding[];
  auditConfigs: unknown[];
}

const BASIC_ROLES = new Set(['roles/owner', 'roles/editor', 'roles/viewer']);
const MAX_MEMBERS = 1500;
const MEMBER =
  /^(user|group|serviceAccount|domain|principal|principalSet|deleted:user|deleted:group|deleted:serviceAccount):.+|^(allUsers|allAuthenticatedUsers)$/;
const ROUTE = /^\/v3\/((?:projects|folders|organizations)\/[^/:]+):(getIamPolicy|setIamPolicy|testIamPermissions)$/;

export class FakeResourceManager extends VendorFake {
  private readonly policies = new Map<string, StoredPolicy>();
  /** Permissions testIamPermissions reports as held, per resource (default: get and set). */
  private readonly held = new Map<string, Set<string>>();
  private revision = 0;
  /** Writes accepted without an etag: jit-access must never make one. */
  writesWithoutEtag = 0;

  static start(): Promise<FakeResourceManager> {
    return VendorFake.serve((http: HttpFake) => new FakeResourceManager(http));
  }

  /** Creates the resource with these bindings (a fresh etag). */
  addResource(resource: string, bindings: FakeBinding[] = []): void {
    this.policies.set(resource, { version: 1, etag: this.nextEtag(), bindings: structuredClone(bindings), auditConfigs: [] });
    const kind = resource.split('/')[0];
    this.held.set(resource, new Set([`resourcemanager.${kind}.getIamPolicy`, `resourcemanager.${kind}.setIamPolicy`]));
  }

  /** The bot's permissions on `resource`, as testIamPermissions will report them. */
  setHeldPermissions(resource: string, permissions: string[]): void {
    this.held.set(resource, new Set(permissions));
  }

  bindings(resource: string): FakeBinding[] {
    return structuredClone(this.policy(resource).bindings);
  }

  etag(resource: string): string {
    return this.policy(resource).etag;
  }

  /** Someone else edits the policy (the console, Terraform): a new etag. */
  changeOutside(resource: string, edit: (bindings: FakeBinding[]) => FakeBinding[]): void {
    const p = this.policy(resource);
    p.bindings = edit(structuredClone(p.bindings));
    p.version = p.bindings.some((b) => b.condition) ? 3 : Math.max(p.version, 1);
    p.etag = this.nextEtag();
  }

  /** Does `member` have `role` on `resource` at `at`, as IAM evaluates the policy's bindings? */
  hasRole(resource: string, role: string, member: string, at = new Date()): boolean {
    return this.policy(resource).bindings.some(
      (b) =>
        b.role === role &&
        b.members.some((m) => m.toLowerCase() === member.toLowerCase()) &&
        (!b.condition || evaluateCondition(b.condition.expression, at)),
    );
  }

  private policy(resource: string): StoredPolicy {
    const p = this.policies.get(resource);
    if (!p) throw new Error(`fake resource manager: no resource ${resource}`);
    return p;
  }

  private nextEtag(): string {
    this.revision += 1;
    return Buffer.from(`BwY${this.revision.toString(16).padStart(8, '0')}`).toString('base64');
  }

  protected route(req: FakeRequest): FakeResponse {
    const match = ROUTE.exec(req.path);
    if (req.method !== 'POST' || !match) return googleError(404, 'NOT_FOUND', `Method not found: ${req.method} ${req.path}`);
    if (!/^Bearer \S+/.test(String(req.headers.authorization ?? ''))) {
      return googleError(401, 'UNAUTHENTICATED', 'Request is missing required authentication credential. Expected OAuth 2 access token.');
    }
    const [, resource, method] = match as unknown as [string, string, string];
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (method === 'testIamPermissions') {
      const asked = Array.isArray(body.permissions) ? (body.permissions as string[]) : [];
      const held = this.policies.has(resource) ? (this.held.get(resource) ?? new Set()) : new Set<string>();
      const permissions = asked.filter((p) => held.has(p));
      return { status: 200, body: permissions.length ? { permissions } : {} };
    }
    const policy = this.policies.get(resource);
    const kind = resource.split('/')[0];
    const needed = `resourcemanager.${kind}.${method}`;
    if (!policy || !this.held.get(resource)?.has(needed)) {
      return googleError(403, 'PERMISSION_DENIED', `The caller does not have permission`, [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'IAM_PERMISSION_DENIED',
          domain: 'iam.googleapis.com',
          metadata: { permission: needed },
        },
      ]);
    }
    return method === 'getIamPolicy' ? this.getIamPolicy(policy, body) : this.setIamPolicy(policy, body);
  }

  private getIamPolicy(policy: StoredPolicy, body: Record<string, unknown>): FakeResponse {
    const requested = Number((body.options as { requestedPolicyVersion?: unknown } | undefined)?.requestedPolicyVersion ?? 0);
    const conditional = policy.bindings.some((b) => b.condition);
    if (requested === 3 || !conditional) {
      return { status: 200, body: { version: conditional ? 3 : 1, etag: policy.etag, bindings: policy.bindings } };
    }
    // An older version cannot express conditions: IAM marks such bindings by renaming their role.
    const bindings = policy.bindings.map((b) =>
      b.condition
        ? {
            role: `${b.role}_withcond_${createHash('sha256').update(JSON.stringify(b.condition)).digest('hex').slice(0, 20)}`,
            members: b.members,
          }
        : b,
    );
    return { status: 200, body: { version: 1, etag: policy.etag, bindings } };
  }

  private setIamPolicy(policy: StoredPolicy, body: Record<string, unknown>): FakeResponse {
    const incoming = (body.policy ?? {}) as { version?: number; etag?: string; bindings?: FakeBinding[]; auditConfigs?: unknown[] };
    const mask = typeof body.updateMask === 'string' ? body.updateMask.split(',').filter(Boolean) : ['bindings', 'etag'];
    const unknownPath = mask.find((p) => !['bindings', 'etag', 'auditConfigs', 'version'].includes(p));
    if (unknownPath) return googleError(400, 'INVALID_ARGUMENT', `Invalid update_mask path: ${unknownPath}`);
    if (incoming.etag === undefined || incoming.etag === '') {
      this.writesWithoutEtag += 1;
    } else if (incoming.etag !== policy.etag) {
      return googleError(
        409,
        'ABORTED',
        `There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff. The request's ETag '${incoming.etag}' did not match the current policy's ETag '${policy.etag}'.`,
      );
    }
    const version = Number(incoming.version ?? 1);
    const bindings = (incoming.bindings ?? []).map((b) => ({
      role: b.role,
      members: b.members ?? [],
      ...(b.condition?.expression
        ? {
            condition: {
              expression: b.condition.expression,
              ...(b.condition.title ? { title: b.condition.title } : {}),
              ...(b.condition.description ? { description: b.condition.description } : {}),
            },
          }
        : {}),
    }));
    for (const b of bindings) {
      if (typeof b.role !== 'string' || !/^(roles\/|projects\/|organizations\/)/.test(b.role) || b.role.includes('_withcond_')) {
        return googleError(400, 'INVALID_ARGUMENT', `Role ${b.role} is not supported for this resource.`);
      }
      const bad = b.members.find((m) => !MEMBER.test(m));
      if (bad !== undefined) return googleError(400, 'INVALID_ARGUMENT', `Invalid argument: member ${bad} is of an unknown type.`);
      if (b.condition) {
        if (version < 3) return googleError(400, 'INVALID_ARGUMENT', 'Conditional role bindings require policy version 3 or later.');
        if (BASIC_ROLES.has(b.role)) return googleError(400, 'INVALID_ARGUMENT', `Conditions are not supported for basic role ${b.role}.`);
        if ((b.condition.title ?? '').length > 100)
          return googleError(400, 'INVALID_ARGUMENT', 'Condition title must be at most 100 characters.');
        if ((b.condition.description ?? '').length > 256)
          return googleError(400, 'INVALID_ARGUMENT', 'Condition description must be at most 256 characters.');
      }
    }
    const members = bindings.reduce((n, b) => n + b.members.length, 0);
    if (members > MAX_MEMBERS) {
      return googleError(
        400,
        'INVALID_ARGUMENT',
        `The number of members in the policy (${members.toLocaleString('en-US')}) is larger than the maximum allowed size ${MAX_MEMBERS.toLocaleString('en-US')}.`,
      );
    }
    if (mask.includes('bindings')) policy.bindings = bindings;
    if (mask.includes('auditConfigs')) policy.auditConfigs = incoming.auditConfigs ?? [];
    policy.version = policy.bindings.some((b) => b.condition) ? 3 : 1;
    policy.etag = this.nextEtag();
    return { status: 200, body: { version: policy.version, etag: policy.etag, bindings: policy.bindings } };
  }
}

function googleError(code: number, status: string, message: string, details: unknown[] = []): FakeResponse {
  return { status: code, body: { error: { code, message, status, details } } };
}

/**
 * IAM's evaluation of the time conditions jit-access (and most JIT tools) write: comparisons of
 * `request.time` with `timestamp("…")`, joined by `&&`, optionally parenthesised. Anything else is
 * an expression this fake cannot evaluate, and it fails loudly rather than guess.
 */
function evaluateCondition(expression: string, at: Date): boolean {
  const parts = expression
    .replace(/^\((.*)\)$/, '$1')
    .split('&&')
    .map((p) =>
      p
        .trim()
        .replace(/^\((.*)\)$/, '$1')
        .trim(),
    );
  return parts.every((part) => {
    const m = /^request\.time\s*(<|<=|>|>=)\s*timestamp\("([^"]+)"\)$/.exec(part);
    if (!m) throw new Error(`fake resource manager: cannot evaluate condition ${JSON.stringify(part)}`);
    const t = new Date(m[2]!).getTime();
    if (Number.isNaN(t)) throw new Error(`fake resource manager: bad timestamp in ${JSON.stringify(part)}`);
    const now = at.getTime();
    return m[1] === '<' ? now < t : m[1] === '<=' ? now <= t : m[1] === '>' ? now > t : now >= t;
  });
}
