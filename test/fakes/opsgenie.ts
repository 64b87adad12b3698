import { FakeHttpServer, FakeOnServer, FakeRequest, FakeResponse } from './fake-http-server';

/**
 * Opsgenie's "who is on call" API as documented: `GET /v2/schedules/{identifier}/on-calls` with
 * `scheduleIdentifierType=name` and `flat=true` answering `data.onCallRecipients` (e-mails).
 * `Authorization: GenieKey <key>` or 401; an unknown schedule is 404.
 */
export class FakeOpsgenie extends FakeOnServer {
  /** Schedule name -> e-mails on call now. */
  readonly schedules = new Map<string, string[]>();
  readonly requests: FakeRequest[] = [];
  failWith = 0;

  private constructor(
    server: FakeHttpServer,
    readonly apiKey: string,
  ) {
    super(server);
  }

  static async start(apiKey = 'og-test-key'): Promise<FakeOpsgenie> {
    let self: FakeOpsgenie | undefined;
    const server = await FakeHttpServer.start((req) => self!.handle(req));
    self = new FakeOpsgenie(server, apiKey);
    return self;
  }

  private handle(req: FakeRequest): FakeResponse {
    this.requests.push(req);
    if (req.headers.authorization !== `GenieKey ${this.apiKey}`)
      return { status: 401, body: { message: 'Could not authenticate', took: 0, requestId: 'fake' } };
    if (this.failWith) return { status: this.failWith, body: { message: 'failing on purpose', took: 0, requestId: 'fake' } };
    const m = /^\/v2\/schedules\/([^/]+)\/on-calls$/.exec(req.path);
    if (req.method !== 'GET' || !m) return { status: 404, body: { message: 'Not found', took: 0, requestId: 'fake' } };
    if (req.query.get('scheduleIdentifierType') !== 'name' || req.query.get('flat') !== 'true') {
      return {
        status: 422,
        body: { message: 'the fake expects scheduleIdentifierType=name&flat=true, as jit-access sends', took: 0, requestId: 'fake' },
      };
    }
    const name = decodeURIComponent(m[1]!);
    const recipients = this.schedules.get(name);
    if (!recipients) return { status: 404, body: { message: `No schedule exists with name [${name}]`, took: 0, requestId: 'fake' } };
    return {
      status: 200,
      body: { data: { _parent: { id: `id-${name}`, name, enabled: true }, onCallRecipients: recipients }, took: 0.01, requestId: 'fake' },
    };
  }
}
