import type { IncomingMessage, ServerResponse, Server } from 'node:http';
import { App, HTTPReceiver, SocketModeReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { registerJitAccessCommand } from './listeners/commands/jit-access';
import { registerDecisionActions } from './listeners/actions/decide';
import { registerViewSubmissions } from './listeners/views/submissions';
import { registerGrantActions } from './listeners/actions/grant-actions';
import { registerAppHome } from './listeners/events/app-home';
import type { ListenerDeps } from './listeners/deps';

/** Bolt logs through pino, so every line is JSON and goes through the same redaction. */
function boltLogger(logger: Logger): BoltLogger {
  const log = logger.child({ component: 'bolt' });
  let level = LogLevel.INFO;
  return {
    debug: (...msg) => log.debug(msg.map(String).join(' ')),
    info: (...msg) => log.info(msg.map(String).join(' ')),
    warn: (...msg) => log.warn(msg.map(String).join(' ')),
    error: (...msg) => log.error(msg.map(String).join(' ')),
    setLevel: (l) => void (level = l),
    getLevel: () => level,
    setName: () => {},
  };
}

export interface HealthChecks {
  /** Resolves true when MongoDB answers. */
  ready(): Promise<boolean>;
}

export interface SlackApp {
  app: App;
  start(): Promise<number>;
  stop(): Promise<void>;
}

export function createSlackApp(config: Config, deps: ListenerDeps & { refreshHome(userId: string): Promise<void> }, health: HealthChecks): SlackApp {
  const logger = boltLogger(deps.logger);
  const clientOptions = {
    slackApiUrl: config.SLACK_API_URL,
    // Listeners answer people; a long client-side retry would only make them wait.
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2000 },
  };
  const customRoutes = [
    { path: '/healthz', method: ['GET'], handler: (_req: IncomingMessage, res: ServerResponse) => json(res, 200, { status: 'ok' }) },
    {
      path: '/readyz',
      method: ['GET'],
      handler: async (_req: IncomingMessage, res: ServerResponse) => {
        const ok = await health.ready().catch(() => false);
        json(res, ok ? 200 : 503, { status: ok ? 'ready' : 'mongodb unavailable' });
      },
    },
  ];
  let receiver: HTTPReceiver | SocketModeReceiver;
  if (config.SLACK_APP_TOKEN) {
    receiver = new SocketModeReceiver({
      appToken: config.SLACK_APP_TOKEN,
      logger,
      customRoutes,
      installerOptions: { port: config.PORT, clientOptions },
    });
  } else {
    receiver = new HTTPReceiver({
      signingSecret: config.SLACK_SIGNING_SECRET!,
      endpoints: '/slack/events',
      logger,
      customRoutes,
      // Slack's own payloads are small; anything larger is refused before parsing.
      bodyLimit: 256 * 1024,
      // Respond on ack(); the work after it runs without holding Slack's request.
      processBeforeResponse: false,
      unhandledRequestTimeoutMillis: 3001,
    });
  }
  const app = new App({ token: config.SLACK_BOT_TOKEN, receiver, logger, clientOptions });
  app.error(async (err) => {
    deps.logger.error({ err: err.message, code: (err as { code?: string }).code }, 'unhandled listener error');
  });
  registerJitAccessCommand(app, deps);
  registerDecisionActions(app, deps);
  registerViewSubmissions(app, deps);
  registerGrantActions(app, deps);
  registerAppHome(app, deps);

  return {
    app,
    async start() {
      if (receiver instanceof HTTPReceiver) {
        const server = (await receiver.start(config.PORT)) as Server;
        const addr = server.address();
        return typeof addr === 'object' && addr ? addr.port : config.PORT;
      }
      await app.start();
      return config.PORT;
    },
    stop: () => app.stop() as Promise<void>,
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
