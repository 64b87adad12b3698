/**
 * Event-based "wait until a matching record exists" helper shared by the fakes.
 * Records made before the wait started count too.
 */

interface Waiter<T> {
  check: (records: readonly T[]) => boolean;
  reject: (err: Error) => void;
}

export class Recorder<T> {
  readonly records: T[] = [];
  private waiters = new Set<Waiter<T>>();

  push(record: T): void {
    this.records.push(record);
    for (const w of [...this.waiters]) w.check(this.records);
  }

  clear(): void {
    this.records.length = 0;
  }

  /** Resolves with the first record matching `predicate`; rejects after timeoutMs with `describe()` in the message. */
  waitFor(predicate: (r: T) => boolean, timeoutMs: number, describe: () => string): Promise<T> {
    return this.waitForCount(predicate, 1, timeoutMs, describe).then((rs) => rs[0] as T);
  }

  /** Resolves with the first n records matching `predicate`. */
  waitForCount(predicate: (r: T) => boolean, n: number, timeoutMs: number, describe: () => string): Promise<T[]> {
    return new Promise<T[]>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter<T> = {
        check: (records) => {
          const matching = records.filter(predicate);
          if (matching.length < n) return false;
          this.waiters.delete(waiter);
          if (timer) clearTimeout(timer);
          resolve(matching.slice(0, n));
          return true;
        },
        reject: (err) => {
          this.waiters.delete(waiter);
          if (timer) clearTimeout(timer);
          reject(err);
        },
      };
      if (waiter.check(this.records)) return;
      this.waiters.add(waiter);
      timer = setTimeout(() => {
        const got = this.records.filter(predicate).length;
        waiter.reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${n} × ${describe()} (got ${got}).`));
      }, timeoutMs);
    });
  }

  /** Rejects every pending wait (used on stop()). */
  abortAll(reason: string): void {
    for (const w of [...this.waiters]) w.reject(new Error(reason));
  }
}

/** Reads a request body fully. */
export function readBody(req: import('node:http').IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Short, readable JSON for error messages. */
export function brief(value: unknown, max = 300): string {
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
