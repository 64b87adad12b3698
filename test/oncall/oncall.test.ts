import { OncallDirectory } from '../../src/oncall/oncall';
import { FakePagerDuty } from '../fakes/pagerduty';
import { FakeOpsgenie } from '../fakes/opsgenie';

let pd: FakePagerDuty;
let og: FakeOpsgenie;

beforeEach(async () => {
  pd = await FakePagerDuty.start('pd-secret-token');
  og = await FakeOpsgenie.start('og-secret-key');
  pd.users.push(
    { id: 'PALICE', email: 'Alice@Example.com', name: 'Alice' },
    { id: 'PALICE2', email: 'alice@example.com.evil', name: 'Not Alice' },
  );
  pd.oncalls.set('PALICE', [
    { schedule: { id: 'PSCHED01' }, escalation_policy: { id: 'PEP01' } },
    { schedule: null, escalation_policy: { id: 'PEP02' } },
  ]);
  pd.oncalls.set('PALICE2', [{ schedule: { id: 'PEVIL' }, escalation_policy: { id: 'PEVILEP' } }]);
  og.schedules.set('sre-primary', ['alice@example.COM', 'bob@example.com']);
  og.schedules.set('db team', ['carol@example.com']);
});

afterEach(async () => {
  await pd.stop();
  await og.stop();
});

const pagerduty = () => ({ pagerduty: { token: 'pd-secret-token', apiUrl: pd.url } });
const opsgenie = (schedules = ['sre-primary', 'db team']) => ({ opsgenie: { apiKey: 'og-secret-key', apiUrl: og.url, schedules } });

