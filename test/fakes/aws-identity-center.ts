import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { FakeHttpServer, FakeOnServer, FakeRequest, FakeResponse } from './fake-http-server';

/*
 * A local IAM Identity Center: the sso-admin and identitystore APIs as AWS documents them
 * (awsJson1_1: `POST /`, `Content-Type: application/x-amz-json-1.1`, `X-Amz-Target:
 * SWBExternalService.<Operation>` / `AWSIdentityStore.<Operation>`, SigV4 with signing names `sso`
 * and `identitystore`), on one loopback port, keeping state:
 *
 * - users in one identity store (GetUserId by `userName` or `emails.value`, DescribeUser);
 * - permission sets (DescribePermissionSet, with SessionDuration);
 * - account assignments, the triple (account, permission set, principal), created and deleted
 *   ASYNCHRONOUSLY as AWS does: Create/DeleteAccountAssignment answer IN_PROGRESS with a request
 *   ID, and Describe…CreationStatus / …DeletionStatus say IN_PROGRESS until `settleMs` has passed,
 *   then SUCCEEDED (and the assignment appears or goes) or FAILED with a FailureReason;
 * - ConflictException for a Create/Delete while another operation on the same assignment is in
 *   progress (the race of aws-samples/iam-identity-center-team #513);
 * - ListAccountAssignments, paginated with MaxResults/NextToken.
 *
 * Every request's SigV4 signature is verified against the credentials the fake was given (wrong
 * key: UnrecognizedClientException; wrong secret: InvalidSignatureException), and the signing
 * service must match the API. Faults can be injected: errors for the next calls (throttling,
 * conflicts, anything), FAILED operations (once, or for a principal until cleared), hanging.
 *
 * Not modelled (not needed by jit-access): groups' members, permission set provisioning, the
 * organization's account list (any 12-digit account ID is accepted), ExternalId look-ups.
 * Undocumented behaviours, chosen here and relied on by no provider: creating an assignment that
 * exists, or deleting one that does not, SUCCEEDS without change.
 */

// The SDK warns once per process that releases after January 2027 need Node 22; the tests know.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const FAKE_AWS_CREDENTIALS = { accessKeyId: 'AKIAFAKEJITACCESS001', secretAccessKey: 'fake/aws+secret-access-key-0123456789abcd' };
export const FAKE_AWS_REGION = 'us-east-1';

const SSO_PREFIX = 'SWBExternalService.';
const IDS_PREFIX = 'AWSIdentityStore.';
const JSON_TYPE = 'application/x-amz-json-1.1';
const PRINCIPAL_ID = /^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$/;
const ACCOUNT_ID = /^\d{12}$/;

export interface Assignment {
  AccountId: string;
  PermissionSetArn: string;
  PrincipalType: 'USER' | 'GROUP';
  PrincipalId: string;
}

export interface FakeUser {
  UserId: string;
  UserName: string;
  DisplayName: string;
  Emails: Array<{ Value: string; Type: string; Primary: boolean }>;
}

type OperationKind = 'create' | 'delete';
type Status = 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED';

interface Operation {
  kind: OperationKind;
  requestId: string;
  assignment: Assignment;
  status: Status;
  failureReason?: string;
  createdAt: number;
  settlesAt: number;
  /** Decided when the operation started: the reason it will fail with. */
  willFail?: string;
}

interface InjectedError {
  status: number;
  type: string;
  message: string;
  extra?: Record<string, unknown>;
}

export interface FakeIdentityCenterOptions {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  region?: string;
  /** How long an assignment operation stays IN_PROGRESS (default 40 ms). */
  settleMs?: number;
  /** Most assignments per ListAccountAssignments page, whatever MaxResults asks (default 100). */
  pageSize?: number;
}

class AwsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const hex = (n: number) =>
  randomBytes(Math.ceil(n / 2))
    .toString('hex')
    .slice(0, n);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const keyOf = (a: Assignment) => JSON.stringify([a.AccountId, a.PermissionSetArn, a.PrincipalType, a.PrincipalId]);

export class FakeIdentityCenter extends FakeOnServer {
  readonly instanceArn: string;
  readonly identityStoreId: string;
  readonly region: string;
  settleMs: number;
  pageSize: number;
  /** Every call, in order: its operation (`CreateAccountAssignment`) and body. */
  readonly calls: Array<{ operation: string; body: Record<string, unknown> }> = [];

