import { Script, createContext } from 'node:vm';
import { Environment, type ASTNode } from '@marcbachmann/cel-js';

/**
 * Approval rules (PRODUCT.md section 3.2): a CEL `when` per rule, parsed and type-checked when the
 * policy loads, evaluated with a time budget when a request or extension is filed.
 *
 * Evaluator: @marcbachmann/cel-js (docs/rules.md says why): its Environment declares every
 * variable with its type, so `request.duration <= 5` or `requester.nope` is refused at load, not
 * when someone files a request.
 */

/** The facts about the requester a rule may read; each is fetched only when a rule refers to it. */
export type RequesterFact = 'email' | 'usergroups' | 'oncall' | 'activeGrants';
export const REQUESTER_FACTS: readonly RequesterFact[] = ['email', 'usergroups', 'oncall', 'activeGrants'];

export interface RuleRequest {
  requesterId: string;
  resourceId: string;
  durationMs: number;
  reason: string;
  ticket: string;
  breakGlass: boolean;
  extension: boolean;
}

export interface RuleFacts {
  email?: string;
  usergroups?: string[];
  oncall?: string[];
  activeGrants?: number;
}

export type RuleOutcome = { autoApprove: true } | { requiredApprovals: number } | { deny: string };

export interface CompiledRule {
  name: string;
  /** The expression as written. */
  when: string;
  outcome: RuleOutcome;
  /** Requester facts the expression reads (all of them when it uses `requester` as a whole). */
  needs: ReadonlySet<RequesterFact>;
  /** Every variable path the expression reads (`request.duration`, `now`), for the audit event. */
  reads: readonly string[];
  /** String literals that look like Slack user group IDs (`"S0SRE" in requester.usergroups`). */
  usergroupLiterals: readonly string[];
  /**
   * The groups whose membership the expression can observe: those it tests with
   * `"S0…" in requester.usergroups` only, or 'all' when it uses the list any other way. Slack is
   * asked about these alone (usergroups.users.list is rate-limited).
   */
  usergroupsTested: readonly string[] | 'all';
  /**
   * True when the expression's cost is bounded by its size and the (bounded) inputs: no
   * comprehension macros, regular expressions only as simple literals. Such rules run without
   * the vm's watchdog; every other rule runs under the time budget.
   */
  bounded: boolean;
  evaluate(input: Record<string, unknown>): unknown;
}

/** Longest `when` accepted: rules are short conditions, and a bound keeps parsing cheap. */
const MAX_WHEN_LENGTH = 2000;
/** Default wall-clock budget of one rule's evaluation. */
export const DEFAULT_RULE_BUDGET_MS = 50;

const USERGROUP_ID = /^S[A-Z0-9]{2,}$/;

let sharedEnv: Environment | undefined;

/** One typed environment for every rule: the variables of section 3.2, nothing else. */
function celEnvironment(): Environment {
  if (sharedEnv) return sharedEnv;
  sharedEnv = new Environment({
    limits: { maxAstNodes: 500, maxDepth: 32, maxListElements: 200, maxMapEntries: 200, maxCallArguments: 8 },
  })
    .registerVariable('requester', {
      schema: { id: 'string', email: 'string', usergroups: 'list<string>', oncall: 'list<string>', activeGrants: 'int' },
    })
    .registerVariable('request', {
      schema: {
        resource: 'string',
        duration: 'google.protobuf.Duration',
        reason: 'string',
        ticket: 'string',
        breakGlass: 'bool',
        extension: 'bool',
      },
    })
    .registerVariable('now', 'google.protobuf.Timestamp');
  for (const [method, read] of Object.entries(ZONED)) {
    sharedEnv.registerFunction(`google.protobuf.Timestamp.${zonedName(method)}(string): int`, (d: Date, tz: string) =>
      BigInt(read(zonedParts(d, tz))),
    );
  }
  return sharedEnv;
}

/**
 * The time zone overloads of the timestamp accessors (`now.getHours("Europe/Berlin")`). The
 * evaluator's own ones re-parse a locale string in the machine's time zone, which is wrong in
 * that zone's DST gaps and slow (a formatter per call); ours read the zone's fields with one cached
 * Intl formatter per zone, whatever the machine's TZ. Rules are rewritten to call them at load.
 */
interface ZonedParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

