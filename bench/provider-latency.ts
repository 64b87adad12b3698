/**
 * Grant and revoke latency of each provider against its real server, beside a bare client of that
 * server doing the same statements in the same run (so the figure is the provider layer's
 * overhead, not the server's speed).
 *
 *   npx tsx bench/provider-latency.ts              every case in bench/providers/, 200 calls each
 *   BENCH_CALLS=50 npx tsx bench/provider-latency.ts postgres mysql
 *
 * A case whose server does not answer is reported as skipped, with the reason. Each case lives in
 * bench/providers/<type>.ts and default-exports a LatencyCase (bench/lib/provider-latency.ts).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { emitResult, ms, numberOption, ratio, table } from './lib/common';
import { LatencyCase, LatencyResult, measureLatency } from './lib/provider-latency';

async function main(): Promise<void> {
  const calls = numberOption('calls', 'BENCH_CALLS', 200);
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const dir = path.join(__dirname, 'providers');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && (wanted.length === 0 || wanted.includes(path.basename(f, '.ts'))));
  const results: LatencyResult[] = [];
  const skipped: Array<{ file: string; reason: string }> = [];
  for (const file of files.sort()) {
    const c = ((await import(path.join(dir, file))) as { default: LatencyCase }).default;
    try {
      console.log(`measuring ${c.label}: ${calls} grant/revoke pairs through the provider and through a bare client…`);
      results.push(await measureLatency(c, calls));
    } catch (err) {
      skipped.push({ file, reason: (err as Error).message.split('\n')[0] ?? String(err) });
    }
  }
  const rows = results.flatMap((r) =>
    (['grant', 'revoke'] as const).map((action) => [
      r.label,
      action,
      `${ms(r.provider[action].p50, 2)} / ${ms(r.provider[action].p99, 2)}`,
      `${ms(r.bare[action].p50, 2)} / ${ms(r.bare[action].p99, 2)}`,
      `${ratio(r.provider[action].p50, r.bare[action].p50)} / ${ratio(r.provider[action].p99, r.bare[action].p99)}`,
    ]),
  );
  console.log(`\nProvider latency, ${calls} calls each (p50 / p99)\n`);
  console.log(table(['provider', 'call', 'provider p50 / p99', 'bare client p50 / p99', 'provider ÷ bare'], rows));
  for (const s of skipped) console.log(`skipped ${s.file}: ${s.reason}`);
  emitResult('provider-latency', { calls, results, skipped });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
