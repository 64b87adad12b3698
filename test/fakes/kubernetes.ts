import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { FakeHttpServer, FakeOnServer, FakeRequest, FakeResponse } from './fake-http-server';
import { makeTestCertificates, TestCertificates } from './tls-certificates';

/*
 * A local Kubernetes API server, as far as RBAC bindings go, following the documented REST API:
 *
 * - HTTPS with a CA of its own (clients trust it through kubeconfig's certificate-authority-data),
 *   or plain HTTP (which @kubernetes/client-node 1.x only accepts with insecure-skip-tls-verify);
 * - bearer tokens (unknown: 401 Unauthorized); each token is a user with RBAC-style rules that
 *   every request is authorized against (403 Forbidden with the API server's message), including
 *   the escalation check on binding create/update: the `bind` verb on the referenced role
 *   (kubernetes.io "Restrictions on role binding creation or update"; the other way, holding every
 *   permission of the role, is not modelled);
 * - RoleBindings (namespaced) and ClusterRoleBindings: create (409 AlreadyExists), get, list with
 *   labelSelector and limit/continue, replace (409 Conflict on a stale resourceVersion, 422 when
 *   roleRef changes: it is immutable), delete (Status Success; 404 NotFound; preconditions on uid
 *   and resourceVersion); validation of names, labels, roleRef and subjects (422 Invalid); a
 *   RoleBinding in a namespace that does not exist is 404;
 * - ClusterRoles (get; created by the test), namespaces (get);
 * - SelfSubjectAccessReview, answered from the caller's own rules;
 * - errors as Status objects (`kind: Status`, `reason`, `code`, `details`).
 * Faults: a Status for the next matching requests (429 with Retry-After, 500, anything), hanging.
 */

const RBAC = 'rbac.authorization.k8s.io';
const RBAC_V1 = `/apis/${RBAC}/v1`;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** One rule of what a token's user may do, as in a (Cluster)Role bound to it. */
export interface FakeRule {
  verbs: string[];
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  /** Namespaces the rule applies in (a RoleBinding's); undefined: cluster-wide (a ClusterRoleBinding's). */
  namespaces?: string[];
}

export interface FakeIdentity {
  user: string;
  groups?: string[];
  rules: FakeRule[];
}

export interface RoleRef {
  apiGroup: string;
  kind: 'ClusterRole' | 'Role';
  name: string;
}

export interface Subject {
  apiGroup?: string;
  kind: 'User' | 'Group' | 'ServiceAccount';
  name: string;
  namespace?: string;
}

export interface Binding {
  apiVersion: string;
  kind: 'RoleBinding' | 'ClusterRoleBinding';
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  roleRef: RoleRef;
  subjects?: Subject[];
}

type Attributes = { verb: string; group: string; resource: string; namespace?: string; name?: string };

class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface FakeKubernetesOptions {
  /** HTTPS with a fresh CA (default), or plain HTTP. */
  tls?: boolean;
  namespaces?: string[];
  clusterRoles?: string[];
}

export class FakeKubernetes extends FakeOnServer {
  /** Every request, in order, with the user it authenticated as. */
  readonly calls: Array<{ method: string; path: string; query: string; user?: string; body?: unknown }> = [];
  private readonly identities = new Map<string, FakeIdentity>();
  private readonly namespaces: Set<string>;
  private readonly clusterRoles = new Map<string, { uid: string; creationTimestamp: string }>();
  private readonly bindings = new Map<string, Binding>();
  private readonly injected: Array<{ match: (method: string, path: string) => boolean; error: StatusError }> = [];
  private resourceVersion = 1000;

  private constructor(
    server: FakeHttpServer,
    readonly certificates: TestCertificates | undefined,
    opts: FakeKubernetesOptions,
  ) {
    super(server);
    this.namespaces = new Set(opts.namespaces ?? ['default']);
    for (const name of opts.clusterRoles ?? ['view', 'edit', 'admin']) this.addClusterRole(name);
  }

