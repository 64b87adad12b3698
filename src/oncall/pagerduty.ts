import { apiPath, Fetch, getJson, OncallSourceError } from './http';

/**
 * PagerDuty REST API v2 (PRODUCT.md section 3.2): the user whose e-mail matches exactly (any case),
 * then their on-calls now; the IDs are those of the schedules and escalation policies.
 * Plain `fetch` rather than @pagerduty/pdjs: two GETs need no client, and fetch takes an abort
 * signal for the deadline.
 */
export interface PagerDutyConfig {
  token: string;
  apiUrl: string;
}

/** Pages followed at most: an on-call list is short; a bound keeps a misbehaving API from looping. */
const MAX_PAGES = 10;

export class PagerDutyOncall {
  constructor(
    private readonly config: PagerDutyConfig,
    private readonly fetchImpl: Fetch = fetch,
    private readonly timeoutMs = 5000,
  ) {}

  private headers(): Record<string, string> {
    return {
      Authorization: `Token token=${this.config.token}`,
      Accept: 'application/vnd.pagerduty+json;version=2',
      'Content-Type': 'application/json',
    };
  }

  private async get(path: string, query: Array<[string, string]>): Promise<Record<string, unknown>> {
    const url = apiPath(this.config.apiUrl, path);
    for (const [k, v] of query) url.searchParams.append(k, v);
    const body = await getJson(this.fetchImpl, 'PagerDuty', url, this.headers(), this.timeoutMs);
    if (!body || typeof body !== 'object') throw new OncallSourceError('PagerDuty answered with an unexpected body');
    return body as Record<string, unknown>;
  }

  /** Problems with the token or the endpoint (none: it answered a one-user listing). */
  async check(): Promise<string[]> {
    try {
      await this.get('/users', [['limit', '1']]);
      return [];
    } catch (err) {
      return [`oncall.pagerduty: ${(err as Error).message}`];
    }
  }

  /** The PagerDuty user ID whose e-mail is `email` (exact, case-insensitive), if any. */
  async userIdOf(email: string): Promise<string | undefined> {
    const wanted = email.toLowerCase();
    for (let page = 0, offset = 0; page < MAX_PAGES; page++) {
      const body = await this.get('/users', [
        ['query', email],
        ['offset', String(offset)],
        ['limit', '25'],
      ]);
      const users = Array.isArray(body.users) ? (body.users as Array<{ id?: unknown; email?: unknown }>) : [];
      const found = users.find((u) => typeof u.email === 'string' && u.email.toLowerCase() === wanted && typeof u.id === 'string');
      if (found) return found.id as string;
      if (body.more !== true || users.length === 0) return undefined;
      offset += users.length;
    }
    return undefined;
  }

  /** IDs of the schedules and escalation policies `email` is on call for now. */
  async oncallIds(email: string): Promise<string[]> {
    const userId = await this.userIdOf(email);
    if (!userId) return [];
    const ids = new Set<string>();
    for (let page = 0, offset = 0; page < MAX_PAGES; page++) {
      const body = await this.get('/oncalls', [
        ['user_ids[]', userId],
        ['earliest', 'true'],
        ['offset', String(offset)],
        ['limit', '100'],
      ]);
      const oncalls = Array.isArray(body.oncalls)
        ? (body.oncalls as Array<{ schedule?: { id?: unknown } | null; escalation_policy?: { id?: unknown } | null }>)
        : [];
      for (const o of oncalls) {
        if (typeof o.schedule?.id === 'string') ids.add(o.schedule.id);
        if (typeof o.escalation_policy?.id === 'string') ids.add(o.escalation_policy.id);
      }
      if (body.more !== true || oncalls.length === 0) break;
      offset += oncalls.length;
    }
    return [...ids];
  }
}
