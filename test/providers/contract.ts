import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pino from 'pino';
import { stringify } from 'yaml';
import type { Db } from 'mongodb';
import { UserError } from '../../src/domain/errors';
import type { AccessRequest } from '../../src/domain/request';
import { parsePolicy } from '../../src/policy/load';
import type { Policy } from '../../src/policy/policy';
import { providerDefinition } from '../../src/providers/catalog';
import type { GrantResult, GrantSubject, ProviderUser } from '../../src/providers/provider';
import type { ProviderError } from '../../src/providers/provider';
import { ProviderRegistry, ResourceProvider } from '../../src/providers/registry';
import { secretKeys } from '../../src/providers/secrets';
import { DEFAULT_SETTINGS, Notifier, OperationContext } from '../../src/operations/ports';
import { approveRequest } from '../../src/operations/approve-request';
import { requestAccess } from '../../src/operations/request-access';
import { revokeRequest } from '../../src/operations/revoke-access';
import { registerSshKey } from '../../src/operations/register-ssh-key';
import { LeaseLocks } from '../../src/store/lease-locks';
import { RequestStore } from '../../src/store/request-store';
import { testDatabase } from '../support/mongo';
import { rejection } from './bound';

/*
 * The provider contract (PRODUCT.md §6): every provider passes this suite against its real target,
 * or a local fake of the vendor's documented API. A provider's test folder calls
 * describeProviderContract() with a fixture that sets up the target and can look into it.
 *
 * Two layers, both through the parts production uses:
 * - the provider, as the registry binds it to a resource (target instance + the resource's own
 *   settings; error texts scrubbed): idempotence, deadlines, retryability, secrets, extend;
 * - the operations, with the real store on the test MongoDB: standing access, overlapping grants,
 *   non-retryable errors stopping retries, filing-time validation.
 *
 * What a provider declares it cannot do (extension: 'refuse', overlap: 'none', no permanent
 * failures) is tested as declared, not skipped. What it declares it `needs` from the requester (an
 * SSH key) is registered through the real operation, and a request without it must be refused.
 */

/** What the requester was given for one grant (a certificate, credentials), as the DM would carry it. */
export type Given = GrantResult['secretForRequester'];
export interface ContractFixture {
  /** The provider type, as listed in src/providers/catalog.ts. */
  type: string;
  /** A label for this variant (`grant mode`). */
  variant?: string;
  /** The setting names the definition must mark secret(). */
  secretKeys: string[];
  /**
   * Credentials the target uses that live outside the policy (a kubeconfig's token), which must
   * stay out of error texts as much as the policy's secrets.
   */
  credentials?(): string[];
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
  /** Settings of a target that answers. */
  target(): Record<string, unknown>;
  /** A resource's own settings on that target. */
  access(): Record<string, unknown>;
  /** Settings of a target at 127.0.0.1:`port`, where a server accepts connections and never answers. */
  hangingTarget(port: number): Record<string, unknown>;
  /** A fresh account that exists in the target (undefined for providers that need none). */
  newAccount(): Promise<string | undefined>;
  /** An account the target has never heard of, for providers that validate at filing. */
  unknownAccount?(): string;
  /**
   * What the requester has registered with jit-access for `account` (an SSH public key), for
   * providers whose definition `needs` it: put in every subject, and registered before filing.
   */
  registered?(account: string | undefined): Pick<ProviderUser, 'sshPublicKey'>;
  /**
   * Does the target give `subject` this access now? (For a grant that creates its own access, that
   * grant's.) `given` is what the requester was sent for it, when anything was (a certificate to log
   * in with): undefined for a request that was never granted.
   */
  hasAccess(subject: GrantSubject, details?: Record<string, string>, given?: Given): Promise<boolean>;
  /** The expiry the target itself holds for this grant, if it holds one (VALID UNTIL, a webhook's last expiresAt). */
  expiryOf?(subject: GrantSubject, details?: Record<string, string>): Promise<Date | undefined>;
  /** The resolution of that expiry, to which the target rounds up (MySQL events: whole seconds). Default 1 ms: exact. */
  expiryResolutionMs?: number;
  /** Gives `account` the access outside jit-access (required when the provider inspects standing access). */
  giveStanding?(account: string): Promise<void>;
  /**
   * Makes the next grants for `account` fail until the returned undo runs. `permanent`: the failure
   * must be reported as non-retryable; a provider with no permanent failures says why.
   */
  /**
   * What check() may still say about the good target, each with why (a test target's own
   * shortcuts, such as plain ldap://); anything else it reports fails the contract.
   */
  checkAllows?: Array<{ problem: RegExp; why: string }>;
  failGrants:
    | { permanent: true; arrange(account: string | undefined): Promise<() => Promise<void>> }
    | { permanent: false; why: string; arrange(account: string | undefined): Promise<() => Promise<void>> };
}