const ZONED: Record<string, (p: ZonedParts) => number> = {
  getFullYear: (p) => p.year,
  getMonth: (p) => p.month - 1,
  getDate: (p) => p.day,
  getDayOfMonth: (p) => p.day - 1,
  getDayOfWeek: (p) => p.weekday,
  getDayOfYear: (p) => Math.round((Date.UTC(p.year, p.month - 1, p.day) - Date.UTC(p.year, 0, 1)) / 86_400_000),
  getHours: (p) => p.hour,
  getMinutes: (p) => p.minute,
  getSeconds: (p) => p.second,
};
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function zonedName(method: string): string {
  return `zoned${method[0]!.toUpperCase()}${method.slice(1)}`;
}

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for a zone that does not exist.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    if (formatters.size < 500) formatters.set(timeZone, f);
  }
  return f;
}

function zonedParts(d: Date, timeZone: string): ZonedParts {
  const parts: Record<string, string> = {};
  for (const part of formatterFor(timeZone).formatToParts(d)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS[parts.weekday ?? ''] ?? NaN,
  };
}

/** A time zone that Intl knows (`Europe/Berlin`, `UTC`), else undefined. */
function validZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

type DurationClass = { fromMilliseconds(ms: number): unknown };
let durationClass: DurationClass | undefined;

/** The evaluator's own Duration type (not exported by the package), taken from a value it makes. */
function celDuration(ms: number): unknown {
  durationClass ??= (celEnvironment().evaluate('duration("0s")') as { constructor: DurationClass }).constructor;
  return durationClass.fromMilliseconds(ms);
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

interface Reads {
  paths: Set<string>;
  needs: Set<RequesterFact>;
  literals: Set<string>;
  /** Groups tested as `"S0…" in requester.usergroups`; 'all' once the list is used any other way. */
  groupTests: Set<string> | 'all';
}

function fieldAccess(node: ASTNode): { base: string; field: string } | undefined {
  if (node.op === '.') {
    const [base, field] = node.args as [ASTNode, string];
    if (base.op === 'id') return { base: base.args as string, field };
  }
  if (node.op === '[]') {
    const [base, key] = node.args as [ASTNode, ASTNode];
    if (base.op === 'id' && key.op === 'value' && typeof key.args === 'string') return { base: base.args as string, field: key.args };
  }
  return undefined;
}

/** Walks the AST for the variables and user group literals it names. */
function collectReads(node: unknown, reads: Reads): void {
  if (Array.isArray(node)) {
    for (const child of node) collectReads(child, reads);
    return;
  }
  if (!node || typeof node !== 'object' || !('op' in node)) return;
  const ast = node as ASTNode;
  const access = fieldAccess(ast);
  if (access && (access.base === 'requester' || access.base === 'request')) {
    reads.paths.add(`${access.base}.${access.field}`);
    if (access.base === 'requester' && (REQUESTER_FACTS as readonly string[]).includes(access.field))
      reads.needs.add(access.field as RequesterFact);
    if (access.base === 'requester' && access.field === 'usergroups') reads.groupTests = 'all';
    return;
  }
  if (ast.op === 'in') {
    // `"S0SRE" in requester.usergroups` only needs to know about S0SRE.
    const [item, list] = ast.args as [ASTNode, ASTNode];
    const target = fieldAccess(list);
    if (item.op === 'value' && typeof item.args === 'string' && target?.base === 'requester' && target.field === 'usergroups') {
      reads.paths.add('requester.usergroups');
      reads.needs.add('usergroups');
      if (USERGROUP_ID.test(item.args)) reads.literals.add(item.args);
      if (reads.groupTests !== 'all') reads.groupTests.add(item.args);
      return;
    }
  }
  if (ast.op === 'id') {
    const name = ast.args as string;
    reads.paths.add(name);
    // `requester` as a whole (passed to a macro, compared): it may read any fact.
    if (name === 'requester') {
      REQUESTER_FACTS.forEach((f) => reads.needs.add(f));
      reads.groupTests = 'all';
    }
    return;
  }
  if (ast.op === 'value') {
    if (typeof ast.args === 'string' && USERGROUP_ID.test(ast.args)) reads.literals.add(ast.args);
    return;
  }
  collectReads(ast.args, reads);
}

/** Macros whose cost grows with the product of list sizes when nested. */
const COMPREHENSIONS = new Set(['all', 'exists', 'exists_one', 'map', 'filter', 'transformList', 'transformMap']);

interface Scan {
  /** Renames of timestamp accessors with a time zone to ours (see ZONED). */
  edits: Array<{ at: number; from: string; to: string }>;
  badZones: string[];
  /** The expression may cost more than linear time in its inputs. */
  unbounded: boolean;
}

/**
 * A literal pattern whose matching time stays near-linear: at most one unbounded quantifier, none
 * applied to a group, no back-references. Anything else may backtrack catastrophically.
 */
export function isSimplePattern(pattern: string): boolean {
  if (/\\[1-9k]/.test(pattern)) return false;
  let unboundedCount = 0;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '*' || c === '+' || (c === '{' && /^\{\d*,\}/.test(pattern.slice(i)))) {
      unboundedCount++;
      if (pattern[i - 1] === ')') return false;
    } else if ((c === '{' || c === '?') && pattern[i - 1] === ')') return false;
  }
  return unboundedCount <= 1;
}

