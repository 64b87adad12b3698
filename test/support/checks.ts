/** The differences between consecutive numbers: `[1, 4, 9]` -> `[3, 5]`. */
export function gapsBetween(xs: readonly number[]): number[] {
  return xs.slice(1).map((x, i) => x - (xs[i] ?? x));
}

/** Group `n` of a match, for groups the pattern always captures; throws (a broken pattern) otherwise. */
export function captured(match: RegExpMatchArray | RegExpExecArray, n: number): string {
  const value = match[n];
  if (value === undefined) throw new Error(`group ${n} of ${String(match[0]).slice(0, 60)} captured nothing`);
  return value;
}

/** The first item: the test's precondition that there is one. */
export function first<T>(items: readonly T[], what = 'item'): T {
  const item = items[0];
  if (item === undefined) throw new Error(`expected at least one ${what}`);
  return item;
}
