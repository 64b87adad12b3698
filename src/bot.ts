import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, Db } from 'mongodb';
import type { Logger } from 'pino';
import type { Config } from './config';
import { redactAlso, slackLogger } from './logger';
import { WorkLimiter } from './slack/listeners/work-limiter';
import { FilingRateLimiter } from './slack/listeners/filing-limiter';
import type { Policy } from './policy/policy';
import { feasibilityWarnings } from './policy/feasibility';
import { RequestStore, REPAIR_SETTLE_MS } from './store/request-store';
import { LeaseLocks } from './store/lease-locks';
import { Outbox } from './store/outbox';
import { DEFAULT_SETTINGS, OperationContext, OperationSettings } from './operations/ports';
import { ProvidersInForce } from './providers/providers-in-force';
import { PolicyInForce } from './policy/policy-in-force';
import { loadPolicyFile } from './policy/load';
import { PolicyReloader, type ReloadOutcome } from './operations/reload-policy';
import { JitMetrics, DEFAULT_METRICS_OPTIONS, type MetricsOptions } from './metrics/jit-metrics';
import { mongoStateSource } from './metrics/mongo-state';
import { CountingWebClient } from './metrics/slack-api-errors';
import { OutboxNotifier, DEFAULT_NOTIFIER_OPTIONS, OutboxNotifierOptions } from './slack/notifier';
import { DeliveryWorker } from './slack/delivery/worker';
import { DmChannels } from './slack/delivery/dm-channels';
import { LoggedDirectory, SlackDirectory } from './slack/directory';
import { createSlackApp, SlackApp } from './slack/app';
import { DEFAULT_CONNECTION_OPTIONS, SlackConnection, SlackConnectionOptions } from './slack/connection';
import { buildHomeView } from './slack/ui/home';
import { loadHomeData, peopleConcerned } from './operations/home-data';
import { sendInterruptedNotices } from './operations/interrupted-notices';
import { Scheduler, DEFAULT_SCHEDULER_OPTIONS, SchedulerOptions } from './scheduler/scheduler';

export interface BotOptions {
  settings?: Partial<OperationSettings>;
  notifier?: Partial<OutboxNotifierOptions>;
  scheduler?: Partial<SchedulerOptions>;
  /** Database name; default: the one in MONGODB_URI, else `jit-access`. */
  dbName?: string;
  /** MongoDB client timeouts (tests shorten them); see DEFAULT_MONGO_TIMEOUTS. */
  mongo?: Partial<MongoTimeouts>;
  /** Requests and clicks being worked on after their ack, at most (default 64); past it people are told to retry. */
  maxInFlight?: number;
  /** How `auth.test` is retried while Slack does not answer. */
  connection?: Partial<SlackConnectionOptions>;
  /** How long user-group members read from Slack are reused (default 10 s). */
  usergroupCacheMs?: number;
  /** How a reload (SIGHUP) reads the policy; default: JIT_POLICY_FILE with the process environment. */
  loadPolicy?: () => Policy;
  metrics?: Partial<MetricsOptions>;
}

interface MongoTimeouts {
  /** How long an operation waits for a reachable MongoDB before failing. */
  serverSelectionTimeoutMS: number;
  /** Opening a connection, and each monitoring check. */
  connectTimeoutMS: number;
  /**
   * A MongoDB that accepts connections but never answers (a hung or paused server, a dropped
   * network) fails an operation after this long, instead of holding the person waiting forever.
   */
  socketTimeoutMS: number;
  /** Between checks of the server; a failed check fails what waits on it at once. */
  heartbeatFrequencyMS: number;
}

const DEFAULT_MONGO_TIMEOUTS: MongoTimeouts = {
  serverSelectionTimeoutMS: 5000,
  connectTimeoutMS: 5000,
  socketTimeoutMS: 15_000,
  heartbeatFrequencyMS: 10_000,
};

export interface Bot {
  ctx: OperationContext;
  /** The request store behind `ctx.store` (with what the operations do not use: indexes, repair). */
  store: RequestStore;
  db: Db;
  mongo: MongoClient;
  slack: SlackApp;
  /** Whether Slack answers; who the bot is there. */
  connection: SlackConnection;
  notifier: OutboxNotifier;
  /** Delivers what the notifier queued (tests wait for `delivery.idle()`). */
  delivery: DeliveryWorker;
  scheduler: Scheduler;
  metrics: JitMetrics;
  policy: PolicyInForce;
  providers: ProvidersInForce;
  port: number;
  /** Re-reads the policy (what SIGHUP does): applied, or refused with the running policy kept. */
  reloadPolicy(): Promise<ReloadOutcome>;
  stop(): Promise<void>;
}

