import { apiPath, Fetch, getJson, OncallSourceError } from './http';

/**
 * Opsgenie (PRODUCT.md section 3.2): who is on call now on each named schedule, as e-mails
 * (`flat=true`); a requester is on call on the schedules whose recipients hold their e-mail
 * (exact, case-insensitive).
 */
export interface OpsgenieConfig {
  apiKey: string;
  apiUrl: string;
  schedules: string[];
}

export class OpsgenieOncall {
  constructor(
    private readonly config: OpsgenieConfig,
    private readonly fetchImpl: Fetch = fetch,
    private readonly timeoutMs = 5000,
  ) {}

  /** Problems with the key, the endpoint or a schedule name: each configured schedule is read once. */
  async check(): Promise<string[]> {
    const problems = await Promise.all(
      this.config.schedules.map(async (name, i) => {
        try {
          await this.recipients(name);
          return undefined;
        } catch (err) {
          return `oncall.opsgenie.schedules[${i}] (${name}): ${(err as Error).message}`;
        }
      }),
    );
    return problems.filter((p): p is string => p !== undefined);
  }

  /** The e-mails on call now on schedule `name`, lower case. */
  async recipients(name: string): Promise<string[]> {
    const url = apiPath(this.config.apiUrl, `/v2/schedules/${encodeURIComponent(name)}/on-calls`);
    url.searchParams.set('scheduleIdentifierType', 'name');
    url.searchParams.set('flat', 'true');
    const body = (await getJson(
      this.fetchImpl,
      'Opsgenie',
      url,
      { Authorization: `GenieKey ${this.config.apiKey}`, Accept: 'application/json' },
      this.timeoutMs,
    )) as {
      data?: { onCallRecipients?: unknown };
    } | null;
    const recipients = body?.data?.onCallRecipients;
    if (!Array.isArray(recipients)) throw new OncallSourceError(`Opsgenie answered without data.onCallRecipients for schedule ${name}`);
    return recipients.filter((r): r is string => typeof r === 'string').map((r) => r.toLowerCase());
  }
}
