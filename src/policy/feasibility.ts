import type { Policy, Resource } from './policy';

/**
 * Policy checks about who can get what, made when the policy is loaded (README “Who gets the access”):
 * break-glass is for named requesters only, and no resource may be one that nobody allowed to
 * request it could ever get approved. The per-request case (the sole approver files a request) is
 * refused at filing time instead: see `requireApprovable` in operations/constraints.ts.
 */
export function feasibilityProblems(policy: Policy): string[] {
  const problems: string[] = [];
  policy.resources.forEach((resource, i) => {
    const at = `resources[${i}]`;
    const requesters = resource.requesters;
    if (resource.breakGlass && !(requesters && (requesters.users.length || requesters.usergroups.length))) {
      problems.push(
        `${at}.requesters: required when breakGlass is true: break-glass grants without approval, so it is for named people ` +
          '(requesters.users or requesters.usergroups), never the whole workspace',
      );
    }
    if (resource.autoApprove) return;
    // An extension is moot when the request itself can never be approved: one problem, not two.
    for (const [key, required] of [
      ['requiredApprovals', resource.requiredApprovals],
      ['extension.requiredApprovals', resource.extensionApprovals],
    ] as const) {
      if (required === 0) continue;
      const stuck = namedRequestersWhoCannotBeApproved(resource, required);
      if (stuck && stuck.length === requesters!.users.length) {
        return void problems.push(
          `${at}.${key}: needs ${required} approval${required === 1 ? '' : 's'} from people other than the requester, and no one in requesters ` +
            `(${stuck.join(', ')}) can ever get ${required === 1 ? 'one' : 'them'}: add approvers or requesters`,
        );
      }
    }
  });
  return problems;
}

/**
 * Things worth a warning at start-up, not a refusal: people who may request a resource but could
 * never get their own requests approved (they are refused when they file).
 */
export function feasibilityWarnings(policy: Policy): string[] {
  const warnings: string[] = [];
  policy.resources.forEach((resource, i) => {
    if (resource.autoApprove || resource.approvers.usergroups.length) return;
    const candidates = resource.requesters ? resource.requesters.users : resource.approvers.users;
    const stuck = candidates.filter((user) => approversOtherThan(resource, user) < resource.requiredApprovals);
    // When every named requester is stuck, feasibilityProblems refuses the policy instead.
    if (
      !stuck.length ||
      (resource.requesters && !resource.requesters.usergroups.length && stuck.length === resource.requesters.users.length)
    )
      return;
    warnings.push(
      `resources[${i}] (${resource.id}): ${stuck.join(', ')} may request it but ${stuck.length === 1 ? 'is' : 'are'} among too few approvers ` +
        `to get ${resource.requiredApprovals} approval${resource.requiredApprovals === 1 ? '' : 's'} from someone else; such requests are refused when filed`,
    );
  });
  return warnings;
}

function approversOtherThan(resource: Resource, user: string): number {
  return resource.approvers.users.filter((u) => u !== user).length;
}

/**
 * When who may request and who approves are all named users (no user groups, which are resolved
 * only at click time): the requesters who could never get `required` approvals from someone else.
 * Undefined when that cannot be known from the policy alone.
 */
function namedRequestersWhoCannotBeApproved(resource: Resource, required: number): string[] | undefined {
  const requesters = resource.requesters;
  if (!requesters || requesters.usergroups.length || !requesters.users.length || resource.approvers.usergroups.length) return undefined;
  return requesters.users.filter((user) => approversOtherThan(resource, user) < required);
}
