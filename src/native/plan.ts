/**
 * The native engine's rule index: a validated policy compiled once into
 * per-rule matchers and lookup tables, so a decision checks only the rules
 * that could match the request instead of every rule before the match. Built
 * from the `Policy` itself, independently of lowering's index for Rego, so the
 * differential tester compares two indexes as well as two matchers.
 */
import { defaultReason, ruleReason } from '../core/contracts.js';
import {
  ANNOTATION_DEFAULTS,
  ANNOTATION_HINTS,
  type AnnotationHint,
  pointerSegments,
  type Policy,
  type Rule,
} from '../policy/model.js';
import { cleanPath, compileArgumentConditions, visitValues } from './arguments.js';
import { compilePattern, type Matcher, sourceParts } from './match.js';
import { beginLookup, chooseGram, GramTable, gramChoices } from './ngram.js';

/** The facts of a request as the compiled rules read them. */
export interface Subject {
  readonly action: string;
  readonly server?: string;
  readonly serverType?: string;
  readonly serverSource?: string;
  readonly transport?: string;
  readonly tool?: string;
  /** Version 2: the facts below are absent in a version 1 request, which no version 2 key matches. */
  readonly resource?: string;
  /** Whether the request names a principal. */
  readonly principal?: boolean;
  readonly sub?: string;
  /** Non-empty, well-formed groups. */
  readonly groups?: readonly string[];
  readonly claims?: Readonly<Record<string, string | readonly string[]>>;
  /** Effective hints; the defaults when absent. */
  readonly annotations?: Readonly<Record<AnnotationHint, boolean>>;
  readonly arguments?: Readonly<Record<string, unknown>>;
}

type Check = (s: Subject, source: SourceForms) => boolean;

/**
 * A request's serverSource and its canonical form, each worked out at most
 * once per decision and shared by the lookups and the rules' checks. One per
 * plan, reset at the start of every decision: a decision is synchronous and
 * never starts another on the same plan, and a closure pair per decision
 * costs more than the lookups of a small policy.
 */
class SourceForms {
  private value: string | undefined = undefined;
  private parts: readonly [string, string] | undefined | null = null;
  private forms: readonly string[] | undefined = undefined;

  reset(value: string | undefined): void {
    this.value = value;
    this.parts = null;
    this.forms = undefined;
  }

  /** The canonical form as head and tail (see sourceParts); only called with a source. */
  canonicalParts(): readonly [string, string] | undefined {
    if (this.parts === null) this.parts = sourceParts(this.value as string);
    return this.parts;
  }

  /** The forms a `serverSource` pattern is tried against: none without a source. */
  all(): readonly string[] {
    if (this.forms !== undefined) return this.forms;
    const source = this.value;
    if (source === undefined) return (this.forms = []);
    const p = this.canonicalParts();
    return (this.forms = p === undefined ? [source] : [source, p[0] + p[1]]);
  }
}

/** Rules keyed by the literal prefix (or suffix) of one length. */
interface Tier {
  readonly length: number;
  readonly table: Map<string, number[]>;
  /**
   * A bit per hash of the first and last code unit of every key: a value
   * whose ends hash to a clear bit is skipped without cutting a substring and
   * hashing it, which is most of what a lookup costs. A bit test instead of a
   * set lookup, since most tiers of most requests are skipped here.
   */
  readonly ends: Uint32Array;
}

/** Bits of a tier's ends filter: 1,024 (128 bytes), enough for the few ends most tiers have. */
const ENDS_MASK = 1023;

const endsBit = (first: number, last: number): number => (Math.imul(first, 0x9e3779b1) ^ last) & ENDS_MASK;

const hasEnds = (ends: Uint32Array, first: number, last: number): boolean => hasBit(ends, endsBit(first, last));

/** A filter of 1,024 bits over small numbers (lengths, code units), each taken modulo 1,024. */
const newBits = (): Uint32Array => new Uint32Array((ENDS_MASK + 1) >>> 5);

