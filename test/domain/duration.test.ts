import { parseDuration, formatDuration } from '../../src/domain/duration';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1h30m', 5_400_000],
    ['1d2h3m4s', 93_784_000],
    [' 2H ', 7_200_000],
    ['1s', 1000],
    ['366d', 366 * 86_400_000],
  ])('accepts %s', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([
    ['', /required/],
    ['0m', /zero/],
    ['0h0m', /zero/],
    ['-5m', /negative/],
    ['5', /not a duration/],
    ['m', /not a duration/],
    ['5 minutes', /not a duration/],
    ['1.5h', /not a duration/],
    ['30m1h', /misorders/],
    ['1h1h', /repeats/],
    ['367d', /too long/],
    ['99999999d', /too long/],
    ['9999999999s', /too long/],
    ['1h;drop', /not a duration/],
    ['x'.repeat(100), /not a duration/],
  ])('refuses %j', (input, message) => {
    expect(() => parseDuration(input)).toThrow(message);
  });
});

describe('formatDuration', () => {
  it.each([
    [5_400_000, '1h 30m'],
    [90_000, '1m 30s'],
    [86_400_000, '1d'],
    [93_784_000, '1d 2h 3m 4s'],
    [5_000, '5s'],
    [0, '0s'],
  ])('%d -> %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('round-trips what it prints', () => {
    for (const ms of [1000, 61_000, 3_600_000, 5_400_000, 93_784_000]) {
      expect(parseDuration(formatDuration(ms).replace(/ /g, ''))).toBe(ms);
    }
  });
});
