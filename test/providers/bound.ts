import { ProviderError } from '../../src/providers/provider';
import type {
  CheckOptions,
  ExtendOptions,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../../src/providers/provider';

/**
 * A target's provider instance with one resource's access settings filled in, so unit tests read
 * `p.grant(subject, opts)`. (The app does the same through src/providers/registry.ts.)
 */
export function bound<A>(instance: TargetProvider<A>, access: A) {
  return {
    instance,
    grant: (s: GrantSubject, o: ProviderCallOptions) => instance.grant(access, s, o),
    revoke: (s: GrantSubject, o: RevokeOptions) => instance.revoke(access, s, o),
    extend: (s: GrantSubject, o: ProviderCallOptions & Partial<ExtendOptions>) =>
      instance.extend!(access, s, { extensionId: 'ext1', ...o }),
    validate: (s: FilingSubject, o: ProviderCallOptions) => instance.validate!(access, s, o),
    holds: (s: FilingSubject, o: ProviderCallOptions) => instance.holds!(access, s, o),
    check: (o: Partial<CheckOptions> = {}) =>
      instance.check!(access, { deadline: new Date(Date.now() + 10_000), occasion: 'operator', ...o }),
    close: () => instance.close?.() ?? Promise.resolve(),
  };
}

/** The ProviderError `promise` rejects with (and a test failure if it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

/** The value of the field `label` of a grant's credentials for the requester (a test failure if it has none). */
export function secretField(result: GrantResult, label: string): string {
  const value = result.secretForRequester?.fields.find((f) => f.label === label)?.value;
  if (value === undefined) throw new Error(`no ${label} in ${JSON.stringify(result.secretForRequester?.fields.map((f) => f.label))}`);
  return value;
}
