import { accountName, sqlIdentifier, sqlString } from '../../src/providers/mysql/dialect';

/*
 * The README's least-privilege set-up for the mysql provider's account, as SQL a DBA (root) runs:
 * used by the tests and the benchmark, so what they measure is what the README tells operators.
 * (No jest here: bench/ imports it too.)
 */

/** The README's helper procedure, created by a DBA (here: root), so the bot needs no UPDATE on `mysql`. */
export function defaultRoleProcedureSql(schema: string): string {
  return `CREATE DEFINER = CURRENT_USER PROCEDURE ${sqlIdentifier(schema)}.jit_set_default_role(
      IN account_user VARCHAR(128), IN account_host VARCHAR(255), IN role_name VARCHAR(128))
    SQL SECURITY DEFINER
    BEGIN
      SET @jit_sql = CONCAT('SET DEFAULT ROLE ', IF(role_name IS NULL, 'NONE', QUOTE(role_name)), ' FOR ', QUOTE(account_user), '@', QUOTE(account_host));
      PREPARE jit_stmt FROM @jit_sql;
      EXECUTE jit_stmt;
      DEALLOCATE PREPARE jit_stmt;
    END`;
}

/** The README's least-privilege recipe for the bot's account, as root runs it. */
export function adminRecipe(opts: { admin: string; password: string; schema: string; roles: string[]; ephemeral: boolean }): string[] {
  const admin = accountName(opts.admin, '%');
  const schema = sqlIdentifier(opts.schema);
  return [
    `CREATE USER ${admin} IDENTIFIED BY ${sqlString(opts.password)}`,
    ...opts.roles.map((role) => `GRANT ${sqlString(role)} TO ${admin} WITH ADMIN OPTION`),
    `GRANT SELECT (User, Host, is_role, default_role) ON mysql.user TO ${admin}`,
    `GRANT SELECT ON mysql.roles_mapping TO ${admin}`,
    `GRANT PROCESS, CONNECTION ADMIN ON *.* TO ${admin}`,
    `GRANT EXECUTE ON PROCEDURE ${schema}.jit_set_default_role TO ${admin}`,
    ...(opts.ephemeral ? [`GRANT CREATE USER ON *.* TO ${admin}`, `GRANT EVENT ON ${schema}.* TO ${admin}`] : []),
  ];
}