function setBit(bits: Uint32Array, bit: number): void {
  bits[(bit & ENDS_MASK) >>> 5] = (bits[(bit & ENDS_MASK) >>> 5] as number) | (1 << (bit & 31));
}

const hasBit = (bits: Uint32Array, bit: number): boolean =>
  ((bits[(bit & ENDS_MASK) >>> 5] as number) & (1 << (bit & 31))) !== 0;

/**
 * The code unit at `i` and the substring `[from, to)` of `head + tail`,
 * without building it: the canonical form of an image reference is a
 * constant head before the request's value (or its end), and joining the two would make
 * V8 flatten a fresh string on every decision.
 */
const codeAt = (head: string, tail: string, i: number): number =>
  i < head.length ? head.charCodeAt(i) : tail.charCodeAt(i - head.length);

function cut(head: string, tail: string, from: number, to: number): string {
  const h = head.length;
  if (to <= h) return head.slice(from, to);
  if (from >= h) return tail.slice(from - h, to - h);
  return head.slice(from) + tail.slice(0, to - h);
}

/** Lookup tables for one request field: exact values, literal prefixes and suffixes by length, and n-grams. */
class FieldTable {
  readonly exact = new Map<string, number[]>();
  /** A filter of the exact keys' lengths: a value of another length needs no hashing. */
  private readonly exactLengths = newBits();
  readonly prefixes: Tier[] = [];
  readonly suffixes: Tier[] = [];
  /**
   * Filters of the first code unit of every prefix key and the last of every
   * suffix key: most values start and end unlike any key, and are then
   * done with one bit test each instead of one per tier.
   */
  private readonly prefixFirsts = newBits();
  private readonly suffixLasts = newBits();
  readonly grams = new GramTable();

  add(kind: Entry['kind'], key: string, rule: number): void {
    let table: Map<string, number[]>;
    if (kind === 'gram') {
      this.grams.add(key, rule);
      return;
    }
    if (kind === 'exact') {
      table = this.exact;
      setBit(this.exactLengths, key.length);
    } else {
      const tiers = kind === 'prefix' ? this.prefixes : this.suffixes;
      setBit(
        kind === 'prefix' ? this.prefixFirsts : this.suffixLasts,
        key.charCodeAt(kind === 'prefix' ? 0 : key.length - 1),
      );
      let tier = tiers.find((t) => t.length === key.length);
      if (tier === undefined) {
        tiers.push((tier = { length: key.length, table: new Map(), ends: newBits() }));
      }
      setBit(tier.ends, endsBit(key.charCodeAt(0), key.charCodeAt(key.length - 1)));
      table = tier.table;
    }
    const list = table.get(key);
    if (list === undefined) table.set(key, [rule]);
    else if (list[list.length - 1] !== rule) list.push(rule);
  }

  /** The rule lists whose key the value `head + tail` has, appended to `out`. */
  lookup(head: string, tail: string, out: (readonly number[])[]): void {
    const n = head.length + tail.length;
    if (hasBit(this.exactLengths, n)) {
      const exact = this.exact.get(head === '' ? tail : head + tail);
      if (exact !== undefined) out.push(exact);
    }
    const prefixes = hasBit(this.prefixFirsts, codeAt(head, tail, 0)) ? this.prefixes.length : 0;
    for (let k = 0; k < prefixes; k++) {
      const tier = this.prefixes[k] as Tier;
      const length = tier.length;
      if (length > n) continue;
      if (!hasEnds(tier.ends, codeAt(head, tail, 0), codeAt(head, tail, length - 1))) continue;
      const hit = tier.table.get(cut(head, tail, 0, length));
      if (hit !== undefined) out.push(hit);
    }
    const suffixes = hasBit(this.suffixLasts, codeAt(head, tail, n - 1)) ? this.suffixes.length : 0;
    for (let k = 0; k < suffixes; k++) {
      const tier = this.suffixes[k] as Tier;
      const length = tier.length;
      if (length > n) continue;
      if (!hasEnds(tier.ends, codeAt(head, tail, n - length), codeAt(head, tail, n - 1))) continue;
      const hit = tier.table.get(cut(head, tail, n - length, n));
      if (hit !== undefined) out.push(hit);
    }
    if (!this.grams.empty) this.grams.lookup(head, tail, out);
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.prefixes.length === 0 && this.suffixes.length === 0 && this.grams.empty;
  }
}

