/**
 * Sets of requests as unions of boxes: a box constrains each request field on
 * its own (rules are conjunctions of per-field conditions), so what a rule
 * matches is one box, and "matched by this rule but by none of those" is a
 * finite union of boxes. Enumerated fields are bit sets; text fields are
 * automata over {@link Automata}, where the empty string stands for an absent
 * field (the two are the same thing to every engine).
 *
 * Version 2 adds dimensions of the same kind: `resource` and `principal.sub`
 * are text fields; the effective annotations are one enumeration of 16
 * tuples; groups and each claim named by a rule are sets with "some element
 * in L, none in M" constraints; each argument path without `*` and without
 * `normalize` (and not a prefix of another such path) is the
 * value found there, by JSON type. Every other argument condition is an
 * opaque yes/no dimension of its own: the analysis then reasons about a
 * superset of the real requests, so what holds for every request of a region
 * still holds (shadowed, redundant), but a region may hold no real request,
 * and witnesses are built and checked instead of trusted (`realize`).
 */
import {
  ACTIONS,
  ACTIONS_V2,
  ANNOTATION_DEFAULTS,
  ANNOTATION_HINTS,
  type AnnotationHint,
  type ArgumentCondition,
  type Policy,
  type PolicyRequest,
  type Rule,
  pointerSegments,
  type Scalar,
  SERVER_TYPES,
  TRANSPORTS,
} from '../policy/model.js';
import { type Dfa, Automata } from './automaton.js';
import { conditionHolds, valuesAt } from './conditions.js';
import {
  ABSENT,
  COMPOSITE,
  FALSE,
  NULL,
  NUM_ALL,
  NUM_NONE,
  numOr,
  numPoint,
  numRange,
  type SomeNone,
  someNoneAnd,
  someNoneEmpty,
  someNoneWitness,
  TRUE,
  type ValueSet,
  Values,
} from './values.js';

export const TEXT_FIELDS = ['server', 'serverSource', 'tool', 'resource', 'sub'] as const;
export type TextField = (typeof TEXT_FIELDS)[number];
export const ENUM_FIELDS = ['action', 'serverType', 'transport'] as const;
export type EnumField = (typeof ENUM_FIELDS)[number];
/** Bit-set dimensions: the enumerations and the effective annotations. */
const BIT_FIELDS = ['action', 'serverType', 'transport', 'annotations'] as const;
type BitField = (typeof BIT_FIELDS)[number];

/** The values of each enumerated field; for serverType and transport, the last bit is "absent or another value". */
const ENUM_VALUES: Record<EnumField, readonly string[]> = {
  action: ACTIONS_V2,
  serverType: SERVER_TYPES,
  transport: TRANSPORTS,
};
/** The effective annotation tuples: bit `k` of tuple `t` is hint `k`'s effective value. */
const ANNOTATIONS_ALL = 0xffff;
const V1_ACTIONS = (1 << ACTIONS.length) - 1;
/**
 * A condition on one text field, as the policy wrote it: a pattern, one of
 * several patterns (a rule's `tools`), or a conjunction left by subtracting
 * a region that was itself an intersection, or a set no pattern wrote
 * (`described`, for people only). Patterns stay plain strings so
 * JSON output shows them as written; only the text rendering quotes them.
 */
export type Condition =
  | string
  | { readonly anyOf: readonly string[] }
  | { readonly described: string }
  | { readonly allOf: readonly Condition[]; readonly noneOf: readonly Condition[] };

/** One text field's set, with the conditions it was built from (for people). */
export interface TextSet {
  readonly dfa: Dfa;
  /** Conditions that hold, e.g. `docker.io/mcp/*`. */
  readonly pos: readonly Condition[];
  /** Conditions that must not hold. */
  readonly neg: readonly Condition[];
  /**
   * For a set that lies within a union of `*` patterns: their literal
   * prefixes and suffixes, which rule out most disjoint pairs with two string
   * comparisons instead of an automaton walk.
   */
  readonly ends?: readonly (readonly [string, string])[];
}

function endsOf(pattern: string): readonly [string, string] {
  const first = pattern.indexOf('*');
  return first < 0 ? [pattern, pattern] : [pattern.slice(0, first), pattern.slice(pattern.lastIndexOf('*') + 1)];
}

/** Whether two patterns' literal ends already rule out a common match. */
function endsClash(x: readonly [string, string], y: readonly [string, string]): boolean {
  const pre = x[0].length <= y[0].length ? y[0].startsWith(x[0]) : x[0].startsWith(y[0]);
  const suf = x[1].length <= y[1].length ? y[1].endsWith(x[1]) : x[1].endsWith(y[1]);
  return !pre || !suf;
}

function clash(x: TextSet, y: TextSet): boolean {
  if (!x.ends || !y.ends) return false;
  for (const a of x.ends) for (const b of y.ends) if (!endsClash(a, b)) return false;
  return true;
}

/** A set-valued field's constraint with the conditions it was built from (for people). */
export interface GroupSet {
  readonly set: SomeNone;
  /** Conditions some element must match. */
  readonly pos: readonly Condition[];
  /** Conditions no element may match. */
  readonly neg: readonly Condition[];
}

/** What may be found at one argument path, with the conditions it was built from (for people). */
export interface ArgSet {
  readonly set: ValueSet;
  readonly pos: readonly string[];
  readonly neg: readonly string[];
}

/** A product of per-field sets: every combination of the field values is in it. */
export interface Box {
  readonly action: number;
  readonly serverType: number;
  readonly transport: number;
  /** Effective annotation tuples (16 bits). */
  readonly annotations: number;
  readonly server: TextSet;
  readonly serverSource: TextSet;
  readonly tool: TextSet;
  readonly resource: TextSet;
  /** `principal.sub`; absent (no principal, or no sub) is the empty string. */
  readonly sub: TextSet;
  readonly groups: GroupSet;
  /** One per claim name of {@link RequestSpace.claimNames}. */
  readonly claims: readonly GroupSet[];
  /** One per exact path of {@link RequestSpace.paths}. */
  readonly args: readonly ArgSet[];
  /** One per opaque condition of {@link RequestSpace.opaque}: bit 0 "fails" allowed, bit 1 "holds" allowed. */
  readonly opaque: readonly number[];
}

