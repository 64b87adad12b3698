import { Pool } from 'pg';
import { z } from 'zod';
import type {
  ExtendOptions,
  FilingCheck,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../provider';
import { defineProvider, grantOrEphemeralAccount } from '../provider';
import { secretVariants } from '../secrets';
import { checkTarget } from './checks';
import { ACCOUNT_PATTERN, postgresAccessSchema, postgresTargetSchema } from './config';
import type { PostgresAccess, PostgresTargetConfig } from './config';
import { type PostgresTarget, type Session, withSession } from './connection';
import { ephemeralRoleFor, extendEphemeral, grantEphemeral, revokeEphemeral } from './ephemeral';
import { grantMembership, holdsMembership, revokeMembership, validateAccount } from './membership';

export { ephemeralRoleName } from './roles';

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * One target: one admin connection pool, shared by every resource that names it. Each call goes to
 * the resource's mode: membership.ts (grant mode) or ephemeral.ts; checks.ts says what the target lacks.
 */
export class PostgresProvider implements TargetProvider<PostgresAccess>, PostgresTarget {
  private readonly pool: Pool;
  readonly timeoutMs: number;
  /** Strings that must never appear in an error message or warning. */
  private readonly secrets: string[];

  constructor(
    readonly config: PostgresTargetConfig,
    readonly targetName: string,
  ) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.secrets = secretVariants(config.url);
    this.pool = new Pool({
      connectionString: config.url,
      max: 4,
      connectionTimeoutMillis: this.timeoutMs,
      statement_timeout: this.timeoutMs,
      idleTimeoutMillis: 30_000,
      // Idle admin connections must not keep a shutting-down bot alive.
      allowExitOnIdle: true,
      application_name: 'jit-access',
    });
    // An idle client dying (server restart, terminated by a DBA) is emitted here; without a listener
    // it would crash the process. The pool discards the client and the next call reconnects.
    this.pool.on('error', () => undefined);
  }

  get label(): string {
    return `postgres target ${this.targetName}`;
  }

  withSession<T>(deadline: Date, what: string, work: (session: Session) => Promise<T>): Promise<T> {
    return withSession(this.pool, this.label, this.secrets, deadline, what, work);
  }

  async validate(access: PostgresAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck> {
    if (access.mode === 'ephemeral') return { ok: true }; // the login is created for the grant
    return validateAccount(this, access.role, subject, opts.deadline);
  }

  async holds(access: PostgresAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    if (access.mode === 'ephemeral') return false;
    return holdsMembership(this, access.role, subject, opts.deadline);
  }

  async grant(access: PostgresAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    return access.mode === 'ephemeral'
      ? grantEphemeral(this, access.role, subject, opts.deadline)
      : grantMembership(this, access.role, subject, opts.deadline);
  }

  async extend(access: PostgresAccess, subject: GrantSubject, opts: ExtendOptions): Promise<void> {
    // A membership has no expiry in the database: there is nothing to tell it, the bot's own timer revokes it.
    if (access.mode !== 'ephemeral') return;
    await extendEphemeral(this, ephemeralRoleFor(this.label, subject, opts.details), subject.expiresAt, opts.deadline);
  }

  async revoke(access: PostgresAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    if (access.mode === 'ephemeral') {
      await revokeEphemeral(this, ephemeralRoleFor(this.label, subject, opts.details), opts.deadline);
    } else {
      await revokeMembership(this, access.role, subject, opts.deadline);
    }
  }

  check(access: PostgresAccess, opts: ProviderCallOptions): Promise<string[]> {
    return checkTarget(this, access, opts.deadline);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * The postgres provider: grant mode (`GRANT role TO account`) or ephemeral mode (a login role that
 * exists only for the grant, `VALID UNTIL` its expiry).
 */
export const postgresProvider = defineProvider({
  type: 'postgres',
  target: postgresTargetSchema,
  access: postgresAccessSchema,
  account: grantOrEphemeralAccount(
    z
      .string()
      .regex(ACCOUNT_PATTERN, 'expected a PostgreSQL role name: a letter or _, then letters, digits, _ . or -, at most 63 characters'),
  ),
  extension: 'native',
  overlap: {
    // Two resources on one role give the same access; every ephemeral login is its own.
    key: (access) => (access.mode === 'ephemeral' ? undefined : `role:${access.role}`),
    standing: 'inspected',
  },
  create: (target, env) => new PostgresProvider(target, env.targetName),
});