/** Indexed fields; `group` is multi-valued (each of the principal's groups is looked up). */
export type Field =
  'action' | 'serverType' | 'transport' | 'server' | 'source' | 'tool' | 'resource' | 'sub' | 'group' | ValuesField;

/**
 * Version 2 fields whose values a request lists under a name of the policy's
 * choosing: a claim's (`claim <name>`), and the strings an argument
 * condition's `match` is tried on (`argument <path|text> <pointer>`, cleaned
 * as a path or not).
 */
type ValuesField = `claim ${string}` | `argument ${'path' | 'text'} ${string}`;

const isValuesField = (field: Field): field is ValuesField =>
  field.startsWith('claim ') || field.startsWith('argument ');

/**
 * One key of the rule index: a rule is a candidate when the request's field
 * has it (exactly, as prefix or suffix, or anywhere for an n-gram).
 */
export interface Entry {
  readonly field: Field;
  readonly kind: 'exact' | 'prefix' | 'suffix' | 'gram';
  readonly key: string;
}

/** The n-gram a pattern with no literal end is filed under in a field, if it has a piece. */
type GramOf = (field: Field, pattern: string) => string | undefined;

/** Where a pattern can be looked up: its literal value, its longer literal end, or else an n-gram of a piece. */
function patternEntry(field: Field, pattern: string, gramOf: GramOf): Entry | undefined {
  const first = pattern.indexOf('*');
  if (first < 0) return { field, kind: 'exact', key: pattern };
  const prefix = pattern.slice(0, first);
  const suffix = pattern.slice(pattern.lastIndexOf('*') + 1);
  if (prefix === '' && suffix === '') {
    const gram = gramOf(field, pattern);
    return gram === undefined ? undefined : { field, kind: 'gram', key: gram };
  }
  return prefix.length >= suffix.length
    ? { field, kind: 'prefix', key: prefix }
    : { field, kind: 'suffix', key: suffix };
}

/** How well entries narrow: a name beats an affix (longer is better), which beats an enum field. */
function strength(entries: readonly Entry[]): number {
  let worst = Infinity;
  for (const e of entries) {
    const s =
      e.kind === 'exact'
        ? e.field === 'action' || e.field === 'serverType' || e.field === 'transport'
          ? 1
          : 1e6
        : 2 + e.key.length;
    worst = Math.min(worst, s);
  }
  return worst;
}

/**
 * The pattern constraints of a rule that can be looked up, by field: the rule
 * matches only a request with a value in each that matches one of its
 * patterns. A negated argument condition holds on values that do not match,
 * so it is not one.
 */
function patternLists(rule: Rule): (readonly [Field, readonly string[]])[] {
  const out: (readonly [Field, readonly string[]])[] = [];
  if (rule.server !== undefined) out.push(['server', [rule.server]]);
  if (rule.serverSource !== undefined) out.push(['source', [rule.serverSource]]);
  if (rule.tools !== undefined) out.push(['tool', rule.tools]);
  if (rule.resources !== undefined) out.push(['resource', rule.resources]);
  if (rule.users !== undefined) out.push(['sub', rule.users]);
  if (rule.groups !== undefined) out.push(['group', rule.groups]);
  if (rule.claims !== undefined) {
    for (const name of Object.keys(rule.claims)) out.push([`claim ${name}`, rule.claims[name] as readonly string[]]);
  }
  for (const c of rule.arguments ?? []) {
    // `present` decides alone when given, whatever else the condition names.
    if (c.match === undefined || c.not === true || c.present !== undefined) continue;
    out.push([`argument ${c.normalize === 'path' ? 'path' : 'text'} ${c.path}`, c.match]);
  }
  return out;
}

