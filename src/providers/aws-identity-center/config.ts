import { z } from 'zod';
import { secret } from '../secrets';

/** Patterns from the sso-admin and identitystore API references. */
const INSTANCE_ARN = /^arn:aws[a-z-]*:sso:::instance\/(sso)?ins-[a-zA-Z0-9-.]{16}$/;
const PERMISSION_SET_ARN = /^arn:aws[a-z-]*:sso:::permissionSet\/(sso)?ins-[a-zA-Z0-9-.]{16}\/ps-[a-zA-Z0-9-./]{16}$/;
const IDENTITY_STORE_ID = /^(d-[0-9a-f]{10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
/** The identity store's UserName: letters, marks, symbols, numbers and punctuation, no spaces (CreateUser API reference). */
export const USER_NAME = /^[\p{L}\p{M}\p{S}\p{N}\p{P}]{1,128}$/u;

const endpointUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/**
 * Target keys: one IAM Identity Center instance (its identity store), one pair of clients.
 * Credentials: `accessKeyId` + `secretAccessKey` (+ `sessionToken`), typically `${VAR}`s; left out,
 * the AWS SDK's default credential chain applies (environment, shared config and SSO profiles,
 * web identity / IRSA, ECS and EC2 instance roles).
 */
export const awsTargetSchema = z
  .object({
    instanceArn: z.string().regex(INSTANCE_ARN, 'expected an IAM Identity Center instance ARN: arn:aws:sso:::instance/ssoins-…'),
    identityStoreId: z.string().regex(IDENTITY_STORE_ID, 'expected an identity store ID: d- and 10 hex digits'),
    /** The region the Identity Center instance lives in. */
    region: z.string().regex(REGION, 'expected an AWS region such as us-east-1'),
    /** sso-admin endpoint override (private endpoints, proxies, tests). */
    endpoint: endpointUrl.optional(),
    /** identitystore endpoint override; defaults to `endpoint` when only that is set. */
    identityStoreEndpoint: endpointUrl.optional(),
    accessKeyId: secret(z.string().regex(/^[A-Z0-9]{16,128}$/, 'expected an AWS access key ID')).optional(),
    secretAccessKey: secret(z.string().min(1)).optional(),
    sessionToken: secret(z.string().min(1)).optional(),
  })
  .refine((t) => (t.accessKeyId === undefined) === (t.secretAccessKey === undefined), {
    message: 'set accessKeyId and secretAccessKey together, or neither (the default credential chain)',
    path: ['secretAccessKey'],
  })
  .refine((t) => t.sessionToken === undefined || t.accessKeyId !== undefined, {
    message: 'sessionToken goes with accessKeyId and secretAccessKey',
    path: ['sessionToken'],
  });

/** Each resource's own keys: which permission set, in which account. */
export const awsAccessSchema = z.object({
  // A string: YAML reads an unquoted 012345678901 as the number 12345678901, losing the leading zero.
  accountId: z.custom<string>(
    (v) => typeof v === 'string' && ACCOUNT_ID.test(v),
    'expected a 12-digit AWS account ID in quotes ("012345678901")',
  ),
  permissionSetArn: z.string().regex(PERMISSION_SET_ARN, 'expected a permission set ARN: arn:aws:sso:::permissionSet/ssoins-…/ps-…'),
});

export type AwsTargetConfig = z.output<typeof awsTargetSchema>;
export type AwsAccess = z.output<typeof awsAccessSchema>;
