/**
 * Stage 2: lowering. Turns a validated policy (and enterprise directives) into
 * the data the generated Rego reads from the bundle's `data.json`: each rule
 * as a decision and a list of conditions, `*` patterns split into literal
 * pieces, and a rule index that maps request values to the few rules that
 * could match them. The emitter only prints a fixed module around it. Nothing
 * here is shared with the native evaluator.
 */
import { defaultReason, type Provenance, ruleReason } from '../core/contracts.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import {
  type AnnotationHint,
  type ArgumentCondition,
  pointerSegments,
  type Policy,
  type Rule,
  type Scalar,
} from '../policy/model.js';

/** A `*` pattern with stars: the literal prefix, the non-empty pieces between stars, the suffix. */
export interface WildcardJson {
  readonly prefix: string;
  readonly middles: readonly string[];
  readonly suffix: string;
}

/**
 * One step of an argument pointer, decided when lowering so the Rego needs no
 * string parsing: `all` for a `*` segment; else `key`, the member name, and
 * `index`, the element it names in an array (-1 when the segment is not an
 * array index, or one no request's array can reach).
 */
export interface StepJson {
  readonly key: string;
  readonly index: number;
  readonly all: boolean;
}

/** An argument condition as lowering works on it: its steps and one test. */
export type ArgumentJson =
  | { readonly steps: readonly StepJson[]; readonly test: 'present'; readonly present: boolean }
  | {
      readonly steps: readonly StepJson[];
      readonly test: 'match';
      readonly literals: Readonly<Record<string, true>>;
      readonly patterns: readonly WildcardJson[];
      readonly normalize: boolean;
      readonly not: boolean;
    }
  | {
      readonly steps: readonly StepJson[];
      readonly test: 'in';
      readonly values: readonly Scalar[];
      readonly not: boolean;
    }
  | {
      readonly steps: readonly StepJson[];
      readonly test: 'range';
      readonly min: number | null;
      readonly max: number | null;
      readonly not: boolean;
    };

/** The facts of a version 2 request that `any_of` conditions and the index read. */
export type ValueFact = 'resource' | 'sub' | 'groups';

/**
 * One condition of a rule, as lib.rego's `holds` reads it (all must hold):
 * `["equals", field, value]`, `["present", field]` (a lone `*`),
 * `["contains", field, text]` (`*text*`, the commonest shape no index narrows),
 * `["matches", field, pattern]`, `["source_is", text]`,
 * `["source_matches", pattern]`, `["tools", {literal: true}, [pattern]]`;
 * and, in version 2 policies only, the form lowering and the index work on
 * (data.json holds them as {@link ConditionV2Json}):
 * `["any_of", fact, {literal: true}, [pattern]]` (`resources`, `users`,
 * `groups`), `["claims", [[name, {literal: true}, [pattern]]]]`,
 * `["annotation", hint, value]` and `["argument", condition]`.
 */
export type ConditionJson =
  | readonly ['equals', string, string]
  | readonly ['present', string]
  | readonly ['contains', string, string]
  | readonly ['matches', string, WildcardJson]
  | readonly ['source_is', string]
  | readonly ['source_matches', WildcardJson]
  | readonly ['tools', Readonly<Record<string, true>>, readonly WildcardJson[]]
  | readonly ['any_of', ValueFact, Readonly<Record<string, true>>, readonly WildcardJson[]]
  | readonly ['claims', readonly (readonly [string, Readonly<Record<string, true>>, readonly WildcardJson[]])[]]
  | readonly ['annotation', AnnotationHint, boolean]
  | readonly ['argument', ArgumentJson];

/** A `*` pattern as v2.rego reads it: `[prefix, middles, suffix]`. */
export type PatternV2Json = readonly [string, readonly string[], string];

/**
 * An argument pointer as v2.rego reads it: the member name for a pointer of
 * one segment that is not `*`, else per segment `"*"`, the member name, or
 * `[name, index]` for a segment that is an array index.
 */
export type StepsV2Json = string | readonly (string | readonly [string, number])[];