/** The ways a rule can be filed: one list of entries per constraint that can be looked up. */
function optionsFor(rule: Rule, gramOf: GramOf): Entry[][] {
  const options: Entry[][] = [];
  if (rule.action !== undefined) options.push([{ field: 'action', kind: 'exact', key: rule.action }]);
  if (rule.serverType !== undefined) options.push([{ field: 'serverType', kind: 'exact', key: rule.serverType }]);
  if (rule.transport !== undefined) options.push([{ field: 'transport', kind: 'exact', key: rule.transport }]);
  // A rule with a list is found through any of its patterns, so every one needs a key.
  for (const [field, patterns] of patternLists(rule)) {
    const entries = patterns.map((p) => patternEntry(field, p, gramOf));
    if (entries.every((e) => e !== undefined)) options.push(entries);
  }
  return options;
}

/** Whether rank `a` comes strictly before `b` (lexicographically, lower first). */
function before(a: readonly number[], b: readonly number[]): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return (a[k] as number) < (b[k] as number);
  return false;
}

const keyOf = (e: Entry): string => `${e.field}\u0000${e.kind}\u0000${e.key}`;

/**
 * Picks the n-gram of each pattern with no literal end: among its choices,
 * the one the fewest rules of the policy could be filed under in that field.
 */
function gramsFor(rules: readonly Rule[]): GramOf {
  const choices = new Map<string, string[]>();
  const choicesOf = (field: Field, pattern: string): string[] => {
    const key = `${field}\u0000${pattern}`;
    let c = choices.get(key);
    if (c === undefined) choices.set(key, (c = gramChoices(pattern)));
    return c;
  };
  const rulesWith = new Map<string, number>();
  for (const rule of rules) {
    const grams = new Set<string>();
    for (const [field, patterns] of patternLists(rule)) {
      for (const p of patterns) for (const g of choicesOf(field, p)) grams.add(`${field}\u0000${g}`);
    }
    for (const g of grams) rulesWith.set(g, (rulesWith.get(g) ?? 0) + 1);
  }
  const chosen = new Map<string, string | undefined>();
  return (field, pattern) => {
    const key = `${field}\u0000${pattern}`;
    if (chosen.has(key)) return chosen.get(key);
    const gram = chooseGram(choicesOf(field, pattern), (g) => rulesWith.get(`${field}\u0000${g}`) ?? 0);
    chosen.set(key, gram);
    return gram;
  };
}

/**
 * The entries to file each rule under, or none (always checked). A key that
 * many rules share narrows nothing (every version 2 rule may name the same
 * `*@example.com` users, say), so an option is judged first by the most rules
 * any of its keys is shared with, then by its strength; an n-gram (whose
 * lookup reads the whole value) only when no literal value or end can be
 * looked up, and an enum field only when nothing else can. With a key of its
 * own per rule, this is the strongest constraint.
 */
function chooseEntries(rules: readonly Rule[]): Entry[][] {
  const gramOf = gramsFor(rules);
  const options = rules.map((rule) => optionsFor(rule, gramOf));
  const sharing = new Map<string, number>();
  for (const rule of options) {
    const keys = new Set(rule.flatMap((option) => option.map(keyOf)));
    for (const key of keys) sharing.set(key, (sharing.get(key) ?? 0) + 1);
  }
  return options.map((rule) => {
    let best: Entry[] = [];
    let bestRank: readonly number[] = [];
    for (const option of rule) {
      const s = strength(option);
      let shared = 0;
      for (const e of option) shared = Math.max(shared, sharing.get(keyOf(e)) ?? 0);
      // Lower is better, compared in order: enum field, n-gram or values to gather, rules sharing a key, strength.
      const rank = [s === 1 ? 2 : option.some((e) => e.kind === 'gram' || isValuesField(e.field)) ? 1 : 0, shared, -s];
      if (bestRank.length === 0 || before(rank, bestRank)) {
        best = option;
        bestRank = rank;
      }
    }
    return best;
  });
}

