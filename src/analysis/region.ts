/**
 * Sets of requests as unions of boxes: a box constrains each request field on
 * its own (rules are conjunctions of per-field conditions), so what a rule
 * matches is one box, and "matched by this rule but by none of those" is a
 * finite union of boxes. Enumerated fields are bit sets; text fields are
 * automata over {@link Automata}, where the empty string stands for an absent
 * field (the two are the same thing to every engine).
 */
import { ACTIONS, type Policy, type PolicyRequest, type Rule, SERVER_TYPES, TRANSPORTS } from '../policy/model.js';
import { type Dfa, Automata } from './automaton.js';

export const TEXT_FIELDS = ['server', 'serverSource', 'tool'] as const;
export type TextField = (typeof TEXT_FIELDS)[number];
export const ENUM_FIELDS = ['action', 'serverType', 'transport'] as const;
export type EnumField = (typeof ENUM_FIELDS)[number];

/** The values of each enumerated field; for serverType and transport, the last bit is "absent or another value". */
const ENUM_VALUES: Record<EnumField, readonly string[]> = {
  action: ACTIONS,
  serverType: SERVER_TYPES,
  transport: TRANSPORTS,
};
const ENUM_ALL: Record<EnumField, number> = {
  action: (1 << ACTIONS.length) - 1,
  serverType: (1 << (SERVER_TYPES.length + 1)) - 1,
  transport: (1 << (TRANSPORTS.length + 1)) - 1,
};

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

/** A product of per-field sets: every combination of the field values is in it. */
export interface Box {
  readonly action: number;
  readonly serverType: number;
  readonly transport: number;
  readonly server: TextSet;
  readonly serverSource: TextSet;
  readonly tool: TextSet;
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

/** Field constraints as JSON: what a region description says. */
export interface BoxDescription {
  action?: string[];
  serverType?: string[];
  transport?: string[];
  server?: { matches: Condition[]; notMatches: Condition[] };
  serverSource?: { matches: Condition[]; notMatches: Condition[] };
  tool?: { matches: Condition[]; notMatches: Condition[] };
}

/** The request space of one analysis: its alphabet, the rule boxes, and region algebra. */
export class RequestSpace {
  readonly automata: Automata;
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
    for (const p of policies) {
      for (const r of p.rules) {
        if (r.server !== undefined) texts.push(r.server);
        if (r.serverSource !== undefined) texts.push(r.serverSource);
        for (const t of r.tools ?? []) texts.push(t);
      }
    }
    const a = new Automata(texts);
    this.automata = a;
    this.top = { dfa: a.universe, pos: [], neg: [] };
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
      action: ENUM_ALL.action,
      serverType: ENUM_ALL.serverType,
      transport: ENUM_ALL.transport,
      server: this.top,
      serverSource: this.top,
      tool: this.top,
    };
  }

  /** The requests one rule matches. */
  ruleBox(rule: Rule): Box {
    const a = this.automata;
    const text = (dfa: Dfa, label: Condition): TextSet => ({ dfa, pos: [label], neg: [] });
    const bit = (field: EnumField, value: string | undefined): number =>
      value === undefined ? ENUM_ALL[field] : 1 << ENUM_VALUES[field].indexOf(value);
    const tools = rule.tools?.reduce((acc, t) => a.or(acc, a.glob(t)), a.empty);
    return {
      action: bit('action', rule.action),
      serverType: bit('serverType', rule.serverType),
      transport: bit('transport', rule.transport),
      server: rule.server === undefined ? this.top : text(a.and(a.glob(rule.server), a.nonEmpty), rule.server),
      serverSource:
        rule.serverSource === undefined ? this.top : text(this.sourceLanguage(rule.serverSource), rule.serverSource),
      tool:
        tools === undefined
          ? this.top
          : {
              ...text(a.and(tools, a.nonEmpty), rule.tools!.length === 1 ? rule.tools![0]! : { anyOf: rule.tools! }),
              ends: rule.tools!.map(endsOf),
            },
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
    const textSet = (f: TextField): TextSet => {
      const d = fields[f];
      return d === undefined ? box[f] : { ...box[f], dfa: a.and(box[f].dfa, d) };
    };
    return {
      action: enumBits('action'),
      serverType: enumBits('serverType'),
      transport: enumBits('transport'),
      server: textSet('server'),
      serverSource: textSet('serverSource'),
      tool: textSet('tool'),
    };
  }

  isEmpty(box: Box): boolean {
    const a = this.automata;
    return (
      box.action === 0 ||
      box.serverType === 0 ||
      box.transport === 0 ||
      a.isEmpty(box.server.dfa) ||
      a.isEmpty(box.serverSource.dfa) ||
      a.isEmpty(box.tool.dfa)
    );
  }

  /** Whether two boxes share no request; cheap (bit sets first, then memoised automata checks). */
  disjoint(x: Box, y: Box): boolean {
    if ((x.action & y.action) === 0 || (x.serverType & y.serverType) === 0 || (x.transport & y.transport) === 0) {
      return true;
    }
    if (clash(x.server, y.server) || clash(x.tool, y.tool)) return true;
    const a = this.automata;
    return (
      a.disjoint(x.server.dfa, y.server.dfa) ||
      a.disjoint(x.tool.dfa, y.tool.dfa) ||
      a.disjoint(x.serverSource.dfa, y.serverSource.dfa)
    );
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
      server: text(x.server, y.server),
      serverSource: text(x.serverSource, y.serverSource),
      tool: text(x.tool, y.tool),
    };
    return this.isEmpty(box) ? undefined : box;
  }

  /** `x \ y` as disjoint boxes: split on each field `y` constrains, in turn. */
  subtract(x: Box, y: Box): Box[] {
    if (this.disjoint(x, y)) return [x];
    const a = this.automata;
    const out: Box[] = [];
    let rest: Box = x;
    for (const f of ENUM_FIELDS) {
      if ((y[f] & ENUM_ALL[f]) === ENUM_ALL[f]) continue;
      const outside = rest[f] & ~y[f];
      if (outside !== 0) out.push({ ...rest, [f]: outside });
      rest = { ...rest, [f]: rest[f] & y[f] };
    }
    for (const f of TEXT_FIELDS) {
      const yd = y[f].dfa;
      if (yd === a.universe) continue;
      const outside = a.minus(rest[f].dfa, yd);
      if (!a.isEmpty(outside)) {
        const piece: Box = { ...rest, [f]: { ...rest[f], dfa: outside, neg: [...rest[f].neg, conditionOf(y[f])] } };
        if (!this.isEmpty(piece)) out.push(piece);
      }
      rest = { ...rest, [f]: { ...rest[f], dfa: a.and(rest[f].dfa, yd), pos: [...rest[f].pos, ...y[f].pos] } };
    }
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

  /** A concrete request in the box: the first value of each enumeration, a shortest string per text field. */
  witness(box: Box): PolicyRequest {
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
    for (const f of TEXT_FIELDS) {
      const w = a.witness(box[f].dfa);
      if (w !== undefined && w !== '') request[f] = w;
    }
    return request;
  }

  /** The field constraints of a box, for people and JSON. */
  describe(box: Box): BoxDescription {
    const out: BoxDescription = {};
    for (const f of ENUM_FIELDS) {
      if (box[f] === ENUM_ALL[f]) continue;
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
    return out;
  }
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
    parts.push(`${f} ${[m, n].filter((s) => s !== '').join(', ')}`);
  }
  return parts.length === 0 ? 'every request' : parts.join('; ');
}
