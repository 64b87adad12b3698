import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import type { Connection } from 'mysql2/promise';
import { accountName, sqlIdentifier, sqlString } from '../../src/providers/mysql/dialect';
import { adminRecipe, defaultRoleProcedureSql } from '../../test/support/mysql-recipe';

/**
 * A throw-away schema, role and least-privilege bot account (the README's recipe) on the local
 * MariaDB/MySQL (JIT_BENCH_MYSQL_URL, default root at 127.0.0.1:3306), for the mysql latency
 * cases, and a bare client logged in as that same account.
 */
export class MysqlBenchServer {
  readonly run = randomBytes(4).toString('hex');
  readonly schema = `jit_bench_${this.run}`;
  readonly role = `jit_bench_reader_${this.run}`;
  readonly admin = `jit_bench_admin_${this.run}`;
  readonly account = `jit_bench_acct_${this.run}`;
  private readonly password = `bench-${this.run}-pw`;
  private readonly rootUrl = process.env.JIT_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
  /** The bare client: the bot's account, on its own connection. */
  bare!: Connection;

  get adminUrl(): string {
    const u = new URL(this.rootUrl);
    return `mysql://${this.admin}:${this.password}@${u.hostname}:${u.port || 3306}/${this.schema}`;
  }

  async setUp(): Promise<void> {
    await this.asRoot(async (c) => {
      await c.query(`CREATE DATABASE ${sqlIdentifier(this.schema)}`);
      await c.query(`CREATE ROLE ${sqlString(this.role)}`);
      await c.query(`CREATE USER ${accountName(this.account, '%')} IDENTIFIED BY ${sqlString(this.password)}`);
      await c.query(defaultRoleProcedureSql(this.schema));
      for (const statement of adminRecipe({
        admin: this.admin,
        password: this.password,
        schema: this.schema,
        roles: [this.role],
        ephemeral: true,
      }))
        await c.query(statement);
    });
    this.bare = await createConnection({ uri: this.adminUrl, charset: 'UTF8MB4_GENERAL_CI' });
  }

  policy(resource: Record<string, string>): string {
    return [
      'approvalChannel: C0BENCH',
      `identities: { U0BENCH: ${this.account} }`,
      'resources:',
      '  - id: bench-db',
      '    name: bench',
      '    approvers: { users: [U0APPROVER] }',
      `    provider: { type: mysql, url: "\${BENCH_MYSQL_ADMIN_URL}", role: ${this.role}${Object.entries(resource)
        .map(([k, v]) => `, ${k}: ${v}`)
        .join('')} }`,
    ].join('\n');
  }

  async tearDown(extraUsers: string[] = []): Promise<void> {
    await this.bare?.end().catch(() => undefined);
    await this.asRoot(async (c) => {
      await c.query(`DROP DATABASE IF EXISTS ${sqlIdentifier(this.schema)}`);
      for (const user of [this.account, this.admin, ...extraUsers]) await c.query(`DROP USER IF EXISTS ${accountName(user, '%')}`);
      await c.query(`DROP ROLE IF EXISTS ${sqlString(this.role)}`);
    });
  }

  private async asRoot(work: (c: Connection) => Promise<void>): Promise<void> {
    const c = await createConnection({ uri: this.rootUrl, connectTimeout: 3000 });
    try {
      await work(c);
    } finally {
      await c.end();
    }
  }
}
