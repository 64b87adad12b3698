import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';

export class EmbeddedMongoUnavailable extends Error {}

/**
 * For `npm start` without MONGODB_URI: a local mongod whose data lives under
 * JIT_DATA_DIR and survives restarts. Needs a MongoDB binary (downloaded once by
 * mongodb-memory-server, or MONGOMS_SYSTEM_BINARY); where none can be had, it says so.
 */
export async function startEmbeddedMongo(dataDir: string, logger: Logger, timeoutMs = 20_000): Promise<{ uri: string; stop(): Promise<void> }> {
  const dbPath = path.resolve(dataDir, 'mongo');
  mkdirSync(dbPath, { recursive: true });
  let server: { getUri(): string; stop(opts?: { doCleanup?: boolean }): Promise<boolean> };
  try {
    const { MongoMemoryServer } = await import('mongodb-memory-server-core');
    const starting = MongoMemoryServer.create({ instance: { dbPath, storageEngine: 'wiredTiger', port: 27018 } });
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no MongoDB within ${timeoutMs / 1000}s`)), timeoutMs).unref());
    server = await Promise.race([starting, timeout]);
  } catch (err) {
    throw new EmbeddedMongoUnavailable(
      `MONGODB_URI is not set and no embedded MongoDB could be started (${(err as Error).message.split('\n')[0]}). ` +
        'Set MONGODB_URI to your MongoDB (e.g. mongodb://localhost:27017/jit-access), or run `docker compose up` with the docker-compose.yml in this repository.',
    );
  }
  logger.warn({ dbPath }, 'MONGODB_URI is not set: using an embedded MongoDB for local use only. Production must set MONGODB_URI.');
  return { uri: server.getUri().replace(/\/?$/, '/jit-access'), stop: async () => void (await server.stop({ doCleanup: false })) };
}
