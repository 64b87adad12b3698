import type { AccountAssignmentOperationStatus, SSOAdminClient } from '@aws-sdk/client-sso-admin';
import type { IdentitystoreClient } from '@aws-sdk/client-identitystore';
import { z } from 'zod';
import type {
  FilingCheck,
  FilingSubject,
  GrantResult,
  GrantSubject,
  ProviderCallOptions,
  RevokeOptions,
  TargetProvider,
} from '../provider';
import { defineProvider, ProviderError } from '../provider';
import { scrubSecrets, secretVariants } from '../secrets';
import { backoff, DeadlinePassedError, pollWithin, retryWithin } from '../deadline';
import { awsAccessSchema, awsTargetSchema, USER_NAME } from './config';
import type { AwsAccess, AwsTargetConfig } from './config';

/*
 * IAM Identity Center account assignments: the triple (AWS account, permission set, principal).
 *
 * - The principal is the Identity Center user the account names (user name, else e-mail), resolved
 *   with identitystore GetUserId when the request is filed and stored on the request.
 * - CreateAccountAssignment / DeleteAccountAssignment only START an operation: each is polled with
 *   Describe…CreationStatus / …DeletionStatus until SUCCEEDED or FAILED, within the deadline. A
 *   FAILED operation fails the call with AWS's FailureReason (aws-samples/iam-identity-center-team
 *   #522: an unpolled creation that failed on the IAM role quota "completed successfully without
 *   access being granted").
 * - ConflictException (another operation on the same assignment is running: TEAM #513, a grant
 *   racing the previous revoke), throttling and AWS-side errors are retried within the deadline.
 *   An operation still running at the deadline is remembered, so the next attempt polls it instead
 *   of starting another.
 * - One assignment can back several grants, and may be standing access (TEAM #279: one grant's
 *   expiry deleted the assignment another active grant relied on). The overlap key is the
 *   (account, permission set) pair — the principal is the account — and holds() reads whether the
 *   user's own assignment exists; the operations layer then never deletes a standing assignment and
 *   deletes a shared one only with the last grant (src/operations/access-bookkeeping.ts).
 * - Revocation deletes the assignment, which stops new sign-ins and credential requests; role
 *   sessions already issued stay valid up to the permission set's SessionDuration (the approval
 *   message says so: `caveat`).
 */

type SsoAdminSdk = typeof import('@aws-sdk/client-sso-admin');
type IdentityStoreSdk = typeof import('@aws-sdk/client-identitystore');
let sdk: { sso: SsoAdminSdk; ids: IdentityStoreSdk } | undefined;
/** The two AWS SDK clients, loaded when an aws-identity-center target is first created (not at every bot start). */
function awsSdk(): { sso: SsoAdminSdk; ids: IdentityStoreSdk } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (sdk ??= {
    sso: require('@aws-sdk/client-sso-admin') as SsoAdminSdk,
    ids: require('@aws-sdk/client-identitystore') as IdentityStoreSdk,
  });
}

type Assignment = {
  InstanceArn: string;
  TargetId: string;
  TargetType: 'AWS_ACCOUNT';
  PermissionSetArn: string;
  PrincipalType: 'USER';
  PrincipalId: string;
};

type OperationKind = 'create' | 'delete';

