import { escapeIdentifier as ident } from 'pg';
import { ephemeralRoleName } from '../../../src/providers/postgres/postgres-provider';
import type { GrantSubject } from '../../../src/providers/provider';
import { describeProviderContract, ContractFixture } from '../contract';
import { describeWithPostgres, superuser } from '../pg-available';
import { PgFixture } from '../../support/pg-fixture';

/** The postgres provider, both modes, against the PostgreSQL at 127.0.0.1:5432 (skipped without it, outside CI). */
const pg = new PgFixture();
let accounts = 0;

/** Makes grants fail for good: the role handed out is gone (renamed away) until undone. */
const roleGone: ContractFixture['failGrants'] = {
  permanent: true,
  arrange: async () => {
    const away = `${pg.reader}_gone`;
    await superuser('postgres', (c) => c.query(`ALTER ROLE ${ident(pg.reader)} RENAME TO ${ident(away)}`));
    return async () => void (await superuser('postgres', (c) => c.query(`ALTER ROLE ${ident(away)} RENAME TO ${ident(pg.reader)}`)));
  },
};

const common = {
  type: 'postgres',
  secretKeys: ['url'],
  target: () => ({ url: pg.adminUrl(), timeoutMs: 3000 }),
  hangingTarget: (port: number) => ({ url: pg.adminUrl(pg.admin, port) }),
  failGrants: roleGone,
};

let setUps = 0;
const lifecycle = {
  setUp: async () => {
    if (setUps++ === 0) await pg.setUp();
  },
  tearDown: async () => {
    if (--setUps === 0) await pg.tearDown();
  },
};

describeProviderContract(
  {
    ...common,
    ...lifecycle,
    variant: 'grant mode',
    access: () => ({ role: pg.reader }),
    newAccount: async () => {
      const name = `jit_c${++accounts}_${pg.run}`;
      await pg.createRoles({ name, login: true });
      return name;
    },
    unknownAccount: () => `jit_c_nobody_${pg.run}`,
    hasAccess: async (subject) => (await pg.membersOf()).includes(subject.user.account!),
    giveStanding: (account) => pg.grantDirectly(pg.reader, account),
  },
  describeWithPostgres,
);

/** The ephemeral login a grant made (or would make) for `subject`. */
const roleOf = (subject: GrantSubject, details?: Record<string, string>) =>
  details?.roleName ?? ephemeralRoleName(subject.user.account ?? subject.user.slackId, subject.requestId);

describeProviderContract(
  {
    ...common,
    ...lifecycle,
    variant: 'ephemeral mode',
    access: () => ({ role: pg.reader, mode: 'ephemeral' }),
    // The login is created for the grant; the account only names it, and need not exist.
    newAccount: async () => `label${++accounts}`,
    hasAccess: async (subject, details) => (await pg.membersOf()).includes(roleOf(subject, details)),
    expiryOf: (subject, details) =>
      superuser(
        'postgres',
        async (c) =>
          (await c.query('SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1', [roleOf(subject, details)])).rows[0]?.rolvaliduntil,
      ),
  },
  describeWithPostgres,
);
