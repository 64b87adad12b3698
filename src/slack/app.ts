import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, SocketModeReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Config } from '../config';
import { registerCommands } from './listeners/commands';
import { registerActions } from './listeners/actions';
import { registerViews } from './listeners/views';
import { registerEvents } from './listeners/events';
import type { ListenerDeps } from './listeners/deps';
import type { SlackConnection } from './connection';
import { closeServer, healthRoutes, healthServer, SERVER_TIMEOUTS, type HealthChecks } from './health';
import { BODY_LIMIT, screenSlackRequests } from './http-screening';

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

export interface SlackApp {
  app: App;
  start(): Promise<number>;
  stop(): Promise<void>;
}

export function createSlackApp(
  config: Config,
  deps: ListenerDeps & { refreshHome(userId: string): Promise<void> },
  health: HealthChecks,
  connection: SlackConnection,
): SlackApp {
  const logger = boltLogger(deps.logger);
  const clientOptions = {
    slackApiUrl: config.SLACK_API_URL,
    // Listeners answer people; a long client-side retry would only make them wait.
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2000 },
  };
  const customRoutes = healthRoutes(health, deps.logger);
  let receiver: HTTPReceiver | SocketModeReceiver;
  if (config.SLACK_APP_TOKEN) {
    receiver = new SocketModeReceiver({
      appToken: config.SLACK_APP_TOKEN,
      logger,
      // /healthz and /readyz are served by healthServer() below, not by the receiver: its server
      // cannot report a busy PORT (an unhandled 'error' event) nor be awaited on stop.
      installerOptions: {
        clientOptions: {
          slackApiUrl: config.SLACK_API_URL,
          // apps.connections.open, also on every reconnect: a Slack blip must not end the session
          // (once these retries run out, @slack/socket-mode gives up reconnecting for good).
          retryConfig: { forever: true, factor: 1.5, minTimeout: 1000, maxTimeout: 30_000 },
        },
      },
    });
  } else {
    receiver = new HTTPReceiver({
      signingSecret: config.SLACK_SIGNING_SECRET!,
      endpoints: '/slack/events',
      logger,
      customRoutes,
      // Slack's own payloads are small; anything larger is refused before parsing (also by screenSlackRequests).
      bodyLimit: BODY_LIMIT,
      // Respond on ack(); the work after it runs without holding Slack's request.
      processBeforeResponse: false,
      unhandledRequestTimeoutMillis: 3001,
    });
  }
  // `authorize` rather than `token`: with a token, Bolt's constructor calls auth.test itself and
  // the process dies on an unhandled rejection when Slack does not answer (SlackConnection checks).
  const app = new App({ authorize: connection.authorize, receiver, logger, clientOptions });
  app.error(async (err) => {
    deps.logger.error({ err: err.message, code: (err as { code?: string }).code }, 'unhandled listener error');
  });
  registerCommands(app, deps);
  registerActions(app, deps);
  registerViews(app, deps);
  registerEvents(app, deps);

  let healthHttp: Server | undefined;
  return {
    app,
    async start() {
      if (receiver instanceof HTTPReceiver) {
        const server = (await receiver.start(config.PORT, SERVER_TIMEOUTS)) as Server;
        screenSlackRequests(server, config.SLACK_SIGNING_SECRET!, deps.logger.child({ component: 'http' }));
        const addr = server.address();
        return typeof addr === 'object' && addr ? addr.port : config.PORT;
      }
      // Socket Mode: the health server first, so a busy PORT stops start-up before Slack is involved.
      healthHttp = await healthServer(config.PORT, customRoutes);
      // A refused app token answers at once and stops start-up; a Slack that does not answer is
      // retried by the client for as long as it takes, while the bot runs (expiries need no Slack).
      const connecting = app.start();
      const outcome = await Promise.race([
        connecting.then(() => 'open' as const),
        new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), SOCKET_START_WAIT_MS).unref()),
      ]).catch(async (err) => {
        await closeServer(healthHttp!);
        healthHttp = undefined;
        throw err;
      });
      if (outcome === 'waiting') {
        deps.logger.warn('Socket Mode connection not open yet (Slack does not answer); it keeps trying in the background');
        connecting.then(
          () => deps.logger.info('Socket Mode connection open'),
          (err: Error) => deps.logger.error({ err: err.message }, 'Socket Mode could not connect; check SLACK_APP_TOKEN'),
        );
      }
      return (healthHttp.address() as AddressInfo).port;
    },
    async stop() {
      if (receiver instanceof HTTPReceiver) return void (await app.stop());
      // The receiver's stop() does not wait for the socket to close; the client's disconnect() does
      // (bounded: a peer that never answers the close frame is cut off by the client after 30 s).
      const socket = receiver as SocketModeReceiver;
      await Promise.race([socket.client.disconnect(), new Promise<void>((resolve) => setTimeout(resolve, 5000).unref())]);
      if (healthHttp) await closeServer(healthHttp);
      healthHttp = undefined;
    },
  };
}

/** How long Socket Mode start-up waits for its connection before going on without it. */
const SOCKET_START_WAIT_MS = 5000;
