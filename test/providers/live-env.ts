/**
 * Live tests against a real cloud account or cluster run only when their variables are set: a
 * user with a sandbox checks the real thing with `npm test -- <path>`. Otherwise they skip with
 * the reason printed, in CI too: live credentials are never in CI (nothing but loopback is
 * reachable there), so an absent account is not a failure the way an absent local server is.
 */
export function liveEnv(
  what: string,
  names: readonly string[],
  hint?: string,
): { env: Record<string, string>; describeLive: jest.Describe } {
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    console.warn(
      `Skipping the live ${what} test: set ${missing.join(', ')}${hint ? ` (${hint})` : ''} to run it against a real ${what} (see the README, "Live tests")`,
    );
    return { env: {}, describeLive: describe.skip };
  }
  return { env: Object.fromEntries(names.map((n) => [n, process.env[n]!])), describeLive: describe };
}