/**
 * When MongoDB answers again after an outage: the indexes are created again (idempotent: a server
 * that came back empty, in-memory or restored without indexes, must still enforce one open request
 * per user and resource), and changes it applied without the bot hearing back are recorded.
 */
function recoverAfterOutages(mongo: MongoClient, logger: Logger, recover: () => Promise<unknown>): void {
  mongo.on('serverDescriptionChanged', (event) => {
    if (event.previousDescription.type !== 'Unknown' || event.newDescription.type === 'Unknown') return;
    logger.info({ server: event.address }, 'MongoDB answers again; re-asserting indexes');
    recover().catch((err) => logger.error({ err: (err as Error).message }, 'could not recover after a MongoDB outage'));
  });
}

/**
 * Records the changes MongoDB applied but the bot never heard back about (see
 * RequestStore.repairUnrecordedChanges), tells people what the interrupted operations had not
 * told them yet, and shows those requests as they now are.
 */
export async function repairUnrecorded(store: RequestStore, notifier: OutboxNotifier, logger: Logger, now?: Date): Promise<void> {
  for (const request of await store.repairUnrecordedChanges(now)) {
    const resent = await sendInterruptedNotices(notifier, request);
    logger.warn(
      { requestId: request._id, resource: request.resourceId, user: request.requesterId, state: request.state, resent },
      'recorded a change MongoDB applied without confirming it',
    );
    await notifier.requestChanged(request);
  }
}