  static async start(opts: FakeKubernetesOptions = {}): Promise<FakeKubernetes> {
    const certificates = opts.tls === false ? undefined : makeTestCertificates();
    let fake: FakeKubernetes | undefined;
    const server = await FakeHttpServer.start((req) => fake!.handle(req), certificates);
    fake = new FakeKubernetes(server, certificates, opts);
    return fake;
  }

  // ---- identities and kubeconfig --------------------------------------------------------------

  /** Accepts `token` as `identity`'s bearer token. */
  addToken(token: string, identity: FakeIdentity): void {
    this.identities.set(token, identity);
  }

  /** A kubeconfig for this server: one context per token given, the first current. */
  kubeconfig(contexts: Array<{ name: string; token: string; server?: string }>): string {
    const cluster = this.certificates
      ? { server: this.url, 'certificate-authority-data': Buffer.from(this.certificates.ca).toString('base64') }
      : { server: this.url, 'insecure-skip-tls-verify': true };
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: contexts.map((c) => ({ name: `fake-${c.name}`, cluster: { ...cluster, ...(c.server ? { server: c.server } : {}) } })),
      users: contexts.map((c) => ({ name: `user-${c.name}`, user: { token: c.token } })),
      contexts: contexts.map((c) => ({ name: c.name, context: { cluster: `fake-${c.name}`, user: `user-${c.name}` } })),
      'current-context': contexts[0]?.name,
    });
  }

  /** Writes kubeconfig() to a fresh temp file and returns its path. */
  writeKubeconfig(contexts: Array<{ name: string; token: string; server?: string }>): string {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'jit-kube-')), 'config');
    writeFileSync(file, this.kubeconfig(contexts), { mode: 0o600 });
    return file;
  }

  // ---- state, for tests ----------------------------------------------------------------------

  addNamespace(name: string): void {
    this.namespaces.add(name);
  }

  addClusterRole(name: string): void {
    this.clusterRoles.set(name, { uid: randomUUID(), creationTimestamp: timestamp() });
  }

  deleteClusterRole(name: string): void {
    this.clusterRoles.delete(name);
  }

  /** A binding made outside jit-access (standing access, or someone else's), stored as given. */
  putBinding(binding: {
    kind: Binding['kind'];
    name: string;
    namespace?: string;
    roleRef: RoleRef;
    subjects: Subject[];
    labels?: Record<string, string>;
  }): Binding {
    const stored: Binding = {
      apiVersion: `${RBAC}/v1`,
      kind: binding.kind,
      metadata: {
        name: binding.name,
        ...(binding.namespace ? { namespace: binding.namespace } : {}),
        uid: randomUUID(),
        resourceVersion: this.nextVersion(),
        creationTimestamp: timestamp(),
        ...(binding.labels ? { labels: binding.labels } : {}),
      },
      roleRef: binding.roleRef,
      subjects: binding.subjects,
    };
    this.bindings.set(keyOf(binding.kind, binding.namespace, binding.name), stored);
    return stored;
  }

  /** The bindings of one scope (a namespace's RoleBindings, or the ClusterRoleBindings). */
  bindingsIn(namespace: string | undefined): Binding[] {
    const kind = namespace === undefined ? 'ClusterRoleBinding' : 'RoleBinding';
    return [...this.bindings.values()].filter((b) => b.kind === kind && b.metadata.namespace === namespace);
  }

  binding(namespace: string | undefined, name: string): Binding | undefined {
    return this.bindings.get(keyOf(namespace === undefined ? 'ClusterRoleBinding' : 'RoleBinding', namespace, name));
  }

  /** Does some binding of this scope give `clusterRole` to the subject? */
  grants(namespace: string | undefined, clusterRole: string, subject: { kind: 'User' | 'Group'; name: string }): boolean {
    return this.bindingsIn(namespace).some(
      (b) =>
        b.roleRef.kind === 'ClusterRole' &&
        b.roleRef.name === clusterRole &&
        (b.subjects ?? []).some((s) => s.kind === subject.kind && s.name === subject.name),
    );
  }

  // ---- faults --------------------------------------------------------------------------------

  /** The next `count` requests with this method whose path contains `pathPart` get this Status. */
  injectStatus(
    method: string,
    pathPart: string,
    status: { code: number; reason: string; message: string; retryAfterSeconds?: number },
    count = 1,
  ): void {
    const headers: Record<string, string> =
      status.retryAfterSeconds !== undefined ? { 'Retry-After': String(status.retryAfterSeconds) } : {};
    const details = status.retryAfterSeconds !== undefined ? { retryAfterSeconds: status.retryAfterSeconds } : undefined;
    for (let i = 0; i < count; i++) {
      this.injected.push({
        match: (m, p) => m === method && p.includes(pathPart),
        error: new StatusError(status.code, status.reason, status.message, details, headers),
      });
    }
  }

  // ---- the API -------------------------------------------------------------------------------

  private async handle(req: FakeRequest): Promise<FakeResponse> {
    const entry: (typeof this.calls)[number] = { method: req.method, path: req.path, query: req.query.toString() };
    this.calls.push(entry);
    try {
      const identity = this.authenticate(req);
      entry.user = identity.user;
      const body = this.parseBody(req);
      if (body !== undefined) entry.body = body;
      const injected = this.injected.findIndex((i) => i.match(req.method, req.path));
      if (injected >= 0) throw this.injected.splice(injected, 1)[0]!.error;
      return this.route(req, identity, body);
    } catch (err) {
      if (!(err instanceof StatusError)) throw err;
      return {
        status: err.code,
        headers: err.headers,
        body: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: err.message,
          reason: err.reason,
          ...(err.details ? { details: err.details } : {}),
          code: err.code,
        },
      };
    }
  }

  private authenticate(req: FakeRequest): FakeIdentity {
    const auth = String(req.headers.authorization ?? '');
    const identity = auth.startsWith('Bearer ') ? this.identities.get(auth.slice('Bearer '.length)) : undefined;
    if (!identity) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    return identity;
  }

  private parseBody(req: FakeRequest): unknown {
    if (req.body.length === 0) return undefined;
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      throw new StatusError(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/json`,
      );
    }
    try {
      return JSON.parse(req.body.toString('utf8'));
    } catch {
      throw new StatusError(400, 'BadRequest', 'the body is not valid JSON');
    }
  }

  private authorize(identity: FakeIdentity, a: Attributes): void {
    const allowed = identity.rules.some(
      (r) =>
        (r.verbs.includes(a.verb) || r.verbs.includes('*')) &&
        (r.apiGroups.includes(a.group) || r.apiGroups.includes('*')) &&
        (r.resources.includes(a.resource) || r.resources.includes('*')) &&
        (r.resourceNames === undefined || (a.name !== undefined && r.resourceNames.includes(a.name))) &&
        (r.namespaces === undefined || (a.namespace !== undefined && r.namespaces.includes(a.namespace))),
    );
    if (allowed) return;
    const what = `${a.resource}${a.group ? `.${a.group}` : ''}${a.name ? ` "${a.name}"` : ''}`;
    const where = a.namespace ? ` in the namespace "${a.namespace}"` : ' at the cluster scope';
    throw new StatusError(
      403,
      'Forbidden',
      `${what} is forbidden: User "${identity.user}" cannot ${a.verb} resource "${a.resource}" in API group "${a.group}"${where}`,
      { ...(a.name ? { name: a.name } : {}), group: a.group, kind: a.resource },
    );
  }

  private route(req: FakeRequest, identity: FakeIdentity, body: unknown): FakeResponse {
    const { method, path: p } = req;
    if (p === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' && method === 'POST') return this.accessReview(identity, body);
    let m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(p);
    if (m && method === 'GET') {
      this.authorize(identity, { verb: 'get', group: '', resource: 'namespaces', name: m[1]! });
      if (!this.namespaces.has(m[1]!)) throw notFound('', 'namespaces', m[1]!);
      return {
        status: 200,
        body: { kind: 'Namespace', apiVersion: 'v1', metadata: { name: m[1], uid: randomUUID() }, status: { phase: 'Active' } },
      };
    }
    m = new RegExp(`^${RBAC_V1}/clusterroles/([^/]+)$`).exec(p);
    if (m && method === 'GET') {
      const name = decodeURIComponent(m[1]!);
      this.authorize(identity, { verb: 'get', group: RBAC, resource: 'clusterroles', name });
      const role = this.clusterRoles.get(name);
      if (!role) throw notFound(RBAC, 'clusterroles', name);
      return {
        status: 200,
        body: {
          kind: 'ClusterRole',
          apiVersion: `${RBAC}/v1`,
          metadata: { name, uid: role.uid, creationTimestamp: role.creationTimestamp },
          rules: [],
        },
      };
    }
    m = new RegExp(`^${RBAC_V1}/(?:namespaces/([^/]+)/(rolebindings)|(clusterrolebindings))(?:/([^/]+))?$`).exec(p);
    if (m) {
      const namespace = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
      const resource = m[2] ?? m[3]!;
      const name = m[4] === undefined ? undefined : decodeURIComponent(m[4]);
      return this.bindingsApi(req, identity, body, resource, namespace, name);
    }
    throw new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});
  }

  private bindingsApi(
    req: FakeRequest,
    identity: FakeIdentity,
    body: unknown,
    resource: string,
    namespace: string | undefined,
    name: string | undefined,
  ): FakeResponse {
    const kind = resource === 'rolebindings' ? 'RoleBinding' : 'ClusterRoleBinding';
    const verb = { GET: name ? 'get' : 'list', POST: 'create', PUT: 'update', DELETE: 'delete' }[req.method];
    if (!verb || (req.method === 'POST' && name) || (req.method !== 'GET' && req.method !== 'POST' && !name)) {
      throw new StatusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
    this.authorize(identity, { verb, group: RBAC, resource, ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) });
    if (namespace !== undefined && !this.namespaces.has(namespace) && verb !== 'list' && verb !== 'get')
      throw notFound('', 'namespaces', namespace);

    if (verb === 'list') return this.list(req, kind, namespace);
    if (verb === 'create') {
      const obj = this.validate(body, kind, namespace, undefined);
      this.authorizeBind(identity, obj.roleRef, namespace);
      const key = keyOf(kind, namespace, obj.metadata.name);
      if (this.bindings.has(key))
        throw new StatusError(409, 'AlreadyExists', `${resource}.${RBAC} "${obj.metadata.name}" already exists`, {
          name: obj.metadata.name,
          group: RBAC,
          kind: resource,
        });
      const stored = this.store(obj, kind, namespace, undefined);
      return { status: 201, body: stored };
    }
    const key = keyOf(kind, namespace, name!);
    const current = this.bindings.get(key);
    if (!current) throw notFound(RBAC, resource, name!);
    if (verb === 'get') return { status: 200, body: current };
    if (verb === 'update') {
      const obj = this.validate(body, kind, namespace, name);
      const wanted = obj.metadata.resourceVersion;
      if (wanted !== undefined && wanted !== current.metadata.resourceVersion) {
        throw new StatusError(
          409,
          'Conflict',
          `Operation cannot be fulfilled on ${resource}.${RBAC} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          { name, group: RBAC, kind: resource },
        );
      }
      if (JSON.stringify(obj.roleRef) !== JSON.stringify(current.roleRef)) {
        throw new StatusError(
          422,
          'Invalid',
          `${kind}.${RBAC} "${name}" is invalid: roleRef: Invalid value: ${JSON.stringify(obj.roleRef)}: cannot change roleRef`,
          {
            name,
            group: RBAC,
            kind,
            causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: cannot change roleRef', field: 'roleRef' }],
          },
        );
      }
      this.authorizeBind(identity, obj.roleRef, namespace);
      return { status: 200, body: this.store(obj, kind, namespace, current) };
    }
    // delete, with DeleteOptions preconditions
    const preconditions = (body as { preconditions?: { uid?: string; resourceVersion?: string } } | undefined)?.preconditions;
    if (preconditions?.uid !== undefined && preconditions.uid !== current.metadata.uid) {
      throw new StatusError(
        409,
        'Conflict',
        `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${current.metadata.uid}`,
        { name, group: RBAC, kind: resource },
      );
    }
    if (preconditions?.resourceVersion !== undefined && preconditions.resourceVersion !== current.metadata.resourceVersion) {
      throw new StatusError(
        409,
        'Conflict',
        `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
        {
          name,
          group: RBAC,
          kind: resource,
        },
      );
    }
    this.bindings.delete(key);
    return {
      status: 200,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name, group: RBAC, kind: resource, uid: current.metadata.uid },
      },
    };
  }

  /** Creating or updating a binding needs `bind` on the role it references (the escalation check). */
  private authorizeBind(identity: FakeIdentity, roleRef: RoleRef, namespace: string | undefined): void {
    try {
      this.authorize(identity, {
        verb: 'bind',
        group: RBAC,
        resource: roleRef.kind === 'ClusterRole' ? 'clusterroles' : 'roles',
        name: roleRef.name,
        ...(namespace ? { namespace } : {}),
      });
    } catch {
      throw new StatusError(
        403,
        'Forbidden',
        `${namespace ? 'rolebindings' : 'clusterrolebindings'}.${RBAC} is forbidden: user "${identity.user}" (groups=${JSON.stringify(identity.groups ?? [])}) is attempting to grant RBAC permissions not currently held: (the fake checks only the bind verb on ${roleRef.kind} "${roleRef.name}")`,
      );
    }
  }

  private validate(body: unknown, kind: Binding['kind'], namespace: string | undefined, pathName: string | undefined): Binding {
    const obj = body as Partial<Binding> | undefined;
    const causes: Array<{ field: string; message: string }> = [];
    const name = obj?.metadata?.name;
    if (obj?.kind !== undefined && obj.kind !== kind) causes.push({ field: 'kind', message: `expected ${kind}` });
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/%]/.test(name) || name.length > 253) {
      causes.push({
        field: 'metadata.name',
        message: `Invalid value: ${JSON.stringify(name)}: may not be '.' or '..', or contain '/' or '%'`,
      });
    }
    if (pathName !== undefined && name !== pathName)
      throw new StatusError(400, 'BadRequest', `the name of the object (${String(name)}) does not match the name on the URL (${pathName})`);
    if (obj?.metadata?.namespace !== undefined && obj.metadata.namespace !== namespace) {
      throw new StatusError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    }
    for (const [k, v] of Object.entries(obj?.metadata?.labels ?? {})) {
      const [prefix, label] = k.includes('/') ? [k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)] : [undefined, k];
      if ((prefix !== undefined && !DNS_SUBDOMAIN.test(prefix)) || !LABEL_NAME.test(label))
        causes.push({ field: 'metadata.labels', message: `Invalid value: ${JSON.stringify(k)}: a valid label key` });
      if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v))
        causes.push({
          field: 'metadata.labels',
          message: `Invalid value: ${JSON.stringify(v)}: a valid label must be 63 characters or less`,
        });
    }
    const ref = obj?.roleRef;
    if (!ref || ref.apiGroup !== RBAC || !(ref.kind === 'ClusterRole' || (ref.kind === 'Role' && kind === 'RoleBinding')) || !ref.name) {
      causes.push({
        field: 'roleRef',
        message: 'Unsupported value: roleRef must name a ClusterRole (or, for a RoleBinding, a Role) of rbac.authorization.k8s.io',
      });
    }
    for (const s of obj?.subjects ?? []) {
      const bad =
        !s.name ||
        ((s.kind === 'User' || s.kind === 'Group') && s.apiGroup !== RBAC) ||
        (s.kind === 'ServiceAccount' && (s.apiGroup ?? '') !== '') ||
        !['User', 'Group', 'ServiceAccount'].includes(s.kind);
      if (bad) causes.push({ field: 'subjects', message: `Invalid value: ${JSON.stringify(s)}` });
    }
    if (causes.length) {
      throw new StatusError(
        422,
        'Invalid',
        `${kind}.${RBAC} "${String(name)}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(', ')}`,
        {
          name,
          group: RBAC,
          kind,
          causes: causes.map((c) => ({ reason: 'FieldValueInvalid', ...c })),
        },
      );
    }
    return obj as Binding;
  }

  private store(obj: Binding, kind: Binding['kind'], namespace: string | undefined, current: Binding | undefined): Binding {
    const stored: Binding = {
      apiVersion: `${RBAC}/v1`,
      kind,
      metadata: {
        name: obj.metadata.name,
        ...(namespace ? { namespace } : {}),
        uid: current?.metadata.uid ?? randomUUID(),
        resourceVersion: this.nextVersion(),
        creationTimestamp: current?.metadata.creationTimestamp ?? timestamp(),
        ...(obj.metadata.labels ? { labels: obj.metadata.labels } : {}),
        ...(obj.metadata.annotations ? { annotations: obj.metadata.annotations } : {}),
      },
      roleRef: obj.roleRef,
      ...(obj.subjects ? { subjects: obj.subjects } : {}),
    };
    this.bindings.set(keyOf(kind, namespace, stored.metadata.name), stored);
    return stored;
  }

  private list(req: FakeRequest, kind: Binding['kind'], namespace: string | undefined): FakeResponse {
    const selector = parseSelector(req.query.get('labelSelector') ?? '');
    const all = this.bindingsIn(namespace)
      .filter((b) => selector(b.metadata.labels ?? {}))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    const start = req.query.has('continue') ? Number(Buffer.from(req.query.get('continue')!, 'base64').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw new StatusError(400, 'BadRequest', 'invalid continue token');
    const limit = req.query.has('limit') ? Number(req.query.get('limit')) : all.length;
    const items = all.slice(start, start + Math.max(1, limit));
    const more = start + items.length < all.length;
    return {
      status: 200,
      body: {
        kind: `${kind}List`,
        apiVersion: `${RBAC}/v1`,
        metadata: {
          resourceVersion: String(this.resourceVersion),
          ...(more ? { continue: Buffer.from(String(start + items.length)).toString('base64') } : {}),
        },
        items,
      },
    };
  }

  private accessReview(identity: FakeIdentity, body: unknown): FakeResponse {
    const attrs = (body as { spec?: { resourceAttributes?: Partial<Attributes> } } | undefined)?.spec?.resourceAttributes;
    if (!attrs?.verb || attrs.resource === undefined)
      throw new StatusError(422, 'Invalid', 'SelfSubjectAccessReview is invalid: spec.resourceAttributes: verb and resource are required');
    let allowed = true;
    let reason = 'allowed by the fake';
    try {
      this.authorize(identity, {
        verb: attrs.verb,
        group: attrs.group ?? '',
        resource: attrs.resource,
        ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
        ...(attrs.name ? { name: attrs.name } : {}),
      });
    } catch (err) {
      allowed = false;
      reason = (err as Error).message;
    }
    return {
      status: 201,
      body: {
        kind: 'SelfSubjectAccessReview',
        apiVersion: 'authorization.k8s.io/v1',
        metadata: {},
        spec: (body as { spec: unknown }).spec,
        status: { allowed, ...(allowed ? { reason } : { denied: false, reason }) },
      },
    };
  }

  private nextVersion(): string {
    this.resourceVersion += 1;
    return String(this.resourceVersion);
  }
}

const keyOf = (kind: string, namespace: string | undefined, name: string) => JSON.stringify([kind, namespace ?? null, name]);
const timestamp = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function notFound(group: string, resource: string, name: string): StatusError {
  return new StatusError(404, 'NotFound', `${resource}${group ? `.${group}` : ''} "${name}" not found`, {
    name,
    ...(group ? { group } : {}),
    kind: resource,
  });
}

/** Equality-based selectors: `k=v`, `k==v`, `k!=v`, `k` (exists), `!k` (absent), comma-separated. */
function parseSelector(text: string): (labels: Record<string, string>) => boolean {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p): ((labels: Record<string, string>) => boolean) => {
      const unequal = /^([^!=]+)!=(.*)$/.exec(p);
      if (unequal) return (l) => l[unequal[1]!.trim()] !== unequal[2]!.trim();
      const equal = /^([^!=]+)==?(.*)$/.exec(p);
      if (equal) return (l) => l[equal[1]!.trim()] === equal[2]!.trim();
      if (p.startsWith('!')) return (l) => !(p.slice(1) in l);
      return (l) => p in l;
    });
  return (labels) => parts.every((f) => f(labels));
}
