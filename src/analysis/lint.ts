/**
 * `lintPolicy`: what a valid policy means that an admin probably did not
 * intend. Shadowing, redundancy, blocked tools and one-decision policies are
 * computed exactly on request regions (see region.ts), each with a concrete
 * witness request that every engine decides as the finding says.
 */
import { canonicalImageReference } from '../native/match.js';
import { type Policy, type PolicyRequest } from '../policy/model.js';
import { ruleRegions, type RuleRegions } from './first-match.js';
import { argumentConditionText, type Box, type BoxDescription, type Region, RequestSpace } from './region.js';

/** Every finding code `lintPolicy` reports (documented in docs/semantics.md). */
export const LINT_CODES = [
  'shadowed_rule',
  'partially_shadowed',
  'redundant_rule',
  'tool_rule_without_server',
  'tools_blocked_by_default',
  'prompts_blocked_by_default',
  'impossible_combination',
  'non_canonical_source',
  'deny_only',
  'allow_only',
  'inexact_analysis',
] as const;
export type LintCode = (typeof LINT_CODES)[number];

/** Error-level findings make `mcp-policy lint` exit 1: the policy surely does not do what it says. */
export const LINT_SEVERITY: Readonly<Record<LintCode, 'error' | 'warning'>> = {
  shadowed_rule: 'error',
  partially_shadowed: 'warning',
  redundant_rule: 'warning',
  tool_rule_without_server: 'warning',
  tools_blocked_by_default: 'warning',
  prompts_blocked_by_default: 'warning',
  impossible_combination: 'warning',
  non_canonical_source: 'warning',
  deny_only: 'error',
  allow_only: 'error',
  inexact_analysis: 'warning',
};

/** One lint finding. */
export interface LintFinding {
  readonly code: LintCode;
  readonly severity: 'error' | 'warning';
  /** JSON pointer into the (inner) policy: `/rules/N`, `/rules/N/arguments/K`, or `/default`. */
  readonly path: string;
  readonly message: string;
  /** Rules the finding is about besides the one at `path` (e.g. the rules that shadow it). */
  readonly rules?: readonly number[];
  /** A request that shows the finding. */
  readonly witness?: PolicyRequest;
  /** The requests concerned, as field constraints (for blocked-tools findings). */
  readonly region?: BoxDescription;
}

/** The result of {@link lintPolicy}. */
export interface LintResult {
  readonly findings: readonly LintFinding[];
  readonly errors: number;
  readonly warnings: number;
}

function finding(code: LintCode, path: string, message: string, extra: Partial<LintFinding> = {}): LintFinding {
  return { code, severity: LINT_SEVERITY[code], path, message, ...extra };
}

