import type { RowDataPacket } from 'mysql2/promise';
import {
  accountName,
  callDefaultRoleProcedure,
  createExpiryEvent,
  dialectFor,
  dropExpiryEvent,
  moveExpiryEvent,
  nativePasswordHash,
  serverVersion,
  sqlIdentifier,
  sqlString,
  unsupportedVersion,
  utcDateTime,
} from '../../../src/providers/mysql/dialect';
import { asRoot, describeWithMysql } from '../mysql-available';

/*
 * The SQL each flavour gets. MariaDB's statements also run against the real server in
 * mysql-provider.test.ts; MySQL 8's can only be checked here, statement by statement, against the
 * MySQL 8.0 reference manual (no MySQL server can be installed on the machines this is built on).
 */

describe('mysql dialect: quoting', () => {
  it('quotes names as string literals by doubling quotes, the same with and without NO_BACKSLASH_ESCAPES', () => {
    expect(sqlString(`a'b"c`)).toBe(`'a''b"c'`);
    expect(accountName(`al'ice`, '%')).toBe(`'al''ice'@'%'`);
    expect(sqlIdentifier('jit`x')).toBe('`jit``x`');
  });

  it('refuses a backslash or control character rather than guess the server’s escaping mode', () => {
    expect(() => sqlString('a\\b')).toThrow(/backslash/);
    expect(() => sqlString('a\nb')).toThrow(/control/);
    expect(() => sqlString('a\u0000b')).toThrow();
  });

  it('writes an expiry as UTC, rounded up to the second', () => {
    expect(utcDateTime(new Date('2026-01-01T12:00:00.000Z'))).toBe('2026-01-01 12:00:00');
    expect(utcDateTime(new Date('2026-01-01T12:00:00.001Z'))).toBe('2026-01-01 12:00:01');
  });
});

describe('mysql dialect: server versions', () => {
  it('tells MariaDB from MySQL by VERSION()', () => {
    expect(serverVersion('10.11.19-MariaDB-0+deb12u1')).toEqual({ flavor: 'mariadb', version: '10.11.19' });
    expect(serverVersion('5.5.5-10.6.12-MariaDB-log')).toMatchObject({ flavor: 'mariadb' });
    expect(serverVersion('8.0.36-0ubuntu0.22.04.1')).toEqual({ flavor: 'mysql', version: '8.0.36' });
  });

  it('refuses servers without what the provider needs', () => {
    expect(unsupportedVersion({ flavor: 'mariadb', version: '10.4.30' })).toMatch(/10\.5 or later/);
    expect(unsupportedVersion({ flavor: 'mariadb', version: '10.5.0' })).toBeUndefined();
    expect(unsupportedVersion({ flavor: 'mysql', version: '8.0.29' })).toMatch(/8\.0\.30 or later/);
    expect(unsupportedVersion({ flavor: 'mysql', version: '8.4.0' })).toBeUndefined();
  });
});

