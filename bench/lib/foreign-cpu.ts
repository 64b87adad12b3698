/**
 * How much CPU other processes on the machine (not this process and its descendants)
 * used while a benchmark ran: the benches share two cores with whatever else runs,
 * so their figures are only comparable when this stays near zero.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface Proc {
  ppid: number;
  ticks: number;
}

function snapshot(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function descendantsOf(root: number, procs: Map<number, Proc>): Set<number> {
  const mine = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of procs)
      if (!mine.has(pid) && mine.has(p.ppid)) {
        mine.add(pid);
        grew = true;
      }
  }
  return mine;
}

export class ForeignCpu {
  private timer?: NodeJS.Timeout;
  private prev = snapshot();
  private foreignTicks = 0;
  private ownTicks = 0;
  private startedAt = Date.now();
  /** pids ever seen as ours (a child that exited is still ours). */
  private readonly ours = new Set<number>();

  start(intervalMs = 1000): void {
    this.prev = snapshot();
    this.startedAt = Date.now();
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = snapshot();
    for (const pid of descendantsOf(process.pid, now)) this.ours.add(pid);
    for (const [pid, p] of now) {
      const before = this.prev.get(pid);
      // A process that started since the last sample: all of its ticks are new.
      const delta = before ? Math.max(0, p.ticks - before.ticks) : p.ticks;
      if (this.ours.has(pid)) this.ownTicks += delta;
      else this.foreignTicks += delta;
    }
    this.prev = now;
  }

  /** Mean CPU (in cores, e.g. 0.8 = 80 % of one core) of other processes, and of ours. */
  stop(): { foreignCores: number; ownCores: number } {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const seconds = Math.max(0.001, (Date.now() - this.startedAt) / 1000);
    return { foreignCores: this.foreignTicks / 100 / seconds, ownCores: this.ownTicks / 100 / seconds };
  }
}