function ruleList(rules: readonly number[]): string {
  const names = rules.map((r) => `rule ${r}`);
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

function decisionWord(allow: boolean): string {
  return allow ? 'allow' : 'deny';
}

/** Exact lint of a validated policy. */
export function lintPolicy(policy: Policy): LintResult {
  const space = new RequestSpace([policy]);
  const regions = ruleRegions(space, policy);
  const findings: LintFinding[] = [];
  const shadowed = new Set<number>();

  regions.forEach((r, i) => {
    if (r.decides.length > 0) return;
    shadowed.add(i);
    const message =
      r.takenBy.length === 0
        ? `rule ${i} can never decide: no request meets all its conditions`
        : `rule ${i} can never decide: ${ruleList(r.takenBy)} ` +
          `${r.takenBy.length === 1 ? 'decides' : 'decide'} every request it matches`;
    // With opaque conditions the rule may match no real request at all; then there is no witness to give.
    const witness = space.realize(r.match);
    findings.push(finding('shadowed_rule', `/rules/${i}`, message, { rules: r.takenBy, ...(witness && { witness }) }));
  });

  regions.forEach((r, i) => {
    if (shadowed.has(i)) return;
    const takers = redundantTakers(space, policy, regions, i);
    if (takers === undefined) return;
    const rule = policy.rules[i]!;
    const who = takers.map((t) => (t === 'default' ? `the default (${policy.default})` : `rule ${t}`));
    const message =
      `removing rule ${i} changes no decision: ${who.join(', ')} ` +
      `${who.length === 1 ? 'decides' : 'decide'} what it decides the same way (${decisionWord(rule.allow)})`;
    const witness = firstRealized(space, r.decides);
    findings.push(
      finding('redundant_rule', `/rules/${i}`, message, {
        rules: takers.filter((t): t is number => t !== 'default'),
        ...(witness && { witness }),
      }),
    );
  });

  findings.push(...partiallyShadowed(space, policy, regions, shadowed));

  policy.rules.forEach((rule, i) => {
    if (rule.tools !== undefined && rule.server === undefined) {
      findings.push(
        finding(
          'tool_rule_without_server',
          `/rules/${i}`,
          `rule ${i} names tools but no server, so it applies to tools of that name on every server`,
        ),
      );
    }
  });

  if (policy.default === 'deny') {
    findings.push(...blockedByDefault(space, policy, regions, 'invoke'));
    findings.push(...blockedByDefault(space, policy, regions, 'prompt'));
  }

  policy.rules.forEach((rule, i) => {
    if (space.isEmpty(regions[i]!.match)) return;
    const why = impossible(space, regions[i]!.match);
    if (why !== undefined) {
      findings.push(
        finding('impossible_combination', `/rules/${i}`, `rule ${i} matches no request a host sends: ${why}`),
      );
    }
  });

  policy.rules.forEach((rule, i) => {
    if (rule.serverSource === undefined) return;
    const spellings = space.nonCanonicalSpellings(rule.serverSource);
    if (space.automata.isEmpty(spellings)) return;
    // A request the rule matches through such a spelling: one it decides when there is one.
    const r = regions[i]!;
    const boxes = [
      ...r.decides.map((b) => space.restrict(b, { serverSource: spellings })),
      space.restrict(r.match, { serverSource: spellings }),
    ].filter((b) => !space.isEmpty(b));
    const witness = firstRealized(space, boxes);
    if (witness === undefined) return;
    const example = witness.serverSource ?? '';
    const message =
      `rule ${i}'s serverSource ${JSON.stringify(rule.serverSource)} matches ${JSON.stringify(example)} ` +
      `but not its canonical form ${JSON.stringify(canonicalImageReference(example))}, which Docker reads as ` +
      `the same image; write the pattern against the canonical form`;
    findings.push(finding('non_canonical_source', `/rules/${i}`, message, { witness }));
  });

  const other = policy.default === 'deny';
  const decidesOther = regions.some((r, i) => policy.rules[i]!.allow === other && r.decides.length > 0);
  if (!decidesOther) {
    const code = other ? 'deny_only' : 'allow_only';
    const what = other ? 'allows' : 'denies';
    const message =
      `every request is ${other ? 'denied' : 'allowed'}: the default is ${policy.default} ` +
      `and no rule ${what} any request`;
    findings.push(finding(code, '/default', message));
  }

  policy.rules.forEach((rule, i) => {
    (rule.arguments ?? []).forEach((c, k) => {
      const o = space.opaqueOf(c);
      if (o === undefined) return;
      const why = {
        'wildcard path': 'its path has a "*" segment',
        'path normalisation': 'it cleans the value as a path first',
        'dependent path': 'its path contains the path of another condition',
      }[space.opaque[o]!.why];
      const message =
        `rule ${i}'s argument condition ${argumentConditionText(c)} is not analysed exactly (${why}); ` +
        `shadowed and redundant findings still hold, other findings need a checked witness`;
      findings.push(finding('inexact_analysis', `/rules/${i}/arguments/${k}`, message));
    });
  });

  const sorted = findings.sort((x, y) => pathOrder(x.path) - pathOrder(y.path) || x.code.localeCompare(y.code));
  const errors = sorted.filter((f) => f.severity === 'error').length;
  return { findings: sorted, errors, warnings: sorted.length - errors };
}

function pathOrder(path: string): number {
  const m = /^\/rules\/(\d+)(?:$|\/)/.exec(path);
  return m ? Number(m[1]) : -1;
}

/** The first request of the region that can be built and checked (see {@link RequestSpace.realize}). */
function firstRealized(space: RequestSpace, region: Region): PolicyRequest | undefined {
  for (const b of region) {
    const w = space.realize(b);
    if (w !== undefined) return w;
  }
  return undefined;
}

/**
 * Deny rules that an earlier allow rule overrides for part of what they
 * match (not all of it: that is `shadowed_rule`). The witness is a request
 * the deny rule matches and the allow rule decides, so it is allowed.
 */
function partiallyShadowed(
  space: RequestSpace,
  policy: Policy,
  regions: readonly RuleRegions[],
  shadowed: ReadonlySet<number>,
): LintFinding[] {
  const out: LintFinding[] = [];
  regions.forEach((r, i) => {
    if (policy.rules[i]!.allow || shadowed.has(i)) return;
    const by: number[] = [];
    let witness: PolicyRequest | undefined;
    for (const j of r.takenBy) {
      if (!policy.rules[j]!.allow) continue;
      const w = firstRealized(space, space.intersectAll(regions[j]!.decides, r.match));
      if (w === undefined) continue;
      by.push(j);
      witness ??= w;
    }
    if (witness === undefined) return;
    const message =
      `rule ${i} denies only part of what it matches: ${ruleList(by)} ` +
      `${by.length === 1 ? 'allows' : 'allow'} some of its requests first (as intended when ` +
      `${by.length === 1 ? 'that rule is an exception' : 'those rules are exceptions'}; check the example)`;
    out.push(finding('partially_shadowed', `/rules/${i}`, message, { rules: by, witness }));
  });
  return out;
}

/**
 * When removing rule i changes no `allowed`, the later rules (or the default)
 * that take over its requests; otherwise undefined. Its requests fall through
 * to the first later rule that matches them.
 */
function redundantTakers(
  space: RequestSpace,
  policy: Policy,
  regions: readonly RuleRegions[],
  i: number,
): (number | 'default')[] | undefined {
  const allow = policy.rules[i]!.allow;
  const own = regions[i]!;
  let rest: Box[] = [...own.decides];
  const takers: (number | 'default')[] = [];
  for (let j = i + 1; j < regions.length && rest.length > 0; j++) {
    const later = regions[j]!.match;
    if (space.disjoint(own.match, later)) continue;
    if (rest.every((b) => space.disjoint(b, later))) continue;
    if (policy.rules[j]!.allow !== allow) return undefined;
    takers.push(j);
    rest = space.subtractAll(rest, later);
  }
  if (rest.length > 0) {
    if ((policy.default === 'allow') !== allow) return undefined;
    takers.push('default');
  }
  return takers;
}

/**
 * Under default deny: servers that some rule lets load (a `load` without a
 * tool) but for which no rule allows any `invoke` (or `prompt`) with a tool.
 * Exact: the servers with some allowed call are the projection of the allowed
 * call regions onto the server fields.
 */
function blockedByDefault(
  space: RequestSpace,
  policy: Policy,
  regions: readonly RuleRegions[],
  action: 'invoke' | 'prompt',
): LintFinding[] {
  const a = space.automata;
  const project = (b: Box): Box => space.serverProjection(b);
  const callable: Box[] = [];
  regions.forEach((r, j) => {
    if (!policy.rules[j]!.allow) return;
    const calls = space.intersectAll(
      r.decides,
      space.restrict(space.everything(), { action: [action], tool: a.nonEmpty }),
    );
    callable.push(...calls.map(project));
  });
  const out: LintFinding[] = [];
  const absent = a.minus(a.universe, a.nonEmpty);
  const loads = space.restrict(space.everything(), { action: ['load'], tool: absent });
  regions.forEach((r, i) => {
    if (!policy.rules[i]!.allow) return;
    let blocked = space.intersectAll(r.decides, loads);
    for (const c of callable) {
      if (blocked.length === 0) break;
      blocked = space.subtractAll(blocked, c);
    }
    const first = blocked.find((b) => space.realize(b) !== undefined);
    if (first === undefined) return;
    const witness = space.realize(first)!;
    const server =
      witness.server !== undefined
        ? `"${witness.server}"`
        : `servers such as serverSource ${JSON.stringify(witness.serverSource ?? '')}`;
    const code = action === 'invoke' ? 'tools_blocked_by_default' : 'prompts_blocked_by_default';
    const what = action === 'invoke' ? 'invoking any of its tools' : 'any of its prompts';
    out.push(
      finding(code, `/rules/${i}`, `rule ${i} lets ${server} load, but under default deny no rule allows ${what}`, {
        witness,
        region: space.describe(project(first)),
      }),
    );
  });
  return out;
}

/**
 * Why no host request can match a rule, judged by how Docker's gateway fills
 * requests: registry and image servers run over stdio and have image
 * references (no `://`) as source; remote servers use sse or streamable and
 * have http(s) URLs; a request without a serverType may carry anything.
 */
function impossible(space: RequestSpace, match: Box): string | undefined {
  const a = space.automata;
  const all = space.everything();
  const imageSource = a.minus(a.universe, a.glob('*://*'));
  const remoteSource = a.or(a.minus(a.universe, a.nonEmpty), space.url);
  const hosts = [
    space.restrict(all, { serverType: ['registry', 'image'], transport: ['stdio', ''], serverSource: imageSource }),
    space.restrict(all, { serverType: ['remote'], transport: ['sse', 'streamable', ''], serverSource: remoteSource }),
    space.restrict(all, { serverType: [''] }),
  ];
  if (hosts.some((h) => !space.disjoint(h, match))) return undefined;
  const anySource = { ...match, serverSource: all.serverSource };
  if (hosts.some((h) => !space.disjoint(h, anySource))) {
    return 'its serverSource pattern matches neither an image reference (registry, image) nor an http(s) URL (remote) for its serverType';
  }
  return 'its serverType and transport do not go together (registry and image servers use stdio; remote servers use sse or streamable)';
}