export type Region = readonly Box[];

/** The texts canonicalisation depends on, so their characters are in every alphabet. */
const CANONICAL_TEXTS = [
  'docker.io/library/',
  'docker.io/',
  'index.docker.io/',
  '://',
  'localhost/',
  '.',
  ':',
  'http://',
  'https://',
];

type Matches = { matches: Condition[]; notMatches: Condition[] };

/** Field constraints as JSON: what a region description says. */
export interface BoxDescription {
  action?: string[];
  serverType?: string[];
  transport?: string[];
  server?: Matches;
  serverSource?: Matches;
  tool?: Matches;
  resource?: Matches;
  /** `principal.sub`. */
  sub?: Matches;
  /** Patterns some group must match, and patterns no group may match. */
  groups?: { someMatch: Condition[]; noneMatch: Condition[] };
  claims?: Record<string, { someMatch: Condition[]; noneMatch: Condition[] }>;
  /** The effective annotation values allowed, per hint (or the allowed tuples when hints depend on each other). */
  annotations?: Partial<Record<AnnotationHint, boolean[]>> | { oneOf: Record<AnnotationHint, boolean>[] };
  /** Per argument path: conditions that hold, and conditions that fail. */
  arguments?: Record<string, { holds: string[]; fails: string[] }>;
  /** Argument conditions the analysis treats as opaque: those that hold, and those that fail. */
  opaque?: { holds: string[]; fails: string[] };
}

/** Why an argument condition is not analysed exactly. */
export type InexactWhy = 'wildcard path' | 'path normalisation' | 'dependent path';

/** An argument condition the analysis treats as an opaque yes/no dimension. */
export interface OpaqueCondition {
  readonly condition: ArgumentCondition;
  readonly why: InexactWhy;
}

function conditionText(c: ArgumentCondition): string {
  const parts: string[] = [];
  if (c.present !== undefined) return `${c.present ? 'present' : 'absent'}`;
  if (c.match !== undefined)
    parts.push(`matches ${c.match.length === 1 ? JSON.stringify(c.match[0]) : `any of ${JSON.stringify(c.match)}`}`);
  if (c.equals !== undefined) parts.push(`equals ${JSON.stringify(c.equals)}`);
  if (c.in !== undefined) parts.push(`in ${JSON.stringify(c.in)}`);
  if (c.min !== undefined) parts.push(`>= ${c.min}`);
  if (c.max !== undefined) parts.push(`<= ${c.max}`);
  const test = `${parts.join(' and ')}${c.normalize === 'path' ? ' (path cleaned)' : ''}`;
  return c.not === true ? `found and not ${test}` : test;
}

/** A condition with its path, for people: `/path matches "x"`. */
export function argumentConditionText(c: ArgumentCondition): string {
  return `${JSON.stringify(c.path)} ${conditionText(c)}`;
}

function opaqueKey(c: ArgumentCondition): string {
  return JSON.stringify([
    c.path,
    c.match ?? null,
    c.equals === undefined ? null : [c.equals],
    c.in ?? null,
    c.min ?? null,
    c.max ?? null,
    c.present ?? null,
    c.not === true,
    c.normalize ?? null,
  ]);
}

function isPrefix(p: readonly string[], q: readonly string[]): boolean {
  return p.length < q.length && p.every((s, k) => s === q[k]);
}

const hasWildcard = (c: ArgumentCondition): boolean => pointerSegments(c.path).includes('*');

/** The annotation tuples in which hint `h` has value `v`. */
function hintMask(h: AnnotationHint, v: boolean): number {
  const k = ANNOTATION_HINTS.indexOf(h);
  let mask = 0;
  for (let t = 0; t < 16; t++) if (((t >> k) & 1) === (v ? 1 : 0)) mask |= 1 << t;
  return mask;
}

/** The tuple of MCP's defaults. */
const DEFAULT_TUPLE = ANNOTATION_HINTS.reduce((t, h, k) => t | ((ANNOTATION_DEFAULTS[h] ? 1 : 0) << k), 0);

