import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';
import { RefusalLog } from '../../src/slack/refusal-log';
import { FilingRateLimiter } from '../../src/slack/listeners/filing-limiter';
import { parseCommand } from '../../src/slack/listeners/commands/parse-command';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, logger: createLogger('info', sink) };
}

describe('RefusalLog', () => {
  it('logs a source once a minute, then says how many it left out', async () => {
    const { lines, logger } = capture();
    let now = 0;
    const log = new RefusalLog(logger, () => now);
    for (let i = 0; i < 50; i++) log.refused('10.0.0.1', { status: 401 }, 'refused a request to /slack/events');
    log.refused('10.0.0.2', { status: 401 }, 'refused a request to /slack/events');
    now = 61_000;
    log.flush();
    log.refused('10.0.0.1', { status: 400 }, 'refused a request to /slack/events');
    log.stop();
    await new Promise((r) => setTimeout(r, 50));
    expect(lines.map((l) => [l.source, l.suppressed ?? 0, l.status])).toEqual([
      ['10.0.0.1', 0, 401],
      ['10.0.0.2', 0, 401],
      ['10.0.0.1', 49, 401],
      ['10.0.0.1', 0, 400],
    ]);
  });
});

describe('FilingRateLimiter', () => {
  it('lets `count` filings through per sliding window, per person, and says when to try again', () => {
    let now = 0;
    const limiter = new FilingRateLimiter({ count: 2, windowMs: 60_000 }, () => now);
    expect(limiter.take('U1')).toBeUndefined();
    now = 10_000;
    expect(limiter.take('U1')).toBeUndefined();
    expect(limiter.take('U1')).toMatch(/^Slow down: .* try again in 50s/);
    expect(limiter.take('U2')).toBeUndefined();
    now = 60_001;
    expect(limiter.take('U1')).toBeUndefined();
    expect(limiter.take('U1')).toMatch(/Slow down/);
  });
});

describe('parseCommand: flags', () => {
  it.each([
    ['db 1h fix it --ticket INC-1', { reason: 'fix it', ticket: 'INC-1', breakGlass: false }],
    ['db 1h --ticket=INC-2 fix it', { reason: 'fix it', ticket: 'INC-2', breakGlass: false }],
    ['db 1h prod down --break-glass', { reason: 'prod down', breakGlass: true }],
    ['db 1h prod --BREAK-GLASS down', { reason: 'prod down', breakGlass: true }],
    ['db 1h why did -- --break-glass --ticket fail', { reason: 'why did --break-glass --ticket fail', breakGlass: false }],
    ['db 1h smart dashes \u2014ticket INC-3 \u2014break-glass', { reason: 'smart dashes', ticket: 'INC-3', breakGlass: true }],
    ['db 1h the break-glass--option', { reason: 'the break-glass--option', breakGlass: false }],
    // Flags are whole words only: inside a word of the reason they are text, as is a ticket-like word.
    ['db 1h see x--ticket INC-9 and x--break-glass', { reason: 'see x--ticket INC-9 and x--break-glass', breakGlass: false }],
    ['db 1h INC-42 is down', { reason: 'INC-42 is down', breakGlass: false }],
    ['db 1h fix --ticket INC-42 now --break-glass', { reason: 'fix now', ticket: 'INC-42', breakGlass: true }],
  ])('%s', (text, expected) => {
    expect(parseCommand(text)).toEqual({ kind: 'request', resourceId: 'db', duration: '1h', ...expected });
  });

  it.each([
    ['db 1h --break-glass', /Missing reason/],
    ['db 1h x --ticket', /needs the ticket/],
    ['db 1h x --ticket a --ticket b', /once/],
    ['db 1h x --tikcet a', /Unknown flag `--tikcet`/],
    ['--break-glass db 1h x', /Flags go after/],
    ['db --break-glass 1h x', /Flags go after/],
  ])('%s is refused with a fix-it message', (text, message) => {
    const parsed = parseCommand(text);
    expect(parsed.kind).toBe('error');
    expect((parsed as { message: string }).message).toMatch(message);
  });
});
