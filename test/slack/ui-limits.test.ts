/**
 * Property-style: every builder in src/slack/ui/, fed worst-case input (the longest text the
 * operations accept, made of characters that grow when escaped, mentions, emoji, mrkdwn markers;
 * the most approvers, resources, requests and events), stays within Slack's documented Block Kit
 * limits, as the fake Slack checks them (test/e2e/support/block-kit-rules.ts, written from Slack's
 * reference independently of the app's constants). Many seeded random cases, plus the extremes.
 */
import type { KnownBlock, View } from '@slack/types';
import type { AccessRequest } from '../../src/domain/request';
import { REQUEST_STATES, type RequestState } from '../../src/domain/lifecycle';
import type { Resource } from '../../src/policy/policy';
import type { AuditEvent } from '../../src/store/audit-log';
import { buildApprovalMessage, buildPlainApprovalMessage } from '../../src/slack/ui/approval-message';
import { buildHomeView } from '../../src/slack/ui/home';
import { buildDenyModal, buildExtendModal, buildRequestModal } from '../../src/slack/ui/modals';
import * as messages from '../../src/slack/ui/messages';
import { auditTimelineText } from '../../src/slack/ui/audit-timeline';
import { fit } from '../../src/slack/ui/block-kit';
import { escapeText, slashCommandText, userText, plainFromMrkdwn } from '../../src/slack/ui/escape';
import { messageProblems, textProblems, viewProblems } from '../e2e/support/block-kit-rules';
import { MAX_REASON_LENGTH, MAX_TICKET_LENGTH } from '../../src/operations/request-access';
import { MAX_DENY_REASON_LENGTH } from '../../src/operations/deny-request';
import type { ChannelNotice, RequesterNotice } from '../../src/operations/ports';

/** A small seeded PRNG (mulberry32): the same cases on every run, many of them. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['<&>', '<!channel>', '<@U0BOB>', '&amp;', '&lt;', '😀', '*', '_', '`', '~', '\n', '>', 'a', ' ', '<https://evil|click>'];
let random = prng(13);
const pick = <T>(xs: readonly T[]): T => {
  const picked = xs[Math.floor(random() * xs.length)];
  if (picked === undefined) throw new Error('nothing to pick from');
  return picked;
};
/** Exactly `n` code units of hostile text (or fewer at random, when `exact` is false). */
function nasty(n: number, exact = true): string {
  const target = exact ? n : Math.floor(random() * (n + 1));
  let s = '';
  while (s.length < target) s += pick(PIECES);
  s = s.slice(0, target);
  // Never end on half a surrogate pair: the operations measure what people typed.
  return /[\ud800-\udbff]$/.test(s) ? `${s.slice(0, -1)}x` : s;
}
const users = (n: number) => Array.from({ length: n }, (_, i) => `U0APPROVER${i}`);
const groups = (n: number) => Array.from({ length: n }, (_, i) => `S0GROUP${i}`);
/** Every request state, so a state added to the lifecycle is fed to the builders too. */
const STATES: readonly RequestState[] = REQUEST_STATES;

function resource(i = 0, exact = true): Resource {
  return {
    id: `r${i}-${'x'.repeat(36)}`.slice(0, 40),
    name: nasty(100, exact),
    description: nasty(500, exact),
    approvers: { users: users(exact ? 60 : Math.floor(random() * 60)), usergroups: groups(exact ? 30 : Math.floor(random() * 30)) },
    requesters: { users: users(3), usergroups: [] },
    approvalChannel: 'C0APPROVALS',
    autoApprove: false,
    breakGlass: true,
    minDuration: 1000,
    maxDuration: 366 * 86_400_000,
    defaultDuration: 3_723_000,
    pendingTimeout: 1_800_000,
    remindAfter: 600_000,
    maxTotalDuration: 366 * 86_400_000,
    breakGlassMaxDuration: 3_600_000,
    requiredApprovals: 20,
    extensionApprovals: 20,
    rules: [],
    provider: { target: 'hooks', type: 'webhook', access: {} },
  };
}