/**
 * A version 2 condition as v2.rego's `holds` reads it, in a compact form
 * (decoding a candidate rule's text costs by its length): `["r" | "u" | "g",
 * {literal: true}, [pattern]]` for resources, users and groups,
 * `["c", [[name, {literal: true}, [pattern]]]]`, `["h", hint, value]`, and per
 * argument test `["m" | "mp", steps, {literal: true}, [pattern], not]` (`mp`
 * cleans the value as a path first), `["in", steps, [value], not]`,
 * `["rg", steps, min, max, not]` and `["p", steps, present]`.
 */
export type ConditionV2Json =
  | readonly ['r' | 'u' | 'g', Readonly<Record<string, true>>, readonly PatternV2Json[]]
  | readonly ['c', readonly (readonly [string, Readonly<Record<string, true>>, readonly PatternV2Json[]])[]]
  | readonly ['h', AnnotationHint, boolean]
  | readonly ['m' | 'mp', StepsV2Json, Readonly<Record<string, true>>, readonly PatternV2Json[], boolean]
  | readonly ['in', StepsV2Json, readonly Scalar[], boolean]
  | readonly ['rg', StepsV2Json, number | null, number | null, boolean]
  | readonly ['p', StepsV2Json, boolean];

/**
 * A version 2 rule's conditions in data.json: its version 1 conditions (for
 * lib.rego) and its version 2 ones (for v2.rego), so neither module tries
 * the other's kinds.
 */
export type RuleV2Json = readonly [readonly ConditionJson[], readonly ConditionV2Json[]];

const V1_KINDS: ReadonlySet<string> = new Set([
  'equals',
  'present',
  'contains',
  'matches',
  'source_is',
  'source_matches',
  'tools',
]);

const patternV2 = (w: WildcardJson): PatternV2Json => [w.prefix, w.middles, w.suffix];

function stepsV2(steps: readonly StepJson[]): StepsV2Json {
  const [only] = steps;
  if (steps.length === 1 && only !== undefined && !only.all) return only.key;
  return steps.map((s) => (s.all ? '*' : s.index < 0 ? s.key : ([s.key, s.index] as const)));
}

function conditionV2(c: ConditionJson): ConditionV2Json {
  switch (c[0]) {
    case 'any_of':
      return [({ resource: 'r', sub: 'u', groups: 'g' } as const)[c[1]], c[2], c[3].map(patternV2)];
    case 'claims':
      return ['c', c[1].map(([name, literals, patterns]) => [name, literals, patterns.map(patternV2)] as const)];
    case 'annotation':
      return ['h', c[1], c[2]];
    case 'argument': {
      const a = c[1];
      const steps = stepsV2(a.steps);
      switch (a.test) {
        case 'present':
          return ['p', steps, a.present];
        case 'match':
          return [a.normalize ? 'mp' : 'm', steps, a.literals, a.patterns.map(patternV2), a.not];
        case 'in':
          return ['in', steps, a.values, a.not];
        case 'range':
          return ['rg', steps, a.min, a.max, a.not];
      }
    }
  }
  throw new Error(`not a version 2 condition: ${c[0]}`);
}

/** A version 2 rule's conditions as data.json holds them; see {@link RuleV2Json}. */
export function ruleV2(when: readonly ConditionJson[]): RuleV2Json {
  return [when.filter((c) => V1_KINDS.has(c[0])), when.filter((c) => !V1_KINDS.has(c[0])).map(conditionV2)];
}

/** A decision as every engine answers it. */
export interface DecisionJson {
  readonly allowed: boolean;
  readonly reason: string;
  readonly rule: number | null;
}

export interface RuleJson {
  readonly decision: DecisionJson;
  readonly when: readonly ConditionJson[];
}

/**
 * The rule index: every rule is listed under the one condition that narrows
 * it most (under every literal or affix of a `tools` list), or in `always`
 * when no condition can be looked up. The rules a request can match are a
 * subset of the union of its lookups; lib.rego checks only those, in order.
 */
