import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfig, requiredVariables } from '../../src/config';
import { parsePolicy } from '../../src/policy/load';

/*
 * deploy/kubernetes/ parsed and checked against the app itself: the probes hit the app's health
 * routes on PORT, the pod runs as a non-root user, every variable src/config.ts requires is
 * provided, and the environment the pod gets is one the bot would start with (the ConfigMap's
 * policy included). Static checks: no cluster is needed.
 */
const dir = path.join(__dirname, '../../deploy/kubernetes');
type Obj = Record<string, any>;

const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
const docs: Array<Obj & { file: string }> = files.flatMap((file) =>
  parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return { ...(d.toJS() as Obj), file };
  }),
);
const ofKind = (kind: string) => docs.filter((d) => d.kind === kind);
const one = (kind: string) => {
  const found = ofKind(kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
};

const deployment = one('Deployment');
const pod = deployment.spec.template.spec as Obj;
const container = (pod.containers as Obj[]).find((c) => c.name === 'jit-access')!;
const secret = one('Secret');
const configMap = one('ConfigMap');

/** The container's environment as the kubelet would build it from these manifests. */
function podEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.secretRef) {
      expect(from.secretRef.name).toBe(secret.metadata.name);
      Object.assign(
        env,
        secret.stringData,
        Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), 'base64').toString()])),
      );
    }
    if (from.configMapRef) Object.assign(env, ofKind('ConfigMap').find((c) => c.metadata.name === from.configMapRef.name)!.data);
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = String(e.value);
    else if (e.valueFrom?.secretKeyRef) env[e.name] = secret.stringData[e.valueFrom.secretKeyRef.key];
    else if (e.valueFrom?.configMapKeyRef) env[e.name] = configMap.data[e.valueFrom.configMapKeyRef.key];
  }
  return env;
}

describe('deploy/kubernetes', () => {
  it('kustomization.yaml lists every manifest in the folder', () => {
    const kustomization = one('Kustomization');
    expect([...kustomization.resources].sort()).toEqual(files.filter((f) => f !== 'kustomization.yaml').sort());
  });

  it('runs two replicas of one container, rolling without dropping below two', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(one('PodDisruptionBudget').spec.minAvailable).toBe(1);
  });

  it('probes readiness on /readyz and liveness on /healthz, on the port the app listens on (PORT)', () => {
    const env = podEnvironment();
    const port = (container.ports as Obj[]).find((p) => p.name === 'http')!;
    expect(String(port.containerPort)).toBe(env.PORT);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    // /readyz answers within 900 ms (READY_TIMEOUT_MS in src/slack/app.ts): inside the probe's timeout.
    expect(container.readinessProbe.timeoutSeconds).toBeGreaterThanOrEqual(1);
    // Longer than the bot's own 25 s shutdown limit, so SIGTERM's draining is not cut short.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25);
  });

  it('runs as a non-root user, without privilege escalation, on a read-only root filesystem', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(container.securityContext.capabilities.drop).toEqual(['ALL']);
    expect((container.volumeMounts as Obj[]).map((m) => m.mountPath)).toContain('/tmp');
  });

  it('requests CPU and memory', () => {
    expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toEqual(expect.any(String));
  });

  it('provides every variable src/config.ts requires, tokens from the Secret, and one shared MongoDB', () => {
    const env = podEnvironment();
    const required = requiredVariables('http');
    expect(required).toEqual(expect.arrayContaining(['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET']));
    expect(required.filter((name) => !env[name])).toEqual([]);
    for (const name of ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'MONGODB_URI']) {
      expect(secret.stringData[name]).toBeDefined();
      expect((container.env as Obj[]).some((e) => e.name === name && e.value !== undefined)).toBe(false);
    }
    // Without it each pod would start its own embedded MongoDB: two replicas, two sets of grants.
    expect(env.MONGODB_URI).toMatch(/^mongodb(\+srv)?:\/\//);
    const loaded = loadConfig(env);
    expect(loaded).toMatchObject({ ok: true });
  });

  it('mounts the policy ConfigMap as a directory (so edits reach the pod) at JIT_POLICY_FILE, and the policy loads with the pod’s environment', () => {
    const env = podEnvironment();
    const volume = (pod.volumes as Obj[]).find((v) => v.configMap?.name === configMap.metadata.name)!;
    const mount = (container.volumeMounts as Obj[]).find((m) => m.name === volume.name)!;
    expect(mount.subPath).toBeUndefined();
    expect(mount.readOnly).toBe(true);
    const key = path.posix.relative(mount.mountPath, env.JIT_POLICY_FILE!);
    expect(Object.keys(configMap.data)).toContain(key);
    const policy = parsePolicy(configMap.data[key], env, env.JIT_POLICY_FILE);
    expect(policy.resources.length).toBeGreaterThan(0);
  });

  it('has a Service for HTTP mode and metrics scraping, pointing at the container port', () => {
    const service = one('Service');
    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.ports).toEqual([expect.objectContaining({ name: 'http', targetPort: 'http' })]);
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/path': '/metrics',
      'prometheus.io/port': String(podEnvironment().PORT),
    });
  });

  it('puts every object in the namespace the kustomization sets', () => {
    expect(one('Namespace').metadata.name).toBe(one('Kustomization').namespace);
    for (const doc of docs) if (!['Namespace', 'Kustomization'].includes(doc.kind)) expect(doc.metadata.namespace).toBeUndefined();
  });
});
