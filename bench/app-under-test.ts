/**
 * The app under test, in its own process (spawned by the benches; not run by hand).
 *
 *   BENCH_APP=ours  the real bot: startBot() in HTTP mode, production settings, logging
 *                   JSON lines to stdout at LOG_LEVEL (default info), like `npm start`.
 *   BENCH_APP=bare  a bare Bolt App with the same /jit-access command and action ids,
 *                   whose listeners only ack(): the floor any Bolt app pays.
 *
 * Environment: SLACK_API_URL (the fake Slack), BENCH_POLICY (policy YAML text),
 * BENCH_MONGODB_URI, BENCH_DB (database name), HOOK_SECRET, LOG_LEVEL,
 * optional BENCH_SCHEDULER_CONCURRENCY, BENCH_METRICS_CACHE_MS and JIT_RECONCILE_CRON.
 * Talks to the parent over IPC: {type:'starting'} at once, {type:'ready', port, pid}
 * once listening. SIGTERM stops it gracefully.
 */
import type { Server } from 'node:http';
import { App, LogLevel } from '@slack/bolt';
import { Collection } from 'mongodb';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../src/config';
import { parsePolicy } from '../src/policy/load';
import { createLogger } from '../src/logger';
import { startBot, BotOptions } from '../src/bot';
import { SIGNING_SECRET, BOT_TOKEN } from './lib/constants';

const send = (msg: Record<string, unknown>) => process.send?.({ ...msg, at: Date.now(), pid: process.pid });

/**
 * Counts the MongoDB operations the bot issues, per collection and method, by wrapping
 * the driver's Collection methods (the bot's code is untouched). Costs one increment per call.
 */
const ops: Record<string, number> = {};
const OPS_DETAIL = process.env.BENCH_OPS_DETAIL === '1';
function countMongoOps(): void {
  const proto = Collection.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const method of [
    'find',
    'findOne',
    'insertOne',
    'insertMany',
    'updateOne',
    'updateMany',
    'deleteOne',
    'deleteMany',
    'countDocuments',
    'aggregate',
    'findOneAndUpdate',
    'bulkWrite',
  ]) {
    const original = proto[method];
    if (typeof original !== 'function') continue;
    proto[method] = function (this: Collection, ...args: unknown[]) {
      // BENCH_OPS_DETAIL=1: also by the filter's top-level fields, to tell queries of one method apart.
      const shape = OPS_DETAIL && args[0] && typeof args[0] === 'object' ? `(${Object.keys(args[0]).join(',')})` : '';
      const key = `${this.collectionName}.${method}${shape}`;
      ops[key] = (ops[key] ?? 0) + 1;
      return original.apply(this, args);
    };
  }
}
countMongoOps();
/** Event-loop delay since the last `ops` request: how long work waited for the loop (acks included). */
const loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
process.on('message', (m: { type?: string }) => {
  if (m?.type !== 'ops') return;
  const eventLoop = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  loopDelay.reset();
  send({ type: 'ops:done', ops: { ...ops }, eventLoop });
});

async function startOurs(): Promise<{ port: number; stop(): Promise<void> }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    PORT: '0',
  };
  delete env.SLACK_APP_TOKEN;
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.problems.join('\n'));
  const policy = parsePolicy(process.env.BENCH_POLICY ?? '', env);
  const logger = createLogger(loaded.config.LOG_LEVEL, undefined, [BOT_TOKEN, SIGNING_SECRET]);
  const options: BotOptions = {};
  if (process.env.BENCH_DB) options.dbName = process.env.BENCH_DB;
  if (process.env.BENCH_SCHEDULER_CONCURRENCY) options.scheduler = { concurrency: Number(process.env.BENCH_SCHEDULER_CONCURRENCY) };
  if (process.env.BENCH_METRICS_CACHE_MS) options.metrics = { stateCacheMs: Number(process.env.BENCH_METRICS_CACHE_MS) };
  const uri = process.env.BENCH_MONGODB_URI;
  if (!uri) throw new Error('BENCH_MONGODB_URI is not set');
  const bot = await startBot(loaded.config, policy, uri, logger, options);
  return { port: bot.port, stop: () => bot.stop() };
}

async function startBare(): Promise<{ port: number; stop(): Promise<void> }> {
  const app = new App({
    token: BOT_TOKEN,
    signingSecret: SIGNING_SECRET,
    clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
    logLevel: LogLevel.WARN,
  });
  app.command('/jit-access', async ({ ack }) => {
    await ack();
  });
  app.action('approve_request', async ({ ack }) => {
    await ack();
  });
  app.action('deny_request', async ({ ack }) => {
    await ack();
  });
  const server = (await app.start(0)) as Server;
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, stop: async () => void (await app.stop()) };
}

async function main(): Promise<void> {
  send({ type: 'starting' });
  const kind = process.env.BENCH_APP ?? 'ours';
  const running = kind === 'bare' ? await startBare() : await startOurs();
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(code || 1), 15_000);
    force.unref();
    await running.stop().catch((err) => process.stderr.write(`stop failed: ${(err as Error).message}\n`));
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  // The parent went away: do not linger.
  process.on('disconnect', () => void stop(1));
  send({ type: 'ready', kind, port: running.port });
}

main().catch((err) => {
  process.stderr.write(`app-under-test failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
