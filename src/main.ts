import { existsSync } from 'node:fs';
import { loadConfig } from './config';
import { loadPolicyFile, PolicyError } from './policy/load';
import type { Policy } from './policy/policy';
import { createLogger, secretsOf } from './logger';
import { startBot, Bot } from './bot';
import { SlackTokenRejected } from './slack/connection';
import { startEmbeddedMongo, EmbeddedMongoUnavailable } from './embedded-mongo';

/** Process entry: configuration, wiring, start, graceful shutdown. */
async function main(): Promise<void> {
  // A .env file next to the process is read for local runs; real environment variables win.
  if (existsSync('.env')) process.loadEnvFile('.env');
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    for (const problem of loaded.problems) process.stderr.write(`config error: ${problem}\n`);
    process.stderr.write('See .env.example and the README for every variable.\n');
    process.exit(1);
  }
  const config = loaded.config;
  let policy: Policy;
  try {
    policy = loadPolicyFile(config.JIT_POLICY_FILE, process.env);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    for (const problem of err.problems) process.stderr.write(`policy error: ${problem}\n`);
    process.exit(1);
  }
  // Every secret value the process knows is cut out of log lines, wherever it appears.
  const logger = createLogger(config.LOG_LEVEL, undefined, secretsOf(config, policy));

  let embedded: { uri: string; stop(): Promise<void> } | undefined;
  let mongoUri = config.MONGODB_URI;
  if (!mongoUri) {
    try {
      embedded = await startEmbeddedMongo(config.JIT_DATA_DIR, logger);
      mongoUri = embedded.uri;
    } catch (err) {
      if (!(err instanceof EmbeddedMongoUnavailable)) throw err;
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
  }

  // Signals are handled from here on, so a SIGTERM during start-up is graceful too.
  let shuttingDown = false;
  let starting: Promise<Bot | undefined> | undefined;
  const shutdown = async (signal: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info({ signal }, 'shutting down: finishing work in flight');
    const force = setTimeout(() => {
      logger.error('shutdown took over 25 s; exiting');
      process.exit(1);
    }, 25_000);
    force.unref();
    const bot = await starting;
    await bot?.stop();
    await embedded?.stop();
    logger.info('stopped');
    logger.flush?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  starting = startBot(config, policy, mongoUri, logger).catch(async (err) => {
    // Bad configuration, found by asking Slack: one line naming the variable, like the others.
    if (err instanceof SlackTokenRejected) process.stderr.write(`config error: ${err.message}\n`);
    else logger.fatal({ err: (err as Error).message }, 'start-up failed');
    logger.flush?.();
    await embedded?.stop();
    process.exit(1);
  });
  await starting;
}

main().catch((err) => {
  process.stderr.write(`fatal: ${(err as Error).message}\n`);
  process.exit(1);
});