function defineOwn(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The request space of one analysis: its alphabet, the rule boxes, and region algebra. */
export class RequestSpace {
  readonly automata: Automata;
  readonly values: Values;
  /** True when some policy has version 2: the action `resource` exists. */
  readonly version2: boolean;
  /** The claim names rules mention, in order of first appearance. */
  readonly claimNames: readonly string[];
  /** The argument paths analysed exactly. */
  readonly paths: readonly string[];
  /** The argument conditions analysed as opaque yes/no dimensions. */
  readonly opaque: readonly OpaqueCondition[];
  private readonly claimIndex = new Map<string, number>();
  private readonly pathIndex = new Map<string, number>();
  private readonly opaqueIndex = new Map<string, number>();
  private readonly bitAll: Record<BitField, number>;
  private readonly topGroup: GroupSet;
  private readonly topArgs: readonly ArgSet[];
  private readonly top: TextSet;
  private readonly sourceMemo = new Map<string, Dfa>();
  private readonly noScheme: Dfa;
  private readonly noSlash: Dfa;
  private readonly hasSlash: Dfa;
  private readonly plainFirst: Dfa;
  /** Values without `://` whose canonical image form differs from them. */
  private readonly rewritten: Dfa;
  readonly url: Dfa;

  constructor(policies: readonly Policy[]) {
    const texts: string[] = [...CANONICAL_TEXTS];
    const literals: string[] = [];
    const claimNames: string[] = [];
    const candidates = new Map<string, readonly string[]>();
    const opaque: OpaqueCondition[] = [];
    const scalars = (xs: readonly Scalar[]) => {
      for (const x of xs) if (typeof x === 'string') literals.push(x);
    };
    for (const p of policies) {
      for (const r of p.rules) {
        if (r.server !== undefined) texts.push(r.server);
        if (r.serverSource !== undefined) texts.push(r.serverSource);
        for (const t of r.tools ?? []) texts.push(t);
        texts.push(...(r.resources ?? []), ...(r.users ?? []), ...(r.groups ?? []));
        for (const name of Object.keys(r.claims ?? {})) {
          if (!this.claimIndex.has(name)) {
            this.claimIndex.set(name, claimNames.length);
            claimNames.push(name);
          }
          texts.push(...r.claims![name]!);
        }
        for (const c of r.arguments ?? []) {
          texts.push(...(c.match ?? []));
          scalars([...(c.equals !== undefined ? [c.equals] : []), ...(c.in ?? [])]);
          if (hasWildcard(c) || c.normalize === 'path') continue;
          candidates.set(c.path, pointerSegments(c.path));
        }
      }
    }
    // A path that contains another (`/a` and `/a/b`, `""` and any) is not independent of it: something found
    // under `/a` means `/a` is an object or array. The containing path's conditions become opaque, so the
    // deeper paths, which name the values rules usually test, stay exact.
    const dependent = new Set<string>();
    for (const [p, ps] of candidates) {
      for (const [, qs] of candidates) if (isPrefix(ps, qs)) dependent.add(p);
    }
    const paths = [...candidates.keys()].filter((p) => !dependent.has(p));
    paths.forEach((p, k) => this.pathIndex.set(p, k));
    for (const p of policies) {
      for (const r of p.rules) {
        for (const c of r.arguments ?? []) {
          const why: InexactWhy | undefined = hasWildcard(c)
            ? 'wildcard path'
            : c.normalize === 'path'
              ? 'path normalisation'
              : dependent.has(c.path)
                ? 'dependent path'
                : undefined;
          if (why === undefined) continue;
          const key = opaqueKey(c);
          if (this.opaqueIndex.has(key)) continue;
          this.opaqueIndex.set(key, opaque.length);
          opaque.push({ condition: c, why });
        }
      }
    }
    this.claimNames = claimNames;
    this.paths = paths;
    this.opaque = opaque;
    this.version2 = policies.some((p) => p.version === 2);
    const a = new Automata(texts, literals);
    this.automata = a;
    this.values = new Values(a);
    this.top = { dfa: a.universe, pos: [], neg: [] };
    this.topGroup = { set: { some: [], none: a.empty }, pos: [], neg: [] };
    this.topArgs = paths.map((p) => ({ set: this.domain(p), pos: [], neg: [] }));
    this.bitAll = {
      action: this.version2 ? (1 << ACTIONS_V2.length) - 1 : V1_ACTIONS,
      serverType: (1 << (SERVER_TYPES.length + 1)) - 1,
      transport: (1 << (TRANSPORTS.length + 1)) - 1,
      annotations: ANNOTATIONS_ALL,
    };
    this.noScheme = a.minus(a.universe, a.glob('*://*'));
    const hasSlash = a.glob('*/*');
    this.hasSlash = hasSlash;
    this.noSlash = a.minus(a.universe, hasSlash);
    // First component names a registry: a `.`, `:` or ASCII capital before the first `/`, or exactly `localhost`.
    const slash = a.symbol('/');
    const marks = new Set([a.symbol('.'), a.symbol(':'), ...a.capitalSymbols()]);
    const marked = a.build(
      4,
      (s, sym) => {
        if (s >= 2) return s;
        if (sym === slash) return s === 1 ? 2 : 3;
        if (marks.has(sym)) return 1;
        return s;
      },
      (s) => s === 2,
    );
    const registryFirst = a.or(marked, a.glob('localhost/*'));
    this.plainFirst = a.minus(hasSlash, registryFirst);
    const rewritten = a.or(
      a.or(this.noSlash, a.prepend('docker.io/', this.noSlash)),
      a.or(a.glob('index.docker.io/*'), this.plainFirst),
    );
    this.rewritten = a.and(this.noScheme, rewritten);
    this.url = a.or(a.glob('http://*'), a.glob('https://*'));
  }

  /** What can be found at a path: anything, except at `""` (the arguments object itself, or nothing). */
  private domain(path: string): ValueSet {
    const v = this.values;
    return path === '' ? v.make(ABSENT | COMPOSITE, this.automata.empty, NUM_NONE) : v.all;
  }

  /** The opaque dimension of an argument condition, or undefined when it is analysed exactly. */
  opaqueOf(c: ArgumentCondition): number | undefined {
    return this.opaqueIndex.get(opaqueKey(c));
  }

  /**
   * The request `serverSource` values a pattern matches: the value itself, or
   * (when it has no `://`) its canonical image form, as docs/semantics.md says.
   * Each way a reference is canonicalised is one term: a single component
   * (`alpine`, or after `docker.io/` or `index.docker.io/`) goes under
   * `docker.io/library/`; a first component that names no registry gets
   * `docker.io/` in front; `index.docker.io/` with a longer path becomes `docker.io/`.
   */
  sourceLanguage(pattern: string): Dfa {
    const hit = this.sourceMemo.get(pattern);
    if (hit) return hit;
    const a = this.automata;
    const d = a.and(a.or(a.glob(pattern), this.canonicalMatches(pattern)), a.nonEmpty);
    this.sourceMemo.set(pattern, d);
    return d;
  }

  /**
   * Values in a form Docker rewrites that a pattern matches as written but not
   * in their canonical form (`docker.io/alpine` for the pattern
   * `docker.io/alpine*`): other spellings of the same image escape the rule.
   */
  nonCanonicalSpellings(pattern: string): Dfa {
    const a = this.automata;
    return a.minus(a.and(a.glob(pattern), this.rewritten), this.canonicalMatches(pattern));
  }

  /** The values without `://` that Docker rewrites and whose canonical form the pattern matches. */
  private canonicalMatches(pattern: string): Dfa {
    const a = this.automata;
    const g = a.glob(pattern);
    const official = a.and(this.noSlash, a.quotient(g, 'docker.io/library/'));
    const onHub = a.quotient(g, 'docker.io/');
    const library = a.or(official, a.or(a.prepend('docker.io/', official), a.prepend('index.docker.io/', official)));
    const hub = a.or(a.and(this.plainFirst, onHub), a.prepend('index.docker.io/', a.and(this.hasSlash, onHub)));
    return a.and(this.noScheme, a.or(library, hub));
  }

  /** Everything: every request. */
  everything(): Box {
    return {
      action: this.bitAll.action,
      serverType: this.bitAll.serverType,
      transport: this.bitAll.transport,
      annotations: ANNOTATIONS_ALL,
      server: this.top,
      serverSource: this.top,
      tool: this.top,
      resource: this.top,
      sub: this.top,
      groups: this.topGroup,
      claims: this.claimNames.map(() => this.topGroup),
      args: this.topArgs,
      opaque: this.opaque.map(() => 3),
    };
  }

  /** The requests with action `resource`, which a version 1 policy refuses as invalid. */
  resourceActions(): Box {
    return { ...this.everything(), action: 1 << ACTIONS_V2.indexOf('resource') };
  }

  /** The values one argument condition lets through at an exact path (within the path's domain). */
  private conditionSet(c: ArgumentCondition): ValueSet {
    const v = this.values;
    const a = this.automata;
    const dom = this.domain(c.path);
    const found = v.and(dom, v.make(~ABSENT & 31, a.universe, NUM_ALL));
    if (c.present !== undefined) return c.present ? found : v.and(dom, v.make(ABSENT, a.empty, NUM_NONE));
    let test: ValueSet;
    if (c.match !== undefined) {
      test = v.make(
        0,
        c.match.reduce((acc, p) => a.or(acc, a.glob(p)), a.empty),
        NUM_NONE,
      );
    } else if (c.min !== undefined || c.max !== undefined) {
      test = v.make(0, a.empty, numRange(c.min, c.max));
    } else {
      const xs = c.in ?? (c.equals !== undefined ? [c.equals] : []);
      let kinds = 0;
      let str = a.empty;
      let num = NUM_NONE;
      for (const x of xs) {
        if (x === null) kinds |= NULL;
        else if (x === true) kinds |= TRUE;
        else if (x === false) kinds |= FALSE;
        else if (typeof x === 'string') str = a.or(str, a.literal(x));
        else num = numOr(num, numPoint(x));
      }
      test = v.make(kinds, str, num);
    }
    return c.not === true ? v.and(found, v.not(test)) : v.and(dom, test);
  }

  /** The requests one rule (of a policy of the given version) matches. */
  ruleBox(rule: Rule, version: 1 | 2 = 2): Box {
    const a = this.automata;
    const text = (dfa: Dfa, label: Condition): TextSet => ({ dfa, pos: [label], neg: [] });
    const anyOf = (patterns: readonly string[]): Condition =>
      patterns.length === 1 ? patterns[0]! : { anyOf: patterns };
    const union = (patterns: readonly string[]) =>
      a.and(
        patterns.reduce((acc, t) => a.or(acc, a.glob(t)), a.empty),
        a.nonEmpty,
      );
    const bit = (field: EnumField, value: string | undefined): number =>
      value === undefined
        ? field === 'action' && version === 1
          ? V1_ACTIONS
          : this.bitAll[field]
        : 1 << ENUM_VALUES[field].indexOf(value);
    const group = (patterns: readonly string[] | undefined): GroupSet =>
      patterns === undefined
        ? this.topGroup
        : { set: { some: [union(patterns)], none: a.empty }, pos: [anyOf(patterns)], neg: [] };
    let annotations = ANNOTATIONS_ALL;
    for (const h of ANNOTATION_HINTS) {
      const want = rule.annotations?.[h];
      if (want !== undefined) annotations &= hintMask(h, want);
    }
    const args = [...this.topArgs];
    const opaque = this.opaque.map(() => 3);
    for (const c of rule.arguments ?? []) {
      const o = this.opaqueOf(c);
      if (o !== undefined) {
        opaque[o] = 2;
        continue;
      }
      const k = this.pathIndex.get(c.path)!;
      const old = args[k]!;
      args[k] = {
        set: this.values.and(old.set, this.conditionSet(c)),
        pos: [...old.pos, conditionText(c)],
        neg: old.neg,
      };
    }
    const tools = rule.tools === undefined ? undefined : union(rule.tools);
    return {
      action: bit('action', rule.action),
      serverType: bit('serverType', rule.serverType),
      transport: bit('transport', rule.transport),
      annotations,
      server: rule.server === undefined ? this.top : text(a.and(a.glob(rule.server), a.nonEmpty), rule.server),
      serverSource:
        rule.serverSource === undefined ? this.top : text(this.sourceLanguage(rule.serverSource), rule.serverSource),
      tool: tools === undefined ? this.top : { ...text(tools, anyOf(rule.tools!)), ends: rule.tools!.map(endsOf) },
      resource:
        rule.resources === undefined
          ? this.top
          : { ...text(union(rule.resources), anyOf(rule.resources)), ends: rule.resources.map(endsOf) },
      sub:
        rule.users === undefined
          ? this.top
          : { ...text(union(rule.users), anyOf(rule.users)), ends: rule.users.map(endsOf) },
      groups: group(rule.groups),
      claims: this.claimNames.map((name) =>
        group(rule.claims !== undefined && Object.hasOwn(rule.claims, name) ? rule.claims[name] : undefined),
      ),
      args,
      opaque,
    };
  }

  /** A box with some fields replaced; enumerations given as value lists ("" is absent/other). */
  restrict(box: Box, fields: Partial<Record<EnumField, readonly string[]>> & Partial<Record<TextField, Dfa>>): Box {
    const a = this.automata;
    const enumBits = (f: EnumField): number => {
      const values = fields[f];
      if (values === undefined) return box[f];
      let bits = 0;
      for (const v of values) bits |= 1 << (v === '' ? ENUM_VALUES[f].length : ENUM_VALUES[f].indexOf(v));
      return box[f] & bits;
    };
    const out: { -readonly [K in keyof Box]: Box[K] } = { ...box };
    for (const f of ENUM_FIELDS) out[f] = enumBits(f);
    for (const f of TEXT_FIELDS) {
      const d = fields[f];
      if (d !== undefined) out[f] = { ...box[f], dfa: a.and(box[f].dfa, d) };
    }
    return out;
  }

  /** The box with every dimension but the server's own (server, serverType, serverSource, transport) unconstrained. */
  serverProjection(box: Box): Box {
    const all = this.everything();
    return {
      ...all,
      server: box.server,
      serverType: box.serverType,
      serverSource: box.serverSource,
      transport: box.transport,
    };
  }

  private groupAnd(x: GroupSet, y: GroupSet): GroupSet {
    if (x === this.topGroup) return y;
    if (y === this.topGroup) return x;
    return { set: someNoneAnd(this.automata, x.set, y.set), pos: [...x.pos, ...y.pos], neg: [...x.neg, ...y.neg] };
  }

  private argAnd(x: ArgSet, y: ArgSet): ArgSet {
    if (this.topArgs.includes(x)) return y;
    if (this.topArgs.includes(y)) return x;
    return { set: this.values.and(x.set, y.set), pos: [...x.pos, ...y.pos], neg: [...x.neg, ...y.neg] };
  }

  isEmpty(box: Box): boolean {
    const a = this.automata;
    if (
      box.action === 0 ||
      box.serverType === 0 ||
      box.transport === 0 ||
      box.annotations === 0 ||
      box.server.dfa === a.empty ||
      box.serverSource.dfa === a.empty ||
      box.tool.dfa === a.empty ||
      box.resource.dfa === a.empty ||
      box.sub.dfa === a.empty
    ) {
      return true;
    }
    // Version 2 dimensions; cheap to skip in a version 1 space, where they are all unconstrained.
    if (box.groups !== this.topGroup && someNoneEmpty(a, box.groups.set)) return true;
    for (const g of box.claims) if (someNoneEmpty(a, g.set)) return true;
    for (const x of box.args) if (this.values.isEmpty(x.set)) return true;
    for (const m of box.opaque) if (m === 0) return true;
    return false;
  }

  /** Whether two boxes share no request; cheap (bit sets first, then memoised automata checks). */
  disjoint(x: Box, y: Box): boolean {
    if (
      (x.action & y.action) === 0 ||
      (x.serverType & y.serverType) === 0 ||
      (x.transport & y.transport) === 0 ||
      (x.annotations & y.annotations) === 0
    ) {
      return true;
    }
    for (let k = 0; k < x.opaque.length; k++) if ((x.opaque[k]! & y.opaque[k]!) === 0) return true;
    if (clash(x.server, y.server) || clash(x.tool, y.tool) || clash(x.resource, y.resource) || clash(x.sub, y.sub)) {
      return true;
    }
    const a = this.automata;
    // Cheapest first: image sources have the largest automata.
    if (
      a.disjoint(x.server.dfa, y.server.dfa) ||
      a.disjoint(x.tool.dfa, y.tool.dfa) ||
      a.disjoint(x.serverSource.dfa, y.serverSource.dfa) ||
      a.disjoint(x.resource.dfa, y.resource.dfa) ||
      a.disjoint(x.sub.dfa, y.sub.dfa)
    ) {
      return true;
    }
    const groupClash = (p: GroupSet, q: GroupSet): boolean =>
      p !== this.topGroup && q !== this.topGroup && someNoneEmpty(a, someNoneAnd(a, p.set, q.set));
    if (groupClash(x.groups, y.groups) || x.claims.some((g, k) => groupClash(g, y.claims[k]!))) return true;
    return x.args.some((p, k) => p !== y.args[k] && this.values.isEmpty(this.values.and(p.set, y.args[k]!.set)));
  }

  intersect(x: Box, y: Box): Box | undefined {
    if (this.disjoint(x, y)) return undefined;
    const a = this.automata;
    const text = (p: TextSet, q: TextSet): TextSet =>
      q.dfa === a.universe
        ? p
        : p.dfa === a.universe
          ? q
          : { dfa: a.and(p.dfa, q.dfa), pos: [...p.pos, ...q.pos], neg: [...p.neg, ...q.neg] };
    const box: Box = {
      action: x.action & y.action,
      serverType: x.serverType & y.serverType,
      transport: x.transport & y.transport,
      annotations: x.annotations & y.annotations,
      server: text(x.server, y.server),
      serverSource: text(x.serverSource, y.serverSource),
      tool: text(x.tool, y.tool),
      resource: text(x.resource, y.resource),
      sub: text(x.sub, y.sub),
      groups: this.groupAnd(x.groups, y.groups),
      claims: x.claims.map((g, k) => this.groupAnd(g, y.claims[k]!)),
      args: x.args.map((p, k) => this.argAnd(p, y.args[k]!)),
      opaque: x.opaque.map((m, k) => m & y.opaque[k]!),
    };
    return this.isEmpty(box) ? undefined : box;
  }

  /** `x \ y` as disjoint boxes: split on each constraint `y` has, in turn. */
  subtract(x: Box, y: Box): Box[] {
    if (this.disjoint(x, y)) return [x];
    const a = this.automata;
    const out: Box[] = [];
    const push = (piece: Box) => {
      if (!this.isEmpty(piece)) out.push(piece);
    };
    let rest: Box = x;
    for (const f of BIT_FIELDS) {
      if ((y[f] & this.bitAll[f]) === this.bitAll[f]) continue;
      if ((rest[f] & ~y[f]) !== 0) push({ ...rest, [f]: rest[f] & ~y[f] });
      rest = { ...rest, [f]: rest[f] & y[f] };
    }
    for (const f of TEXT_FIELDS) {
      const yd = y[f].dfa;
      if (yd === a.universe) continue;
      const outside = a.minus(rest[f].dfa, yd);
      if (!a.isEmpty(outside))
        push({ ...rest, [f]: { ...rest[f], dfa: outside, neg: [...rest[f].neg, conditionOf(y[f])] } });
      rest = { ...rest, [f]: { ...rest[f], dfa: a.and(rest[f].dfa, yd), pos: [...rest[f].pos, ...y[f].pos] } };
    }
    // A set field: "some element in L" (each L) and "no element in M"; the complement of each is one piece.
    const splitGroup = (g: GroupSet, yg: GroupSet, put: (r: Box, v: GroupSet) => Box, get: (r: Box) => GroupSet) => {
      if (yg === this.topGroup) return;
      const label = yg.pos.length === 1 && yg.neg.length === 0 ? yg.pos[0]! : { allOf: yg.pos, noneOf: yg.neg };
      for (const l of yg.set.some) {
        const cur = get(rest);
        push(put(rest, this.groupAnd(cur, { set: { some: [], none: l }, pos: [], neg: [label] })));
        rest = put(rest, this.groupAnd(cur, { set: { some: [l], none: a.empty }, pos: yg.pos, neg: [] }));
      }
      if (yg.set.none !== a.empty) {
        const cur = get(rest);
        const m = yg.set.none;
        push(put(rest, this.groupAnd(cur, { set: { some: [m], none: a.empty }, pos: yg.neg, neg: [] })));
        rest = put(rest, this.groupAnd(cur, { set: { some: [], none: m }, pos: [], neg: yg.neg }));
      }
      void g;
    };
    splitGroup(
      rest.groups,
      y.groups,
      (r, v) => ({ ...r, groups: v }),
      (r) => r.groups,
    );
    y.claims.forEach((yg, k) =>
      splitGroup(
        rest.claims[k]!,
        yg,
        (r, v) => ({ ...r, claims: r.claims.map((g, j) => (j === k ? v : g)) }),
        (r) => r.claims[k]!,
      ),
    );
    y.args.forEach((yp, k) => {
      if (yp === this.topArgs[k] || this.values.isAll(yp.set)) return;
      const cur = rest.args[k]!;
      const dom = this.domain(this.paths[k]!);
      const outside = this.values.and(cur.set, this.values.and(dom, this.values.not(yp.set)));
      const label =
        yp.pos.length === 1 && yp.neg.length === 0
          ? yp.pos[0]!
          : `(${[...yp.pos, ...yp.neg.map((n) => `not ${n}`)].join(' and ')})`;
      push({
        ...rest,
        args: rest.args.map((p, j) => (j === k ? { set: outside, pos: cur.pos, neg: [...cur.neg, label] } : p)),
      });
      rest = { ...rest, args: rest.args.map((p, j) => (j === k ? this.argAnd(cur, yp) : p)) };
    });
    y.opaque.forEach((m, k) => {
      if (m === 3) return;
      push({ ...rest, opaque: rest.opaque.map((n, j) => (j === k ? n & ~m & 3 : n)) });
      rest = { ...rest, opaque: rest.opaque.map((n, j) => (j === k ? n & m : n)) };
    });
    return out;
  }

  /** `region \ y`. */
  subtractAll(region: Region, y: Box): Box[] {
    const out: Box[] = [];
    for (const b of region) for (const piece of this.subtract(b, y)) out.push(piece);
    return out;
  }

  /** `region ∩ y`. */
  intersectAll(region: Region, y: Box): Box[] {
    const out: Box[] = [];
    for (const b of region) {
      const i = this.intersect(b, y);
      if (i) out.push(i);
    }
    return out;
  }

  /** Whether the box has a constraint on an opaque condition, so a request in it may not exist. */
  inexact(box: Box): boolean {
    return box.opaque.some((m) => m !== 3);
  }

  /**
   * A concrete request in the box: the first value of each enumeration, a
   * shortest string per text field, the fewest groups and claim values, the
   * annotations closest to MCP's defaults and argument values found only
   * where needed. Opaque conditions are then made to hold or fail by trying
   * values at their paths, and the result is checked; undefined when that
   * fails (the box may hold no real request).
   */
  realize(box: Box): PolicyRequest | undefined {
    if (this.isEmpty(box)) return undefined;
    const request = this.exactWitness(box);
    const opaque = box.opaque.flatMap((m, k) => (m === 3 ? [] : [{ k, want: m === 2 }]));
    if (opaque.length === 0) return request;
    let args: Record<string, unknown> | undefined = request.arguments ?? undefined;
    const exactHold = (x: unknown): boolean =>
      this.paths.every((p, k) => {
        const found = valuesAt(x, p);
        return this.values.has(box.args[k]!.set, found.length === 0 ? undefined : found[0]);
      });
    const holds = (x: unknown, upTo: number): boolean =>
      opaque.slice(0, upTo + 1).every(({ k, want }) => conditionHolds(this.opaque[k]!.condition, x).holds === want) &&
      exactHold(x);
    for (let n = 0; n < opaque.length; n++) {
      if (holds(args, n)) continue;
      const c = this.opaque[opaque[n]!.k]!.condition;
      const tried = candidateValues(c, opaque[n]!.want)
        .map((v) => setAt(args, c.path, v))
        .find((x) => x !== undefined && holds(x, n));
      if (tried === undefined) return undefined;
      args = tried;
    }
    if (args !== undefined) request.arguments = args;
    return request;
  }

  /** {@link realize}, or when that fails the box's exact part (opaque conditions left as they fall). */
  witness(box: Box): PolicyRequest {
    return this.realize(box) ?? this.exactWitness(box);
  }

  private exactWitness(box: Box): PolicyRequest {
    const a = this.automata;
    const request: PolicyRequest = {};
    for (const f of ENUM_FIELDS) {
      // Absent when allowed: the witness then looks like what hosts send for servers outside their configuration.
      const absent = 1 << ENUM_VALUES[f].length;
      if (f !== 'action' && (box[f] & absent) !== 0) continue;
      const k = lowestBit(box[f]);
      const value = ENUM_VALUES[f][k];
      if (value !== undefined) request[f] = value;
    }
    for (const f of ['server', 'serverSource', 'tool', 'resource'] as const) {
      const w = a.witness(box[f].dfa);
      if (w !== undefined && w !== '') request[f] = w;
    }
    const principal: Record<string, unknown> = {};
    const sub = a.witness(box.sub.dfa);
    if (sub !== undefined && sub !== '') principal.sub = sub;
    const groups = someNoneWitness(a, box.groups.set);
    if (groups.length > 0) principal.groups = groups;
    const claims: Record<string, unknown> = {};
    this.claimNames.forEach((name, k) => {
      const vs = someNoneWitness(a, box.claims[k]!.set);
      if (vs.length > 0) defineOwn(claims, name, vs.length === 1 ? vs[0] : vs);
    });
    if (Object.keys(claims).length > 0) principal.claims = claims;
    if (Object.keys(principal).length > 0) request.principal = principal;
    const annotations = annotationWitness(box.annotations);
    if (annotations !== undefined) request.annotations = annotations;
    let args: Record<string, unknown> | undefined;
    this.paths.forEach((p, k) => {
      const set = box.args[k]!.set;
      const w = this.values.witness(set);
      if (w === undefined) return;
      args = setAt(args, p, w.value) ?? args;
    });
    if (args !== undefined) request.arguments = args;
    return request;
  }

  /** The field constraints of a box, for people and JSON. */
  describe(box: Box): BoxDescription {
    const out: BoxDescription = {};
    for (const f of ENUM_FIELDS) {
      if (box[f] === this.bitAll[f]) continue;
      const values: string[] = [];
      for (let k = 0; k <= ENUM_VALUES[f].length; k++) {
        if (box[f] & (1 << k)) values.push(ENUM_VALUES[f][k] ?? '(absent or other)');
      }
      out[f] = values;
    }
    for (const f of TEXT_FIELDS) {
      const t = box[f];
      if (t.pos.length === 0 && t.neg.length === 0) {
        if (t.dfa === this.automata.universe) continue;
        // Built without a pattern (projections): say only whether the field is present.
        out[f] = { matches: [t.dfa === this.automata.nonEmpty ? '*' : { described: 'some values' }], notMatches: [] };
        continue;
      }
      out[f] = { matches: dedupe(t.pos), notMatches: dedupe(t.neg) };
    }
    const group = (g: GroupSet) => ({ someMatch: dedupe(g.pos), noneMatch: dedupe(g.neg) });
    if (box.groups !== this.topGroup) out.groups = group(box.groups);
    const claims: Record<string, { someMatch: Condition[]; noneMatch: Condition[] }> = Object.create(null) as Record<
      string,
      { someMatch: Condition[]; noneMatch: Condition[] }
    >;
    this.claimNames.forEach((name, k) => {
      if (box.claims[k] !== this.topGroup) claims[name] = group(box.claims[k]!);
    });
    if (Object.keys(claims).length > 0) out.claims = { ...claims };
    if (box.annotations !== ANNOTATIONS_ALL) out.annotations = describeAnnotations(box.annotations);
    const args: Record<string, { holds: string[]; fails: string[] }> = {};
    this.paths.forEach((p, k) => {
      const x = box.args[k]!;
      if (x.pos.length > 0 || x.neg.length > 0) args[p] = { holds: [...new Set(x.pos)], fails: [...new Set(x.neg)] };
    });
    if (Object.keys(args).length > 0) out.arguments = args;
    const holds: string[] = [];
    const fails: string[] = [];
    box.opaque.forEach((m, k) => {
      if (m === 2) holds.push(argumentConditionText(this.opaque[k]!.condition));
      if (m === 1) fails.push(argumentConditionText(this.opaque[k]!.condition));
    });
    if (holds.length > 0 || fails.length > 0) out.opaque = { holds, fails };
    return out;
  }
}

/** The tuples of a mask, as hint → value. */
function tuple(t: number): Record<AnnotationHint, boolean> {
  const out = {} as Record<AnnotationHint, boolean>;
  ANNOTATION_HINTS.forEach((h, k) => (out[h] = ((t >> k) & 1) === 1));
  return out;
}

function describeAnnotations(mask: number): BoxDescription['annotations'] {
  const perHint: Partial<Record<AnnotationHint, boolean[]>> = {};
  let product = ANNOTATIONS_ALL;
  for (const h of ANNOTATION_HINTS) {
    const values = [false, true].filter((v) => (mask & hintMask(h, v)) !== 0);
    if (values.length === 1) {
      perHint[h] = values;
      product &= hintMask(h, values[0]!);
    }
  }
  if (product === mask) return perHint;
  const oneOf: Record<AnnotationHint, boolean>[] = [];
  for (let t = 0; t < 16; t++) if (mask & (1 << t)) oneOf.push(tuple(t));
  return { oneOf };
}

/**
 * The annotations a request declares to get one effective tuple of the mask:
 * the tuple nearest MCP's defaults, declaring only hints that differ from
 * what the request would get anyway (`readOnlyHint: true` alone makes a tool
 * not destructive).
 */
function annotationWitness(mask: number): Partial<Record<AnnotationHint, boolean>> | undefined {
  let best = -1;
  let cost = 99;
  for (let t = 0; t < 16; t++) {
    if ((mask & (1 << t)) === 0) continue;
    let c = 0;
    for (let d = t ^ DEFAULT_TUPLE; d !== 0; d &= d - 1) c++;
    if (c < cost) [best, cost] = [t, c];
  }
  if (best < 0 || mask === ANNOTATIONS_ALL) return undefined;
  const want = tuple(best);
  const out: Partial<Record<AnnotationHint, boolean>> = {};
  for (const h of ANNOTATION_HINTS) {
    const implied = h === 'destructiveHint' && out.readOnlyHint === true ? false : ANNOTATION_DEFAULTS[h];
    if (want[h] !== implied) out[h] = want[h];
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * A copy of `args` (undefined: none yet) with `value` at `path`: missing
 * containers become objects, a `*` segment takes an array's first element or
 * an object's first member (made when there is none); undefined when the path
 * cannot be written (an array under a segment that is no index).
 */
function setAt(
  args: Record<string, unknown> | undefined,
  path: string,
  value: unknown,
): Record<string, unknown> | undefined {
  const segments = pointerSegments(path);
  if (segments.length === 0)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  const clone = (v: unknown): unknown => (v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as unknown));
  const root = (clone(args) as Record<string, unknown> | undefined) ?? {};
  let cur: unknown = root;
  for (let k = 0; k < segments.length; k++) {
    const last = k === segments.length - 1;
    const s = segments[k]!;
    // An array where the next segment is `*` or `0`, so a witness reads like real arguments.
    const fresh = (): unknown => (last ? value : segments[k + 1] === '*' || segments[k + 1] === '0' ? [] : {});
    if (Array.isArray(cur)) {
      const index = s === '*' ? 0 : /^(?:0|[1-9][0-9]*)$/.test(s) ? Number(s) : -1;
      if (index < 0 || index > cur.length) return undefined;
      if (last || cur[index] === undefined || typeof cur[index] !== 'object' || cur[index] === null)
        cur[index] = fresh();
      cur = cur[index];
    } else {
      const o = cur as Record<string, unknown>;
      const key = s === '*' ? (Object.keys(o)[0] ?? 'x') : s;
      const next = Object.hasOwn(o, key) ? o[key] : undefined;
      if (last || typeof next !== 'object' || next === null) defineOwn(o, key, fresh());
      cur = o[key];
    }
  }
  return root;
}

/** Values to try at an opaque condition's path so that it holds (`want`) or fails. */
function candidateValues(c: ArgumentCondition, want: boolean): unknown[] {
  if (c.present !== undefined) return c.present === want ? ['x'] : [];
  const passing: unknown[] = [];
  for (const p of c.match ?? [])
    passing.push(p.replaceAll('*', ''), p.replaceAll('*', 'x'), `/${p.replaceAll('*', 'x')}`);
  if (c.equals !== undefined) passing.push(c.equals);
  passing.push(...(c.in ?? []));
  if (c.min !== undefined) passing.push(c.min);
  if (c.max !== undefined) passing.push(c.max);
  const failing: unknown[] = [null, 0, '', 'x', true, {}];
  // The condition holds when a found value passes, or with `not` when one fails.
  return (c.not === true) === want ? failing : passing;
}
function dedupe(xs: readonly Condition[]): Condition[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const key = JSON.stringify(x);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function conditionOf(t: TextSet): Condition {
  if (t.neg.length === 0 && t.pos.length === 1) return t.pos[0]!;
  return { allOf: t.pos, noneOf: t.neg };
}

/** A condition for people: patterns quoted, alternatives and exceptions spelled out. */
export function renderCondition(c: Condition): string {
  if (typeof c === 'string') return JSON.stringify(c);
  if ('anyOf' in c) return `any of ${JSON.stringify(c.anyOf)}`;
  if ('described' in c) return `(${c.described})`;
  const parts = [...c.allOf.map(renderCondition), ...c.noneOf.map((n) => `not ${renderCondition(n)}`)];
  return `(${parts.join(' and ')})`;
}

function lowestBit(bits: number): number {
  for (let k = 0; k < 31; k++) if (bits & (1 << k)) return k;
  return -1;
}

/** One line of text for a box description: `action load, server "x" and not "y", …`. */
export function renderBox(d: BoxDescription): string {
  const parts: string[] = [];
  for (const f of ENUM_FIELDS) {
    const v = d[f];
    if (v) parts.push(`${f} ${v.join(' or ')}`);
  }
  for (const f of TEXT_FIELDS) {
    const t = d[f];
    if (!t) continue;
    const m = t.matches.length > 0 ? `matches ${t.matches.map(renderCondition).join(' and ')}` : '';
    const n = t.notMatches.length > 0 ? `not ${t.notMatches.map(renderCondition).join(', not ')}` : '';
    parts.push(`${f === 'sub' ? 'principal.sub' : f} ${[m, n].filter((s) => s !== '').join(', ')}`);
  }
  const set = (name: string, g: { someMatch: Condition[]; noneMatch: Condition[] }) => {
    const some = g.someMatch.map((c) => `some ${name} matches ${renderCondition(c)}`);
    const none = g.noneMatch.map((c) => `no ${name} matches ${renderCondition(c)}`);
    parts.push([...some, ...none].join(', '));
  };
  if (d.groups) set('group', d.groups);
  for (const [name, g] of Object.entries(d.claims ?? {})) set(`claim ${JSON.stringify(name)} value`, g);
  if (d.annotations) {
    const a = d.annotations;
    parts.push(
      'oneOf' in a
        ? `annotations one of ${a.oneOf.map((t) => JSON.stringify(t)).join(', ')}`
        : `annotations ${Object.entries(a)
            .map(([h, v]) => `${h} ${(v as boolean[]).join(' or ')}`)
            .join(', ')}`,
    );
  }
  for (const [path, x] of Object.entries(d.arguments ?? {})) {
    const what = [...x.holds, ...x.fails.map((f) => `not ${f}`)].join(', ');
    parts.push(`argument ${JSON.stringify(path)} ${what}`);
  }
  if (d.opaque) {
    const what = [...d.opaque.holds, ...d.opaque.fails.map((f) => `not (${f})`)].join(', ');
    parts.push(`argument conditions ${what} (not analysed exactly)`);
  }
  return parts.length === 0 ? 'every request' : parts.join('; ');
}