const SETTINGS = { ...DEFAULT_SETTINGS, grantAttempts: 3, retryBaseMs: 20, retryMaxMs: 100, providerTimeoutMs: 5000 };

/** `one` and `two` give the same access (auto-approved); `three` waits for an approval. */
function policyText(fixture: ContractFixture, target: Record<string, unknown>, account: string | undefined): string {
  const resource = (id: string, autoApprove: boolean) => ({
    id,
    name: id,
    approvers: { users: ['U0APPROVER'] },
    autoApprove,
    provider: { target: 'contract', ...fixture.access() },
  });
  return stringify({
    approvalChannel: 'C0CONTRACT',
    emailDomains: ['example.com'],
    ...(account ? { identities: { U0REQUESTER: account } } : {}),
    targets: { contract: { type: fixture.type, ...target } },
    resources: [resource('one', true), resource('two', true), resource('three', false)],
  });
}

/** A notifier that tells nobody, and keeps what the requester was sent (their DMs' secrets), in order. */
function recordingNotifier(given: Given[]): Notifier {
  return {
    requestChanged: async () => undefined,
    notifyRequester: async () => undefined,
    notifyChannel: async () => undefined,
    sendSecret: async (_userId, title, fields) => void given.push({ title, fields }),
    deleteCredentials: async () => undefined,
  };
}

const soon = (ms = 5000) => ({ deadline: new Date(Date.now() + ms) });

