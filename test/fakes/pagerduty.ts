import { FakeHttpServer, FakeOnServer, FakeRequest, FakeResponse } from './fake-http-server';

/**
 * PagerDuty REST API v2, the two calls jit-access makes, as documented: `GET /users?query=` (a
 * filter on name and e-mail, paginated with offset/limit/more) and `GET /oncalls?user_ids[]=…&
 * earliest=true`. It refuses what PagerDuty refuses: another Authorization scheme (401) or
 * another Accept version (406).
 */
export interface FakePagerDutyUser {
  id: string;
  email: string;
  name?: string;
}

export interface FakeOncall {
  schedule?: { id: string } | null;
  escalation_policy: { id: string };
  escalation_level?: number;
}

export class FakePagerDuty extends FakeOnServer {
  readonly users: FakePagerDutyUser[] = [];
  /** PagerDuty user ID -> their on-call entries now. */
  readonly oncalls = new Map<string, FakeOncall[]>();
  readonly requests: FakeRequest[] = [];
  /** Non-zero: every call answers this HTTP status. */
  failWith = 0;
  /** Page size the fake uses for /users, whatever the client asks (tests pagination). */
  pageSize = 25;

  private constructor(
    server: FakeHttpServer,
    readonly token: string,
  ) {
    super(server);
  }

  static async start(token = 'pd-test-token'): Promise<FakePagerDuty> {
    let self: FakePagerDuty | undefined;
    const server = await FakeHttpServer.start((req) => self!.handle(req));
    self = new FakePagerDuty(server, token);
    return self;
  }

  private handle(req: FakeRequest): FakeResponse {
    this.requests.push(req);
    if (req.headers.authorization !== `Token token=${this.token}`)
      return { status: 401, body: { error: { message: 'Unauthorized', code: 2006 } } };
    if (req.headers.accept !== 'application/vnd.pagerduty+json;version=2')
      return { status: 406, body: { error: { message: 'Not Acceptable' } } };
    if (this.failWith) return { status: this.failWith, body: { error: { message: 'failing on purpose' } } };
    if (req.method !== 'GET') return { status: 405, body: {} };
    const offset = Number(req.query.get('offset') ?? 0);
    const limit = Math.min(Number(req.query.get('limit') ?? 25), this.pageSize);
    if (req.path === '/users') {
      const q = (req.query.get('query') ?? '').toLowerCase();
      const matching = this.users.filter((u) => u.email.toLowerCase().includes(q) || (u.name ?? '').toLowerCase().includes(q));
      const page = matching.slice(offset, offset + limit);
      return {
        status: 200,
        body: {
          users: page.map((u) => ({ id: u.id, type: 'user', email: u.email, name: u.name ?? u.email })),
          limit,
          offset,
          more: offset + limit < matching.length,
          total: null,
        },
      };
    }
    if (req.path === '/oncalls') {
      const ids = req.query.getAll('user_ids[]');
      if (req.query.get('earliest') !== 'true')
        return { status: 400, body: { error: { message: 'the fake expects earliest=true, as jit-access sends' } } };
      const all = ids.flatMap((id) =>
        (this.oncalls.get(id) ?? []).map((o) => ({
          user: { id, type: 'user_reference' },
          schedule: o.schedule ?? null,
          escalation_policy: o.escalation_policy,
          escalation_level: o.escalation_level ?? 1,
        })),
      );
      return {
        status: 200,
        body: { oncalls: all.slice(offset, offset + limit), limit, offset, more: offset + limit < all.length, total: null },
      };
    }
    return { status: 404, body: { error: { message: 'Not Found' } } };
  }
}
