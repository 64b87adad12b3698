import type { Logger } from 'pino';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';

export interface HealthChecks {
  /** Resolves true when MongoDB answers. */
  ready(): Promise<boolean>;
  /** The Prometheus exposition for GET /metrics (src/metrics/). */
  metrics?(): Promise<{ contentType: string; body: string }>;
}

export type Route = { path: string; method: string[]; handler: (req: IncomingMessage, res: ServerResponse) => unknown };

/** GET /healthz (the process is up), GET /readyz (MongoDB answers) and GET /metrics, for either receiver. */
export function healthRoutes(health: HealthChecks, logger?: Logger): Route[] {
  return [
    { path: '/healthz', method: ['GET'], handler: (_req: IncomingMessage, res: ServerResponse) => json(res, 200, { status: 'ok' }) },
    {
      path: '/readyz',
      method: ['GET'],
      handler: async (_req: IncomingMessage, res: ServerResponse) => {
        // A MongoDB that hangs must not hang the probe: no answer within READY_TIMEOUT_MS is "not ready".
        const ok = await withTimeout(health.ready(), READY_TIMEOUT_MS).catch(() => false);
        json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'mongodb unavailable' });
      },
    },
    ...(health.metrics ? [{ path: '/metrics', method: ['GET'], handler: metricsRoute(health.metrics, logger) }] : []),
  ];
}

function metricsRoute(render: NonNullable<HealthChecks['metrics']>, logger?: Logger) {
  return async (_req: IncomingMessage, res: ServerResponse) => {
    try {
      const { contentType, body } = await render();
      res.writeHead(200, { 'Content-Type': contentType });
      res.end(body);
    } catch (err) {
      logger?.error({ err: (err as Error).message }, 'metrics: could not render /metrics');
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('metrics unavailable\n');
    }
  };
}

/**
 * A request whose headers or body never complete is closed within seconds (Node's defaults are
 * 60 s for headers and 5 min for the request, checked every 30 s). Slack's own requests are small
 * and sent at once.
 */
export const SERVER_TIMEOUTS = { headersTimeout: 5000, requestTimeout: 5000, connectionsCheckingInterval: 1000 };

/** Socket Mode's HTTP side: only the health routes; listen errors (EADDRINUSE, EACCES) reject. */
export function healthServer(port: number, routes: Route[]): Promise<Server> {
  const server = createServer(SERVER_TIMEOUTS, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const route = routes.find((r) => r.path === path && r.method.includes(req.method ?? ''));
    if (!route) {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'not found' }));
      return;
    }
    Promise.resolve(route.handler(req, res)).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`PORT ${port}: cannot serve /healthz and /readyz (${err.code ?? err.message})`)),
    );
    server.listen(port, () => resolve(server));
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** /readyz answers within this: inside Kubernetes' default probe timeout of 1 s. */
const READY_TIMEOUT_MS = 900;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
