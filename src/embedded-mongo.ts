import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { format } from 'node:util';
import type { Logger } from 'pino';
import { scrub } from './logger';

export class EmbeddedMongoUnavailable extends Error {}

interface EmbeddedServer {
  getUri(): string;
  stop(opts?: { doCleanup?: boolean }): Promise<boolean>;
}

/**
 * For `npm start` without MONGODB_URI: a local mongod whose data lives under
 * JIT_DATA_DIR and survives restarts. Needs a MongoDB binary: MONGOMS_SYSTEM_BINARY, one
 * downloaded earlier, or one downloaded now by mongodb-memory-server (MONGOMS_DOWNLOAD_MIRROR,
 * MONGOMS_DOWNLOAD_URL, … apply). Where none can be had, it says so as soon as that is known:
 * a failed download is not retried (MONGOMS_MAX_RETRIES overrides), and `stallMs` without any
 * progress (no binary, no download progress) gives up.
 */
export async function startEmbeddedMongo(
  dataDir: string,
  logger: Logger,
  stallMs = 20_000,
): Promise<{ uri: string; stop(): Promise<void> }> {
  const dbPath = path.resolve(dataDir, 'mongo');
  mkdirSync(dbPath, { recursive: true });
  const log = logger.child({ component: 'embedded-mongo' });

  let timer: NodeJS.Timeout | undefined;
  let giveUp: (err: Error) => void = () => {};
  const stalled = new Promise<never>((_, reject) => (giveUp = reject));
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => giveUp(new Error(`no MongoDB within ${Math.round(stallMs / 1000)}s`)), stallMs);
    timer.unref();
  };
  // mongodb-memory-server reports download progress and failures on the console; stdout is for
  // JSON log lines, so for the time being they become log lines (and progress keeps us waiting).
  const restoreConsole = routeConsole(log, arm);
  let server: EmbeddedServer;
  try {
    arm();
    const { MongoMemoryServer } = await import('mongodb-memory-server-core');
    const { setDefaultValue, ResolveConfigVariables } = await import('mongodb-memory-server-core/lib/util/resolveConfig.js');
    // Retrying a refused connection or an unknown host for seconds only delays the answer.
    setDefaultValue(ResolveConfigVariables.MAX_RETRIES, '1');
    const starting = MongoMemoryServer.create({ instance: { dbPath, storageEngine: 'wiredTiger', port: 27018 } });
    starting.catch(() => undefined); // when the stall wins, its later failure is not news
    server = await Promise.race([starting, stalled]);
  } catch (err) {
    throw new EmbeddedMongoUnavailable(
      `MONGODB_URI is not set and no embedded MongoDB could be started (${scrub(describe(err))}). ` +
        'Set MONGODB_URI to your MongoDB (e.g. mongodb://localhost:27017/jit-access), ' +
        'or run the bot with its own MongoDB using `docker compose up` (docker-compose.yml in this repository), ' +
        'or point MONGOMS_SYSTEM_BINARY at a local mongod.',
    );
  } finally {
    clearTimeout(timer);
    restoreConsole();
  }
  log.warn({ dbPath }, 'MONGODB_URI is not set: using an embedded MongoDB for local use only. Production must set MONGODB_URI.');
  return { uri: server.getUri().replace(/\/?$/, '/jit-access'), stop: async () => void (await server.stop({ doCleanup: false })) };
}

/** One line that says what failed: a download names its URL and the network error. */
function describe(err: unknown): string {
  const e = (err ?? {}) as { message?: unknown; url?: unknown; msg?: unknown; actual?: unknown };
  const firstLine = (s: string) =>
    s
      .split('\n')
      .find((l) => l.trim())
      ?.trim() ?? s;
  if (typeof e.url === 'string' && typeof e.msg === 'string') return `downloading ${e.url} failed: ${firstLine(e.msg)}`;
  if (e.message === 'protocol mismatch' && e.actual === 'http:')
    return 'protocol mismatch: an http:// MONGOMS_DOWNLOAD_URL or MONGOMS_DOWNLOAD_MIRROR needs MONGOMS_USE_HTTP=true';
  return firstLine(typeof e.message === 'string' ? e.message : String(err));
}

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug'] as const;

function routeConsole(log: Logger, onProgress: () => void): () => void {
  const saved = CONSOLE_METHODS.map((m) => [m, console[m]] as const);
  for (const method of CONSOLE_METHODS) {
    console[method] = (...args: unknown[]) => {
      const text = format(...args).replace(/[\r\n]+$/, '');
      if (/^Downloading MongoDB/.test(text)) {
        onProgress();
        log.info(text.trim());
      } else if (/^Starting the MongoMemoryServer Instance failed/.test(text)) {
        // Reported once, in our own words, by the caller; the details are for debugging.
        log.debug(text);
      } else {
        log.warn(text);
      }
    };
  }
  // On a terminal the progress bar is written to stdout directly: shown as it is, and still progress.
  const write = process.stdout.write;
  process.stdout.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
    if (typeof chunk === 'string' && chunk.includes('Downloading MongoDB')) onProgress();
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof process.stdout.write;
  return () => {
    for (const [method, fn] of saved) console[method] = fn;
    process.stdout.write = write;
  };
}
