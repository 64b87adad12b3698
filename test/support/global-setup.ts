import { startTestMongo } from './mongo-server';

// One MongoDB-compatible server for the whole run; each test file takes its own database.
export default async function globalSetup(): Promise<void> {
  const mongo = await startTestMongo();
  (globalThis as { __JIT_MONGO__?: unknown }).__JIT_MONGO__ = mongo;
  process.env.JIT_TEST_MONGODB_URI = mongo.uri;
}
