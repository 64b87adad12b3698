import type { RunningMongo } from './mongo-server';

export default async function globalTeardown(): Promise<void> {
  const mongo = (globalThis as { __JIT_MONGO__?: RunningMongo }).__JIT_MONGO__;
  await mongo?.stop();
}
