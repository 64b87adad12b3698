/**
 * One JSON test per Block Kit builder: what each builder sends Slack for fixed inputs, compared
 * with the JSON in test/slack/ui/json/. A change to a message's look shows up here as a diff of
 * that JSON; `WRITE_UI_JSON=1 npx jest test/slack/ui/builders.test.ts` rewrites the files (review
 * the diff before committing it).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AccessRequest } from '../../../src/domain/request';
import { parsePolicy } from '../../../src/policy/load';
import { findResource } from '../../../src/policy/policy';
import { buildApprovalMessage, buildPlainApprovalMessage } from '../../../src/slack/ui/approval-message';
import { buildHomeView } from '../../../src/slack/ui/home';
import { expiringDmBlocks, requesterNoticeText } from '../../../src/slack/ui/messages';
import { buildDenyModal, buildExtendModal, buildRequestModal } from '../../../src/slack/ui/modals';

const POLICY = parsePolicy(
  `
approvalChannel: C0APPROVALS
defaults: { minDuration: 5m, maxDuration: 4h }
resources:
  - id: deploy-hook
    name: Deploy pipeline admin
    approvers: { users: [U0BOB, U0CAROL], usergroups: [S0SRE] }
    defaultDuration: 1h
    provider: { type: webhook, url: "http://127.0.0.1:9/hook", secret: "builder-test-secret-0123456789" }
  - id: two-keys
    name: Two-person rule
    approvers: { users: [U0BOB, U0CAROL, U0DAVE] }
    requiredApprovals: 2
    provider: { type: webhook, url: "http://127.0.0.1:9/hook", secret: "builder-test-secret-0123456789" }
`,
  {},
);

const T0 = new Date('2026-12-01T12:00:00.000Z');
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);

function request(over: Partial<AccessRequest>): AccessRequest {
  return {
    _id: 'r7k2m9qxa',
    requesterId: 'U0ALICE',
    resourceId: 'deploy-hook',
    durationMs: 3_600_000,
    reason: 'INC-42 <slow> queries & *locks*',
    ticket: 'INC-42',
    state: 'pending',
    approvals: [],
    requiredApprovals: 1,
    createdAt: T0,
    updatedAt: T0,
    pendingUntil: at(30),
    approvalChannel: 'C0APPROVALS',
    version: 1,
    ...over,
  };
}

const pending = request({});
const active = request({
  _id: 'r8m3n4pqb',
  state: 'active',
  approvals: ['U0BOB'],
  decidedBy: 'U0BOB',
  grantedAt: at(1),
  expiresAt: at(61),
  version: 4,
});
const twoKeys = request({ _id: 'r9p5q6rsc', resourceId: 'two-keys', requiredApprovals: 2, approvals: ['U0BOB'], version: 2 });
const denied = request({
  _id: 'rab7c8dtd',
  state: 'denied',
  decidedBy: 'U0CAROL',
  denyReason: 'not during the freeze',
  endedAt: at(5),
  version: 2,
});

const CASES: Record<string, () => unknown> = {
  'approval-message-pending': () => buildApprovalMessage(pending, findResource(POLICY, pending.resourceId)),
  'approval-message-second-approval': () => buildApprovalMessage(twoKeys, findResource(POLICY, twoKeys.resourceId)),
  'approval-message-active': () => buildApprovalMessage(active, findResource(POLICY, active.resourceId)),
  'approval-message-denied': () => buildApprovalMessage(denied, findResource(POLICY, denied.resourceId)),
  'approval-message-plain': () => buildPlainApprovalMessage(active),
  'home-view': () =>
    buildHomeView({
      userId: 'U0ALICE',
      active: { items: [active], total: 1 },
      pending: { items: [pending], total: 1 },
      toDecide: { items: [twoKeys], total: 1 },
      ended: [denied],
    }),
  'home-view-empty': () =>
    buildHomeView({
      userId: 'U0NEW',
      active: { items: [], total: 0 },
      pending: { items: [], total: 0 },
      toDecide: { items: [], total: 0 },
      ended: [],
    }),
  'request-modal': () => buildRequestModal(POLICY.resources),
  'request-modal-resource-chosen': () => buildRequestModal(POLICY.resources, findResource(POLICY, 'deploy-hook')),
  'deny-modal': () => buildDenyModal(pending),
  'extend-modal': () => buildExtendModal(active),
  'expiring-dm': () => expiringDmBlocks(active, requesterNoticeText(active, 'expiring')),
};

const DIR = path.join(__dirname, 'json');

describe('Block Kit builders, as JSON', () => {
  it.each(Object.keys(CASES))('%s', (name) => {
    const built = JSON.parse(JSON.stringify(CASES[name]?.()));
    const file = path.join(DIR, `${name}.json`);
    if (process.env.WRITE_UI_JSON === '1') writeFileSync(file, `${JSON.stringify(built, null, 2)}\n`);
    if (!existsSync(file)) throw new Error(`${file} is missing: run with WRITE_UI_JSON=1 and review it`);
    expect(built).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  });
});
