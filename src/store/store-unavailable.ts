import { StoreUnavailable } from '../operations/ports';

/** Driver errors that mean MongoDB was not reached or did not answer, not that the request was wrong. */
function isDriverUnavailable(err: unknown): boolean {
  const name = (err as Error)?.name ?? '';
  return name.startsWith('Mongo') || /ECONNREFUSED|topology|server selection/i.test((err as Error)?.message ?? '');
}

/** Rethrows a driver error as StoreUnavailable; anything else unchanged. */
export function translate(err: unknown): never {
  if (err instanceof StoreUnavailable || !isDriverUnavailable(err)) throw err;
  throw new StoreUnavailable((err as Error).message, err);
}

/**
 * Wraps a store object so that every method's driver error comes out as StoreUnavailable, the
 * one error the operations understand; other errors (a duplicate key the store translates itself,
 * a bug) pass unchanged.
 */
export function translatingDriverErrors<T extends object>(store: T): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'constructor') return value;
      return (...args: unknown[]): unknown => {
        try {
          const result = (value as (...a: unknown[]) => unknown).apply(target, args);
          return result instanceof Promise ? result.catch(translate) : result;
        } catch (err) {
          return translate(err);
        }
      };
    },
  });
}