export interface IndexJson {
  /**
   * Field (`action`, `serverType`, `transport`, `server`, `source`, `tool`,
   * and in version 2 `resource`, `sub`, `groups`) → value → rule indices.
   */
  readonly equals: Readonly<Record<string, Readonly<Record<string, readonly number[]>>>>;
  /**
   * Field (`server`, `source`, `tool`) → tiers: `prefix[f][k]` maps the first
   * `prefixLengths[f][k]` code points of a value to rule indices. Tiers are
   * reached by position so that OPA reads one tier, never all of them.
   */
  readonly prefix: Readonly<Record<string, readonly Readonly<Record<string, readonly number[]>>[]>>;
  readonly prefixLengths: Readonly<Record<string, readonly number[]>>;
  readonly suffix: Readonly<Record<string, readonly Readonly<Record<string, readonly number[]>>[]>>;
  readonly suffixLengths: Readonly<Record<string, readonly number[]>>;
  /** Rules no lookup can find (no condition, or only conditions like `*x*`). */
  readonly always: readonly number[];
  /**
   * Only in the index of a policy that has {@link NGRAM_MIN_RULES} or more
   * rules on one field whose patterns have no literal start or end (every
   * other policy's data stays as it was): field → tiers, where `ngram[f][k]`
   * maps an n-gram of `ngramLengths[f][k]` code points, taken from a literal
   * piece of such a pattern, to the rules filed under it. A request is looked
   * up under every n-gram of its value.
   */
  readonly ngram?: Readonly<Record<string, readonly Readonly<Record<string, readonly number[]>>[]>>;
  readonly ngramLengths?: Readonly<Record<string, readonly number[]>>;
  /**
   * Field → how many rules its n-gram tiers hold: a request checks them all
   * instead when its value is too long to be worth cutting into n-grams.
   */
  readonly ngramRules?: Readonly<Record<string, number>>;
}

/**
 * What the bundle's `data.json` holds for one policy, under `<package>.lowered`.
 *
 * Rules the index finds keep their conditions as JSON text, decoded (by
 * `json.unmarshal`) only when a request names the rule as a candidate: the
 * opa-wasm runtime holds loaded data as OPA values, about 15 times the size of
 * the JSON, and one string per rule is what keeps a large policy small in
 * memory. The rules in `index.always`, which every request checks, keep their
 * conditions as values, so no request decodes them.
 */
export interface LoweredData {
  readonly default: DecisionJson;
  /**
   * Per rule, its conditions ({@link ConditionJson}[], or {@link RuleV2Json} in a version 2 policy): JSON
   * text, or the value itself for the rules in `index.always`.
   */
  readonly rules: readonly (string | readonly ConditionJson[] | RuleV2Json)[];
  /** Per rule, its decision ({@link DecisionJson}) as JSON text, decoded for the rule that decides. */
  readonly decisions: readonly string[];
  readonly index: IndexJson;
  /** Enterprise directives (key → value and enforcement), with --enterprise. */
  readonly directives?: Readonly<Record<string, { value: unknown; enforcement: string }>>;
  /** Degraded-mode settings in lib.rego's field names, with --enterprise. */
  readonly degraded?: Readonly<Record<string, unknown>>;
  /** Which policy source is in force and why, when known. */
  readonly provenance?: Provenance;
  /**
   * Version 2: the most patterns one rule tries against each group or claim
   * value of a request, or against each argument value it finds (1 when no
   * rule tries more than one). Hosts price a request's entries and argument
   * values by it, as each is matched against that many patterns per rule.
   */
  readonly patternWeight?: number;
}

/** A lowered policy: the data, and which optional parts the module must print. */
export interface LoweredPolicy {
  readonly data: LoweredData;
  /** The policy's version: a version 2 module imports v2.rego's helpers (absent means 1). */
  readonly version?: 1 | 2;
  readonly enterprise: boolean;
  readonly provenance: boolean;
}

/** Longest affix (in code points) an index key takes; longer prefixes and suffixes are cut to it. */
export const MAX_AFFIX_KEY = 32;

/** Splits a `*` pattern: undefined for a literal. `**` is the same as `*`. */
export function parsePattern(text: string): WildcardJson | undefined {
  const pieces = text.split('*');
  if (pieces.length === 1) return undefined;
  return {
    prefix: pieces[0] ?? '',
    middles: pieces.slice(1, -1).filter((p) => p !== ''),
    suffix: pieces[pieces.length - 1] ?? '',
  };
}

const isBare = (w: WildcardJson): boolean => w.prefix === '' && w.suffix === '' && w.middles.length === 0;

