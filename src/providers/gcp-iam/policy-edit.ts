import type { protos } from '@google-cloud/resource-manager';

/*
 * What jit-access changes in an IAM policy, as pure functions of the policy read (version 3, with
 * its etag) and the time. Every grant is its own conditional binding
 *
 *   { role, members: [user:<e-mail>], condition: { title: "jit-access <requestId>",
 *     description: "Granted by jit-access (target <name>) for request <id> on <resource>",
 *     expression: 'request.time < timestamp("<expiry>")' } }
 *
 * so that Google ends the access at the expiry even if the bot is down, two grants never share (and
 * so never remove) one binding, and jit-access recognises its own bindings and never touches another.
 */

export type IamPolicy = protos.google.iam.v1.IPolicy;
export type IamBinding = protos.google.iam.v1.IBinding;

const TITLE_PREFIX = 'jit-access ';
const TITLE = /^jit-access ([A-Za-z0-9_-]{1,64})$/;
const DESCRIPTION_TARGET = /^Granted by jit-access \(target ([a-z0-9-]{1,40})\)/;
const EXPRESSION = /^request\.time < timestamp\("([0-9T:.Z+-]{10,40})"\)$/;

export interface GrantBinding {
  requestId: string;
  target: string;
  resourceId: string;
  role: string;
  member: string;
  expiresAt: Date;
}

export function jitBinding(grant: GrantBinding): IamBinding {
  return {
    role: grant.role,
    members: [grant.member],
    condition: {
      title: `${TITLE_PREFIX}${grant.requestId}`,
      description: `Granted by jit-access (target ${grant.target}) for request ${grant.requestId} on ${grant.resourceId}`.slice(0, 256),
      expression: expiryExpression(grant.expiresAt),
    },
  };
}

export function expiryExpression(expiresAt: Date): string {
  return `request.time < timestamp("${expiresAt.toISOString()}")`;
}

/** What jit-access wrote into a binding of its own; undefined for every other binding. */
export function ownBinding(binding: IamBinding): { requestId: string; target?: string; expiresAt?: Date } | undefined {
  const title = TITLE.exec(binding.condition?.title ?? '');
  if (!title) return undefined;
  const target = DESCRIPTION_TARGET.exec(binding.condition?.description ?? '')?.[1];
  const at = EXPRESSION.exec(binding.condition?.expression ?? '')?.[1];
  const expiresAt = at === undefined ? undefined : new Date(at);
  return { requestId: title[1]!, ...(target ? { target } : {}), ...(expiresAt && !Number.isNaN(expiresAt.getTime()) ? { expiresAt } : {}) };
}

const sameMember = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const hasMember = (binding: IamBinding, member: string) => (binding.members ?? []).some((m) => sameMember(m, member));
const isConditional = (binding: IamBinding) => Boolean(binding.condition?.expression);

/** Standing access: an unconditional binding of `role` that names `member` (not through a group). */
export function holdsUnconditionally(policy: IamPolicy, role: string, member: string): boolean {
  return (policy.bindings ?? []).some((b) => b.role === role && !isConditional(b) && hasMember(b, member));
}

export interface PolicyEdit {
  /** Take `member` out of these bindings of jit-access's (a binding left with no member is dropped). */
  release(binding: IamBinding): boolean;
  add?: IamBinding;
}

/**
 * The policy's bindings after an edit, plus the sweep every write does: jit-access's own bindings
 * whose expiry has passed are dropped (Google no longer honours them, but they still count against
 * the policy's size limits: jit-groups #150). `changed` is false when there is nothing to write.
 */
export function editBindings(policy: IamPolicy, member: string, edit: PolicyEdit, now: Date): { bindings: IamBinding[]; changed: boolean } {
  let changed = false;
  const bindings: IamBinding[] = [];
  for (const binding of policy.bindings ?? []) {
    const own = ownBinding(binding);
    if (own?.expiresAt && own.expiresAt.getTime() <= now.getTime()) {
      changed = true;
      continue;
    }
    if (own && hasMember(binding, member) && edit.release(binding)) {
      const others = (binding.members ?? []).filter((m) => !sameMember(m, member));
      changed = true;
      if (others.length) bindings.push({ ...binding, members: others });
      continue;
    }
    bindings.push(binding);
  }
  if (edit.add) {
    const existing = bindings.find((b) => sameBinding(b, edit.add!));
    if (!existing) {
      bindings.push(edit.add);
      changed = true;
    }
  }
  return { bindings, changed };
}

function sameBinding(a: IamBinding, b: IamBinding): boolean {
  return (
    a.role === b.role &&
    (a.condition?.expression ?? '') === (b.condition?.expression ?? '') &&
    (a.condition?.title ?? '') === (b.condition?.title ?? '') &&
    (b.members ?? []).every((m) => hasMember(a, m))
  );
}

/** How many members the policy names, counted as IAM counts against its limit (each occurrence). */
export function memberCount(bindings: IamBinding[]): number {
  return bindings.reduce((n, b) => n + (b.members?.length ?? 0), 0);
}