const hasOwn = Object.prototype.hasOwnProperty;

const anyMatch = (matchers: readonly Matcher[], value: string): boolean => {
  for (let k = 0; k < matchers.length; k++) if ((matchers[k] as Matcher)(value)) return true;
  return false;
};

const wellFormed = (s: string): string => (s.isWellFormed() ? s : s.toWellFormed());

/** Whether some non-empty group matches some pattern; literal patterns are looked up, not scanned. */
function groupsCheck(patterns: readonly string[]): Check {
  const literal = new Set(patterns.filter((p) => !p.includes('*')));
  const wild = patterns.filter((p) => p.includes('*')).map(compilePattern);
  return (s) => {
    const groups = s.groups;
    if (groups === undefined) return false;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g] as string;
      if (literal.has(group) || anyMatch(wild, group)) return true;
    }
    return false;
  };
}

/** Every listed claim has a non-empty value (or element) that matches one of its patterns. */
function claimsCheck(claims: Readonly<Record<string, readonly string[]>>): Check {
  const listed = Object.keys(claims).map(
    (name) => [name, (claims[name] as readonly string[]).map(compilePattern)] as const,
  );
  const matches = (value: string, matchers: readonly Matcher[]): boolean =>
    value !== '' && anyMatch(matchers, wellFormed(value));
  return (s) => {
    if (s.principal !== true) return false;
    const sent = s.claims;
    for (const [name, matchers] of listed) {
      const value = sent !== undefined && hasOwn.call(sent, name) ? sent[name] : undefined;
      if (typeof value === 'string') {
        if (!matches(value, matchers)) return false;
      } else if (value === undefined || !value.some((v) => matches(v, matchers))) {
        return false;
      }
    }
    return true;
  };
}

/** Each listed hint's effective value is the rule's. */
function annotationsCheck(annotations: Readonly<Partial<Record<AnnotationHint, boolean>>>): Check {
  const wanted = ANNOTATION_HINTS.filter((h) => hasOwn.call(annotations, h) && annotations[h] !== undefined).map(
    (h) => [h, annotations[h] as boolean] as const,
  );
  return (s) => {
    const effective = s.annotations ?? ANNOTATION_DEFAULTS;
    for (const [hint, value] of wanted) if (effective[hint] !== value) return false;
    return true;
  };
}

function compileRule(rule: Rule): Check {
  const checks: Check[] = [];
  const { action, serverType, transport } = rule;
  if (action !== undefined) checks.push((s) => s.action === action);
  if (serverType !== undefined) checks.push((s) => s.serverType === serverType);
  if (transport !== undefined) checks.push((s) => s.transport === transport);
  if (rule.server !== undefined) {
    const m = compilePattern(rule.server);
    checks.push((s) => s.server !== undefined && m(s.server));
  }
  if (rule.serverSource !== undefined) {
    const m = compilePattern(rule.serverSource);
    checks.push((s, source) => {
      if (s.serverSource === undefined) return false;
      const forms = source.all();
      for (let k = 0; k < forms.length; k++) if (m(forms[k] as string)) return true;
      return false;
    });
  }
  if (rule.tools !== undefined) {
    const ms: Matcher[] = rule.tools.map(compilePattern);
    checks.push((s) => s.tool !== undefined && anyMatch(ms, s.tool));
  }
  if (rule.resources !== undefined) {
    const ms = rule.resources.map(compilePattern);
    checks.push((s) => s.resource !== undefined && anyMatch(ms, s.resource));
  }
  if (rule.users !== undefined) {
    const ms = rule.users.map(compilePattern);
    checks.push((s) => s.sub !== undefined && anyMatch(ms, s.sub));
  }
  if (rule.groups !== undefined) checks.push(groupsCheck(rule.groups));
  if (rule.claims !== undefined) checks.push(claimsCheck(rule.claims));
  if (rule.annotations !== undefined) checks.push(annotationsCheck(rule.annotations));
  if (rule.arguments !== undefined) {
    const holds = compileArgumentConditions(rule.arguments);
    checks.push((s) => holds(s.arguments));
  }
  return (s, source) => {
    for (let k = 0; k < checks.length; k++) if (!(checks[k] as Check)(s, source)) return false;
    return true;
  };
}

