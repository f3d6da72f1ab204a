/**
 * `diffPolicies`: the exact semantic difference of two policy versions. Each
 * pair (rule or default of the old policy, rule or default of the new one)
 * decides a region of requests; the pairs whose decision differs are the
 * change, each with field constraints and a witness request. Also the replay
 * of recorded requests, which counts what a change would do to real traffic.
 */
import { evaluatePolicy } from '../native/evaluate.js';
import { McpPolicyError } from '../core/errors.js';
import { type Decision, type Policy, type PolicyRequest, type Rule } from '../policy/model.js';
import { defaultRegion, ruleRegions, subtractMany } from './first-match.js';
import { type Box, type BoxDescription, RequestSpace } from './region.js';

/** Who decides a region in one policy version. */
export interface DiffSide {
  /** The deciding rule's index, or null for the default. */
  readonly rule: number | null;
  readonly allowed: boolean;
  /** The rule's own `reason`, when it has one. */
  readonly reason?: string;
  /** Set when this version refuses the requests as invalid (action `resource` in a version 1 policy). */
  readonly invalid?: true;
}

/** One kind of change: `now_denied` (allow → deny), `now_allowed` (deny → allow), `rule_changed` (same decision, another rule or reason). */
export type DiffKind = 'now_denied' | 'now_allowed' | 'rule_changed';

/** A region of requests whose decision changes one way. */
export interface DiffChange {
  readonly kind: DiffKind;
  readonly old: DiffSide;
  readonly new: DiffSide;
  /** The region as a union of field-constraint boxes (the first few; `boxes` counts them all). */
  readonly regions: readonly BoxDescription[];
  readonly boxes: number;
  /** A request in the region: the old policy decides it as `old`, the new one as `new`. */
  readonly witness?: PolicyRequest;
  /**
   * Set when no request of the region could be built: it depends on argument
   * conditions the analysis does not model exactly (see `inexact`), so the
   * change may be one no real request makes.
   */
  readonly possible?: true;
}

/** An argument condition diff treats as opaque, so its changes that depend on it are only possible ones. */
export interface DiffInexact {
  readonly policy: 'old' | 'new';
  readonly rule: number;
  /** JSON pointer of the condition in that policy. */
  readonly path: string;
  readonly why: string;
}

/** The result of {@link diffPolicies}. */
export interface DiffResult {
  /** True when no request is decided differently (allowed, deciding rule or reason). */
  readonly same: boolean;
  /** True when some request changes between allow and deny. */
  readonly decisionsDiffer: boolean;
  readonly changes: readonly DiffChange[];
  /** Argument conditions not analysed exactly (empty when the diff is exact). */
  readonly inexact: readonly DiffInexact[];
}

const MAX_DESCRIBED = 5;

/**
 * A rule's identity across versions: its conditions, decision and reason,
 * not its index, so moving a rule without changing what it decides is no
 * change.
 */
function ruleKey(rule: Rule): string {
  const set = (xs: readonly string[] | undefined) => (xs ? [...new Set(xs)].sort() : null);
  const v1 = [
    rule.action ?? null,
    rule.server ?? null,
    rule.serverType ?? null,
    rule.serverSource ?? null,
    rule.transport ?? null,
    set(rule.tools),
    rule.allow,
    rule.reason ?? null,
  ];
  const claims =
    rule.claims &&
    Object.keys(rule.claims)
      .sort()
      .map((name) => [name, set(rule.claims![name])]);
  const annotations = rule.annotations && Object.entries(rule.annotations).sort(([x], [y]) => x.localeCompare(y));
  const v2 = [set(rule.resources), set(rule.users), set(rule.groups), claims ?? null, annotations ?? null];
  // Version 1 rules keep their key, so a policy moved to version 2 unchanged shows no rule change.
  if (v2.every((x) => x === null) && rule.arguments === undefined) return JSON.stringify(v1);
  return JSON.stringify([...v1, ...v2, rule.arguments ?? null]);
}

const INVALID_SIDE = { rule: null, allowed: false, invalid: true as const, key: 'invalid request' };

function side(policy: Policy, index: number | null | 'invalid'): DiffSide & { key: string } {
  if (index === 'invalid') return INVALID_SIDE;
  if (index === null) {
    return { rule: null, allowed: policy.default === 'allow', key: `default ${policy.default}` };
  }
  const rule = policy.rules[index]!;
  return {
    rule: index,
    allowed: rule.allow,
    ...(rule.reason !== undefined && { reason: rule.reason }),
    key: ruleKey(rule),
  };
}

