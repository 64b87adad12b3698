import { spawn, ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * Starts an in-memory MongoDB-compatible server for tests: jongodb from its npm
 * binary package where it exists (Linux x64), else mongodb-memory-server.
 * MONGODB_URI, when set, wins: the tests then run against that real MongoDB.
 */
export interface RunningMongo {
  uri: string;
  stop(): Promise<void>;
  /** The child process, when we started one (fault tests stop and restart it). */
  process?: ChildProcess;
}

export function jongodbBinary(): string | undefined {
  try {
    const pkg = require.resolve('@jongodb/memory-server-bin-linux-x64-gnu/package.json');
    const bin = path.join(path.dirname(pkg), 'bin', 'jongodb');
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

export async function startJongodb(port = 0, timeoutMs = 15_000): Promise<RunningMongo> {
  const bin = jongodbBinary();
  if (!bin) throw new Error('jongodb binary package is not installed on this platform');
  const child = spawn(bin, [`--port=${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const uri = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`jongodb did not start within ${timeoutMs} ms: ${out}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /JONGODB_URI=(mongodb:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? '');
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`jongodb exited with code ${code}: ${out}`));
    });
  });
  // Keep draining output so the child never blocks on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    uri,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

async function startMemoryServer(): Promise<RunningMongo> {
  const { MongoMemoryServer } = await import('mongodb-memory-server-core');
  const server = await MongoMemoryServer.create();
  return { uri: server.getUri(), stop: async () => void (await server.stop()) };
}

export async function startTestMongo(): Promise<RunningMongo> {
  if (process.env.MONGODB_URI) return { uri: process.env.MONGODB_URI, stop: async () => {} };
  if (jongodbBinary()) return startJongodb();
  return startMemoryServer();
}