let serial = 0;
function request(state: RequestState, exact = true, over: Partial<AccessRequest> = {}): AccessRequest {
  const now = new Date(1_800_000_000_000);
  return {
    _id: `r${String(serial++ % 1e8).padStart(8, '0')}`,
    requesterId: 'U0ALICE',
    resourceId: resource().id,
    durationMs: 366 * 86_400_000 - 1000,
    reason: nasty(MAX_REASON_LENGTH, exact),
    ticket: nasty(MAX_TICKET_LENGTH, exact),
    state,
    approvals: users(20),
    requiredApprovals: 20,
    breakGlass: random() < 0.5 || exact,
    ...(random() < 0.5 && !exact ? {} : { breakGlassAck: undefined }),
    createdAt: now,
    updatedAt: now,
    pendingUntil: now,
    approvalChannel: 'C0APPROVALS',
    decidedBy: 'U0BOB',
    denyReason: nasty(MAX_DENY_REASON_LENGTH, exact),
    grantedAt: now,
    expiresAt: now,
    endedAt: now,
    endedBy: 'U0ADMIN',
    attempts: 1_000_000,
    lastError: nasty(500, exact),
    account: nasty(62, exact),
    target: 'a-target-name-that-is-as-long-as-allowed',
    extension: {
      id: 'deadbeef',
      durationMs: 86_400_000,
      reason: nasty(MAX_REASON_LENGTH, exact),
      requestedAt: now,
      approvals: users(20),
      requiredApprovals: 20,
      rule: nasty(80, exact),
    },
    extendedMs: 86_400_000,
    // A policy rule's name (at most 80 characters) on the approval message.
    approvalRule: nasty(80, exact),
    autoApproved: random() < 0.5 || exact,
    version: 3,
    ...over,
  };
}

function expectMessage(message: { text?: string; blocks?: KnownBlock[] }, what: string): void {
  const problems = [...textProblems(message.text), ...messageProblems(message.blocks)];
  if (problems.length) throw new Error(`${what}: Slack would refuse it:\n${problems.slice(0, 5).join('\n')}`);
}
function expectView(view: View, what: string): void {
  const problems = viewProblems(view);
  if (problems.length) throw new Error(`${what}: Slack would refuse it:\n${problems.slice(0, 5).join('\n')}`);
}
function expectText(text: string, what: string): void {
  expectMessage({ text }, what);
  expect(text.length).toBeGreaterThan(0);
}

/** Nothing users typed is live mrkdwn. */
function expectEscaped(rendered: string): void {
  expect(rendered).not.toContain('<!channel>');
  expect(rendered).not.toContain('<https://evil|click>');
}

const CASES = 60;

