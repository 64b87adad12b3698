import { parsePolicy } from '../../src/policy/load';
import { ProviderRegistry, ResourceProvider } from '../../src/providers/registry';
import type { GrantSubject } from '../../src/providers/provider';
import { summarize, Summary } from './common';

/**
 * One provider's latency case for bench/provider-latency.ts: the provider as production binds it
 * (policy → registry → resource), and a bare client of the same server doing the same statements,
 * measured in the same process, interleaved call by call so both see the same machine.
 */
export interface LatencyCase {
  /** `mysql`, `redis (2 nodes)`, … */
  label: string;
  /** Prepares the server (throw-away database, roles, accounts); returns the resource's policy YAML. */
  setUp(): Promise<{ policy: string; resourceId: string; env?: NodeJS.ProcessEnv }>;
  /** A fresh subject for iteration `i` (an account the target knows). */
  subject(i: number): Promise<GrantSubject>;
  /** The bare client doing what the provider's grant does, for the same subject. */
  bareGrant(subject: GrantSubject): Promise<void>;
  bareRevoke(subject: GrantSubject): Promise<void>;
  tearDown(): Promise<void>;
}

export interface LatencyResult {
  label: string;
  calls: number;
  provider: { grant: Summary; revoke: Summary };
  bare: { grant: Summary; revoke: Summary };
}

const now = () => Number(process.hrtime.bigint()) / 1e6;

async function timed(fn: () => Promise<unknown>, into: number[]): Promise<void> {
  const started = now();
  await fn();
  into.push(now() - started);
}

/** Binds the case's resource as the bot would, then alternates provider and bare grant/revoke pairs. */
export async function measureLatency(c: LatencyCase, calls: number): Promise<LatencyResult> {
  const { policy: text, resourceId, env } = await c.setUp();
  const registry = new ProviderRegistry(parsePolicy(text, { ...process.env, ...env }));
  const provider: ResourceProvider = registry.forResource(resourceId);
  const deadline = () => ({ deadline: new Date(Date.now() + 10_000) });
  const p = { grant: [] as number[], revoke: [] as number[] };
  const b = { grant: [] as number[], revoke: [] as number[] };
  try {
    // Warm both paths (pools, prepared caches) before measuring.
    for (let i = 0; i < 5; i++) {
      const s = await c.subject(-1 - i);
      await provider.grant(s, deadline());
      await provider.revoke(s, deadline());
      await c.bareGrant(s);
      await c.bareRevoke(s);
    }
    for (let i = 0; i < calls; i++) {
      const s = await c.subject(i);
      const providerFirst = i % 2 === 0;
      const viaProvider = async () => {
        let details: Record<string, string> | undefined;
        await timed(async () => void (details = (await provider.grant(s, deadline())).details), p.grant);
        await timed(() => provider.revoke(s, { ...deadline(), details }), p.revoke);
      };
      const bare = async () => {
        await timed(() => c.bareGrant(s), b.grant);
        await timed(() => c.bareRevoke(s), b.revoke);
      };
      if (providerFirst) {
        await viaProvider();
        await bare();
      } else {
        await bare();
        await viaProvider();
      }
    }
  } finally {
    await registry.closeAll();
    await c.tearDown();
  }
  return {
    label: c.label,
    calls,
    provider: { grant: summarize(p.grant), revoke: summarize(p.revoke) },
    bare: { grant: summarize(b.grant), revoke: summarize(b.revoke) },
  };
}
