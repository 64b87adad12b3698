/** Durations as people type them: `90s`, `30m`, `2h`, `1d`, `1h30m`. */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_ORDER: Unit[] = ['d', 'h', 'm', 's'];

/** Nothing a person grants is longer than a year; longer is a typo or an attack. */
const MAX_DURATION_MS = 366 * UNIT_MS.d;

export class DurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DurationError';
  }
}

const HINT = 'use a number and a unit, e.g. 90s, 30m, 2h, 1d or 1h30m';

export function parseDuration(input: string): number {
  const text = input.trim().toLowerCase();
  if (text === '') throw new DurationError(`a duration is required: ${HINT}`);
  if (text.length > 32) throw new DurationError(`"${input.slice(0, 32)}…" is not a duration: ${HINT}`);
  if (text.startsWith('-')) throw new DurationError(`"${input}" is negative: ${HINT}`);
  const part = /(\d+)([dhms])/gy;
  let total = 0;
  let seen = -1;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = part.exec(text)) !== null) {
    const unit = match[2] as Unit;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= seen) throw new DurationError(`"${input}" repeats or misorders units: ${HINT}`);
    seen = rank;
    if ((match[1] ?? '').length > 9) throw new DurationError(`"${input}" is too long: at most 366d`);
    total += Number(match[1]) * UNIT_MS[unit];
    consumed = part.lastIndex;
  }
  if (consumed !== text.length || seen === -1) throw new DurationError(`"${input}" is not a duration: ${HINT}`);
  if (total <= 0) throw new DurationError(`"${input}" is zero: a duration must be positive`);
  if (total > MAX_DURATION_MS) throw new DurationError(`"${input}" is too long: at most 366d`);
  return total;
}

/** `5400000` -> `1h 30m`; seconds only shown when the duration has any. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms <= 0) return '0s';
  let rest = Math.round(ms / 1000) * 1000;
  const parts: string[] = [];
  for (const unit of UNIT_ORDER) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * UNIT_MS[unit];
  }
  return parts.length ? parts.join(' ') : '0s';
}