describe('every Block Kit builder stays within Slack’s limits whatever users typed', () => {
  beforeEach(() => {
    random = prng(13);
  });

  it('the approval message, in every state, with the longest input and at random', () => {
    for (let i = 0; i < CASES; i++) {
      const exact = i === 0;
      for (const state of STATES) {
        for (const withResource of [true, false]) {
          const r = request(state, exact, random() < 0.3 ? { breakGlassAck: { by: 'U0CAROL', at: new Date() } } : {});
          const message = buildApprovalMessage(r, withResource ? resource(0, exact) : undefined);
          expectMessage(message, `approval message (${state})`);
          expectEscaped(JSON.stringify(message.blocks));
          expectMessage(buildPlainApprovalMessage(r), `plain approval message (${state})`);
        }
      }
    }
  });

  it('the reason is cut after escaping, with an ellipsis: `<&>` × 333 no longer makes a 4,339-character section', () => {
    const r = request('denied', true, { reason: '<&>'.repeat(333), denyReason: '<&>'.repeat(333) });
    const { blocks } = buildApprovalMessage(r, resource());
    expectMessage({ blocks }, 'approval message');
    const reason = JSON.stringify(blocks.find((b) => b.type === 'section' && JSON.stringify(b).includes('*Reason*')));
    expect(reason).toContain('&lt;&amp;&gt;');
    expect(reason).toContain('…');
    // Never cut inside an entity.
    expect(reason).not.toMatch(/&(a|am|l|g)…/);
    // Denied: no buttons left.
    expect(JSON.stringify(blocks)).not.toContain('approve_request');
  });

  it('the App Home, with more of everything than it can show, stays within 100 blocks', () => {
    for (let i = 0; i < CASES / 3; i++) {
      const exact = i === 0;
      const many = (n: number, state: RequestState) =>
        Array.from({ length: n }, () =>
          request(state, exact, { extension: random() < 0.5 ? request('active', exact).extension : undefined }),
        );
      const n = exact ? 60 : Math.floor(random() * 40);
      const view = buildHomeView({
        userId: 'U0BOB',
        active: { items: many(n, pick(['active', 'revoking', 'granting'] as const)), total: n + 7 },
        pending: { items: many(n, 'pending'), total: n },
        toDecide: { items: [...many(n, 'pending'), ...many(n, 'active'), ...many(n, 'expired')], total: 3 * n + 154 },
        ended: many(exact ? 50 : Math.floor(random() * 10), 'expired'),
      });
      expectView(view, 'App Home');
      expect(view.blocks.length).toBeLessThanOrEqual(100);
      if (exact) {
        const text = JSON.stringify(view.blocks);
        expect(text).toMatch(/more waiting for you — see `\/jit-access list`/);
        expect(text).toContain(`Waiting for your approval (${3 * n + 154})`);
      }
    }
  });

  it('the request, deny and extend modals', () => {
    for (let i = 0; i < CASES; i++) {
      const exact = i === 0;
      const count = exact ? 150 : Math.floor(random() * 130);
      const resources = Array.from({ length: count }, (_, k) => resource(k, exact));
      expectView(buildRequestModal(resources), `request modal (${count} resources)`);
      if (count) expectView(buildRequestModal(resources, pick(resources)), 'request modal, a resource chosen');
      expectView(buildRequestModal(resources.slice(0, 1)), 'request modal, one resource');
      expectView(buildDenyModal(request('pending', exact)), 'deny modal');
      expectView(buildExtendModal(request('active', exact)), 'extend modal');
    }
  });

  it('DMs, thread notices and ephemeral answers', () => {
    const requesterNotices: RequesterNotice[] = [
      'approved',
      'denied',
      'failed',
      'expiring',
      'ended',
      'timed_out',
      'filed',
      'extended',
      'extension_denied',
    ];
    const channelNotices: ChannelNotice[] = ['ended', 'grant_failed', 'revoke_failing', 'reminder', 'extension_requested'];
    for (let i = 0; i < CASES / 3; i++) {
      const exact = i === 0;
      for (const state of STATES) {
        const r = request(state, exact);
        const details = {
          error: nasty(500, exact),
          cleanup: nasty(520, exact),
          attempts: '12',
          reason: nasty(MAX_REASON_LENGTH, exact),
          durationMs: '60000',
          users: users(60).join(','),
          usergroups: groups(30).join(','),
          by: 'U0BOB',
        };
        for (const notice of requesterNotices) {
          const text = messages.requesterNoticeText(r, notice, details);
          expectText(text, `DM ${notice}`);
          expectEscaped(text);
          if (notice === 'expiring') expectMessage({ text, blocks: messages.expiringDmBlocks(r, text) }, 'expiring DM');
        }
        for (const notice of channelNotices) expectText(messages.channelNoticeText(r, notice, details), `thread notice ${notice}`);
        expectText(messages.filedText(r), 'filed');
        expectText(messages.extensionFiledText(r), 'extension filed');
        expectText(messages.approvalUnpostedText(r, 'C0APPROVALS', nasty(200, exact)), 'approval unposted');
      }
      const count = exact ? 500 : Math.floor(random() * 200);
      const all = Array.from({ length: count }, () => request(pick(STATES), exact));
      expectText(messages.listText(all, { items: all.slice(0, 20), total: count + 1000 }), 'list');
      expectText(messages.resourcesText(Array.from({ length: count }, (_, k) => resource(k, exact))), 'resources');
      expectText(messages.coalescedEndedText(all.slice(0, 100)), 'coalesced ended');
      expectText(messages.secretText(nasty(100, exact), [{ label: nasty(50, exact), value: nasty(200, exact) }]), 'secret');
      const events: AuditEvent[] = Array.from({ length: exact ? 3000 : count }, (_, k) => ({
        _id: `e${k}`,
        at: new Date(),
        requestId: 'rabcdefgh',
        resourceId: 'x',
        requesterId: 'U0ALICE',
        version: k,
        actor: 'U0BOB',
        action: 'approvers_reminded',
        from: 'pending',
        to: 'pending',
        details: { reason: nasty(1000, exact) },
      }));
      const of = request('pending', exact);
      const timeline = auditTimelineText({ request: of, events });
      expectText(timeline, 'audit timeline');
      if (exact) expect(timeline).toContain(`later events: \`npm run audit -- --request ${of._id}\``);
    }
    expectText(messages.HELP_TEXT, 'help');
  });
});

describe('escaping and cutting', () => {
  it('slash command text arrives HTML-escaped from Slack; decoded once and escaped once, it is never shown doubly escaped', () => {
    const typed = 'a <b> & c &lt;';
    const asSlackSends = escapeText(typed);
    expect(slashCommandText(asSlackSends)).toBe(typed);
    expect(userText(slashCommandText(asSlackSends), 100)).toBe('a &lt;b&gt; &amp; c &amp;lt;');
  });

  it('fit never cuts inside an entity, a Slack token or a surrogate pair', () => {
    expect(fit('abc&amp;def', 6)).toBe('abc…');
    expect(fit('hi <@U0BOB> there', 8)).toBe('hi …');
    expect(fit('ab😀cd', 4)).toBe('ab…');
    expect(fit('short', 10)).toBe('short');
  });

  it('modal field errors drop mrkdwn that would show literally', () => {
    expect(plainFromMrkdwn('Unknown resource "x". See `/jit-access resources`.')).toBe('Unknown resource "x". See /jit-access resources.');
    expect(plainFromMrkdwn('*deploy-hook* is capped')).toBe('deploy-hook is capped');
  });
});