/** A pattern list as literals (a null-prototype set: `__proto__` is a key like any other) and distinct wildcards. */
function patternSet(patterns: readonly string[]): [Record<string, true>, WildcardJson[]] {
  const literals = Object.create(null) as Record<string, true>;
  const wild: WildcardJson[] = [];
  for (const p of patterns) {
    const w = parsePattern(p);
    if (w === undefined) literals[p] = true;
    else wild.push(w);
  }
  return [literals, [...new Map(wild.map((w) => [JSON.stringify(w), w])).values()]];
}

/** Array indices beyond this are not looked up: no request (4 MiB at most) has an array that long. */
const MAX_INDEX = 2 ** 31;

function lowerStep(segment: string): StepJson {
  if (segment === '*') return { key: segment, index: -1, all: true };
  const index = /^(0|[1-9][0-9]*)$/.test(segment) ? Number(segment) : -1;
  return { key: segment, index: index < MAX_INDEX ? index : -1, all: false };
}

function lowerArgument(c: ArgumentCondition): ArgumentJson {
  const steps = pointerSegments(c.path).map(lowerStep);
  const not = c.not === true;
  if (c.present !== undefined) return { steps, test: 'present', present: c.present };
  if (c.match !== undefined) {
    const [literals, patterns] = patternSet(c.match);
    return { steps, test: 'match', literals, patterns, normalize: c.normalize === 'path', not };
  }
  if (c.equals !== undefined) return { steps, test: 'in', values: [c.equals], not };
  if (c.in !== undefined) return { steps, test: 'in', values: [...c.in], not };
  return { steps, test: 'range', min: c.min ?? null, max: c.max ?? null, not };
}

/** The conditions of the version 2 keys of a rule, in the order v2.rego checks them (cheapest first). */
function lowerV2Conditions(rule: Rule): ConditionJson[] {
  const out: ConditionJson[] = [];
  const lists: [ValueFact, readonly string[] | undefined][] = [
    ['resource', rule.resources],
    ['sub', rule.users],
    ['groups', rule.groups],
  ];
  for (const [fact, patterns] of lists) if (patterns !== undefined) out.push(['any_of', fact, ...patternSet(patterns)]);
  if (rule.claims !== undefined) {
    out.push(['claims', Object.keys(rule.claims).map((name) => [name, ...patternSet(rule.claims![name]!)] as const)]);
  }
  if (rule.annotations !== undefined) {
    for (const [hint, value] of Object.entries(rule.annotations) as [AnnotationHint, boolean | undefined][]) {
      if (value !== undefined) out.push(['annotation', hint, value]);
    }
  }
  for (const c of rule.arguments ?? []) out.push(['argument', lowerArgument(c)]);
  return out;
}

function lowerConditions(rule: Rule): ConditionJson[] {
  const out: ConditionJson[] = [];
  if (rule.action !== undefined) out.push(['equals', 'action', rule.action]);
  if (rule.serverType !== undefined) out.push(['equals', 'serverType', rule.serverType]);
  if (rule.transport !== undefined) out.push(['equals', 'transport', rule.transport]);
  if (rule.server !== undefined) {
    const w = parsePattern(rule.server);
    if (w === undefined) out.push(['equals', 'server', rule.server]);
    else if (isBare(w)) out.push(['present', 'server']);
    else if (w.prefix === '' && w.suffix === '' && w.middles.length === 1) {
      out.push(['contains', 'server', w.middles[0] as string]);
    } else out.push(['matches', 'server', w]);
  }
  if (rule.serverSource !== undefined) {
    const w = parsePattern(rule.serverSource);
    if (w === undefined) out.push(['source_is', rule.serverSource]);
    else out.push(isBare(w) ? ['present', 'serverSource'] : ['source_matches', w]);
  }
  if (rule.tools !== undefined) {
    const wild = rule.tools.map(parsePattern);
    if (wild.some((w) => w !== undefined && isBare(w))) out.push(['present', 'tool']);
    else {
      // Null prototype: a tool named `__proto__` is a key like any other.
      const literals = Object.create(null) as Record<string, true>;
      for (const t of rule.tools) if (!t.includes('*')) literals[t] = true;
      const patterns = wild.filter((w): w is WildcardJson => w !== undefined);
      const unique = [...new Map(patterns.map((w) => [JSON.stringify(w), w])).values()];
      out.push(['tools', literals, unique]);
    }
  }
  return [...out, ...lowerV2Conditions(rule)];
}

