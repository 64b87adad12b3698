import { policyProblems } from '../policy/problems';

/** A policy with one resource `res` whose `provider:` is `provider` (inline YAML); `head` goes before `resources:`. */
export function oneResourcePolicy(provider: string, head = ''): string {
  return `
approvalChannel: C0APPROVALS
emailDomains: [example.com]
${head}
resources:
  - id: res
    name: One resource
    approvers: { users: [U0BOB] }
    provider: ${provider}
`;
}

/** The problems `oneResourcePolicy(provider, head)` is refused with, one per line. */
export const problemsWith = (provider: string, head = ''): string => policyProblems(oneResourcePolicy(provider, head), {}).join('\n');