describe('PagerDuty', () => {
  it('finds the user by exact, case-insensitive e-mail and returns schedule and escalation policy IDs, over the documented paths and headers', async () => {
    const dir = new OncallDirectory(pagerduty());
    expect((await dir.oncallOf('alice@EXAMPLE.com')).sort()).toEqual(['PEP01', 'PEP02', 'PSCHED01']);
    const [users, oncalls] = pd.requests;
    expect(users!.method).toBe('GET');
    expect(users!.path).toBe('/users');
    expect(users!.query.get('query')).toBe('alice@example.com');
    expect(users!.headers.authorization).toBe('Token token=pd-secret-token');
    expect(users!.headers.accept).toBe('application/vnd.pagerduty+json;version=2');
    expect(oncalls!.path).toBe('/oncalls');
    expect(oncalls!.query.getAll('user_ids[]')).toEqual(['PALICE']);
    expect(oncalls!.query.get('earliest')).toBe('true');
  });

  it('a user who only contains the e-mail does not match; nobody found is not on call', async () => {
    const dir = new OncallDirectory(pagerduty());
    expect(await dir.oncallOf('lice@example.com')).toEqual([]);
    expect(await dir.oncallOf('nobody@example.com')).toEqual([]);
    expect(pd.requests.map((r) => r.path)).toEqual(['/users', '/users']);
  });

  it('follows pages of users', async () => {
    pd.pageSize = 1;
    pd.users.unshift({ id: 'PFIRST', email: 'alice@example.com.first' });
    const dir = new OncallDirectory(pagerduty());
    expect(await dir.oncallOf('alice@example.com')).toContain('PSCHED01');
    expect(pd.requests.filter((r) => r.path === '/users').map((r) => r.query.get('offset'))).toEqual(['0', '1']);
  });

  it('caches answers for at most 60 s', async () => {
    let now = 1_000_000;
    const dir = new OncallDirectory(pagerduty(), { clock: () => now, cacheMs: 10 * 60_000 });
    await dir.oncallOf('alice@example.com');
    now += 59_000;
    await dir.oncallOf('alice@example.com');
    expect(pd.requests).toHaveLength(2);
    now += 2_000;
    await dir.oncallOf('alice@example.com');
    expect(pd.requests).toHaveLength(4);
  });

  it.each([
    [503, /^PagerDuty answered HTTP 503$/],
    [401, /^PagerDuty answered HTTP 401 \(check its token in the policy\)$/],
  ])('an HTTP %s fails the look-up with a message that holds no token, and is not cached', async (status, message) => {
    pd.failWith = status;
    const dir = new OncallDirectory(pagerduty());
    const err = await dir.oncallOf('alice@example.com').catch((e: Error) => e);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('pd-secret-token');
    pd.failWith = 0;
    expect(await dir.oncallOf('alice@example.com')).toContain('PSCHED01');
  });

  it('a wrong token is refused by the fake as by PagerDuty', async () => {
    const dir = new OncallDirectory({ pagerduty: { token: 'wrong', apiUrl: pd.url } });
    await expect(dir.oncallOf('alice@example.com')).rejects.toThrow('PagerDuty answered HTTP 401');
  });

  it('an API that does not answer fails within the deadline', async () => {
    pd.hanging = true;
    const dir = new OncallDirectory(pagerduty(), { timeoutMs: 200 });
    const started = Date.now();
    await expect(dir.oncallOf('alice@example.com')).rejects.toThrow('PagerDuty did not answer within 200 ms');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('keeps a path prefix of apiUrl (a proxy)', async () => {
    const dir = new OncallDirectory({ pagerduty: { token: 'pd-secret-token', apiUrl: `${pd.url}/pd/` } });
    // The fake serves no /pd prefix: its 404 shows where the request went.
    await expect(dir.oncallOf('alice@example.com')).rejects.toThrow('PagerDuty answered HTTP 404');
    expect(pd.requests[0]!.path).toBe('/pd/users');
  });
});

describe('Opsgenie', () => {
  it('reads each configured schedule by name, flat, with the GenieKey header, and matches e-mails exactly in any case', async () => {
    const dir = new OncallDirectory(opsgenie());
    expect(await dir.oncallOf('ALICE@example.com')).toEqual(['sre-primary']);
    expect(await dir.oncallOf('carol@example.com')).toEqual(['db team']);
    expect(await dir.oncallOf('arol@example.com')).toEqual([]);
    const paths = og.requests.map((r) => r.path).sort();
    expect(paths).toEqual(['/v2/schedules/db%20team/on-calls', '/v2/schedules/sre-primary/on-calls']);
    for (const r of og.requests) {
      expect(r.headers.authorization).toBe('GenieKey og-secret-key');
      expect(r.query.get('scheduleIdentifierType')).toBe('name');
      expect(r.query.get('flat')).toBe('true');
    }
    // Each schedule read once within the cache's life, whoever asks.
    expect(og.requests).toHaveLength(2);
  });

  it('an unknown schedule or a failing API fails the look-up', async () => {
    await expect(new OncallDirectory(opsgenie(['sre-primary', 'gone'])).oncallOf('alice@example.com')).rejects.toThrow(
      'Opsgenie answered HTTP 404',
    );
    og.failWith = 500;
    const err = await new OncallDirectory(opsgenie()).oncallOf('alice@example.com').catch((e: Error) => e);
    expect((err as Error).message).toBe('Opsgenie answered HTTP 500');
    expect((err as Error).message).not.toContain('og-secret-key');
  });

  it('both sources: the union; one failing fails the whole look-up', async () => {
    const dir = new OncallDirectory({ ...pagerduty(), ...opsgenie() });
    expect((await dir.oncallOf('alice@example.com')).sort()).toEqual(['PEP01', 'PEP02', 'PSCHED01', 'sre-primary']);
    pd.failWith = 502;
    await expect(new OncallDirectory({ ...pagerduty(), ...opsgenie() }).oncallOf('alice@example.com')).rejects.toThrow(
      'PagerDuty answered HTTP 502',
    );
  });
});

describe('check (for npm run check)', () => {
  it('is clean when both sources answer', async () => {
    expect(await new OncallDirectory({ ...pagerduty(), ...opsgenie() }).check()).toEqual([]);
    expect(pd.requests.at(-1)!.headers.authorization).toBe('Token token=pd-secret-token');
  });

  it('names a refused token, a missing schedule and an endpoint that does not answer, never the secrets', async () => {
    const problems = await new OncallDirectory(
      {
        pagerduty: { token: 'wrong', apiUrl: pd.url },
        opsgenie: { apiKey: 'og-secret-key', apiUrl: og.url, schedules: ['sre-primary', 'gone'] },
      },
      { timeoutMs: 300 },
    ).check();
    expect(problems).toEqual([
      'oncall.pagerduty: PagerDuty answered HTTP 401 (check its token in the policy)',
      'oncall.opsgenie.schedules[1] (gone): Opsgenie answered HTTP 404',
    ]);
    og.hanging = true;
    expect(await new OncallDirectory(opsgenie(['sre-primary']), { timeoutMs: 200 }).check()).toEqual([
      'oncall.opsgenie.schedules[0] (sre-primary): Opsgenie did not answer within 200 ms',
    ]);
  });
});