function scanCalls(node: unknown, text: string, scan: Scan): void {
  if (Array.isArray(node)) {
    for (const child of node) scanCalls(child, text, scan);
    return;
  }
  if (!node || typeof node !== 'object' || !('op' in node)) return;
  const ast = node as ASTNode;
  if (ast.op === 'rcall' || ast.op === 'call') {
    const [name, ...rest] = ast.args as [string, ...unknown[]];
    const callArgs = (ast.op === 'rcall' ? rest[1] : rest[0]) as ASTNode[];
    if (COMPREHENSIONS.has(name)) scan.unbounded = true;
    if (name === 'matches') {
      const pattern = callArgs[callArgs.length - 1];
      if (!(pattern?.op === 'value' && typeof pattern.args === 'string' && isSimplePattern(pattern.args))) scan.unbounded = true;
    }
    if (ast.op === 'rcall' && name in ZONED && callArgs.length === 1) {
      const receiver = rest[0] as ASTNode;
      const zone = callArgs[0]!;
      if (zone.op === 'value' && typeof zone.args === 'string' && !validZone(zone.args)) scan.badZones.push(zone.args);
      const between = text.slice(receiver.end, zone.start);
      const at = between.lastIndexOf(name);
      if (at >= 0) scan.edits.push({ at: receiver.end + at, from: name, to: zonedName(name) });
    }
  }
  scanCalls(ast.args, text, scan);
}

// One context and one script for every evaluation: the vm's timeout interrupts whatever runs
// inside it, a catastrophic regular expression included, where CEL itself has no clock.
const sandbox = createContext({ run: (): unknown => undefined });
const runScript = new Script('run()');

/** Runs `work` with a wall-clock budget; throws when it runs out. */
function withinBudget<T>(budgetMs: number, work: () => T): T {
  (sandbox as { run: () => unknown }).run = work;
  try {
    return runScript.runInContext(sandbox, { timeout: Math.max(1, Math.floor(budgetMs)) }) as T;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      throw new RuleEvaluationError(`took longer than its ${budgetMs} ms budget`);
    }
    throw err;
  } finally {
    (sandbox as { run: () => unknown }).run = () => undefined;
  }
}

class RuleEvaluationError extends Error {
  override name = 'RuleEvaluationError';
}

/** Parses and type-checks one `when`; problems are reported as `<path>: <message>`. */
export function compileRule(
  rule: { name: string; when: string; outcome: RuleOutcome },
  path: string,
  problem: (path: string, message: string) => void,
): CompiledRule | undefined {
  const when = rule.when;
  if (when.length > MAX_WHEN_LENGTH) {
    problem(path, `the expression is too long (${when.length} characters; at most ${MAX_WHEN_LENGTH})`);
    return undefined;
  }
  const env = celEnvironment();
  let parsed: ReturnType<Environment['parse']>;
  try {
    parsed = env.parse(when);
  } catch (err) {
    problem(path, `not a valid CEL expression: ${firstLine((err as Error).message)}`);
    return undefined;
  }
  const checked = parsed.check();
  if (!checked.valid) {
    problem(path, `type error: ${firstLine(checked.error?.message ?? 'the expression does not type-check')}`);
    return undefined;
  }
  if (checked.type !== 'bool') {
    problem(path, `must be a condition (a bool), but this expression gives ${checked.type}`);
    return undefined;
  }
  const reads: Reads = { paths: new Set(), needs: new Set(), literals: new Set(), groupTests: new Set() };
  collectReads(parsed.ast, reads);
  const scan: Scan = { edits: [], badZones: [], unbounded: false };
  scanCalls(parsed.ast, when, scan);
  if (scan.badZones.length) {
    problem(path, `unknown time zone "${scan.badZones[0]}" (use an IANA name such as Europe/Berlin or UTC)`);
    return undefined;
  }
  let evaluator: (input: Record<string, unknown>) => unknown = parsed;
  if (scan.edits.length) {
    let text = when;
    for (const edit of [...scan.edits].sort((a, b) => b.at - a.at))
      text = text.slice(0, edit.at) + edit.to + text.slice(edit.at + edit.from.length);
    evaluator = env.parse(text);
  }
  warmUp(evaluator);
  return {
    name: rule.name,
    when,
    outcome: rule.outcome,
    needs: reads.needs,
    reads: [...reads.paths].sort(),
    usergroupLiterals: [...reads.literals],
    usergroupsTested: reads.groupTests === 'all' ? 'all' : [...reads.groupTests],
    bounded: !scan.unbounded,
    evaluate: evaluator,
  };
}