/** Exact semantic diff of two validated policies. */
export function diffPolicies(oldPolicy: Policy, newPolicy: Policy): DiffResult {
  const space = new RequestSpace([oldPolicy, newPolicy]);
  const before = ruleRegions(space, oldPolicy);
  const after = ruleRegions(space, newPolicy);
  const beforeBoxes = before.map((r) => r.match);
  const afterBoxes = after.map((r) => r.match);
  const changes: DiffChange[] = [];

  // A version 1 policy refuses action `resource` as an invalid request; its rules and default never see one.
  const refused = (p: Policy): Box | undefined =>
    p.version === 1 && space.version2 ? space.resourceActions() : undefined;
  const oldRefused = refused(oldPolicy);
  const newRefused = refused(newPolicy);
  const split = (region: readonly Box[], r: Box | undefined): [Box[], Box[]] =>
    r === undefined ? [[...region], []] : [space.subtractAll(region, r), space.intersectAll(region, r)];

  const record = (i: number | null | 'invalid', j: number | null | 'invalid', region: readonly Box[]): void => {
    if (region.length === 0) return;
    const o = side(oldPolicy, i);
    const n = side(newPolicy, j);
    if (o.allowed === n.allowed && o.key === n.key) return;
    const kind: DiffKind = o.allowed === n.allowed ? 'rule_changed' : o.allowed ? 'now_denied' : 'now_allowed';
    const strip = ({ key: _key, ...rest }: DiffSide & { key: string }): DiffSide => rest;
    let witness: PolicyRequest | undefined;
    for (const b of region) if ((witness = space.realize(b)) !== undefined) break;
    changes.push({
      kind,
      old: strip(o),
      new: strip(n),
      regions: region.slice(0, MAX_DESCRIBED).map((b) => space.describe(b)),
      boxes: region.length,
      ...(witness ? { witness } : { possible: true as const }),
    });
  };

  before.forEach((r, i) => {
    let rest: Box[] = [...r.decides];
    for (let j = 0; j < after.length && rest.length > 0; j++) {
      const box = afterBoxes[j]!;
      if (space.disjoint(r.match, box)) continue;
      record(i, j, space.intersectAll(rest, box));
      rest = space.subtractAll(rest, box);
    }
    const [byDefault, refusedNow] = split(rest, newRefused);
    record(i, null, byDefault);
    record(i, 'invalid', refusedNow);
  });
  after.forEach((r, j) => {
    const [byDefault, refusedBefore] = split(subtractMany(space, r.decides, beforeBoxes, r.match), oldRefused);
    record(null, j, byDefault);
    record('invalid', j, refusedBefore);
  });
  if (oldPolicy.default !== newPolicy.default || oldRefused !== newRefused) {
    const both = subtractMany(space, defaultRegion(space, before), afterBoxes, space.everything());
    const [oldDefault, oldInvalid] = split(both, oldRefused);
    for (const [i, region] of [
      [null, oldDefault],
      ['invalid', oldInvalid],
    ] as const) {
      const [newDefault, newInvalid] = split(region, newRefused);
      record(i, null, newDefault);
      record(i, 'invalid', newInvalid);
    }
  }

  const inexact: DiffInexact[] = [];
  for (const [which, policy] of [
    ['old', oldPolicy],
    ['new', newPolicy],
  ] as const) {
    policy.rules.forEach((rule, i) =>
      (rule.arguments ?? []).forEach((c, k) => {
        const o = space.opaqueOf(c);
        if (o !== undefined)
          inexact.push({ policy: which, rule: i, path: `/rules/${i}/arguments/${k}`, why: space.opaque[o]!.why });
      }),
    );
  }
  return {
    same: changes.length === 0,
    decisionsDiffer: changes.some((c) => c.kind !== 'rule_changed'),
    changes,
    inexact,
  };
}

/** One replayed request whose decision changes. */
export interface ReplayChange {
  /** 1-based line in the requests file. */
  readonly line: number;
  readonly request: unknown;
  readonly old: Decision;
  readonly new: Decision;
}

/** What replaying recorded requests through both versions shows. */
export interface ReplayResult {
  readonly total: number;
  readonly nowDenied: number;
  readonly nowAllowed: number;
  /** Same allowed, another deciding rule or reason. */
  readonly ruleChanged: number;
  readonly unchanged: number;
  /** Every changed request, in file order. */
  readonly changes: readonly ReplayChange[];
}

/**
 * Requests from JSON Lines: each line is a request, or a decision-log entry
 * that carries it as `input` (OPA's decision-log format) or `request`.
 */
export function readRecordedRequests(text: string): { line: number; request: unknown }[] {
  const out: { line: number; request: unknown }[] = [];
  text.split('\n').forEach((raw, k) => {
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new McpPolicyError(
        'invalid_requests',
        `line ${k + 1}: invalid json: ${(e as Error).message.toLowerCase()}`,
      );
    }
    out.push({ line: k + 1, request: recordedRequest(value) });
  });
  return out;
}

function recordedRequest(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const entry = value as Record<string, unknown>;
  if ('input' in entry && ('decision_id' in entry || 'result' in entry || 'decision' in entry)) return entry.input;
  if ('request' in entry && ('decision' in entry || 'result' in entry || 'time' in entry)) return entry.request;
  return value;
}

function comparableRule(policy: Policy, d: Decision): string {
  // Invalid requests compare by error text, so one both versions refuse alike is unchanged.
  return d.rule === null ? `default ${d.error ?? ''}` : ruleKey(policy.rules[d.rule]!);
}

/** Decides every recorded request with both versions (native evaluator) and counts what changes. */
export function replayRequests(
  oldPolicy: Policy,
  newPolicy: Policy,
  requests: readonly { line: number; request: unknown }[],
): ReplayResult {
  let nowDenied = 0;
  let nowAllowed = 0;
  let ruleChanged = 0;
  const changes: ReplayChange[] = [];
  for (const { line, request } of requests) {
    const o = evaluatePolicy(oldPolicy, request);
    const n = evaluatePolicy(newPolicy, request);
    if (o.allowed !== n.allowed) {
      if (o.allowed) nowDenied++;
      else nowAllowed++;
    } else if (comparableRule(oldPolicy, o) !== comparableRule(newPolicy, n)) {
      ruleChanged++;
    } else continue;
    changes.push({ line, request, old: o, new: n });
  }
  const changed = nowDenied + nowAllowed + ruleChanged;
  return { total: requests.length, nowDenied, nowAllowed, ruleChanged, unchanged: requests.length - changed, changes };
}

/** The document `mcp-policy diff --format json` prints (and the playground shows): the diff, and any replay. */
export function diffReport(diff: DiffResult, replay?: ReplayResult): { diff: DiffResult; replay?: ReplayResult } {
  return { diff, ...(replay && { replay }) };
}
