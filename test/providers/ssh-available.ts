import { sshdUnavailable } from '../support/sshd';

/**
 * Whether the ssh provider tests can start their own sshd here (test/support/sshd.ts): OpenSSH's
 * server and client installed, and root. Decided synchronously at import, because jest needs to
 * know before `describe` runs whether to skip. With CI=true an absent server fails the run.
 */
const unavailableReason = sshdUnavailable();
if (unavailableReason !== undefined) {
  if (process.env.CI === 'true') throw new Error(`OpenSSH is required in CI: ${unavailableReason}`);
  console.warn(`Skipping the ssh provider tests that need a real sshd: ${unavailableReason}`);
}

export const sshdAvailable = unavailableReason === undefined;
/** `describe` when a private sshd can run here, `describe.skip` otherwise (outside CI). */
export const describeWithSshd = sshdAvailable ? describe : describe.skip;