/**
 * The fewest rules on one field that only an n-gram can find before a policy's
 * index files rules under n-grams. Below it every such rule stays in `always`,
 * so the bundles of small policies (every example, every golden) keep their
 * bytes and carry no n-gram module; above it a request that would check each
 * of them checks a few candidates instead.
 */
export const NGRAM_MIN_RULES = 32;

/**
 * The lengths of n-gram keys, in code points. A pattern is filed under a
 * 4-gram of a piece of 4 or more characters (4-grams are far more selective
 * than 3-grams: on 10,000 rules `*-svcNNNNN-*` a request meets 2 candidates
 * instead of 20), else under a 3-gram; each length the policy uses costs a
 * request one pass over the field. Patterns with no piece of 3 characters
 * stay in `always`.
 */
export const NGRAM_LENGTHS: readonly number[] = [3, 4];

/** A place a rule can be looked up under. */
type Key =
  | { readonly kind: 'equals'; readonly field: string; readonly value: string }
  | { readonly kind: 'prefix' | 'suffix'; readonly field: string; readonly value: string }
  | { readonly kind: 'ngram'; readonly field: string; readonly pattern: WildcardJson };

/** The n-grams a pattern with no literal end can be filed under, most selective length first; none if too short. */
function gramChoices(w: WildcardJson): string[] {
  const pieces = w.middles.map((m) => [...m]);
  for (const n of [...NGRAM_LENGTHS].reverse()) {
    const grams = new Set<string>();
    for (const cs of pieces) for (let i = 0; i + n <= cs.length; i++) grams.add(cs.slice(i, i + n).join(''));
    if (grams.size > 0) return [...grams];
  }
  return [];
}

/**
 * The key of a wildcard: its longer literal end, else (on a field whose n-gram
 * index is on) an n-gram of a literal piece, chosen once the whole policy is known.
 */
function wildcardKey(field: string, w: WildcardJson, ngram: NgramFields): Key | undefined {
  const key = affixKey(field, w);
  const shortest = NGRAM_LENGTHS[0] ?? 3;
  if (key !== undefined || !ngram.has(field) || !w.middles.some((m) => [...m].length >= shortest)) return key;
  return { kind: 'ngram', field, pattern: w };
}

/**
 * How well an n-gram key narrows: below any literal start or end, above the
 * enum fields and who asks (which every request of a kind shares).
 */
const NGRAM_SCORE = 2;

/** A key's score within a list: an exact name is best, then an affix by its length, then an n-gram. */
const keyScore = (key: Key): number => (key.kind === 'ngram' ? NGRAM_SCORE : 10 + [...key.value].length);

/** The keys one wildcard can be found under: its longer literal end, cut to {@link MAX_AFFIX_KEY}. */
function affixKey(field: string, w: WildcardJson): Key | undefined {
  const pre = [...w.prefix];
  const suf = [...w.suffix];
  if (pre.length === 0 && suf.length === 0) return undefined;
  if (pre.length >= suf.length) return { kind: 'prefix', field, value: pre.slice(0, MAX_AFFIX_KEY).join('') };
  return { kind: 'suffix', field, value: suf.slice(-MAX_AFFIX_KEY).join('') };
}

/**
 * The keys a condition can be found under, and how well they narrow: an
 * exact name beats an affix (longer is better), which beats an enum field.
 */