/** The CEL activation for a request and the facts gathered for it. Facts not gathered are absent. */
export function celInput(request: RuleRequest, facts: RuleFacts, now: Date): Record<string, unknown> {
  return {
    requester: {
      id: request.requesterId,
      email: facts.email ?? '',
      usergroups: facts.usergroups ?? [],
      oncall: facts.oncall ?? [],
      activeGrants: BigInt(facts.activeGrants ?? 0),
    },
    request: {
      resource: request.resourceId,
      duration: celDuration(request.durationMs),
      reason: request.reason,
      ticket: request.ticket,
      breakGlass: request.breakGlass,
      extension: request.extension,
    },
    now,
  };
}

/** Budget of the one evaluation at load that warms the evaluator up. */
const WARM_UP_BUDGET_MS = 1000;

/**
 * Evaluates a new rule once, on a sample request, and ignores the outcome: the first evaluation of
 * an expression (and the first time zone it names) costs far more than later ones, and must not
 * spend a real request's budget.
 */
function warmUp(parsed: (input: Record<string, unknown>) => unknown): void {
  const sample: RuleRequest = {
    requesterId: 'U0WARMUP',
    resourceId: 'warm-up',
    durationMs: 60_000,
    reason: 'warm-up',
    ticket: '',
    breakGlass: false,
    extension: false,
  };
  try {
    withinBudget(WARM_UP_BUDGET_MS, () => parsed(celInput(sample, {}, new Date())));
  } catch {
    // A rule that fails or runs long on the sample is judged when it is evaluated for real.
  }
}

/** Evaluates one compiled rule: true or false, or a RuleEvaluationError saying why not. */
export function evaluateRule(rule: CompiledRule, input: Record<string, unknown>, budgetMs = DEFAULT_RULE_BUDGET_MS): boolean {
  let result: unknown;
  try {
    result = rule.bounded ? rule.evaluate(input) : withinBudget(budgetMs, () => rule.evaluate(input));
  } catch (err) {
    if (err instanceof RuleEvaluationError) throw err;
    throw new RuleEvaluationError(firstLine((err as Error).message ?? String(err)));
  }
  if (typeof result !== 'boolean') throw new RuleEvaluationError(`gave ${typeof result}, not a bool`);
  return result;
}

/** Compiles a resource's `rules`, reporting each problem at `resources[i].rules[j]…`. */
export function compileRules(
  rules: ReadonlyArray<{ name: string; when: string; autoApprove?: true; requiredApprovals?: number; deny?: string }>,
  at: string,
  approvers: { users: string[]; usergroups: string[] },
  problems: string[],
  hasOncall: boolean,
): CompiledRule[] {
  const compiled: CompiledRule[] = [];
  const names = new Set<string>();
  rules.forEach((rule, j) => {
    const path = `${at}.rules[${j}]`;
    if (names.has(rule.name))
      problems.push(`${path}.name: duplicate rule name "${rule.name}" (the audit log and approval messages name rules)`);
    names.add(rule.name);
    const outcome: RuleOutcome =
      rule.deny !== undefined
        ? { deny: rule.deny }
        : rule.requiredApprovals !== undefined
          ? { requiredApprovals: rule.requiredApprovals }
          : { autoApprove: true };
    if ('requiredApprovals' in outcome && approvers.usergroups.length === 0 && outcome.requiredApprovals > approvers.users.length) {
      const n = approvers.users.length;
      problems.push(
        `${path}.requiredApprovals: needs ${outcome.requiredApprovals} approvals but only ${n} approver${n === 1 ? ' is' : 's are'} listed`,
      );
    }
    const done = compileRule({ name: rule.name, when: rule.when, outcome }, `${path}.when`, (p, message) =>
      problems.push(`${p}: ${message}`),
    );
    if (done?.needs.has('oncall') && !hasOncall && done.reads.includes('requester.oncall')) {
      problems.push(
        `${path}.when: reads requester.oncall, but the policy has no \`oncall:\` section saying where to read it from (PagerDuty or Opsgenie)`,
      );
    }
    if (done) compiled.push(done);
  });
  return compiled;
}