describe('mysql dialect: MySQL 8 statements', () => {
  const d = dialectFor('mysql');

  it('roles are accounts: granted and revoked as role@%; revoking one not held is a no-op by syntax', () => {
    expect(d.grantRole('orders_ro', 'alice', '%')).toBe(`GRANT 'orders_ro'@'%' TO 'alice'@'%'`);
    expect(d.revokeRole('orders_ro', 'alice', '10.0.%')).toBe(`REVOKE IF EXISTS 'orders_ro'@'%' FROM 'alice'@'10.0.%' IGNORE UNKNOWN USER`);
    expect(d.roleNotHeldErrno).toBeUndefined();
  });

  it('default roles are a list set with TO (MariaDB: one, with FOR)', () => {
    expect(d.setDefaultRoles(['app', 'orders_ro'], 'alice', '%')).toBe(`SET DEFAULT ROLE 'app'@'%', 'orders_ro'@'%' TO 'alice'@'%'`);
    expect(d.setDefaultRoles([], 'alice', '%')).toBe(`SET DEFAULT ROLE NONE TO 'alice'@'%'`);
    expect(d.defaultRoles('alice', '%')).toEqual({
      sql: "SELECT DEFAULT_ROLE_USER AS role FROM mysql.default_roles WHERE USER = ? AND HOST = ? AND DEFAULT_ROLE_HOST = '%'",
      params: ['alice', '%'],
    });
  });

  it('reads holders from mysql.role_edges, and calls an account that others hold a role', () => {
    expect(d.holding('alice', '%', 'orders_ro')).toEqual({
      sql: "SELECT WITH_ADMIN_OPTION AS admin FROM mysql.role_edges WHERE TO_USER = ? AND TO_HOST = ? AND FROM_USER = ? AND FROM_HOST = '%'",
      params: ['alice', '%', 'orders_ro'],
    });
    expect(d.account('orders_ro', '%').sql).toMatch(/FROM mysql\.role_edges e WHERE e\.FROM_USER = u\.User AND e\.FROM_HOST = u\.Host/);
  });

  it('lets the server generate the password (MariaDB has no IDENTIFIED BY RANDOM PASSWORD)', () => {
    expect(d.createUser('jit_a_12345678', '%', '*IGNORED', false)).toBe(`CREATE USER 'jit_a_12345678'@'%' IDENTIFIED BY RANDOM PASSWORD`);
    expect(d.createUser('jit_a_12345678', '%', '*IGNORED', true)).toBe(`ALTER USER 'jit_a_12345678'@'%' IDENTIFIED BY RANDOM PASSWORD`);
    expect(d.generatedPasswordColumn).toBe('generated password');
  });

  it('ends sessions by process-list id only, and its expiry event only drops the user', () => {
    expect(d.killUserSessions('jit_a_12345678')).toBeUndefined();
    expect(
      createExpiryEvent(d, 'jit_access', 'jit_expire_jit_a_12345678', new Date('2026-01-01T12:00:00.250Z'), 'jit_a_12345678', '%'),
    ).toBe(
      "CREATE EVENT `jit_access`.`jit_expire_jit_a_12345678` ON SCHEDULE AT '2026-01-01 12:00:01' ON COMPLETION NOT PRESERVE " +
        "COMMENT 'jit-access: drops an ephemeral user at its expiry' DO DROP USER IF EXISTS 'jit_a_12345678'@'%'",
    );
  });
});

describe('mysql dialect: MariaDB statements', () => {
  const d = dialectFor('mariadb');

  it('roles have no host; one default role, set with FOR; error 1962 means "not held"', () => {
    expect(d.grantRole('orders_ro', 'alice', '%')).toBe(`GRANT 'orders_ro' TO 'alice'@'%'`);
    expect(d.revokeRole('orders_ro', 'alice', '%')).toBe(`REVOKE 'orders_ro' FROM 'alice'@'%'`);
    expect(d.roleNotHeldErrno).toBe(1962);
    expect(d.setDefaultRoles(['orders_ro'], 'alice', '%')).toBe(`SET DEFAULT ROLE 'orders_ro' FOR 'alice'@'%'`);
    expect(d.setDefaultRoles([], 'alice', '%')).toBe(`SET DEFAULT ROLE NONE FOR 'alice'@'%'`);
    expect(() => d.setDefaultRoles(['a', 'b'], 'alice', '%')).toThrow(/one default role/);
  });

  it('kills by user name for every host, and its event drops the user, then kills its sessions', () => {
    expect(d.killUserSessions('jit_a_12345678')).toBe(`KILL CONNECTION USER 'jit_a_12345678'@'%'`);
    expect(d.expiryEventBody('jit_a_12345678', 'localhost')).toBe(
      `BEGIN DROP USER IF EXISTS 'jit_a_12345678'@'localhost'; KILL CONNECTION USER 'jit_a_12345678'@'%'; END`,
    );
    expect(d.createUser('jit_a_12345678', '%', '*0123', false)).toBe(`CREATE USER 'jit_a_12345678'@'%' IDENTIFIED BY PASSWORD '*0123'`);
  });

  it('moves and drops events, and calls the default-role helper with placeholders', () => {
    expect(moveExpiryEvent('jit_access', 'e', new Date('2026-01-01T12:00:00Z'))).toBe(
      "ALTER EVENT `jit_access`.`e` ON SCHEDULE AT '2026-01-01 12:00:00'",
    );
    expect(dropExpiryEvent('jit_access', 'e')).toBe('DROP EVENT IF EXISTS `jit_access`.`e`');
    expect(callDefaultRoleProcedure('jit_access')).toBe('CALL `jit_access`.`jit_set_default_role`(?, ?, ?)');
  });
});

describeWithMysql('mysql dialect against MariaDB', () => {
  it('hashes a password as the server’s own PASSWORD() does (mysql_native_password)', async () => {
    const password = 'Zx9-random_password-0123456789abc';
    const server = await asRoot(async (c) => String((await c.query<RowDataPacket[]>('SELECT PASSWORD(?) AS h', [password]))[0][0]!.h));
    expect(nativePasswordHash(password)).toBe(server);
  });
});