/** Error names that mean "try again" (sso-admin and identitystore error shapes, SDK transport errors). */
const RETRYABLE_ERRORS = new Set([
  'ConflictException',
  'ThrottlingException',
  'TooManyRequestsException',
  'InternalServerException',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/** What the SDK puts on its errors (ServiceException and transport errors alike). */
interface AwsErrorShape {
  name?: string;
  message?: string;
  code?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
  RetryAfterSeconds?: number;
  ResourceType?: string;
}

const shape = (err: unknown): AwsErrorShape => (err && typeof err === 'object' ? (err as AwsErrorShape) : { message: String(err) });

/** Whether another try can help: AWS says so (throttling, conflicts, 5xx), or the network failed. */
function isRetryableAwsError(err: unknown): boolean {
  const e = shape(err);
  if (e.name && RETRYABLE_ERRORS.has(e.name)) return true;
  if (e.$fault === 'server' || (e.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  // No HTTP answer at all (refused, reset, DNS, a non-JSON proxy page): a transport problem.
  if (e.$metadata?.httpStatusCode === undefined && e.$fault === undefined) return true;
  return false;
}

const retryPolicy = (err: unknown, tries: number): number | undefined => {
  if (shape(err).name === 'AbortError' || err instanceof DeadlinePassedError) return undefined;
  if (!isRetryableAwsError(err)) return undefined;
  return backoff(tries, (shape(err).RetryAfterSeconds ?? 0) * 1000);
};

export class AwsIdentityCenterProvider implements TargetProvider<AwsAccess> {
  private readonly sdk = awsSdk();
  private readonly sso: SSOAdminClient;
  private readonly identityStore: IdentitystoreClient;
  private readonly secrets: string[];
  /** Operations still running when a call's deadline came: the next call polls them rather than start another. */
  private readonly running = new Map<string, { kind: OperationKind; requestId: string }>();

  constructor(
    private readonly config: AwsTargetConfig,
    private readonly targetName: string,
  ) {
    const credentials =
      config.accessKeyId !== undefined && config.secretAccessKey !== undefined
        ? {
            accessKeyId: config.accessKeyId,
            secretAccessKey: config.secretAccessKey,
            ...(config.sessionToken ? { sessionToken: config.sessionToken } : {}),
          }
        : undefined; // the default credential chain
    // maxAttempts 1: retries are ours, bounded by each call's deadline (the SDK's would wait past it).
    const common = { region: config.region, maxAttempts: 1, ...(credentials ? { credentials } : {}) };
    const identityStoreEndpoint = config.identityStoreEndpoint ?? config.endpoint;
    this.sso = new this.sdk.sso.SSOAdminClient({ ...common, ...(config.endpoint ? { endpoint: config.endpoint } : {}) });
    this.identityStore = new this.sdk.ids.IdentitystoreClient({
      ...common,
      ...(identityStoreEndpoint ? { endpoint: identityStoreEndpoint } : {}),
    });
    this.secrets = [config.accessKeyId, config.secretAccessKey, config.sessionToken].flatMap((s) => (s ? secretVariants(s) : []));
  }

  /** At filing: the account must name an Identity Center user; its user ID is stored on the request. */
  async validate(_access: AwsAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<FilingCheck> {
    const account = subject.user.account;
    if (account === undefined || !USER_NAME.test(account)) {
      return { ok: false, reason: `There is no valid IAM Identity Center user name for you in ${this.targetName}.` };
    }
    const principal = await this.findUser(account, opts.deadline);
    if (principal === undefined) {
      // Shown to the requester in Slack: echoed only when it is plain.
      const shown = /^[\w.@+-]{1,128}$/.test(account) ? ` \`${account}\`` : '';
      return {
        ok: false,
        reason:
          `There is no IAM Identity Center user${shown} (by user name or e-mail) in ${this.targetName}. ` +
          'Ask an AWS administrator for your Identity Center user, or a policy admin to map you to it in `identities`.',
      };
    }
    return { ok: true, principal };
  }

  async holds(access: AwsAccess, subject: FilingSubject, opts: ProviderCallOptions): Promise<boolean> {
    const principal =
      subject.user.principal ?? (subject.user.account ? await this.findUser(subject.user.account, opts.deadline) : undefined);
    if (principal === undefined) return false;
    return this.isAssigned(this.assignment(access, principal), opts.deadline);
  }

  async grant(access: AwsAccess, subject: GrantSubject, opts: ProviderCallOptions): Promise<GrantResult> {
    const principal = await this.principalFor(subject, undefined, opts.deadline);
    if (principal === undefined) {
      throw new ProviderError(
        `${this.label}: there is no IAM Identity Center user ${JSON.stringify(subject.user.account ?? '')} any more`,
        false,
      );
    }
    await this.converge('create', this.assignment(access, principal), opts.deadline);
    return { details: { principalId: principal } };
  }

  /** An assignment has no expiry in AWS: nothing to tell it, the bot's own timer moves. */
  async extend(): Promise<void> {}

  async revoke(access: AwsAccess, subject: GrantSubject, opts: RevokeOptions): Promise<void> {
    const principal = await this.principalFor(subject, opts.details, opts.deadline);
    if (principal === undefined) return; // no such user: no assignment of theirs
    await this.converge('delete', this.assignment(access, principal), opts.deadline);
  }

  async check(access: AwsAccess, opts: ProviderCallOptions): Promise<string[]> {
    const deadline = opts.deadline;
    const problems: string[] = [];
    const instanceId = this.config.instanceArn.split('/')[1];
    if (access.permissionSetArn.split('/')[1] !== instanceId) {
      problems.push(`${this.label}: permission set ${access.permissionSetArn} does not belong to instance ${this.config.instanceArn}`);
    }
    const probes: Array<[string, () => Promise<unknown>]> = [
      [
        'sso:DescribePermissionSet',
        () =>
          this.within(deadline, (abortSignal) =>
            this.sso.send(
              new this.sdk.sso.DescribePermissionSetCommand({
                InstanceArn: this.config.instanceArn,
                PermissionSetArn: access.permissionSetArn,
              }),
              { abortSignal },
            ),
          ),
      ],
      [
        'sso:ListAccountAssignments',
        () =>
          this.within(deadline, (abortSignal) =>
            this.sso.send(
              new this.sdk.sso.ListAccountAssignmentsCommand({
                InstanceArn: this.config.instanceArn,
                AccountId: access.accountId,
                PermissionSetArn: access.permissionSetArn,
                MaxResults: 1,
              }),
              { abortSignal },
            ),
          ),
      ],
      // A user name nobody has: "not found" proves the identity store and the permission to look.
      ['identitystore:GetUserId', () => this.findUser(`jit-access-check-${Date.now()}`, deadline)],
    ];
    for (const [action, probe] of probes) {
      try {
        await probe();
      } catch (err) {
        const e = shape(err);
        if (e.name === 'ResourceNotFoundException' && action === 'sso:DescribePermissionSet') {
          problems.push(`${this.label}: permission set ${access.permissionSetArn} does not exist in instance ${this.config.instanceArn}`);
        } else if (e.name === 'AccessDeniedException' || /AccessDeniedException/.test(e.message ?? '')) {
          problems.push(`${this.label}: not allowed ${action} (see the README's IAM policy)`);
        } else {
          problems.push(this.failure(err, action).message);
        }
      }
    }
    return problems;
  }

  async close(): Promise<void> {
    this.sso.destroy();
    this.identityStore.destroy();
  }

  private get label(): string {
    return `aws-identity-center target ${this.targetName}`;
  }

  private assignment(access: AwsAccess, principalId: string): Assignment {
    return {
      InstanceArn: this.config.instanceArn,
      TargetId: access.accountId,
      TargetType: 'AWS_ACCOUNT',
      PermissionSetArn: access.permissionSetArn,
      PrincipalType: 'USER',
      PrincipalId: principalId,
    };
  }

  /** The user ID a grant was (or is to be) made for: recorded at grant, else at filing, else looked up now. */
  private async principalFor(
    subject: GrantSubject,
    details: Record<string, string> | undefined,
    deadline: Date,
  ): Promise<string | undefined> {
    const known = details?.principalId ?? subject.user.principal;
    if (known !== undefined) return known;
    const account = subject.user.account;
    if (account === undefined) throw new ProviderError(`${this.label}: no Identity Center user known for ${subject.user.slackId}`, false);
    return this.findUser(account, deadline);
  }

  /** GetUserId by user name, then (for an e-mail) by `emails.value`; undefined when there is no such user. */
  private async findUser(account: string, deadline: Date): Promise<string | undefined> {
    const paths = account.includes('@') ? (['userName', 'emails.value'] as const) : (['userName'] as const);
    for (const path of paths) {
      try {
        const out = await this.within(deadline, (abortSignal) =>
          this.identityStore.send(
            new this.sdk.ids.GetUserIdCommand({
              IdentityStoreId: this.config.identityStoreId,
              AlternateIdentifier: { UniqueAttribute: { AttributePath: path, AttributeValue: account } },
            }),
            { abortSignal },
          ),
        );
        if (out.UserId) return out.UserId;
      } catch (err) {
        const e = shape(err);
        if (e.name === 'ResourceNotFoundException' && e.ResourceType === 'IDENTITY_STORE') {
          throw new ProviderError(
            `${this.label}: identity store ${this.config.identityStoreId} not found (is identityStoreId the instance's?)`,
            false,
          );
        }
        if (e.name === 'ResourceNotFoundException') continue; // no such user by this attribute
        throw this.failure(err, `look up user ${account}`);
      }
    }
    return undefined;
  }

  private async isAssigned(assignment: Assignment, deadline: Date): Promise<boolean> {
    let nextToken: string | undefined;
    do {
      const page = await this.within(deadline, (abortSignal) =>
        this.sso.send(
          new this.sdk.sso.ListAccountAssignmentsCommand({
            InstanceArn: assignment.InstanceArn,
            AccountId: assignment.TargetId,
            PermissionSetArn: assignment.PermissionSetArn,
            MaxResults: 100,
            ...(nextToken ? { NextToken: nextToken } : {}),
          }),
          { abortSignal },
        ),
      ).catch((err: unknown) => {
        throw this.failure(err, 'list account assignments');
      });
      if ((page.AccountAssignments ?? []).some((a) => a.PrincipalType === 'USER' && a.PrincipalId === assignment.PrincipalId)) return true;
      nextToken = page.NextToken;
    } while (nextToken);
    return false;
  }

  /**
   * Makes the assignment exist (`create`) or not (`delete`), and returns only once AWS says the
   * operation SUCCEEDED (or the assignment is seen to be as wanted).
   */
  private async converge(kind: OperationKind, assignment: Assignment, deadline: Date): Promise<void> {
    const key = JSON.stringify([assignment.TargetId, assignment.PermissionSetArn, assignment.PrincipalId]);
    const what = `${kind === 'create' ? 'assign' : 'unassign'} permission set ${assignment.PermissionSetArn} in account ${assignment.TargetId} ${kind === 'create' ? 'to' : 'from'} user ${assignment.PrincipalId}`;
    let status: AccountAssignmentOperationStatus | undefined;
    const earlier = this.running.get(key);
    if (earlier?.kind === kind) {
      status = await this.describe(kind, earlier.requestId, deadline, what).catch((err: unknown) => {
        if (shape(err).name !== 'ResourceNotFoundException') throw this.failure(err, what);
        return undefined; // AWS forgot it: start over
      });
    }
    // Sent even when the assignment is already listed (create) or not (delete): the listing cannot
    // show an operation still running (a timed-out call's, here or on another replica), which would
    // undo ours when it lands; sending ours gets ConflictException until it has, and is retried.
    status ??= await this.start(kind, assignment, deadline, what);
    if (status.Status === 'IN_PROGRESS') {
      this.running.set(key, { kind, requestId: status.RequestId! });
      const requestId = status.RequestId!;
      const settled = await pollWithin(deadline, async () => {
        const now = await this.describe(kind, requestId, deadline, what);
        return now.Status === 'IN_PROGRESS' ? undefined : now;
      }).catch((err: unknown) => {
        // The deadline came during a status call: the operation is as unsettled as if it had answered so.
        if (err instanceof DeadlinePassedError || shape(err).name === 'AbortError') return undefined;
        throw this.failure(err, what);
      });
      if (!settled) {
        throw new ProviderError(
          `${this.label}: ${what}: still IN_PROGRESS at the deadline (request ${requestId}); the next attempt keeps polling it`,
        );
      }
      status = settled;
    }
    this.running.delete(key);
    if (status.Status === 'SUCCEEDED') return;
    // FAILED (or an unknown status). A failure can also mean "already as wanted": look before failing.
    const assigned = await this.isAssigned(assignment, deadline);
    if (assigned === (kind === 'create')) return;
    throw new ProviderError(
      `${this.label}: ${what}: AWS reports ${status.Status ?? 'no status'}: ${status.FailureReason ?? 'no reason given'}`,
      false,
    );
  }

  /** Create/DeleteAccountAssignment, retrying conflicts and throttling. */
  private async start(
    kind: OperationKind,
    assignment: Assignment,
    deadline: Date,
    what: string,
  ): Promise<AccountAssignmentOperationStatus> {
    try {
      return await retryWithin(
        deadline,
        async (signal) => {
          if (kind === 'create') {
            const out = await this.sso.send(new this.sdk.sso.CreateAccountAssignmentCommand(assignment), { abortSignal: signal });
            return out.AccountAssignmentCreationStatus ?? {};
          }
          const out = await this.sso.send(new this.sdk.sso.DeleteAccountAssignmentCommand(assignment), { abortSignal: signal });
          return out.AccountAssignmentDeletionStatus ?? {};
        },
        retryPolicy,
      );
    } catch (err) {
      throw this.failure(err, what);
    }
  }

  private async describe(kind: OperationKind, requestId: string, deadline: Date, what: string): Promise<AccountAssignmentOperationStatus> {
    const status =
      kind === 'create'
        ? (
            await this.within(deadline, (abortSignal) =>
              this.sso.send(
                new this.sdk.sso.DescribeAccountAssignmentCreationStatusCommand({
                  InstanceArn: this.config.instanceArn,
                  AccountAssignmentCreationRequestId: requestId,
                }),
                { abortSignal },
              ),
            )
          ).AccountAssignmentCreationStatus
        : (
            await this.within(deadline, (abortSignal) =>
              this.sso.send(
                new this.sdk.sso.DescribeAccountAssignmentDeletionStatusCommand({
                  InstanceArn: this.config.instanceArn,
                  AccountAssignmentDeletionRequestId: requestId,
                }),
                { abortSignal },
              ),
            )
          ).AccountAssignmentDeletionStatus;
    if (!status?.Status) throw new ProviderError(`${this.label}: ${what}: AWS returned no status for request ${requestId}`);
    return status;
  }

  /** One SDK call (`signal` passed as its abortSignal), retried while retrying can help and the deadline allows. */
  private within<T>(deadline: Date, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return retryWithin(deadline, call, retryPolicy);
  }

  /** A ProviderError naming what failed and why, never a credential; retryable as AWS's answer says. */
  private failure(err: unknown, what: string): ProviderError {
    if (err instanceof ProviderError) return err;
    const e = shape(err);
    let why: string;
    let retryable = isRetryableAwsError(err);
    if (err instanceof DeadlinePassedError || e.name === 'AbortError') {
      why = 'no answer before the deadline';
      retryable = true;
    } else if (e.name === 'AccessDeniedException') {
      why =
        `AccessDeniedException: ${e.message ?? ''} (the bot's IAM identity lacks a permission of the README's policy; ` +
        'assignments in the organization management account need more, see the README)';
    } else {
      why = `${e.name ?? 'Error'}: ${e.message ?? String(err)}${e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : ''}`;
    }
    return new ProviderError(scrubSecrets(`${this.label}: ${what} failed: ${why}`, this.secrets), retryable);
  }
}

/**
 * The aws-identity-center provider: an IAM Identity Center account assignment of a permission set
 * to the requester's Identity Center user, for the grant's duration.
 */
export const awsIdentityCenterProvider = defineProvider({
  type: 'aws-identity-center',
  target: awsTargetSchema,
  access: awsAccessSchema,
  account: {
    derive: 'email',
    need: 'required',
    format: z
      .string()
      .regex(USER_NAME, 'expected an IAM Identity Center user name or e-mail: at most 128 letters, digits and punctuation, no spaces'),
  },
  extension: 'native',
  overlap: {
    // The principal is the account, which jit-access adds to the key.
    key: (access) => `assignment:${access.accountId}:${access.permissionSetArn}`,
    standing: 'inspected',
  },
  caveat:
    'Revoking AWS access deletes the account assignment, which stops new sign-ins, but role sessions already issued stay valid until they expire (up to the permission set’s session duration).',
  create: (target, env) => new AwsIdentityCenterProvider(target, env.targetName),
});