function conditionKeys(c: ConditionJson, ngram: NgramFields): { keys: Key[]; score: number } | undefined {
  switch (c[0]) {
    case 'equals':
      return {
        keys: [{ kind: 'equals', field: c[1], value: c[2] }],
        score: c[1] === 'server' ? 1000 : 1,
      };
    case 'source_is':
      return { keys: [{ kind: 'equals', field: 'source', value: c[1] }], score: 1000 };
    case 'matches':
    case 'source_matches': {
      const key = c[0] === 'matches' ? wildcardKey(c[1], c[2], ngram) : wildcardKey('source', c[1], ngram);
      return key && { keys: [key], score: keyScore(key) };
    }
    case 'contains': {
      const key = wildcardKey(c[1], { prefix: '', middles: [c[2]], suffix: '' }, ngram);
      return key && { keys: [key], score: keyScore(key) };
    }
    case 'tools':
      return listKeys('tool', c[1], c[2], ngram);
    case 'any_of': {
      const option = listKeys(c[1], c[2], c[3], ngram);
      if (option === undefined || c[1] === 'resource') return option;
      // Who asks is shared by many rules (the same group or domain on every rule of a team's policy).
      return identityOption(option);
    }
    case 'claims': {
      // Every listed claim must match, so any one of them finds the rule: the one that narrows most.
      let best: { keys: Key[]; score: number } | undefined;
      for (const [name, literals, patterns] of c[1]) {
        const field = claimField(name);
        const option = ngram.has(field) ? listKeys(field, literals, patterns, ngram) : undefined;
        if (option && (best === undefined || option.score > best.score)) best = option;
      }
      return best && identityOption(best);
    }
    case 'argument': {
      // A negated test holds on values that do not match, and a presence test names no value: neither is filed.
      const a = c[1];
      if (a.test !== 'match' || a.not) return undefined;
      const field = argumentField(a.steps, a.normalize);
      const option = ngram.has(field) ? listKeys(field, a.literals, a.patterns, ngram) : undefined;
      return option && identityOption(option);
    }
    case 'present':
    case 'annotation':
      return undefined;
  }
}

/**
 * A key on a value many rules and requests share (who asks, an argument)
 * narrows less than any name of a server, source, tool or resource: it ranks
 * just above the enum fields, and among such keys by the same scores.
 */
const identityOption = (option: { keys: Key[]; score: number }) => ({
  keys: option.keys,
  score: 1 + option.score / 10_000,
});

/** The keys of a list of patterns: one per literal and per wildcard's affix; none if a wildcard has no literal end. */
function listKeys(
  field: string,
  literals: Readonly<Record<string, true>>,
  patterns: readonly WildcardJson[],
  ngram: NgramFields,
): { keys: Key[]; score: number } | undefined {
  const keys: Key[] = Object.keys(literals).map((value) => ({ kind: 'equals', field, value }));
  let score = 1000;
  for (const w of patterns) {
    const key = wildcardKey(field, w, ngram);
    if (key === undefined) return undefined;
    keys.push(key);
    score = Math.min(score, keyScore(key));
  }
  return { keys, score };
}

function push<K extends string>(table: Record<K, number[]>, key: K, index: number): void {
  const list = (table[key] ??= []);
  if (list[list.length - 1] !== index) list.push(index);
}

/** Each rule's best keys (undefined: no condition can be looked up), with n-gram keys on the fields in `ngram`. */
function bestKeys(rules: readonly RuleJson[], ngram: NgramFields): (Key[] | undefined)[] {
  return rules.map((rule) => {
    let best: { keys: Key[]; score: number } | undefined;
    for (const c of rule.when) {
      const option = conditionKeys(c, ngram);
      if (option && (best === undefined || option.score > best.score)) best = option;
    }
    return best?.keys;
  });
}

/** How many rules each field would file under n-grams. */
function ngramRules(chosen: readonly (Key[] | undefined)[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const keys of chosen) {
    for (const field of new Set((keys ?? []).filter((k) => k.kind === 'ngram').map((k) => k.field))) {
      counts.set(field, (counts.get(field) ?? 0) + 1);
    }
  }
  return counts;
}

/** The fields whose n-gram index is on (lowering asks each field by name). */
interface NgramFields {
  has(field: string): boolean;
}

/** Leaves out the fields below the threshold until every field left is at or above it. */
function settle(rules: readonly RuleJson[], fields: Set<string>): Set<string> {
  // A field left out files its rules under other keys, which can only add rules to the other fields' counts: a
  // field that falls short is left out and the rest counted again until every one left is above the threshold.
  for (;;) {
    const counts = ngramRules(bestKeys(rules, fields));
    const kept = new Set([...fields].filter((f) => (counts.get(f) ?? 0) >= NGRAM_MIN_RULES));
    if (kept.size === fields.size) return kept;
    fields = kept;
  }
}