/** Wires config, policy, MongoDB, providers, Slack and the scheduler together, and starts them. */
export async function startBot(
  config: Config,
  initialPolicy: Policy,
  mongoUri: string,
  logger: Logger,
  options: BotOptions = {},
): Promise<Bot> {
  const metrics = new JitMetrics(logger.child({ component: 'metrics' }), { ...DEFAULT_METRICS_OPTIONS, ...options.metrics });
  const policyInForce = new PolicyInForce(initialPolicy);
  metrics.resources.admit(initialPolicy.resources.map((r) => r.id));
  // Everything below reads the policy in force through this view, so a reload reaches it.
  const policy = policyInForce.live;
  // Asked first and awaited before Slack is served: a token Slack rejects stops start-up; Slack not
  // answering does not (see SlackConnection). MongoDB is connected meanwhile.
  const connection = new SlackConnection(
    new CountingWebClient(
      config.SLACK_BOT_TOKEN,
      { slackApiUrl: config.SLACK_API_URL, retryConfig: { retries: 0 }, timeout: 5000, logger: slackLogger(logger, 'slack-web') },
      metrics,
    ),
    config.SLACK_BOT_TOKEN,
    logger.child({ component: 'slack' }),
    { ...DEFAULT_CONNECTION_OPTIONS, ...options.connection },
  );
  const tokenChecked = connection.verify();
  tokenChecked.catch(() => undefined);
  const mongo = new MongoClient(mongoUri, { ...DEFAULT_MONGO_TIMEOUTS, ...options.mongo, appName: 'jit-access' });
  try {
    await mongo.connect();
    await tokenChecked;
  } catch (err) {
    connection.stop();
    await mongo.close().catch(() => undefined);
    throw err;
  }
  const db = mongo.db(options.dbName);
  const store = new RequestStore(db);
  const outbox = new Outbox(db);
  await store.ensureIndexes();
  await outbox.ensureIndexes();

  // The outbox retries by itself, honouring Retry-After: the client must not also wait.
  const notifyClient = new CountingWebClient(
    config.SLACK_BOT_TOKEN,
    {
      slackApiUrl: config.SLACK_API_URL,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: 10_000,
      logger: slackLogger(logger, 'slack-web'),
    },
    metrics,
  );
  const lookupClient = new CountingWebClient(
    config.SLACK_BOT_TOKEN,
    {
      slackApiUrl: config.SLACK_API_URL,
      retryConfig: { retries: 2, minTimeout: 200, maxTimeout: 2000 },
      timeout: 5000,
      logger: slackLogger(logger, 'slack-web'),
    },
    metrics,
  );
  const settings: OperationSettings = { ...DEFAULT_SETTINGS, expiryWarningMs: config.JIT_EXPIRY_WARNING, ...options.settings };
  const directory = new LoggedDirectory(
    new SlackDirectory(lookupClient, options.usergroupCacheMs, undefined, connection),
    logger.child({ component: 'directory' }),
  );
  const dmChannels = new DmChannels(notifyClient);
  const delivery = new DeliveryWorker(
    {
      client: notifyClient,
      outbox,
      store,
      policy,
      logger: logger.child({ component: 'notifier' }),
      homeView: async (userId) => buildHomeView(await loadHomeData({ policy, store, directory }, userId)),
      connection,
      dmChannels,
    },
    { ...DEFAULT_NOTIFIER_OPTIONS, ...options.notifier },
  );
  const notifier = new OutboxNotifier(notifyClient, outbox, delivery, dmChannels, (request) => peopleConcerned(policy, request));
  recoverAfterOutages(mongo, logger, async () => {
    await Promise.all([store.ensureIndexes(), outbox.ensureIndexes()]);
    // Writes that were waiting on the outage land now; record them once they have settled.
    await sleep(REPAIR_SETTLE_MS + 250, undefined, { ref: false });
    await repairUnrecorded(store, notifier, logger);
  });
  for (const warning of policy.warnings) logger.warn({ policy: true }, `policy: ${warning}`);
  for (const warning of feasibilityWarnings(policy)) logger.warn({ policy: true }, `policy: ${warning}`);
  const providers = new ProvidersInForce(initialPolicy, metrics);
  metrics.readFrom(mongoStateSource(db), () => policyInForce.current.resources.map((r) => r.id));
  // The scheduler hears of every new deadline the operations make: it hands out their context with itself as the listener.
  const scheduler = new Scheduler(
    {
      policy,
      metrics,
      store,
      providers,
      locks: new LeaseLocks(db),
      notifier,
      directory,
      logger,
      settings,
      now: () => new Date(),
    },
    { ...DEFAULT_SCHEDULER_OPTIONS, cron: config.JIT_RECONCILE_CRON, ...options.scheduler },
  );
  const ctx = scheduler.ctx;
  const slack = createSlackApp(
    config,
    {
      ctx,
      logger,
      limiter: new WorkLimiter(options.maxInFlight ?? 64),
      ...(config.JIT_REQUEST_RATE_LIMIT ? { filingLimiter: new FilingRateLimiter(config.JIT_REQUEST_RATE_LIMIT) } : {}),
      refreshHome: (userId) => notifier.refreshHome(userId),
    },
    { ready: async () => (await db.command({ ping: 1 })).ok === 1, metrics: () => metrics.render() },
    connection,
  );

  const port = await slack.start();
  delivery.start();
  await repairUnrecorded(store, notifier, logger);
  await scheduler.start();
  void providers.check(logger);
  logger.info(
    {
      port,
      mode: config.SLACK_APP_TOKEN ? 'socket' : 'http',
      resources: policy.resources.length,
      slack: connection.isReachable ? 'answers' : 'not answering yet',
    },
    'jit-access started',
  );

  const openResources = () => store.openResourceIds();
  const reloader = new PolicyReloader({
    load: options.loadPolicy ?? (() => loadPolicyFile(config.JIT_POLICY_FILE, process.env)),
    policy: policyInForce,
    providers,
    openResources,
    logger,
    metrics,
    accepted: (next) => {
      redactAlso(logger, next.secrets);
      metrics.resources.admit(next.resources.map((r) => r.id));
    },
  });
  // Resources removed by a reload keep their provider while they have open requests; once those end, it is closed.
  const sweep = setInterval(() => {
    if (!providers.retainedResources().length) return;
    openResources().then(
      (open) => providers.sweep(open),
      (err: Error) => logger.warn({ err: err.message }, 'could not check the open requests of removed resources'),
    );
  }, 60_000);
  sweep.unref();

  let stopping: Promise<void> | undefined;
  return {
    ctx,
    store,
    db,
    mongo,
    slack,
    connection,
    notifier,
    delivery,
    scheduler,
    metrics,
    policy: policyInForce,
    providers,
    port,
    reloadPolicy: () => reloader.reload(),
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(sweep);
        // New work stops first; then what is in flight finishes; then the connections close.
        await slack.stop().catch((err) => logger.warn({ err: (err as Error).message }, 'stopping Slack receiver'));
        await scheduler.stop();
        await delivery.stop();
        connection.stop();
        await providers.closeAll();
        await mongo.close();
      })()),
  };
}
