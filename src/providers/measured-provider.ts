import type { ResourceProvider } from './registry';

/** Told about every provider call: `jit_provider_call_duration_seconds{provider,action,result}`. */
export interface ProviderCallObserver {
  providerCall(provider: string, action: string, ok: boolean, seconds: number): void;
}

const ACTIONS = ['validate', 'holds', 'grant', 'revoke', 'extend', 'check'] as const;

/**
 * A resource's provider whose calls are timed, whatever the provider: one decorator here rather
 * than timing code in each of them. A call counts as an error when it throws, or when a filing
 * check could not be made; a check that refuses the account (`{ ok: false }`) is a provider
 * answering, so `ok`.
 */
export function measuredProvider(inner: ResourceProvider, observer: ProviderCallObserver): ResourceProvider {
  const timed =
    <A extends unknown[], R>(action: (typeof ACTIONS)[number], call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const started = process.hrtime.bigint();
      let ok = false;
      try {
        const result = await call(...args);
        ok = true;
        return result;
      } finally {
        observer.providerCall(inner.type, action, ok, Number(process.hrtime.bigint() - started) / 1e9);
      }
    };
  return {
    resourceId: inner.resourceId,
    type: inner.type,
    target: inner.target,
    account: inner.account,
    needs: inner.needs,
    extension: inner.extension,
    inspectsStanding: inner.inspectsStanding,
    checks: inner.checks,
    accessKey: (account) => inner.accessKey(account),
    validate: timed('validate', (subject, opts) => inner.validate(subject, opts)),
    holds: timed('holds', (subject, opts) => inner.holds(subject, opts)),
    grant: timed('grant', (subject, opts) => inner.grant(subject, opts)),
    revoke: timed('revoke', (subject, opts) => inner.revoke(subject, opts)),
    extend: timed('extend', (subject, opts) => inner.extend(subject, opts)),
    check: timed('check', (opts) => inner.check(opts)),
  };
}