/** Appends a request's values of a claim or argument field, as the rules' checks match them. */
type ValuesReader = (s: Subject, out: string[]) => void;

function valuesReader(field: ValuesField): ValuesReader {
  if (field.startsWith('claim ')) {
    const name = field.slice('claim '.length);
    return (s, out) => {
      const sent = s.claims;
      if (s.principal !== true || sent === undefined || !hasOwn.call(sent, name)) return;
      const value = sent[name];
      if (typeof value === 'string') {
        if (value !== '') out.push(wellFormed(value));
        return;
      }
      for (const v of value as readonly string[]) if (v !== '') out.push(wellFormed(v));
    };
  }
  const rest = field.slice('argument '.length);
  const asPath = rest.startsWith('path ');
  const segments = pointerSegments(rest.slice('path '.length));
  return (s, out) => {
    const args = s.arguments;
    if (args === undefined) return;
    visitValues(args, segments, (v) => {
      if (typeof v !== 'string') return false;
      const text = asPath ? cleanPath(wellFormed(v)) : wellFormed(v);
      if (text !== undefined) out.push(text);
      return false;
    });
  };
}

/**
 * Looks each of several values up in `table`, appending each list found once:
 * returns false when there were several (a rule may then be a candidate
 * through several of its keys).
 */
function lookupEach(table: FieldTable, values: readonly string[], lists: (readonly number[])[]): boolean {
  if (values.length === 1) {
    table.lookup('', values[0] as string, lists);
    return true;
  }
  const found: (readonly number[])[] = [];
  for (let k = 0; k < values.length; k++) table.lookup('', values[k] as string, found);
  const seen = new Set<readonly number[]>();
  for (const list of found) {
    if (seen.has(list)) continue;
    seen.add(list);
    lists.push(list);
  }
  return false;
}

/** How a looked-up field's value is read from the request: the field itself, the serverSource's forms, or each group. */
const READ_VALUE = 0;
const READ_SOURCE = 1;
const READ_GROUPS = 2;

interface FieldLookup {
  readonly field: Field;
  readonly table: FieldTable;
  readonly read: typeof READ_VALUE | typeof READ_SOURCE | typeof READ_GROUPS;
}

/** A policy compiled for the native engine: rule matchers and the index over them. */
export class RulePlan {
  private readonly checks: readonly Check[];
  private readonly fields = new Map<Field, FieldTable>();
  private readonly always: readonly number[];
  /** The looked-up fields other than claims and arguments, each with how its value is read. */
  private readonly tables: readonly FieldLookup[];
  private readonly source = new SourceForms();

  /** Claim and argument fields: their values are gathered from the request before they are looked up. */
  private readonly valueTables: readonly (readonly [ValuesReader, FieldTable])[];
  private readonly filed: readonly (readonly Entry[])[];
  /** Each rule's reason: its own, or the one made from its index and decision, built once instead of per decision. */
  readonly reasons: readonly string[];
  /** The reason when no rule matches. */
  readonly defaultReason: string;

