import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

const ITERATIONS = 4096; // PostgreSQL's default scram_iterations

/**
 * Builds the SCRAM-SHA-256 verifier PostgreSQL stores for `password`, the same way `psql \password`
 * does. Sending the verifier in `CREATE ROLE … PASSWORD '<verifier>'` instead of the plaintext keeps
 * the password out of server logs (`log_statement = ddl`), `pg_stat_activity` and
 * `pg_stat_statements`; PostgreSQL recognises the format and stores it as-is.
 *
 * SASLprep is skipped: callers pass ASCII-only passwords (base64url), for which it is the identity.
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