/** A claim's or an argument's field: turning it on offers its literals and affixes too, not only n-grams. */
const isValueField = (field: string): boolean => field.includes(':');

/** The fields whose n-gram index is on: those with {@link NGRAM_MIN_RULES} rules only an n-gram finds. */
function ngramFields(rules: readonly RuleJson[]): Set<string> {
  const named = ngramRules(bestKeys(rules, { has: (f) => !isValueField(f) }));
  const fields = settle(rules, new Set(named.keys()));
  // Claims and argument values count apart, so that their literal keys never take a rule from another field's count.
  const all = ngramRules(bestKeys(rules, { has: () => true }));
  const values = [...all].filter(([f, n]) => isValueField(f) && n >= NGRAM_MIN_RULES).map(([f]) => f);
  return values.length === 0 ? fields : settle(rules, new Set([...fields, ...values]));
}

/**
 * The index field of a claim: its values are looked up under the claim's
 * literals, affixes and n-grams only in a policy with {@link NGRAM_MIN_RULES}
 * rules an n-gram of that claim finds (so every other policy keeps its bytes).
 */
export const claimField = (name: string): string => `claim:${name}`;

/**
 * The index field of the string values an argument pointer finds, as a
 * `match` condition sees them (cleaned as a path with `normalize: path`):
 * `arg:` or `argpath:` and the pointer's steps as data.json writes them.
 * On only under the same threshold as claims.
 */
export const argumentField = (steps: readonly StepJson[], normalize: boolean): string =>
  `${normalize ? 'argpath' : 'arg'}:${JSON.stringify(stepsV2(steps))}`;

/**
 * The n-gram each pattern is filed under: of its choices, the one the fewest
 * patterns of its field share (so a request meets few candidates), the first
 * on ties (the result depends only on the policy).
 */
function chooseGrams(chosen: readonly (Key[] | undefined)[]): (key: Key & { kind: 'ngram' }) => string {
  const shared = new Map<string, number>();
  const choices = new Map<WildcardJson, string[]>();
  for (const keys of chosen) {
    for (const key of keys ?? []) {
      if (key.kind !== 'ngram' || choices.has(key.pattern)) continue;
      const grams = gramChoices(key.pattern);
      choices.set(key.pattern, grams);
      for (const g of grams) shared.set(`${key.field}\0${g}`, (shared.get(`${key.field}\0${g}`) ?? 0) + 1);
    }
  }
  return (key) => {
    let best = '';
    let fewest = Infinity;
    for (const g of choices.get(key.pattern) ?? []) {
      const n = shared.get(`${key.field}\0${g}`) ?? 0;
      if (n < fewest) [best, fewest] = [g, n];
    }
    return best;
  };
}

type Tiers = Record<string, Map<number, Record<string, number[]>>>;

function fileUnder(tiers: Tiers, field: string, value: string, index: number): void {
  const n = [...value].length;
  const byLength = (tiers[field] ??= new Map());
  let tier = byLength.get(n);
  if (tier === undefined) byLength.set(n, (tier = Object.create(null) as Record<string, number[]>));
  push(tier, value, index);
}

