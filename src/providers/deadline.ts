/**
 * Bounds for one provider call: every call carries an absolute deadline (ProviderCallOptions), and
 * drivers only know relative timeouts, or none at all while they wait for a connection.
 */

/** Milliseconds left before `deadline` (negative once it passed). */
export function remainingMs(deadline: Date): number {
  return deadline.getTime() - Date.now();
}

/**
 * `work`, or a rejection naming `what` once `deadline` passes, whichever comes first. The work is
 * not cancelled (drivers offer no way to); `onLate` receives its result if it arrives after we gave
 * up, so a connection obtained too late can be handed back rather than leaked.
 */
export async function withinDeadline<T>(work: Promise<T>, deadline: Date, what: string, onLate?: (late: T) => void): Promise<T> {
  const remaining = remainingMs(deadline);
  if (remaining <= 0) {
    work.then(onLate, () => undefined);
    throw new Error(`deadline passed before ${what}`);
  }
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new Error(`no answer within ${remaining}ms (${what})`));
    }, remaining);
  });
  try {
    return await Promise.race([work, timeout]);
  } catch (err) {
    if (expired) work.then(onLate, () => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** An error's message, duck-typed: errors from another realm (jest's sandbox, a driver's socket) defeat instanceof. */
export function messageOf(err: unknown): string {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : String(err);
}
