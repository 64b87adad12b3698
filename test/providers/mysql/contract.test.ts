import { sqlString } from '../../../src/providers/mysql/dialect';
import type { GrantSubject } from '../../../src/providers/provider';
import { temporaryName } from '../../../src/providers/temporary-name';
import { MysqlFixture } from '../../support/mysql-fixture';
import { describeProviderContract, ContractFixture } from '../contract';
import { asRoot, describeWithMysql } from '../mysql-available';

/**
 * The mysql provider, both modes, against the MariaDB at 127.0.0.1:3306 (skipped without it,
 * outside CI), connecting as the README's least-privilege account. The expiry event is checked
 * whenever the server runs its event scheduler (mysql-provider.test.ts turns it on for its own
 * event tests, so this suite sees either state).
 */
const my = new MysqlFixture();
let accounts = 0;

/** Makes grants fail for good: the bot's account loses its ADMIN OPTION on the role until undone. */
const adminOptionGone: ContractFixture['failGrants'] = {
  permanent: true,
  arrange: async () => {
    await asRoot((c) => c.query(`REVOKE ADMIN OPTION FOR ${sqlString(my.reader)} FROM ${sqlString(my.admin)}@'%'`));
    return async () => void (await asRoot((c) => c.query(`GRANT ${sqlString(my.reader)} TO ${sqlString(my.admin)}@'%' WITH ADMIN OPTION`)));
  },
};

const common = {
  type: 'mysql',
  secretKeys: ['url'],
  target: () => ({ url: my.adminUrl(), timeoutMs: 3000 }),
  hangingTarget: (port: number) => ({ url: my.adminUrl(my.admin, port) }),
  failGrants: adminOptionGone,
};

let setUps = 0;
const lifecycle = {
  setUp: async () => {
    if (setUps++ === 0) await my.setUp();
  },
  tearDown: async () => {
    if (--setUps === 0) await my.tearDown();
  },
};

describeProviderContract(
  {
    ...common,
    ...lifecycle,
    variant: 'grant mode',
    access: () => ({ role: my.reader }),
    newAccount: async () => {
      const name = `jit_c${++accounts}_${my.run}`;
      await my.createUsers({ name });
      return name;
    },
    unknownAccount: () => `jit_c_nobody_${my.run}`,
    hasAccess: async (subject) => (await my.holdersOf()).includes(`${subject.user.account!}@%`),
    giveStanding: (account) => my.grantDirectly(my.reader, account),
  },
  describeWithMysql,
);

/** The ephemeral user a grant made (or would make) for `subject`. */
const userOf = (subject: GrantSubject, details?: Record<string, string>) => {
  const user = details?.user ?? temporaryName(subject.user.account ?? subject.user.slackId, subject.requestId, 32);
  my.extraUsers.add(user);
  return user;
};

describeProviderContract(
  {
    ...common,
    ...lifecycle,
    variant: 'ephemeral mode',
    access: () => ({ role: my.reader, mode: 'ephemeral' }),
    // The user is created for the grant; the account only names it, and need not exist.
    newAccount: async () => `e${++accounts}${my.run}`,
    hasAccess: async (subject, details) => (await my.holdersOf()).includes(`${userOf(subject, details)}@%`),
    expiryOf: (subject, details) => my.eventAt(userOf(subject, details)),
    expiryResolutionMs: 1000,
  },
  describeWithMysql,
);
