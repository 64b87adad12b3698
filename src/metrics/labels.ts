/**
 * Label values are bounded: Prometheus keeps one series per distinct value, so nothing a user
 * typed may become one. Resource IDs come from the policies this process has loaded; anything
 * else (a request of a resource that was never in them) is counted under OTHER.
 */
const OTHER = 'other';

export class ResourceLabels {
  private readonly known = new Set<string>();

  /** Adds the resource IDs of a policy in force (kept after a reload: their grants still end). */
  admit(resourceIds: Iterable<string>): void {
    for (const id of resourceIds) this.known.add(id);
  }

  of(resourceId: string): string {
    return this.known.has(resourceId) ? resourceId : OTHER;
  }
}

/**
 * Values from a closed vocabulary chosen by code or by Slack (error codes such as
 * `channel_not_found`), capped in number: the first `max` distinct ones are kept, the rest are OTHER.
 */
export class BoundedLabels {
  private readonly seen = new Set<string>();

  constructor(
    private readonly max: number,
    private readonly shape = /^[A-Za-z0-9_.]{1,60}$/,
  ) {}

  of(value: string): string {
    if (!this.shape.test(value)) return OTHER;
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER;
    this.seen.add(value);
    return value;
  }
}
