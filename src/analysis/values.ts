/**
 * The sets the version 2 dimensions of a request box range over: numbers as
 * unions of closed intervals of doubles, the value found at one argument path
 * (by JSON type), and the "some element in L, none in M" constraints of
 * set-valued fields (groups, each claim). All are closed under intersection
 * and complement with exact emptiness, which is what box subtraction needs.
 */
import { type Dfa, type Automata } from './automaton.js';

/** A union of disjoint closed intervals `[lo, hi]` of finite doubles, sorted, `-0` read as `0`. */
export type NumSet = readonly (readonly [number, number])[];

const view = new DataView(new ArrayBuffer(8));

/** The next double above a finite `x` (Infinity above the largest), with `-0` and `0` one value. */
export function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 ? bits + 1n : bits - 1n);
  const y = view.getFloat64(0);
  return Object.is(y, -0) ? 0 : y;
}

/** The next double below a finite `x`. */
export function nextDown(x: number): number {
  const y = -nextUp(-x);
  return Object.is(y, -0) ? 0 : y;
}

const zero = (x: number): number => (x === 0 ? 0 : x);

export const NUM_ALL: NumSet = [[-Number.MAX_VALUE, Number.MAX_VALUE]];
export const NUM_NONE: NumSet = [];

/** The numbers `min <= v <= max` (either bound optional). */
export function numRange(min: number | undefined, max: number | undefined): NumSet {
  const lo = zero(min ?? -Number.MAX_VALUE);
  const hi = zero(max ?? Number.MAX_VALUE);
  return lo <= hi ? [[lo, hi]] : [];
}

export function numPoint(x: number): NumSet {
  return [[zero(x), zero(x)]];
}

function normalise(xs: (readonly [number, number])[]): NumSet {
  const sorted = xs.filter(([a, b]) => a <= b).sort((p, q) => p[0] - q[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out.at(-1);
    if (last !== undefined && (a <= last[1] || a === nextUp(last[1]))) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export function numOr(x: NumSet, y: NumSet): NumSet {
  return normalise([...x, ...y]);
}

export function numAnd(x: NumSet, y: NumSet): NumSet {
  const out: [number, number][] = [];
  for (const [a, b] of x)
    for (const [c, d] of y) if (Math.max(a, c) <= Math.min(b, d)) out.push([Math.max(a, c), Math.min(b, d)]);
  return normalise(out);
}

export function numNot(x: NumSet): NumSet {
  const out: [number, number][] = [];
  let lo = -Number.MAX_VALUE;
  for (const [a, b] of x) {
    if (a > lo) out.push([lo, nextDown(a)]);
    if (b === Number.MAX_VALUE) return out;
    lo = nextUp(b);
  }
  out.push([lo, Number.MAX_VALUE]);
  return normalise(out);
}

export function numHas(x: NumSet, v: number): boolean {
  return x.some(([a, b]) => a <= v && v <= b);
}

/** A number in the set, as plain as it gets: 0, else the bound nearest to 0. */
export function numWitness(x: NumSet): number | undefined {
  if (x.length === 0) return undefined;
  if (numHas(x, 0)) return 0;
  let best = x[0]![0];
  for (const [a, b] of x) for (const v of [a, b]) if (Math.abs(v) < Math.abs(best)) best = v;
  return best;
}

function numEqual(x: NumSet, y: NumSet): boolean {
  return x.length === y.length && x.every(([a, b], k) => a === y[k]![0] && b === y[k]![1]);
}

/** The kinds of value found at a path besides strings and numbers. */
export const ABSENT = 1;
export const NULL = 2;
export const FALSE = 4;
export const TRUE = 8;
/** An object or an array: found, and no test passes on it. */
export const COMPOSITE = 16;
const KINDS = 31;

/** What may be found at one argument path: its kind, and for strings and numbers which ones. */
export interface ValueSet {
  readonly kinds: number;
  readonly str: Dfa;
  readonly num: NumSet;
}

/** Value sets over one alphabet. */
export class Values {
  readonly all: ValueSet;
  readonly none: ValueSet;
  constructor(private readonly a: Automata) {
    this.all = { kinds: KINDS, str: a.universe, num: NUM_ALL };
    this.none = { kinds: 0, str: a.empty, num: NUM_NONE };
  }

  make(kinds: number, str: Dfa, num: NumSet): ValueSet {
    return { kinds, str, num };
  }

  and(x: ValueSet, y: ValueSet): ValueSet {
    if (x === this.all) return y;
    if (y === this.all) return x;
    return { kinds: x.kinds & y.kinds, str: this.a.and(x.str, y.str), num: numAnd(x.num, y.num) };
  }

  not(x: ValueSet): ValueSet {
    return { kinds: KINDS & ~x.kinds, str: this.a.minus(this.a.universe, x.str), num: numNot(x.num) };
  }

  isEmpty(x: ValueSet): boolean {
    return x.kinds === 0 && this.a.isEmpty(x.str) && x.num.length === 0;
  }

  isAll(x: ValueSet): boolean {
    return x === this.all || (x.kinds === KINDS && x.str === this.a.universe && numEqual(x.num, NUM_ALL));
  }

  /** Whether a JSON value (undefined: nothing found) is in the set. */
  has(x: ValueSet, v: unknown): boolean {
    if (v === undefined) return (x.kinds & ABSENT) !== 0;
    if (v === null) return (x.kinds & NULL) !== 0;
    if (v === false) return (x.kinds & FALSE) !== 0;
    if (v === true) return (x.kinds & TRUE) !== 0;
    if (typeof v === 'string') return this.a.accepts(x.str, v);
    if (typeof v === 'number') return numHas(x.num, v);
    return (x.kinds & COMPOSITE) !== 0;
  }

  /**
   * A value in the set, or undefined for "nothing found" (also for the empty
   * set: callers check emptiness first). Nothing found reads best, then a
   * string, a number, a boolean, null, and last an empty object.
   */
  witness(x: ValueSet): { value: unknown } | undefined {
    if (x.kinds & ABSENT) return undefined;
    const s = this.a.witness(x.str);
    if (s !== undefined) return { value: s };
    const n = numWitness(x.num);
    if (n !== undefined) return { value: n };
    if (x.kinds & TRUE) return { value: true };
    if (x.kinds & FALSE) return { value: false };
    if (x.kinds & NULL) return { value: null };
    return { value: {} };
  }
}

/**
 * A set-valued field (groups, one claim's values) under "some element in each
 * L" and "no element in M": satisfiable iff every L minus M is non-empty,
 * since a request may carry any number of elements. `some` is kept already
 * minus `none`; the empty string is never an element that counts, so every L
 * excludes it.
 */
export interface SomeNone {
  readonly some: readonly Dfa[];
  readonly none: Dfa;
}

export function someNoneAnd(a: Automata, x: SomeNone, y: SomeNone): SomeNone {
  if (x.some.length === 0 && x.none === a.empty) return y;
  if (y.some.length === 0 && y.none === a.empty) return x;
  const none = a.or(x.none, y.none);
  const some = [...new Set([...x.some, ...y.some].map((l) => a.minus(l, none)))];
  return { some, none };
}

export function someNoneEmpty(a: Automata, x: SomeNone): boolean {
  return x.some.some((l) => a.isEmpty(l));
}

/** Elements that satisfy the constraint: one per `some` language, shared where one string serves several. */
export function someNoneWitness(a: Automata, x: SomeNone): string[] {
  const out: string[] = [];
  for (const l of x.some) {
    if (out.some((w) => a.accepts(l, w))) continue;
    const w = a.witness(l);
    if (w !== undefined) out.push(w);
  }
  return out;
}
