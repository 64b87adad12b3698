/** Prometheus text exposition, parsed into samples (enough for tests: no escapes in label values). */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample of `name` whose labels include `labels` (0 when there is none). */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

export async function scrape(port: number): Promise<{ status: number; contentType: string; samples: Sample[]; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    samples: res.status === 200 ? parseExposition(text) : [],
    text,
  };
}

/**
 * Waits until the sample reaches `expected`: a counter is incremented just after the state change a
 * test waits for is written, so a scrape at that very moment may precede it.
 */
export async function eventually(
  port: number,
  name: string,
  labels: Record<string, string>,
  expected: number,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = NaN;
  while (Date.now() < deadline) {
    last = sampleValue((await scrape(port)).samples, name, labels);
    if (last === expected) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${name}${JSON.stringify(labels)} is ${last}, expected ${expected}`);
}