  private readonly credentials: NonNullable<FakeIdentityCenterOptions['credentials']>;
  private readonly users = new Map<string, FakeUser>();
  private readonly permissionSets = new Map<string, { Name: string; SessionDuration: string; CreatedDate: number }>();
  private readonly assignments = new Map<string, Assignment>();
  private readonly operations = new Map<string, Operation>();
  private readonly injected: Array<{ operation: string; error: InjectedError }> = [];
  private failOnce: { kind: OperationKind; reason: string } | undefined;
  private readonly failingPrincipals = new Map<string, string>();

  private constructor(server: FakeHttpServer, opts: FakeIdentityCenterOptions) {
    super(server);
    const instanceId = `ssoins-${hex(16)}`;
    this.instanceArn = `arn:aws:sso:::instance/${instanceId}`;
    this.identityStoreId = `d-${hex(10)}`;
    this.region = opts.region ?? FAKE_AWS_REGION;
    this.credentials = opts.credentials ?? FAKE_AWS_CREDENTIALS;
    this.settleMs = opts.settleMs ?? 40;
    this.pageSize = opts.pageSize ?? 100;
  }

  static async start(opts: FakeIdentityCenterOptions = {}): Promise<FakeIdentityCenter> {
    let fake: FakeIdentityCenter | undefined;
    const server = await FakeHttpServer.start((req) => fake!.handle(req));
    fake = new FakeIdentityCenter(server, opts);
    return fake;
  }

  // ---- state, for tests -------------------------------------------------------------------

  addUser(userName: string, email?: string): string {
    const UserId = `${hex(10)}-${randomUUID()}`;
    this.users.set(UserId, {
      UserId,
      UserName: userName,
      DisplayName: userName,
      Emails: email ? [{ Value: email, Type: 'work', Primary: true }] : [],
    });
    return UserId;
  }

  addPermissionSet(name: string, sessionDuration = 'PT1H'): string {
    const arn = `arn:aws:sso:::permissionSet/${this.instanceArn.split('/')[1]}/ps-${hex(16)}`;
    this.permissionSets.set(arn, { Name: name, SessionDuration: sessionDuration, CreatedDate: Date.now() / 1000 });
    return arn;
  }

  removePermissionSet(arn: string): void {
    this.permissionSets.delete(arn);
  }

  /** An assignment made outside jit-access (standing access), effective at once. */
  assignDirectly(assignment: Assignment): void {
    this.assignments.set(keyOf(assignment), assignment);
  }

  hasAssignment(assignment: Assignment): boolean {
    this.settle();
    return this.assignments.has(keyOf(assignment));
  }

  assignmentsOf(accountId: string, permissionSetArn: string): Assignment[] {
    this.settle();
    return [...this.assignments.values()].filter((a) => a.AccountId === accountId && a.PermissionSetArn === permissionSetArn);
  }

  /** Operations started so far (for assertions on polling and on what was created or deleted). */
  operationsOf(kind?: OperationKind): Array<Pick<Operation, 'kind' | 'requestId' | 'assignment' | 'status' | 'failureReason'>> {
    this.settle();
    return [...this.operations.values()].filter((o) => kind === undefined || o.kind === kind);
  }

  // ---- faults -------------------------------------------------------------------------------

  /** The next `count` calls of `operation` (`'*'`: any) answer with this error. */
  injectError(operation: string, error: InjectedError, count = 1): void {
    for (let i = 0; i < count; i++) this.injected.push({ operation, error });
  }

