import { randomBytes } from 'node:crypto';
import { MongoClient, Db } from 'mongodb';

/** A fresh database on the run's shared server, so test files never see each other's data. */
export async function testDatabase(
  label: string,
): Promise<{ client: MongoClient; db: Db; uri: string; dbName: string; close(): Promise<void> }> {
  const uri = process.env.JIT_TEST_MONGODB_URI ?? process.env.MONGODB_URI;
  if (!uri) throw new Error('no test MongoDB: globalSetup did not run');
  const dbName = `jit_${label.replace(/[^a-z0-9]/gi, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return { client, db: client.db(dbName), uri, dbName, close: () => client.close() };
}