/** Builds the rule index; see {@link IndexJson}. */
export function buildIndex(rules: readonly RuleJson[]): IndexJson {
  const equals: Record<string, Record<string, number[]>> = {};
  const affix = { prefix: {}, suffix: {}, ngram: {} } as Record<'prefix' | 'suffix' | 'ngram', Tiers>;
  const always: number[] = [];
  const chosen = bestKeys(rules, ngramFields(rules));
  const gramOf = chooseGrams(chosen);
  chosen.forEach((keys, index) => {
    if (keys === undefined) {
      always.push(index);
      return;
    }
    for (const key of keys) {
      if (key.kind === 'equals') {
        push((equals[key.field] ??= Object.create(null) as Record<string, number[]>), key.value, index);
      } else if (key.kind === 'ngram') fileUnder(affix.ngram, key.field, gramOf(key), index);
      else fileUnder(affix[key.kind], key.field, key.value, index);
    }
  });
  const sorted = (tiers: Map<number, Record<string, number[]>>) => [...tiers.entries()].sort(([a], [b]) => a - b);
  const tiersOf = (m: Tiers) =>
    Object.fromEntries(Object.entries(m).map(([f, tiers]) => [f, sorted(tiers).map(([, keys]) => ({ ...keys }))]));
  const lengthsOf = (m: Tiers) =>
    Object.fromEntries(Object.entries(m).map(([f, tiers]) => [f, sorted(tiers).map(([n]) => n)]));
  return {
    equals: Object.fromEntries(Object.entries(equals).map(([f, t]) => [f, { ...t }])),
    prefix: tiersOf(affix.prefix),
    prefixLengths: lengthsOf(affix.prefix),
    suffix: tiersOf(affix.suffix),
    suffixLengths: lengthsOf(affix.suffix),
    always,
    // Present only when used, so the data of every other policy keeps its bytes.
    ...(Object.keys(affix.ngram).length > 0 && {
      ngram: tiersOf(affix.ngram),
      ngramLengths: lengthsOf(affix.ngram),
      ngramRules: Object.fromEntries(
        Object.entries(affix.ngram).map(([f, tiers]) => {
          const filed = new Set([...tiers.values()].flatMap((tier) => Object.values(tier).flat()));
          return [f, filed.size];
        }),
      ),
    }),
  };
}

const stars = (patterns: readonly string[] | undefined): number =>
  patterns === undefined ? 0 : patterns.filter((p) => p.includes('*')).length;

/** See {@link LoweredData.patternWeight}: literals are one lookup, each `*` pattern one match. */
function patternWeight(policy: Policy): number {
  let most = 1;
  for (const rule of policy.rules) {
    let entries = 1 + stars(rule.groups);
    for (const name of Object.keys(rule.claims ?? {})) entries += stars(rule.claims?.[name]);
    let values = 1;
    for (const c of rule.arguments ?? []) values += c.match?.length ?? 0;
    most = Math.max(most, entries, values);
  }
  return most;
}

function lowerEnterprise(config: EnterpriseConfig): Pick<LoweredData, 'directives' | 'degraded'> {
  const dm = config.degradedMode;
  const degraded: Record<string, unknown> = {};
  if (dm) {
    degraded.policy = dm.policy;
    if (dm.gracePeriod !== undefined) degraded.grace_period = dm.gracePeriod;
    if (dm.gracePeriodSeconds !== undefined) degraded.grace_seconds = dm.gracePeriodSeconds;
    if (dm.message !== undefined) degraded.message = dm.message;
  }
  const directives = Object.fromEntries(
    Object.entries(config.directives).map(([k, d]) => [k, { value: d.value, enforcement: d.enforcement }]),
  );
  return { directives, degraded };
}

/** What lowering takes besides the policy. */
export interface LowerOptions {
  readonly enterprise?: EnterpriseConfig;
  readonly provenance?: Provenance;
}

/** Lowers a validated policy. Pure: the same input always lowers to the same data, key for key. */
export function lower(policy: Policy, options: LowerOptions = {}): LoweredPolicy {
  const rules: RuleJson[] = policy.rules.map((rule, index) => ({
    decision: { allowed: rule.allow, reason: rule.reason ?? ruleReason(index, rule.allow), rule: index },
    when: lowerConditions(rule),
  }));
  const index = buildIndex(rules);
  const always = new Set(index.always);
  const data: LoweredData = {
    default: { allowed: policy.default === 'allow', reason: defaultReason(policy.default), rule: null },
    rules: rules.map((r, i) => {
      const when = policy.version === 2 ? ruleV2(r.when) : r.when;
      return always.has(i) ? when : JSON.stringify(when);
    }),
    decisions: rules.map((r) => JSON.stringify(r.decision)),
    index,
    ...(options.enterprise && lowerEnterprise(options.enterprise)),
    ...(options.provenance && { provenance: { policy: options.provenance.policy, why: options.provenance.why } }),
    ...(policy.version === 2 && { patternWeight: patternWeight(policy) }),
  };
  return {
    data,
    ...(policy.version === 2 && { version: 2 as const }),
    enterprise: options.enterprise !== undefined,
    provenance: options.provenance !== undefined,
  };
}