  throttle(operation = '*', count = 1): void {
    this.injectError(operation, { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' }, count);
  }

  conflict(operation = 'CreateAccountAssignment', count = 1): void {
    this.injectError(
      operation,
      {
        status: 400,
        type: 'ConflictException',
        message: 'Operation failed due to a conflict: another request is in progress for this assignment',
      },
      count,
    );
  }

  /** The next assignment operation of `kind` goes IN_PROGRESS, then FAILED with `reason`. */
  failNextOperation(kind: OperationKind, reason: string): void {
    this.failOnce = { kind, reason };
  }

  /** Every creation of an assignment for `principalId` fails (asynchronously) until undone. */
  failCreationsFor(principalId: string, reason: string): () => void {
    this.failingPrincipals.set(principalId, reason);
    return () => void this.failingPrincipals.delete(principalId);
  }

  // ---- the API ------------------------------------------------------------------------------

  private async handle(req: FakeRequest): Promise<FakeResponse> {
    try {
      if (req.method !== 'POST' || req.path !== '/') throw new AwsError(404, 'UnknownOperationException', `${req.method} ${req.path}`);
      const contentType = String(req.headers['content-type'] ?? '');
      if (!contentType.startsWith(JSON_TYPE))
        throw new AwsError(400, 'SerializationException', `expected ${JSON_TYPE}, got ${contentType || 'none'}`);
      const target = String(req.headers['x-amz-target'] ?? '');
      const service = target.startsWith(SSO_PREFIX) ? 'sso' : target.startsWith(IDS_PREFIX) ? 'identitystore' : undefined;
      if (!service) throw new AwsError(400, 'UnknownOperationException', `unknown X-Amz-Target ${JSON.stringify(target)}`);
      this.authenticate(req, service);
      let body: Record<string, unknown>;
      try {
        body = req.body.length ? (JSON.parse(req.body.toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        throw new AwsError(400, 'SerializationException', 'body is not JSON');
      }
      const operation = target.slice(target.indexOf('.') + 1);
      this.calls.push({ operation, body });
      const injected = this.injected.findIndex((i) => i.operation === '*' || i.operation === operation);
      if (injected >= 0) {
        const { error } = this.injected.splice(injected, 1)[0]!;
        throw new AwsError(error.status, error.type, error.message, error.extra);
      }
      this.settle();
      return {
        status: 200,
        headers: { 'Content-Type': JSON_TYPE, 'x-amzn-RequestId': randomUUID() },
        body: this.dispatch(service, operation, body),
      };
    } catch (err) {
      if (!(err instanceof AwsError)) throw err;
      return {
        status: err.status,
        headers: { 'Content-Type': JSON_TYPE, 'x-amzn-RequestId': randomUUID(), 'x-amzn-ErrorType': err.type },
        body: { __type: err.type, message: err.message, ...err.extra },
      };
    }
  }

  private dispatch(service: 'sso' | 'identitystore', operation: string, body: Record<string, unknown>): unknown {
    if (service === 'identitystore') {
      this.requireIdentityStore(body);
      switch (operation) {
        case 'GetUserId':
          return { IdentityStoreId: this.identityStoreId, UserId: this.findUserId(body) };
        case 'DescribeUser': {
          const user = this.users.get(String(body.UserId ?? ''));
          if (!user) throw notFound('USER', `USER not found.`);
          return { IdentityStoreId: this.identityStoreId, ...user };
        }
      }
      throw new AwsError(400, 'UnknownOperationException', `AWSIdentityStore.${operation} is not implemented by this fake`);
    }
    this.requireInstance(body);
    switch (operation) {
      case 'CreateAccountAssignment':
        return { AccountAssignmentCreationStatus: this.view(this.start('create', this.assignmentIn(body))) };
      case 'DeleteAccountAssignment':
        return { AccountAssignmentDeletionStatus: this.view(this.start('delete', this.assignmentIn(body))) };
      case 'DescribeAccountAssignmentCreationStatus':
        return { AccountAssignmentCreationStatus: this.view(this.operation('create', body.AccountAssignmentCreationRequestId)) };
      case 'DescribeAccountAssignmentDeletionStatus':
        return { AccountAssignmentDeletionStatus: this.view(this.operation('delete', body.AccountAssignmentDeletionRequestId)) };
      case 'ListAccountAssignments':
        return this.list(body);
      case 'DescribePermissionSet': {
        const arn = String(body.PermissionSetArn ?? '');
        const ps = this.permissionSets.get(arn);
        if (!ps) throw notFound(undefined, `PermissionSet not found: ${arn}`);
        return {
          PermissionSet: {
            Name: ps.Name,
            PermissionSetArn: arn,
            Description: ps.Name,
            CreatedDate: ps.CreatedDate,
            SessionDuration: ps.SessionDuration,
          },
        };
      }
    }
    throw new AwsError(400, 'UnknownOperationException', `SWBExternalService.${operation} is not implemented by this fake`);
  }

  /** SigV4, as the SDK signs: the canonical request of the signed headers, the derived key, the HMAC. */
  private authenticate(req: FakeRequest, service: string): void {
    const auth = String(req.headers.authorization ?? '');
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) throw new AwsError(400, 'MissingAuthenticationTokenException', 'Missing or malformed Authorization header');
    const [, keyId, date, region, signedService, signedHeaders, signature] = m as unknown as string[];
    if (keyId !== this.credentials.accessKeyId)
      throw new AwsError(400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (signedService !== service || region !== this.region) {
      throw new AwsError(
        400,
        'InvalidSignatureException',
        `Credential should be scoped to a valid region and service: ${this.region}/${service}, not ${region}/${signedService}`,
      );
    }
    if (this.credentials.sessionToken !== undefined && req.headers['x-amz-security-token'] !== this.credentials.sessionToken) {
      throw new AwsError(400, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const payloadHash = sha256(req.body);
    const declared = req.headers['x-amz-content-sha256'];
    if (declared !== undefined && declared !== payloadHash)
      throw new AwsError(400, 'InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match the body');
    const names = signedHeaders!.split(';');
    const canonicalHeaders = names
      .map(
        (n) =>
          `${n}:${String(req.headers[n] ?? '')
            .trim()
            .replace(/\s+/g, ' ')}\n`,
      )
      .join('');
    const canonicalRequest = [req.method, req.path, req.query.toString(), canonicalHeaders, signedHeaders, declared ?? payloadHash].join(
      '\n',
    );
    const scope = `${date}/${region}/${signedService}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
    let key = hmac(`AWS4${this.credentials.secretAccessKey}`, date!);
    for (const part of [region!, signedService!, 'aws4_request']) key = hmac(key, part);
    if (createHmac('sha256', key).update(stringToSign).digest('hex') !== signature) {
      throw new AwsError(
        400,
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
      );
    }
  }

  private requireInstance(body: Record<string, unknown>): void {
    if (body.InstanceArn !== this.instanceArn) throw notFound(undefined, `Instance ${String(body.InstanceArn)} does not exist`);
  }

  private requireIdentityStore(body: Record<string, unknown>): void {
    if (body.IdentityStoreId !== this.identityStoreId)
      throw notFound('IDENTITY_STORE', `Identity store ${String(body.IdentityStoreId)} not found.`);
  }

  private findUserId(body: Record<string, unknown>): string {
    const unique = (body.AlternateIdentifier as { UniqueAttribute?: { AttributePath?: unknown; AttributeValue?: unknown } } | undefined)
      ?.UniqueAttribute;
    if (!unique)
      throw new AwsError(
        400,
        'ValidationException',
        'AlternateIdentifier.UniqueAttribute is required (ExternalId is not supported by this fake)',
      );
    const { AttributePath: path, AttributeValue: value } = unique;
    if (path !== 'userName' && path !== 'emails.value')
      throw new AwsError(400, 'ValidationException', `Invalid attribute path ${String(path)}`);
    const match = [...this.users.values()].filter((u) =>
      path === 'userName' ? u.UserName === value : u.Emails.some((e) => e.Value === value),
    );
    if (match.length === 0) throw notFound('USER', 'USER not found.');
    if (match.length > 1) throw new AwsError(400, 'ValidationException', `${path} is not unique`);
    return match[0]!.UserId;
  }

  private assignmentIn(body: Record<string, unknown>): Assignment {
    const { TargetId, TargetType, PermissionSetArn, PrincipalType, PrincipalId } = body;
    if (typeof TargetId !== 'string' || !ACCOUNT_ID.test(TargetId))
      throw new AwsError(400, 'ValidationException', 'TargetId: expected a 12-digit account ID');
    if (TargetType !== 'AWS_ACCOUNT') throw new AwsError(400, 'ValidationException', 'TargetType: expected AWS_ACCOUNT');
    if (PrincipalType !== 'USER' && PrincipalType !== 'GROUP')
      throw new AwsError(400, 'ValidationException', 'PrincipalType: expected USER or GROUP');
    if (typeof PrincipalId !== 'string' || !PRINCIPAL_ID.test(PrincipalId))
      throw new AwsError(400, 'ValidationException', 'PrincipalId: malformed');
    if (typeof PermissionSetArn !== 'string' || !this.permissionSets.has(PermissionSetArn)) {
      throw notFound(undefined, `PermissionSet not found: ${String(PermissionSetArn)}`);
    }
    if (PrincipalType === 'USER' && !this.users.has(PrincipalId)) throw notFound('USER', `Principal ${PrincipalId} not found`);
    return { AccountId: TargetId, PermissionSetArn, PrincipalType, PrincipalId };
  }

  private start(kind: OperationKind, assignment: Assignment): Operation {
    const busy = [...this.operations.values()].some((o) => o.status === 'IN_PROGRESS' && keyOf(o.assignment) === keyOf(assignment));
    if (busy)
      throw new AwsError(
        400,
        'ConflictException',
        'Operation failed due to a conflict: another request is in progress for this assignment',
      );
    let willFail: string | undefined;
    if (this.failOnce?.kind === kind) {
      willFail = this.failOnce.reason;
      this.failOnce = undefined;
    } else if (kind === 'create') {
      willFail = this.failingPrincipals.get(assignment.PrincipalId);
    }
    const now = Date.now();
    const op: Operation = {
      kind,
      requestId: randomUUID(),
      assignment,
      status: 'IN_PROGRESS',
      createdAt: now,
      settlesAt: now + this.settleMs,
      ...(willFail ? { willFail } : {}),
    };
    this.operations.set(op.requestId, op);
    this.settle();
    return op;
  }

  private operation(kind: OperationKind, requestId: unknown): Operation {
    const op = typeof requestId === 'string' ? this.operations.get(requestId) : undefined;
    if (!op || op.kind !== kind) throw notFound(undefined, `Request ${String(requestId)} not found`);
    return op;
  }

  /** Operations whose time has come finish, in the order they started. */
  private settle(): void {
    const now = Date.now();
    for (const op of this.operations.values()) {
      if (op.status !== 'IN_PROGRESS' || op.settlesAt > now) continue;
      if (op.willFail !== undefined) {
        op.status = 'FAILED';
        op.failureReason = op.willFail;
        continue;
      }
      op.status = 'SUCCEEDED';
      if (op.kind === 'create') this.assignments.set(keyOf(op.assignment), op.assignment);
      else this.assignments.delete(keyOf(op.assignment));
    }
  }

  private view(op: Operation): Record<string, unknown> {
    return {
      Status: op.status,
      RequestId: op.requestId,
      TargetId: op.assignment.AccountId,
      TargetType: 'AWS_ACCOUNT',
      PermissionSetArn: op.assignment.PermissionSetArn,
      PrincipalType: op.assignment.PrincipalType,
      PrincipalId: op.assignment.PrincipalId,
      CreatedDate: op.createdAt / 1000,
      ...(op.failureReason ? { FailureReason: op.failureReason } : {}),
    };
  }

  private list(body: Record<string, unknown>): unknown {
    const { AccountId, PermissionSetArn, MaxResults, NextToken } = body;
    if (typeof AccountId !== 'string' || !ACCOUNT_ID.test(AccountId))
      throw new AwsError(400, 'ValidationException', 'AccountId: expected a 12-digit account ID');
    if (typeof PermissionSetArn !== 'string' || !this.permissionSets.has(PermissionSetArn))
      throw notFound(undefined, `PermissionSet not found: ${String(PermissionSetArn)}`);
    const all = this.assignmentsOf(AccountId, PermissionSetArn);
    const start = typeof NextToken === 'string' ? Number(Buffer.from(NextToken, 'base64').toString('utf8')) : 0;
    if (!Number.isInteger(start) || start < 0) throw new AwsError(400, 'ValidationException', 'NextToken: invalid');
    const size = Math.min(this.pageSize, typeof MaxResults === 'number' ? MaxResults : 100);
    const page = all.slice(start, start + size);
    const next = start + size < all.length ? Buffer.from(String(start + size)).toString('base64') : undefined;
    return { AccountAssignments: page, ...(next ? { NextToken: next } : {}) };
  }
}

function notFound(resourceType: string | undefined, message: string): AwsError {
  return new AwsError(400, 'ResourceNotFoundException', message, resourceType ? { ResourceType: resourceType } : {});
}
