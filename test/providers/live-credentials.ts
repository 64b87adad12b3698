/**
 * Live tests run a provider against the real service, with a sandbox account's credentials from
 * the environment. They never run in CI (no credentials are ever put there) and are skipped, with
 * the reason printed, wherever the variables are missing: even with CI=true, since a live service
 * is not a dependency of the test suite, unlike the local PostgreSQL.
 */
export function liveTarget(
  service: string,
  required: string[],
  optional: string[] = [],
): { describe: jest.Describe; env: Record<string, string> } {
  const missing = required.filter((name) => !process.env[name]);
  if (missing.length) {
    console.warn(
      `Skipping the live ${service} tests: set ${missing.join(', ')} to run them against a sandbox (see the README's ${service} section)`,
    );
    return { describe: describe.skip, env: {} };
  }
  const env = Object.fromEntries([...required, ...optional].filter((n) => process.env[n]).map((n) => [n, process.env[n]!]));
  return { describe, env };
}
