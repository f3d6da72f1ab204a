/**
 * Deliberately broken evaluators, to prove the differential tester is not
 * vacuous: each must be caught within a small number of generated cases.
 */
import {
  type DiffEngine,
  extrasOf,
  nativeDiffEngine,
  openShippedWasm,
  shippedDiffEngine,
} from '../src/difftest/engines.js';
import { type DifftestOptions, type Mismatch, runDifftest } from '../src/difftest/run.js';
import { NativeEngine } from '../src/engines/native.js';
import {
  degradedWarning,
  directiveDenial,
  effectiveConfig,
  readEnterpriseFields,
} from '../src/enterprise/effective.js';
import { type EnterpriseConfig } from '../src/enterprise/model.js';
import { readRequest } from '../src/native/evaluate.js';
import { sourceForms, wildcardMatch } from '../src/native/match.js';
import { expect } from 'vitest';
import { type Decision, defaultReason, INVALID_REQUEST_REASON, type Policy, ruleReason } from '../src/policy/model.js';

interface Mutation {
  /** Rules tried last to first instead of first to last. */
  lastMatch?: boolean;
  /** Characters a `*` may not cross. */
  starStopsAt?: string;
  /** Skip the canonical Docker form of image references. */
  noCanonical?: boolean;
  /** Added to the reported rule index. */
  indexShift?: number;
}

function starMatch(pattern: string, value: string, stop: string | undefined): boolean {
  if (!wildcardMatch(pattern, value)) return false;
  if (stop === undefined) return true;
  // Broken on purpose: a star may not stand for text containing `stop`. A set
  // of pattern positions is stepped through the value (as an NFA), so a long
  // value costs its length times the pattern's, never a backtracking search.
  const tokens = Array.from(pattern);
  const closure = (states: Set<number>): Set<number> => {
    for (const s of states) if (tokens[s] === '*') states.add(s + 1);
    return states;
  };
  let states = closure(new Set([0]));
  for (const c of value) {
    const next = new Set<number>();
    for (const s of states) {
      if (tokens[s] === '*' && !stop.includes(c)) next.add(s);
      else if (tokens[s] === c && c !== '*') next.add(s + 1);
    }
    states = closure(next);
    if (states.size === 0) return false;
  }
  return states.has(tokens.length);
}

function mutantDecide(policy: Policy, request: unknown, m: Mutation, enterprise?: EnterpriseConfig): Decision {
  const read = readRequest(request);
  if ('error' in read) return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: read.error };
  if (enterprise) {
    // Directives are not what these mutants break: they go through the real code.
    const fields = readEnterpriseFields(request as Record<string, unknown>);
    if ('error' in fields) return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: fields.error };
    const warning = degradedWarning(enterprise, fields.facts);
    const d =
      directiveDenial(enterprise, fields.facts, read.facts.action, read.facts.serverType) ??
      mutantDecide(policy, request, m);
    return warning === undefined ? d : { ...d, warning };
  }
  const f = read.facts;
  const match = (p: string, v: string | undefined) => v !== undefined && starMatch(p, v, m.starStopsAt);
  const order = policy.rules.map((_, k) => k);
  if (m.lastMatch) order.reverse();
  const index = order.find((k) => {
    const r = policy.rules[k]!;
    const forms = f.serverSource === undefined ? [] : m.noCanonical ? [f.serverSource] : sourceForms(f.serverSource);
    return (
      (r.action === undefined || r.action === f.action) &&
      (r.serverType === undefined || r.serverType === f.serverType) &&
      (r.transport === undefined || r.transport === f.transport) &&
      (r.server === undefined || match(r.server, f.server)) &&
      (r.serverSource === undefined || forms.some((s) => match(r.serverSource!, s))) &&
      (r.tools === undefined || r.tools.some((t) => match(t, f.tool)))
    );
  });
  if (index === undefined)
    return { allowed: policy.default === 'allow', reason: defaultReason(policy.default), rule: null };
  const rule = policy.rules[index]!;
  return {
    allowed: rule.allow,
    reason: rule.reason ?? ruleReason(index, rule.allow),
    rule: index + (m.indexShift ?? 0),
  };
}

function mutant(name: string, m: Mutation): DiffEngine {
  return {
    name,
    decide: (round) =>
      Promise.resolve(round.groups.map((g) => g.requests.map((r) => mutantDecide(g.policy, r, m, g.enterprise)))),
    configs: nativeDiffEngine.configs,
  };
}

/** The mutants and what each breaks. */
export const MUTANTS: readonly DiffEngine[] = [
  mutant('last-match', { lastMatch: true }),
  mutant('star-stops-at-slash', { starStopsAt: '/' }),
  mutant('star-stops-at-newline', { starStopsAt: '\n' }),
  mutant('no-canonical-image', { noCanonical: true }),
  mutant('rule-index-off-by-one', { indexShift: 1 }),
];

/** Broken effective configuration: an enforced directive yields to a local setting like a default one. */
export const ENFORCED_YIELDS: DiffEngine = {
  name: 'enforced-yields-to-local',
  decide: nativeDiffEngine.decide,
  configs: (round) =>
    Promise.resolve(
      round.groups.map((g) => {
        if (!g.enterprise) return [];
        const softened: EnterpriseConfig = {
          ...g.enterprise,
          directives: Object.fromEntries(
            Object.entries(g.enterprise.directives).map(([k, d]) => [k, { ...d, enforcement: 'default' as const }]),
          ),
        };
        return (g.locals ?? []).map((l) => effectiveConfig(softened, l));
      }),
    ),
};

/** A mutant with no mutation: must agree with the native engine everywhere. */
export const UNMUTATED: DiffEngine = mutant('unmutated', {});

/**
 * The generated policy with a broken rule index: the rules no lookup can find
 * (`always`, e.g. a rule whose only condition is `*x*`) are dropped from
 * data.json, which the shipped wasm engine then loads as usual. A request
 * whose first match is such a rule then falls through to a later rule or the
 * default.
 */
export const INDEX_DROPS_ALWAYS: DiffEngine = shippedDiffEngine('index-drops-always', (g) =>
  openShippedWasm(g, (data) => {
    (data as { mcp_policy: { lowered: { index: { always: number[] } } } }).mcp_policy.lowered.index.always = [];
    return data;
  }),
);

/**
 * The native engine with a hot path that differs from its batch path (the
 * reason of a request decided alone loses its last character): only comparing
 * `decideSync` with `decideBatch` can see it.
 */
export const SYNC_DIFFERS: DiffEngine = shippedDiffEngine('sync-differs', (g) => {
  const engine = new NativeEngine(g.policy, extrasOf(g));
  const decideSync = engine.decideSync.bind(engine);
  engine.decideSync = (request) => {
    const d = decideSync(request);
    return { ...d, reason: d.reason.slice(0, -1) };
  };
  return Promise.resolve(engine);
});

/** The one mismatch the differential tester must find between the native engine and `mutant` (version 1 policies unless told). */
export async function caughtMismatch(
  mutant: DiffEngine,
  options: Omit<DifftestOptions, 'engines' | 'maxMismatches'>,
): Promise<Mismatch> {
  // These evaluators know version 1 only: a version 2 policy would set them apart for the wrong reason.
  const result = await runDifftest({ version: 1, ...options, engines: [nativeDiffEngine, mutant], maxMismatches: 1 });
  expect(result.mismatches).toHaveLength(1);
  return result.mismatches[0]!;
}
