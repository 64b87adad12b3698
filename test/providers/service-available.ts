import { spawnSync } from 'node:child_process';

/**
 * Whether a shared test server answers, decided synchronously at import time (jest must know
 * before `describe` runs whether to skip): `probeScript` runs in a child process with the URL as
 * its argument and exits 0 when the server works. Absent, the tests are skipped with a printed
 * reason; with CI=true that is a failure instead, thrown here.
 */
export function serviceAvailable(opts: {
  server: string;
  tests: string;
  url: string;
  probeScript: string;
  otherProblem?: () => string | undefined;
}): boolean {
  const result = spawnSync(process.execPath, ['-e', opts.probeScript, opts.url], { encoding: 'utf8', timeout: 10_000, cwd: __dirname });
  const problem =
    result.status === 0 ? opts.otherProblem?.() : (result.stderr || result.error?.message || `probe exited with ${result.status}`).trim();
  if (problem === undefined) return true;
  const where = opts.url.replace(/\/\/[^@/]*@/, '//'); // no credentials in the message
  if (process.env.CI === 'true') throw new Error(`${opts.server} is required in CI but ${where} is unusable: ${problem}`);
  console.warn(`Skipping ${opts.tests}: ${where} is unusable (${problem})`);
  return false;
}