export function describeProviderContract(fixture: ContractFixture, describeFn: jest.Describe = describe): void {
  const definition = providerDefinition(fixture.type);

  function subjectFor(account: string | undefined, resourceId = 'one', expiresInMs = 3_600_000): GrantSubject {
    return {
      requestId: `r${randomBytes(4).toString('hex')}x`,
      resourceId,
      user: { slackId: 'U0REQUESTER', email: 'requester@example.com', ...(account ? { account } : {}), ...fixture.registered?.(account) },
      reason: 'provider contract',
      expiresAt: new Date(Date.now() + expiresInMs),
    };
  }

  describeFn(`provider contract: ${fixture.type}${fixture.variant ? ` (${fixture.variant})` : ''}`, () => {
    let db: Db;
    let closeDb: () => Promise<void>;
    const opened: ProviderRegistry[] = [];
    const errorsSeen: string[] = [];
    let policySecrets: string[] = [];
    /** What requesters were sent, in order (operations' DMs). */
    const given: Given[] = [];

    /** The registry's binding of resource `one` (or `two`), as production builds it. */
    function bind(
      account: string | undefined,
      target = fixture.target(),
      resourceId = 'one',
    ): { provider: ResourceProvider; policy: Policy } {
      const policy = parsePolicy(policyText(fixture, target, account), {});
      policySecrets = [...new Set([...policySecrets, ...policy.secrets])];
      const registry = new ProviderRegistry(policy);
      opened.push(registry);
      return { provider: registry.forResource(resourceId), policy };
    }

    /**
     * An operation context over the real store, for the lifecycle part of the contract; what the
     * provider needs from the requester is registered as people do (`register` false: left out).
     */
    async function operations(account: string | undefined, register = true): Promise<OperationContext> {
      const { policy } = bind(account);
      const store = new RequestStore(db);
      const ctx: OperationContext = {
        policy,
        store,
        providers: opened[opened.length - 1]!,
        locks: new LeaseLocks(db),
        notifier: recordingNotifier(given),
        directory: { usergroupMembers: async () => [], emailOf: async (id) => `${id.toLowerCase()}@example.com` },
        logger: pino({ level: 'silent' }),
        settings: SETTINGS,
        now: () => new Date(),
      };
      await store.sshKeys.keys.deleteMany({ _id: 'U0REQUESTER' });
      const sshPublicKey = fixture.registered?.(account).sshPublicKey;
      if (register && sshPublicKey) await registerSshKey(ctx, 'U0REQUESTER', sshPublicKey);
      return ctx;
    }

    /** What the requester was sent by the last grant, if it sent anything since `before` items. */
    const sentSince = (before: number): Given => (given.length > before ? given[given.length - 1] : undefined);

    const noted = <T extends Error>(err: T): T => {
      errorsSeen.push(err.message);
      return err;
    };

    beforeAll(async () => {
      expect(definition).toBeDefined();
      const t = await testDatabase(`contract_${fixture.type}`);
      db = t.db;
      closeDb = t.close;
      await new RequestStore(db).ensureIndexes();
      await fixture.setUp?.();
    });

    afterAll(async () => {
      await Promise.all(opened.map((r) => r.closeAll()));
      await fixture.tearDown?.();
      await closeDb?.();
    });

    it('marks its credentials secret()', () => {
      expect([...secretKeys(definition!.target), ...secretKeys(definition!.access)].sort()).toEqual([...fixture.secretKeys].sort());
    });

    it('grant twice, revoke twice: idempotent', async () => {
      const account = await fixture.newAccount();
      const { provider } = bind(account);
      const subject = subjectFor(account);
      const first = await provider.grant(subject, soon());
      const again = await provider.grant(subject, soon());
      // A retried grant finds what its first attempt made (the same details), and access is there.
      expect(again.details).toEqual(first.details);
      expect(await fixture.hasAccess(subject, again.details, again.secretForRequester)).toBe(true);
      // What the first attempt handed out is the same grant's: it works too, and ends with it.
      if (first.secretForRequester) expect(await fixture.hasAccess(subject, first.details, first.secretForRequester)).toBe(true);
      await provider.revoke(subject, { ...soon(), details: again.details });
      await provider.revoke(subject, { ...soon(), details: again.details });
      expect(await fixture.hasAccess(subject, again.details, again.secretForRequester)).toBe(false);
      if (first.secretForRequester) expect(await fixture.hasAccess(subject, first.details, first.secretForRequester)).toBe(false);
    });

    it('revoking what was never granted succeeds and changes nothing', async () => {
      const account = await fixture.newAccount();
      const { provider } = bind(account);
      const subject = subjectFor(account);
      await expect(provider.revoke(subject, soon())).resolves.toBeUndefined();
      expect(await fixture.hasAccess(subject)).toBe(false);
    });

    it('honours the deadline against a target that never answers, with a retryable error', async () => {
      const sockets: net.Socket[] = [];
      const hanging = net.createServer((s) => void sockets.push(s));
      await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
      const account = await fixture.newAccount();
      const { provider, policy } = bind(account, fixture.hangingTarget((hanging.address() as net.AddressInfo).port));
      // The provider's own instance too, without the registry's scrubbing: its errors must be clean by themselves.
      const raw = definition!.create(policy.targets.contract!.settings, { targetName: 'contract' });
      const access = policy.resources[0]!.provider.access;
      try {
        const calls = [
          (s: GrantSubject) => provider.grant(s, soon(600)),
          (s: GrantSubject) => provider.revoke(s, soon(600)),
          (s: GrantSubject) => raw.grant(access, s, soon(600)),
        ];
        for (const call of calls) {
          const started = Date.now();
          const err = noted(await rejection(call(subjectFor(account))));
          expect(Date.now() - started).toBeLessThan(600 + 700);
          expect(err.retryable).toBe(true);
        }
      } finally {
        // Hang up first, so connections still being opened fail now rather than at their own timeout.
        sockets.forEach((s) => s.destroy());
        await new Promise<void>((resolve) => hanging.close(() => resolve()));
        await raw.close?.();
      }
    });

    it('check(): no problem on a good target; on one that never answers or refuses connections, a problem within the deadline, no secret in it', async () => {
      const account = await fixture.newAccount();
      const { provider } = bind(account);
      expect(provider.checks).toBe(true);
      const allowed = fixture.checkAllows ?? [];
      const good = await provider.check(soon());
      expect(good.filter((problem) => !allowed.some((a) => a.problem.test(problem)))).toEqual([]);

      const sockets: net.Socket[] = [];
      const hanging = net.createServer((s) => void sockets.push(s));
      await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
      try {
        const { provider: stuck } = bind(account, fixture.hangingTarget((hanging.address() as net.AddressInfo).port));
        const started = Date.now();
        const bad = await stuck.check(soon(800));
        expect(Date.now() - started).toBeLessThan(800 + 700);
        expect(bad.filter((problem) => !allowed.some((a) => a.problem.test(problem))).length).toBeGreaterThan(0);
        for (const problem of bad) noted(new Error(problem));
      } finally {
        sockets.forEach((s) => s.destroy());
        await new Promise<void>((resolve) => hanging.close(() => resolve()));
      }

      // Where nothing listens at all (the port of a server just closed): a problem too, within the deadline.
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const { provider: refused } = bind(account, fixture.hangingTarget(port));
      const started = Date.now();
      const none = await refused.check(soon(1500));
      expect(Date.now() - started).toBeLessThan(1500 + 700);
      expect(none.filter((problem) => !allowed.some((a) => a.problem.test(problem))).length).toBeGreaterThan(0);
      for (const problem of none) noted(new Error(problem));
    });

    /** Files a request for `three`, breaks the target, approves: the grant runs against the broken target. */
    async function grantAgainstBrokenTarget(reason: string): Promise<{ failed: AccessRequest; attempts: number; direct: ProviderError }> {
      const account = await fixture.newAccount();
      const ctx = await operations(account);
      const filed = await requestAccess(ctx, 'U0REQUESTER', { resourceId: 'three', duration: '1h', reason });
      expect(filed.state).toBe('pending');
      const undo = await fixture.failGrants.arrange(account);
      try {
        const direct = noted(await rejection(ctx.providers.forResource('three').grant(subjectFor(account, 'three'), soon())));
        const { request: failed } = await approveRequest(ctx, filed._id, 'U0APPROVER');
        noted(new Error(failed.lastError ?? ''));
        const attempts = (await ctx.store.audit.forRequest(failed._id)).filter((e) => e.action === 'grant_attempt_failed').length;
        return { failed, attempts, direct };
      } finally {
        await undo();
      }
    }

    if (fixture.failGrants.permanent) {
      it('reports a failure retrying cannot fix as non-retryable, and the grant stops after one attempt', async () => {
        const { failed, attempts, direct } = await grantAgainstBrokenTarget('permanent failure');
        expect(direct.retryable).toBe(false);
        expect(failed.state).toBe('failed');
        expect(attempts).toBe(1);
      });
    } else {
      it(`retries every failure (declared: ${fixture.failGrants.why})`, async () => {
        const { failed, attempts, direct } = await grantAgainstBrokenTarget('every failure retried');
        expect(direct.retryable).toBe(true);
        expect(failed.state).toBe('failed');
        expect(attempts).toBe(SETTINGS.grantAttempts);
      });
    }

    if (definition?.extension === 'native') {
      it('extends an active grant (extension: native)', async () => {
        const account = await fixture.newAccount();
        const { provider } = bind(account);
        const subject = subjectFor(account);
        const { details } = await provider.grant(subject, soon());
        const later = { ...subject, expiresAt: new Date(subject.expiresAt.getTime() + 30 * 60_000) };
        await provider.extend(later, { ...soon(), details, extensionId: 'ext00001' });
        expect(await fixture.hasAccess(later, details)).toBe(true);
        const held = await fixture.expiryOf?.(later, details);
        const resolution = fixture.expiryResolutionMs ?? 1;
        if (held !== undefined)
          expect(held.toISOString()).toBe(new Date(Math.ceil(later.expiresAt.getTime() / resolution) * resolution).toISOString());
        await provider.revoke(later, { ...soon(), details });
      });
    } else {
      it(`declares what an extension does instead (extension: ${definition?.extension})`, async () => {
        const { provider } = bind(await fixture.newAccount());
        expect(['regrant', 'refuse']).toContain(provider.extension);
        expect((await rejection(provider.extend(subjectFor(undefined), { ...soon(), extensionId: 'x' }))).retryable).toBe(false);
      });
    }

    it('keeps standing access, or declares that it cannot tell', async () => {
      const account = await fixture.newAccount();
      const ctx = await operations(account);
      const provider = ctx.providers.forResource('one');
      if (!provider.inspectsStanding) {
        // Declared: every grant is its own (ephemeral logins), or the target keeps its own books (webhooks).
        expect(
          definition!.overlap === 'none' || provider.accessKey(account) === undefined || definition!.overlap.standing === 'not-inspectable',
        ).toBe(true);
        return;
      }
      expect(fixture.giveStanding).toBeDefined();
      await fixture.giveStanding!(account!);
      expect(await provider.holds(subjectFor(account), soon())).toBe(true);
      const granted = await requestAccess(ctx, 'U0REQUESTER', { resourceId: 'one', duration: '1h', reason: 'standing' });
      expect(granted).toMatchObject({ state: 'active', standing: true });
      await revokeRequest(ctx, granted._id, 'U0REQUESTER');
      expect(await ctx.store.get(granted._id)).toMatchObject({ state: 'revoked' });
      expect(await fixture.hasAccess(subjectFor(account))).toBe(true);
    });

    it('overlapping grants: two resources giving one account the same access; it ends with the last of them', async () => {
      const account = await fixture.newAccount();
      const ctx = await operations(account);
      let before = given.length;
      const one = await requestAccess(ctx, 'U0REQUESTER', { resourceId: 'one', duration: '1h', reason: 'overlap one' });
      const givenOne = sentSince(before);
      before = given.length;
      const two = await requestAccess(ctx, 'U0REQUESTER', { resourceId: 'two', duration: '1h', reason: 'overlap two' });
      const givenTwo = sentSince(before);
      // Neither took the other's grant for standing access.
      expect([one.state, two.state, one.standing ?? false, two.standing ?? false]).toEqual(['active', 'active', false, false]);
      const subjectOf = (r: AccessRequest) => ({ ...subjectFor(account, r.resourceId), requestId: r._id, expiresAt: r.expiresAt! });
      expect(await fixture.hasAccess(subjectOf(one), one.providerDetails, givenOne)).toBe(true);
      await revokeRequest(ctx, one._id, 'U0REQUESTER');
      expect(await fixture.hasAccess(subjectOf(two), two.providerDetails, givenTwo)).toBe(true);
      await revokeRequest(ctx, two._id, 'U0REQUESTER');
      expect(await fixture.hasAccess(subjectOf(two), two.providerDetails, givenTwo)).toBe(false);
      expect(await fixture.hasAccess(subjectOf(one), one.providerDetails, givenOne)).toBe(false);
    });

    if (definition?.needs?.length) {
      it(`refuses a request, when it is filed, from someone who has not registered what it needs (${definition.needs.join(', ')})`, async () => {
        const ctx = await operations(await fixture.newAccount(), false);
        const refused = await requestAccess(ctx, 'U0REQUESTER', { resourceId: 'one', duration: '1h', reason: 'nothing registered' }).catch(
          (e: unknown) => e,
        );
        expect(refused).toBeInstanceOf(UserError);
        expect((refused as UserError).message).toMatch(/\/jit-access ssh-key/);
        expect(await db.collection('requests').countDocuments({ reason: 'nothing registered' })).toBe(0);
      });
    }

    it('checks the account when the request is filed, where the provider can', async () => {
      const ctx = await operations(fixture.unknownAccount?.());
      const provider = ctx.providers.forResource('one');
      if (!fixture.unknownAccount || provider.account.need === 'optional') {
        await expect(
          provider.validate({ resourceId: 'one', user: { slackId: 'U0REQUESTER', ...fixture.registered?.(undefined) } }, soon()),
        ).resolves.toMatchObject({ ok: true });
        return;
      }
      const refused = await requestAccess(ctx, 'U0REQUESTER', { resourceId: 'one', duration: '1h', reason: 'unknown account' }).catch(
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(UserError);
      expect(await db.collection('requests').countDocuments({ reason: 'unknown account' })).toBe(0);
    });

    it('never puts a secret in an error text', () => {
      const secrets = [...policySecrets, ...(fixture.credentials?.() ?? [])];
      expect(errorsSeen.length).toBeGreaterThan(0);
      expect(secrets.length).toBeGreaterThan(0);
      for (const text of errorsSeen) for (const secret of secrets) expect(text).not.toContain(secret);
    });
  });
}
