import { UserError } from '../domain/errors';
import { accountKeyOf, AccessRequest } from '../domain/request';
import { parseSshPublicKey } from '../domain/ssh-public-key';
import { identityOwners, resolveAccount } from '../policy/identities';
import type { Resource } from '../policy/policy';
import type { FilingCheck } from '../providers/provider';
import type { OperationContext } from './ports';
import { errorText } from './grant-access';

/** Who a request is for, resolved when it is filed and stored on it (README “Who gets the access”). */
export type RequesterIdentity = Pick<
  AccessRequest,
  'target' | 'account' | 'accountSource' | 'accountKey' | 'principal' | 'email' | 'sshPublicKey' | 'sshKeyFingerprint'
>;

type Registered = Pick<AccessRequest, 'sshPublicKey' | 'sshKeyFingerprint'>;

/**
 * What the provider needs the requester to have registered (its definition's `needs`), read now so
 * approvers see it and every later call uses the same. Refused, with how to register, when missing.
 */
async function registeredNeeds(
  ctx: OperationContext,
  needs: readonly string[],
  requesterId: string,
  targetName: string,
): Promise<Registered> {
  if (!needs.includes('sshPublicKey')) return {};
  const registered = await ctx.store.sshKeys.get(requesterId);
  const register =
    'Register it with `/jit-access ssh-key <your public key>` (the one line of `~/.ssh/id_ed25519.pub`; make one with `ssh-keygen -t ed25519`), then request again.';
  if (!registered)
    throw new UserError(
      `${targetName} gives access with a certificate for your SSH key, and you have not registered one, so nothing was filed. ${register}`,
    );
  // Checked again: the rules may have tightened since it was registered.
  const parsed = parseSshPublicKey(registered.publicKey);
  if (!parsed.ok)
    throw new UserError(`Your registered SSH key is no longer accepted (${parsed.problem}), so nothing was filed. ${register}`);
  return { sshPublicKey: parsed.key.line, sshKeyFingerprint: parsed.key.fingerprint };
}

/** `alice` in backticks when it is plain, else nothing: a refusal must not echo odd text into Slack. */
function shown(account: string): string {
  return /^[\w.@+-]{1,64}$/.test(account) ? ` \`${account}\`` : '';
}

/**
 * Resolves the account a request by `requesterId` is for, and lets the provider check it (it
 * exists, can log in, is not a group role) before anyone is asked to approve. Throws a UserError,
 * shown to the requester only, when there is none or it is refused: nothing is stored then.
 */
export async function identifyRequester(ctx: OperationContext, resource: Resource, requesterId: string): Promise<RequesterIdentity> {
  const provider = ctx.providers.forResource(resource.id);
  const target = ctx.policy.targets[provider.target] ?? { name: provider.target, type: provider.type };
  const log = ctx.logger.child({ user: requesterId, resource: resource.id });

  let email: string | undefined;
  let lookupFailed = false;
  try {
    email = await ctx.directory.emailOf(requesterId);
  } catch (err) {
    lookupFailed = true;
    log.warn({ err: errorText(err) }, 'could not read the requester’s e-mail from Slack');
  }
  const resolved = resolveAccount(ctx.policy, target, provider.account, requesterId, email);
  if (lookupFailed && (!resolved.ok || (provider.account.need === 'required' && !resolved.account))) {
    throw new UserError(
      `Could not read your profile from Slack to work out your account in ${target.name}, so nothing was filed. Please try again in a minute.`,
    );
  }
  if (!resolved.ok) throw new UserError(resolved.problem);
  const { account, source } = resolved;

  if (account !== undefined && source === 'email') {
    // Someone else's by the policy: a derived account never takes a mapped person's place.
    if (identityOwners(ctx.policy, target, account).some((owner) => owner !== requesterId)) {
      throw new UserError(
        `The account${shown(account)} derived from your Slack e-mail belongs to someone else in ${target.name} (the policy's \`identities\` map it to another person), so nothing was filed. Ask a policy admin to add you to \`identities\`.`,
      );
    }
  }

  const registered = await registeredNeeds(ctx, provider.needs, requesterId, target.name);

  let check: FilingCheck;
  try {
    check = await provider.validate(
      {
        resourceId: resource.id,
        user: {
          slackId: requesterId,
          ...(email ? { email } : {}),
          ...(account ? { account } : {}),
          ...(registered.sshPublicKey ? { sshPublicKey: registered.sshPublicKey } : {}),
        },
      },
      { deadline: new Date(Date.now() + ctx.settings.providerTimeoutMs) },
    );
  } catch (err) {
    log.warn({ err: errorText(err) }, 'could not check the requester’s account');
    throw new UserError(
      `Could not check your account in ${target.name} right now (${errorText(err)}), so nothing was filed. Please try again in a minute.`,
    );
  }
  if (!check.ok) throw new UserError(check.reason);
  const principal = check.principal;

  return {
    target: provider.target,
    ...(account !== undefined ? { account, accountSource: source, accountKey: accountKeyOf(provider.target, account) } : {}),
    ...(principal !== undefined ? { principal } : {}),
    ...(email ? { email } : {}),
    ...registered,
  };
}

/**
 * Files the request (`create`) unless its derived account is in use by another person's open
 * request or grant on the same target. Under a lock on that account, so two people whose e-mails
 * derive the same account cannot both find it free at the same moment.
 */
export async function fileUnlessAccountTaken<T>(
  ctx: OperationContext,
  requesterId: string,
  identity: RequesterIdentity,
  create: () => Promise<T>,
): Promise<T> {
  const { accountKey, account } = identity;
  if (identity.accountSource !== 'email' || accountKey === undefined || account === undefined) return create();
  return ctx.locks.withLock(`account:${accountKey}`, { leaseMs: 15_000, waitMs: 10_000 }, async () => {
    if (await ctx.store.accountInUse(accountKey, requesterId)) {
      throw new UserError(
        `The account${shown(account)} derived from your Slack e-mail is in use by another person's open request or grant in ${identity.target}, so nothing was filed. Ask a policy admin to add you to \`identities\`.`,
      );
    }
    return create();
  });
}
