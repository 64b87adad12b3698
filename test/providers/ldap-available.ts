import { slapdUnavailable, tlsUnavailable } from '../support/slapd';

/**
 * Whether the ldap provider tests can start their own slapd here (test/support/slapd.ts), and make
 * it a self-signed certificate for ldaps/startTLS. Decided synchronously at import, because jest
 * needs to know before `describe` runs whether to skip. With CI=true an absent server fails the run.
 */
const unavailableReason = slapdUnavailable();
const tlsReason = tlsUnavailable();
for (const reason of [unavailableReason, tlsReason]) {
  if (reason === undefined) continue;
  if (process.env.CI === 'true') throw new Error(`OpenLDAP tests are required in CI: ${reason}`);
  console.warn(`Skipping ldap provider tests: ${reason}`);
}

const slapdAvailable = unavailableReason === undefined;
/** `describe` when a private slapd can run here, `describe.skip` otherwise (outside CI). */
export const describeWithSlapd = slapdAvailable ? describe : describe.skip;
/** The same, for tests that also need TLS (a self-signed certificate made with openssl). */
export const describeWithSlapdTls = slapdAvailable && tlsReason === undefined ? describe : describe.skip;
