import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type * as k8s from '@kubernetes/client-node';
import { z } from 'zod';
import type {
  ExtendOptions,
  FilingCheck,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { backoff, DeadlinePassedError, retryWithin } from '../deadline';
import { kubernetesAccessSchema, kubernetesTargetSchema, SUBJECT_NAME, subjectName } from './config';
import type { KubernetesAccess, KubernetesTargetConfig } from './config';

/*
 * A RoleBinding in `namespace` (or a ClusterRoleBinding without one) of `clusterRole` to the
 * requester's User or Group subject, one per request:
 *
 * - named after the request (`jit-access-<request ID>`), so a retried grant finds its own binding:
 *   409 AlreadyExists is read and compared, and brought up to date (a changed subject or expiry is
 *   replaced; a changed roleRef, which Kubernetes never lets change, is deleted and recreated);
 * - labelled `app.kubernetes.io/managed-by=jit-access` (+ the request ID and a hash of the access
 *   it gives) and annotated with the request ID, the expiry, the resource and the requester;
 * - revoked by deleting it (404: already gone), with the binding's uid as precondition, after
 *   reading that it is jit-access's; a binding of that name that jit-access did not make is never
 *   touched.
 *
 * Standing access (README “Standing access and overlapping grants”): holds() looks for a binding jit-access did not make that gives
 * the same ClusterRole to the same subject in the same scope (a RoleBinding in the namespace, or a
 * ClusterRoleBinding); such a request grants nothing. Overlapping grants of one access (two
 * resources, one ClusterRole, one subject) each have their own binding; the operations layer
 * keeps the revocation of all but the last from reaching here, so the last one's revoke also
 * deletes the bindings of the earlier ones (same access label, same target), which were left in
 * place while it was active. What this cannot see: access through a Group the user is in (the
 * authenticator's business), and cluster-wide bindings for a namespaced grant.
 */

const RBAC = 'rbac.authorization.k8s.io';
const MANAGED_BY = 'app.kubernetes.io/managed-by';
const MANAGER = 'jit-access';
const REQUEST_LABEL = 'jit-access.io/request-id';
const ACCESS_LABEL = 'jit-access.io/access';
const ANNOTATIONS = {
  requestId: 'jit-access.io/request-id',
  expiresAt: 'jit-access.io/expires-at',
  resource: 'jit-access.io/resource',
  requester: 'jit-access.io/requester',
};
const BINDING_PREFIX = 'jit-access-';
const PLAIN_ID = /^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/;
const IN_CLUSTER_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';
/** TLS failures a retry cannot fix: the server is not who the kubeconfig says. */
const TLS_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
]);

let library: typeof k8s | undefined;
/**
 * @kubernetes/client-node, loaded when a kubernetes target is created: it takes about a second
 * and 70 MB to load, which a bot without such a target should not pay at every start.
 */
function kubeLibrary(): typeof k8s {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (library ??= require('@kubernetes/client-node') as typeof k8s);
}

type Binding = k8s.V1RoleBinding | k8s.V1ClusterRoleBinding;
type CallOptions = k8s.ConfigurationOptions;

/** `jit-access-<request ID>`; a request ID that is not a plain lowercase name is hashed instead. */
export function bindingName(requestId: string): string {
  return `${BINDING_PREFIX}${requestLabel(requestId)}`;
}

function requestLabel(requestId: string): string {
  return PLAIN_ID.test(requestId) ? requestId : createHash('sha256').update(requestId).digest('hex').slice(0, 20);
}

/** What a grant gives, the same for every resource that gives it (the overlap key). */
function accessKeyOf(access: KubernetesAccess): string {
  return `binding:${JSON.stringify([access.namespace ?? null, access.clusterRole, access.subjectKind, access.subjectPrefix, access.subjectTemplate])}`;
}