  /** `indexed: false` files no rule (each is checked on every request): what the index must agree with. */
  constructor(policy: Policy, indexed = true) {
    this.checks = policy.rules.map(compileRule);
    this.reasons = policy.rules.map((rule, index) => rule.reason ?? ruleReason(index, rule.allow));
    this.defaultReason = defaultReason(policy.default);
    const always: number[] = [];
    this.filed = indexed ? chooseEntries(policy.rules) : policy.rules.map(() => []);
    this.filed.forEach((entries, index) => {
      if (entries.length === 0) always.push(index);
      for (const e of entries) {
        let table = this.fields.get(e.field);
        if (table === undefined) this.fields.set(e.field, (table = new FieldTable()));
        table.add(e.kind, e.key, index);
      }
    });
    const used = [...this.fields].filter(([, table]) => !table.empty);
    this.tables = used.flatMap(([field, table]) =>
      isValuesField(field)
        ? []
        : [{ field, table, read: field === 'group' ? READ_GROUPS : field === 'source' ? READ_SOURCE : READ_VALUE }],
    );
    this.valueTables = used.flatMap(([field, table]) =>
      isValuesField(field) ? [[valuesReader(field), table] as const] : [],
    );
    this.always = always;
  }

  /**
   * Where the index files rule `index`: one entry per pattern of the chosen
   * constraint (field `group` is looked up once per group of the request), or
   * none when the rule is checked on every request. For tests and diagnostics.
   */
  filing(index: number): readonly Entry[] {
    return this.filed[index] ?? [];
  }

  /** The index of the first rule that matches, or -1. */
  firstMatch(s: Subject): number {
    const source = this.source;
    const sourceValue = s.serverSource;
    // The canonical form is worked out once, for the lookups and the rules' checks alike.
    source.reset(sourceValue);
    const lists: (readonly number[])[] = [this.always];
    beginLookup();
    // Set when several groups were looked up: a rule can then be a candidate
    // through several of its keys, and its checks (over every group) run once.
    let failed: Set<number> | undefined;
    const tables = this.tables;
    for (let k = 0; k < tables.length; k++) {
      const { field, table, read } = tables[k] as FieldLookup;
      if (read === READ_VALUE) {
        const value = s[field as 'server' | 'tool' | 'resource' | 'sub' | 'action' | 'serverType' | 'transport'];
        if (value !== undefined) table.lookup('', value, lists);
      } else if (read === READ_SOURCE) {
        if (sourceValue === undefined) continue;
        table.lookup('', sourceValue, lists);
        const p = source.canonicalParts();
        if (p !== undefined) table.lookup(p[0], p[1], lists);
      } else {
        const groups = s.groups;
        if (groups === undefined || groups.length === 0) continue;
        if (!lookupEach(table, groups, lists)) failed = new Set();
      }
    }
    for (let k = 0; k < this.valueTables.length; k++) {
      const [read, table] = this.valueTables[k] as readonly [ValuesReader, FieldTable];
      const values: string[] = [];
      read(s, values);
      if (values.length > 0 && !lookupEach(table, values, lists)) failed ??= new Set();
    }
    const checks = this.checks;
    // Each list is in rule order: its first match is its best, and nothing at or past `best` can win.
    let best = Infinity;
    for (let l = 0; l < lists.length; l++) {
      const rules = lists[l] as readonly number[];
      for (let k = 0; k < rules.length; k++) {
        const i = rules[k] as number;
        if (i >= best) break;
        if (failed !== undefined) {
          if (failed.has(i)) continue;
          if (!(checks[i] as Check)(s, source)) {
            failed.add(i);
            continue;
          }
          best = i;
          break;
        }
        if ((checks[i] as Check)(s, source)) {
          best = i;
          break;
        }
      }
    }
    // Keeps no reference to the request's strings until the next decision.
    source.reset(undefined);
    return best === Infinity ? -1 : best;
  }
}

const plans = new WeakMap<Policy, RulePlan>();

/** The policy last asked for and its plan: a host decides against one policy far more often than it switches. */
let lastPolicy: Policy | undefined;
let lastPlan: RulePlan | undefined;

/** The compiled plan of a validated policy, built on first use and kept as long as the policy. */
export function planOf(policy: Policy): RulePlan {
  if (policy === lastPolicy) return lastPlan as RulePlan;
  let plan = plans.get(policy);
  if (plan === undefined) plans.set(policy, (plan = new RulePlan(policy)));
  lastPolicy = policy;
  lastPlan = plan;
  return plan;
}
