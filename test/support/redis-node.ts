import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisClient } from '../providers/redis-available';
import { freePort } from './ports';

/*
 * A private redis-server on a loopback port, from a temp dir, for what the shared server cannot
 * show: a replica (ACL users are not replicated), a node that goes down, and restarts (what survives
 * one, with and without an aclfile). Never persisted (--save "", no AOF); stopped and removed by stop().
 */
export class RedisNode {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly args: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** `aclfile`: start with an (empty) ACL file, as deployments that ACL SAVE do. `replicaOf`: a port on 127.0.0.1. */
  static async start(opts: { aclfile?: boolean; replicaOf?: number } = {}): Promise<RedisNode> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'jit-redis-'));
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--daemonize',
      'no',
      '--logfile',
      join(dir, 'redis.log'),
    ];
    if (opts.aclfile) {
      writeFileSync(join(dir, 'users.acl'), 'user default on nopass ~* &* +@all\n');
      args.push('--aclfile', join(dir, 'users.acl'));
    }
    if (opts.replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(opts.replicaOf));
    const node = new RedisNode(port, dir, args);
    await node.restart();
    return node;
  }

  /** Stops the server (as a crash would: no SAVE) and keeps its directory, ACL file included. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  /** (Re)starts the server with the same port, directory and options, and waits until it answers. */
  async restart(): Promise<void> {
    await this.kill();
    this.child = spawn('redis-server', this.args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const c = redisClient(this.url);
      try {
        if ((await c.ping()) === 'PONG') return;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not start`);
      } finally {
        c.disconnect();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