/** Per-call options: the deadline's AbortSignal, through the client's (Observable) middleware. */
function withSignal(signal: AbortSignal): CallOptions {
  const { Observable } = kubeLibrary();
  return {
    middleware: [
      {
        pre: (ctx: k8s.RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (res: k8s.ResponseContext) => new Observable(Promise.resolve(res)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** An HTTP error from the API server, as a Status object says it. */
class KubeStatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly statusMessage: string,
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(`HTTP ${code}${reason ? ` ${reason}` : ''}${statusMessage ? `: ${statusMessage}` : ''}`);
  }
}

/**
 * client-node's ApiException carries the raw Status text in `body` (its own message also holds
 * every response header, so it is never shown). Duck-typed: under test runners the class may come
 * from another module instance.
 */
function asStatusError(err: unknown): KubeStatusError | undefined {
  const e = err as { code?: unknown; body?: unknown; headers?: Record<string, string> } | null;
  if (!e || typeof e.code !== 'number' || !('headers' in e)) return undefined;
  let reason = '';
  let message = '';
  let retryAfter: number | undefined;
  if (typeof e.body === 'string' && e.body) {
    try {
      const status = JSON.parse(e.body) as { reason?: string; message?: string; details?: { retryAfterSeconds?: number } };
      reason = status.reason ?? '';
      message = status.message ?? '';
      retryAfter = status.details?.retryAfterSeconds;
    } catch {
      message = e.body.slice(0, 200);
    }
  }
  const header = Number(e.headers?.['retry-after']);
  return new KubeStatusError(e.code, reason, message, Number.isFinite(header) ? header : retryAfter);
}

const nameOf = (err: unknown) => (err as { name?: unknown } | null)?.name;
const codeOf = (err: unknown) => (err as { code?: unknown } | null)?.code;
const isStatus = (err: unknown, code: number) => err instanceof KubeStatusError && err.code === code;

const retryPolicy = (err: unknown, tries: number): number | undefined => {
  if (nameOf(err) === 'AbortError' || err instanceof DeadlinePassedError) return undefined;
  const status = asStatusError(err);
  if (status) return status.code === 429 || status.code >= 500 ? backoff(tries, (status.retryAfterSeconds ?? 0) * 1000) : undefined;
  if (typeof codeOf(err) === 'string' && TLS_ERRORS.has(codeOf(err) as string)) return undefined;
  return backoff(tries); // no answer: refused, reset, DNS
};

/** RoleBindings of one namespace, or ClusterRoleBindings: the same five calls. */
interface Scope {
  readonly kind: 'RoleBinding' | 'ClusterRoleBinding';
  readonly namespace: string | undefined;
  readonly where: string;
  create(body: Binding, o: CallOptions): Promise<Binding>;
  read(name: string, o: CallOptions): Promise<Binding>;
  replace(name: string, body: Binding, o: CallOptions): Promise<Binding>;
  remove(name: string, uid: string, o: CallOptions): Promise<unknown>;
  list(
    labelSelector: string | undefined,
    cont: string | undefined,
    o: CallOptions,
  ): Promise<{ items: Binding[]; metadata?: { _continue?: string } }>;
}

function scopeOf(rbac: k8s.RbacAuthorizationV1Api, namespace: string | undefined): Scope {
  const page = (labelSelector: string | undefined, cont: string | undefined) => ({
    limit: 250,
    ...(labelSelector ? { labelSelector } : {}),
    ...(cont ? { _continue: cont } : {}),
  });
  if (namespace === undefined) {
    return {
      kind: 'ClusterRoleBinding',
      namespace,
      where: 'the cluster',
      create: (body, o) => rbac.createClusterRoleBinding({ body }, o),
      read: (name, o) => rbac.readClusterRoleBinding({ name }, o),
      replace: (name, body, o) => rbac.replaceClusterRoleBinding({ name, body }, o),
      remove: (name, uid, o) => rbac.deleteClusterRoleBinding({ name, body: { preconditions: { uid } } }, o),
      list: (sel, cont, o) => rbac.listClusterRoleBinding(page(sel, cont), o),
    };
  }
  return {
    kind: 'RoleBinding',
    namespace,
    where: `namespace ${namespace}`,
    create: (body, o) => rbac.createNamespacedRoleBinding({ namespace, body }, o),
    read: (name, o) => rbac.readNamespacedRoleBinding({ name, namespace }, o),
    replace: (name, body, o) => rbac.replaceNamespacedRoleBinding({ name, namespace, body }, o),
    remove: (name, uid, o) => rbac.deleteNamespacedRoleBinding({ name, namespace, body: { preconditions: { uid } } }, o),
    list: (sel, cont, o) => rbac.listNamespacedRoleBinding({ namespace, ...page(sel, cont) }, o),
  };
}

interface Clients {
  rbac: k8s.RbacAuthorizationV1Api;
  authz: k8s.AuthorizationV1Api;
  /** The token or password the kubeconfig holds, to keep out of error texts. */
  secrets: string[];
}

export class KubernetesProvider implements TargetProvider<KubernetesAccess> {
  private loaded: Clients | undefined;

  constructor(
    private readonly config: KubernetesTargetConfig,
    private readonly targetName: string,
  ) {
    // Loaded with the target, at start-up, so that no call's deadline pays for it.
    kubeLibrary();
  }

  /** At filing: the subject must be a name the cluster could produce, and not one of Kubernetes's own. */
  async validate(access: KubernetesAccess, subject: FilingSubject): Promise<FilingCheck> {
    const problem = this.subjectProblem(access, subject.user.account);
    return problem === undefined
      ? { ok: true }
      : { ok: false, reason: `${problem}. Ask a policy admin to map you to your cluster user name in \`identities\`.` };
  }

  async holds(access: KubernetesAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    const account = subject.user.account;
    if (account === undefined || this.subjectProblem(access, account) !== undefined) return false;
    const name = subjectName(access, account);
    return this.guard(`read who holds ${access.clusterRole}`, async () => {
      const scope = scopeOf(this.clients().rbac, access.namespace);
      const all = await this.listAll(scope, undefined, opts.deadline);
      return all.some(
        (b) =>
          b.metadata?.labels?.[MANAGED_BY] !== MANAGER &&
          b.roleRef.kind === 'ClusterRole' &&
          b.roleRef.name === access.clusterRole &&
          (b.subjects ?? []).some((s) => s.kind === access.subjectKind && s.name === name && (s.apiGroup ?? RBAC) === RBAC),
      );
    });
  }

  async grant(access: KubernetesAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    const desired = this.desiredBinding(access, subject);
    const name = desired.metadata!.name!;
    await this.guard(`grant ${access.clusterRole} in ${access.namespace ? `namespace ${access.namespace}` : 'the cluster'}`, async () => {
      await this.requireClusterRole(access.clusterRole, opts.deadline);
      await this.ensure(scopeOf(this.clients().rbac, access.namespace), desired, subject.requestId, opts.deadline);
    });
    return { details: { binding: name, ...(access.namespace ? { namespace: access.namespace } : {}) } };
  }

  /** The binding's expiry annotation moves; a binding removed meanwhile is made again (the extension was approved). */
  async extend(access: KubernetesAccess, subject: GrantSubject, opts: ExtendOptions): Promise<void> {
    const desired = this.desiredBinding(access, subject, opts.details);
    await this.guard(`extend ${desired.metadata!.name}`, () =>
      this.ensure(scopeOf(this.clients().rbac, desired.metadata!.namespace), desired, subject.requestId, opts.deadline),
    );
  }

  async revoke(access: KubernetesAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    const { name, namespace } = this.recorded(access, subject, opts.details);
    await this.guard(`revoke ${name}`, async () => {
      const rbac = this.clients().rbac;
      await this.removeIfOurs(scopeOf(rbac, namespace), name, opts.deadline);
      // Earlier grants of the same access, left in place while this one was active (see above).
      const account = subject.user.account;
      if (account === undefined) return;
      const scope = scopeOf(rbac, access.namespace);
      for (const sibling of await this.listAll(
        scope,
        `${MANAGED_BY}=${MANAGER},${ACCESS_LABEL}=${this.accessLabel(access, account)}`,
        opts.deadline,
      )) {
        await this.removeIfOurs(scope, sibling.metadata!.name!, opts.deadline);
      }
    });
  }

  async check(access: KubernetesAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    const problems: string[] = [];
    try {
      const { authz } = this.clients();
      const resource = access.namespace ? 'rolebindings' : 'clusterrolebindings';
      const wanted: Array<k8s.V1ResourceAttributes> = [
        ...['get', 'list', 'create', 'update', 'delete'].map((verb) => ({
          group: RBAC,
          resource,
          verb,
          ...(access.namespace ? { namespace: access.namespace } : {}),
        })),
        { group: RBAC, resource: 'clusterroles', verb: 'bind', name: access.clusterRole },
        { group: RBAC, resource: 'clusterroles', verb: 'get', name: access.clusterRole },
      ];
      // All at once: one round trip's time, not seven, under the caller's deadline.
      const reviews = await Promise.all(
        wanted.map((attrs) =>
          this.call(deadline, (o) =>
            authz.createSelfSubjectAccessReview(
              { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: attrs } } },
              o,
            ),
          ),
        ),
      );
      wanted.forEach((attrs, i) => {
        if (!reviews[i]?.status?.allowed) {
          const what = attrs.name ? `${attrs.resource}/${attrs.name}` : attrs.resource;
          problems.push(
            `${this.label}: not allowed to ${attrs.verb} ${what}${attrs.namespace ? ` in namespace ${attrs.namespace}` : ''} (see the README's RBAC)`,
          );
        }
      });
      await this.requireClusterRole(access.clusterRole, deadline).catch((err: unknown) =>
        problems.push(this.failure(err, 'check').message),
      );
    } catch (err) {
      problems.push(this.failure(err, 'check').message);
    }
    return [...new Set(problems)];
  }

  private get label(): string {
    return `kubernetes target ${this.targetName}`;
  }

  private subjectProblem(access: KubernetesAccess, account: string | undefined): string | undefined {
    if (account === undefined || account === '') return `There is no cluster user name for you in ${this.targetName}`;
    const name = subjectName(access, account);
    if (!SUBJECT_NAME.test(name)) return `Your cluster user name for ${this.targetName} is not one Kubernetes accepts`;
    if (name.startsWith('system:'))
      return `Your cluster user name for ${this.targetName} starts with "system:", which Kubernetes reserves for itself`;
    return undefined;
  }

  /** The binding this grant should be: named after the request, labelled and annotated as jit-access's. */
  private desiredBinding(access: KubernetesAccess, subject: GrantSubject, details?: Record<string, string>): Binding {
    const problem = this.subjectProblem(access, subject.user.account);
    if (problem !== undefined) throw new ProviderError(`${this.label}: ${problem} (request ${subject.requestId})`, false);
    const account = subject.user.account!;
    const { name, namespace } = this.recorded(access, subject, details);
    return {
      apiVersion: `${RBAC}/v1`,
      kind: namespace === undefined ? 'ClusterRoleBinding' : 'RoleBinding',
      metadata: {
        name,
        ...(namespace ? { namespace } : {}),
        labels: {
          [MANAGED_BY]: MANAGER,
          [REQUEST_LABEL]: requestLabel(subject.requestId),
          [ACCESS_LABEL]: this.accessLabel(access, account),
        },
        annotations: {
          [ANNOTATIONS.requestId]: subject.requestId,
          [ANNOTATIONS.expiresAt]: subject.expiresAt.toISOString(),
          [ANNOTATIONS.resource]: subject.resourceId,
          [ANNOTATIONS.requester]: subject.user.slackId,
        },
      },
      roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: access.clusterRole },
      subjects: [{ apiGroup: RBAC, kind: access.subjectKind, name: subjectName(access, account) }],
    };
  }

  /** Where this request's binding is: as grant() recorded it, else where the resource says. */
  private recorded(
    access: KubernetesAccess,
    subject: GrantSubject,
    details: Record<string, string> | undefined,
  ): { name: string; namespace: string | undefined } {
    if (details?.binding === undefined) return { name: bindingName(subject.requestId), namespace: access.namespace };
    if (!details.binding.startsWith(BINDING_PREFIX)) {
      throw new ProviderError(
        `${this.label}: refusing to touch binding ${JSON.stringify(details.binding)}, which jit-access did not name`,
        false,
      );
    }
    return { name: details.binding, namespace: details.namespace };
  }

  /** The same for every grant of one access to one account in this target: which bindings a revoke may sweep. */
  private accessLabel(access: KubernetesAccess, account: string): string {
    return createHash('sha256')
      .update(JSON.stringify([this.targetName, accessKeyOf(access), account]))
      .digest('hex')
      .slice(0, 40);
  }

  /** Creates the binding, or brings the existing one of this request up to date. */
  private async ensure(scope: Scope, desired: Binding, requestId: string, deadline: Date): Promise<void> {
    const name = desired.metadata!.name!;
    for (let round = 0; round < 5; round++) {
      try {
        await this.call(deadline, (o) => scope.create(desired, o));
        return;
      } catch (err) {
        if (isStatus(err, 404)) throw new ProviderError(`${this.label}: ${scope.where} does not exist`, false);
        if (!isStatus(err, 409)) throw err;
      }
      // AlreadyExists: a retried grant, an extension, or a name clash. Read and compare.
      let current: Binding;
      try {
        current = await this.call(deadline, (o) => scope.read(name, o));
      } catch (err) {
        if (isStatus(err, 404)) continue; // deleted meanwhile
        throw err;
      }
      if (current.metadata?.labels?.[MANAGED_BY] !== MANAGER || current.metadata?.labels?.[REQUEST_LABEL] !== requestLabel(requestId)) {
        throw new ProviderError(
          `${this.label}: a binding named ${name} already exists in ${scope.where} and jit-access did not make it for request ${requestId}; it is left alone`,
          false,
        );
      }
      if (JSON.stringify(current.roleRef) !== JSON.stringify(desired.roleRef)) {
        // roleRef is immutable: the only way to another ClusterRole is a new binding.
        await this.removeIfOurs(scope, name, deadline);
        continue;
      }
      const labels = { ...current.metadata?.labels, ...desired.metadata!.labels };
      const annotations = { ...current.metadata?.annotations, ...desired.metadata!.annotations };
      if (
        JSON.stringify(current.subjects) === JSON.stringify(desired.subjects) &&
        JSON.stringify(labels) === JSON.stringify(current.metadata?.labels) &&
        JSON.stringify(annotations) === JSON.stringify(current.metadata?.annotations)
      ) {
        return;
      }
      try {
        // With the read resourceVersion: a concurrent change answers 409 Conflict and we read again.
        await this.call(deadline, (o) =>
          scope.replace(name, { ...current, metadata: { ...current.metadata, labels, annotations }, subjects: desired.subjects }, o),
        );
        return;
      } catch (err) {
        if (!isStatus(err, 409) && !isStatus(err, 404)) throw err;
      }
    }
    throw new ProviderError(`${this.label}: binding ${name} in ${scope.where} kept changing under us; try again`);
  }

  /** Deletes the binding if it is jit-access's (404: already gone); the uid precondition keeps a look-alike safe. */
  private async removeIfOurs(scope: Scope, name: string, deadline: Date): Promise<void> {
    for (let round = 0; round < 5; round++) {
      let current: Binding;
      try {
        current = await this.call(deadline, (o) => scope.read(name, o));
      } catch (err) {
        if (isStatus(err, 404)) return;
        throw err;
      }
      if (current.metadata?.labels?.[MANAGED_BY] !== MANAGER) return; // not ours: never touched
      try {
        await this.call(deadline, (o) => scope.remove(name, current.metadata!.uid!, o));
        return;
      } catch (err) {
        if (isStatus(err, 404)) return;
        if (!isStatus(err, 409)) throw err; // 409: replaced by another object of that name; look again
      }
    }
    throw new ProviderError(`${this.label}: binding ${name} in ${scope.where} kept changing under us; try again`);
  }

  private async requireClusterRole(name: string, deadline: Date): Promise<void> {
    const { rbac } = this.clients();
    try {
      await this.call(deadline, (o) => rbac.readClusterRole({ name }, o));
    } catch (err) {
      // A binding to a ClusterRole that does not exist is accepted by Kubernetes and gives nothing.
      if (isStatus(err, 404)) throw new ProviderError(`${this.label}: ClusterRole ${name} does not exist`, false);
      throw err;
    }
  }

  private async listAll(scope: Scope, labelSelector: string | undefined, deadline: Date): Promise<Binding[]> {
    const all: Binding[] = [];
    let cont: string | undefined;
    do {
      const page = await this.call(deadline, (o) => scope.list(labelSelector, cont, o));
      all.push(...page.items);
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return all;
  }

  /** One API call under the deadline, retried on 429, 5xx and no answer; HTTP errors as KubeStatusError. */
  private async call<T>(deadline: Date, call: (o: CallOptions) => Promise<T>): Promise<T> {
    try {
      return await retryWithin(deadline, (signal) => call(withSignal(signal)), retryPolicy);
    } catch (err) {
      throw asStatusError(err) ?? err;
    }
  }

  /** Runs `work`, turning whatever it throws into a ProviderError without credentials. */
  private async guard<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  private failure(err: unknown, what: string): ProviderError {
    if (err instanceof ProviderError) return err;
    let why: string;
    let retryable: boolean;
    if (err instanceof KubeStatusError) {
      why = err.message;
      retryable = err.code === 409 || err.code === 429 || err.code >= 500;
      if (err.code === 401) why += ' (the API server refused the credentials)';
      if (err.code === 403) why += " (see the README's RBAC for what the bot needs)";
    } else if (nameOf(err) === 'AbortError' || err instanceof DeadlinePassedError) {
      why = 'no answer before the deadline';
      retryable = true;
    } else {
      const code = codeOf(err);
      why = `${(err as Error)?.message ?? String(err)}${typeof code === 'string' ? ` (${code})` : ''}`;
      retryable = !(typeof code === 'string' && TLS_ERRORS.has(code));
    }
    return new ProviderError(scrubSecrets(`${this.label}: ${what} failed: ${why}`, this.loaded?.secrets ?? []), retryable);
  }

  /** The API clients, from the kubeconfig (or the pod's service account), loaded on first use. */
  private clients(): Clients {
    if (this.loaded) return this.loaded;
    const lib = kubeLibrary();
    const kc = new lib.KubeConfig();
    const source =
      this.config.kubeconfig ??
      (inCluster() ? 'the in-cluster service account' : process.env.KUBECONFIG ? `KUBECONFIG (${process.env.KUBECONFIG})` : undefined);
    if (source === undefined) {
      throw new ProviderError(
        `${this.label}: no kubeconfig: set kubeconfig (and context) in the policy, or KUBECONFIG, or run in a pod with a service account`,
        false,
      );
    }
    try {
      if (this.config.kubeconfig) kc.loadFromFile(this.config.kubeconfig);
      else if (inCluster()) kc.loadFromCluster();
      else kc.loadFromDefault();
    } catch (err) {
      // First line only: a YAML error goes on to quote the file, which holds the credentials.
      const first = String((err as Error)?.message ?? err)
        .split('\n')[0]!
        .slice(0, 200);
      throw new ProviderError(`${this.label}: cannot load ${source}: ${first}`, false);
    }
    if (this.config.context !== undefined) {
      if (!kc.getContextObject(this.config.context)) {
        throw new ProviderError(
          `${this.label}: context ${JSON.stringify(this.config.context)} is not in ${source} (it has ${
            kc
              .getContexts()
              .map((c) => c.name)
              .join(', ') || 'none'
          })`,
          false,
        );
      }
      kc.setCurrentContext(this.config.context);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster)
      throw new ProviderError(`${this.label}: ${source} has no cluster for context ${JSON.stringify(kc.getCurrentContext())}`, false);
    if (this.config.server !== undefined) {
      const server = this.config.server.replace(/\/$/, '');
      kc.clusters = kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server } : c));
    }
    const user = kc.getCurrentUser();
    const secrets = [user?.token, user?.password].flatMap((s) => (s ? secretVariants(s) : []));
    this.loaded = { rbac: kc.makeApiClient(lib.RbacAuthorizationV1Api), authz: kc.makeApiClient(lib.AuthorizationV1Api), secrets };
    return this.loaded;
  }
}

function inCluster(): boolean {
  return Boolean(process.env.KUBERNETES_SERVICE_HOST) && existsSync(IN_CLUSTER_TOKEN);
}

/**
 * The kubernetes provider: a RoleBinding (or ClusterRoleBinding) of a ClusterRole to the
 * requester's cluster user (or group) for the grant's duration.
 */
export const kubernetesProvider = defineProvider({
  type: 'kubernetes',
  target: kubernetesTargetSchema,
  access: kubernetesAccessSchema,
  account: {
    derive: 'email',
    need: 'required',
    format: z.string().regex(SUBJECT_NAME, 'expected the name the cluster knows you by: printable, no spaces, at most 253 characters'),
  },
  extension: 'native',
  overlap: { key: accessKeyOf, standing: 'inspected' },
  caveat:
    'Revoking Kubernetes access deletes the binding; streams the API server authorized before (an open kubectl exec, attach or port-forward) keep running until they close.',
  create: (target, env) => new KubernetesProvider(target, env.targetName),
});
