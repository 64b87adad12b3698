import { DatabaseError, type Pool, type PoolClient, type QueryConfig, type QueryResultRow } from 'pg';
import { ProviderError } from '../provider';
import { scrubSecrets } from '../secrets';
import { messageOf } from '../deadline';
import type { PostgresTargetConfig } from './config';

/**
 * SQLSTATE classes that retrying cannot fix: 28 authentication, 3D unknown database, 42 missing
 * objects / privileges / syntax, 0L/0P grantor and role specification, 2B dependent objects.
 */
const NON_RETRYABLE_SQLSTATE_CLASSES = new Set(['28', '3D', '42', '0L', '0P', '2B']);

/** What the grant-mode and ephemeral-mode code needs of its target: a session under a deadline, and how to name it. */
export interface PostgresTarget {
  readonly config: PostgresTargetConfig;
  readonly targetName: string;
  /** `postgres target <name>`: prefixes every error. */
  readonly label: string;
  readonly timeoutMs: number;
  withSession<T>(deadline: Date, what: string, work: (session: Session) => Promise<T>): Promise<T>;
}

/** A pooled connection whose every statement is bounded by the caller's deadline. */
export class Session {
  constructor(
    private readonly client: PoolClient,
    private readonly deadline: Date,
  ) {}

  remainingMs(): number {
    return this.deadline.getTime() - Date.now();
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[] = []) {
    const remaining = this.remainingMs();
    if (remaining <= 0) throw new Error('deadline passed');
    // query_timeout is supported by pg at runtime but missing from @types/pg's QueryConfig.
    const config: QueryConfig & { query_timeout: number } = { text, values, query_timeout: remaining };
    return this.client.query<R>(config);
  }

  async rolesPresent(names: string[]): Promise<{ database: string; present: Set<string> }> {
    const { rows } = await this.query<{ database: string; present: string[] }>(
      `SELECT current_database() AS database,
              array(SELECT rolname::text FROM pg_roles WHERE rolname = ANY($1::text[])) AS present`,
      [names],
    );
    return { database: rows[0]?.database ?? '?', present: new Set(rows[0]?.present ?? []) };
  }
}

/**
 * Runs `work` on a pooled connection, bounded by `deadline`; any failure becomes a ProviderError
 * naming `what`, scrubbed of `secrets`.
 */
export async function withSession<T>(
  pool: Pool,
  label: string,
  secrets: readonly string[],
  deadline: Date,
  what: string,
  work: (session: Session) => Promise<T>,
): Promise<T> {
  let client: PoolClient | undefined;
  let reusable = true;
  try {
    client = await connectBefore(pool, deadline);
    return await work(new Session(client, deadline));
  } catch (err) {
    // After a client-side timeout or a network error the connection's protocol state is unknown;
    // server errors and our own refusals leave it clean.
    if (!(err instanceof DatabaseError || err instanceof ProviderError)) reusable = false;
    throw err instanceof ProviderError ? err : toProviderError(err, label, what, secrets);
  } finally {
    client?.release(!reusable);
  }
}

function toProviderError(err: unknown, label: string, what: string, secrets: readonly string[]): ProviderError {
  const code = sqlState(err) ?? (err as { code?: unknown } | null)?.code;
  const message = messageOf(err);
  const retryable = err instanceof DatabaseError ? !NON_RETRYABLE_SQLSTATE_CLASSES.has(err.code?.slice(0, 2) ?? '') : true;
  const text = `${label}: ${what} failed: ${message}${typeof code === 'string' ? ` (${code})` : ''}`;
  return new ProviderError(scrubSecrets(text, secrets), retryable);
}

async function connectBefore(pool: Pool, deadline: Date): Promise<PoolClient> {
  const remaining = deadline.getTime() - Date.now();
  if (remaining <= 0) throw new Error('deadline passed before connecting');
  const connecting = pool.connect();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no connection within ${remaining}ms`)), remaining);
  });
  try {
    return await Promise.race([connecting, expired]);
  } catch (err) {
    // If the connection arrives after we gave up, hand it straight back (destroyed: nobody will use it).
    connecting.then(
      (late) => late.release(true),
      () => undefined,
    );
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

export function sqlState(err: unknown): string | undefined {
  return err instanceof DatabaseError ? err.code : undefined;
}

/** Where requesters connect: explicit config, else what the admin URL points at. */
export function connectionTarget(config: PostgresTargetConfig): { host: string; port: number; database: string } {
  let parsed: URL | undefined;
  try {
    parsed = new URL(config.url);
  } catch {
    parsed = undefined;
  }
  const urlHost = parsed?.hostname ? decodeURIComponent(parsed.hostname).replace(/^\[|\]$/g, '') : parsed?.searchParams.get('host');
  const urlDatabase = parsed && parsed.pathname.length > 1 ? decodeURIComponent(parsed.pathname.slice(1)) : undefined;
  return {
    host: config.host ?? urlHost ?? 'localhost',
    port: config.port ?? (parsed?.port ? Number(parsed.port) : 5432),
    database: config.database ?? urlDatabase ?? (parsed?.username ? decodeURIComponent(parsed.username) : 'postgres'),
  };
}
