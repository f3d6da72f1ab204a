/**
 * The native engine's argument conditions (version 2): finding the values a
 * JSON pointer names in a request's `arguments`, the tests on them, scalar
 * equality and POSIX path cleaning. Written from the semantics, not from the
 * Rego lowering, so the differential tester compares two readings of it.
 */
import { type ArgumentCondition, MAX_PATH_PARTS, pointerSegments, type Scalar } from '../policy/model.js';
import { compilePattern, type Matcher } from './match.js';

const hasOwn = Object.prototype.hasOwnProperty;

/** `0`, or digits not starting with `0`: the segments that name an array element. */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/**
 * Calls `visit` on every value the pointer segments reach from `root`, in
 * document order, until it returns true; returns whether one did. A `*`
 * segment stands for every element of an array and every member value of an
 * object (and for nothing under a scalar); any other segment names an own
 * member of an object, or the element of an array at an index below its
 * length. Each value of the request is reached at most once, so the work is
 * bounded by the request's size whatever the number of `*` segments.
 */
export function visitValues(
  root: unknown,
  segments: readonly string[],
  visit: (value: unknown) => boolean,
  from = 0,
): boolean {
  if (from === segments.length) return visit(root);
  if (typeof root !== 'object' || root === null) return false;
  const segment = segments[from] as string;
  if (Array.isArray(root)) {
    if (segment === '*') {
      for (let k = 0; k < root.length; k++) if (visitValues(root[k], segments, visit, from + 1)) return true;
      return false;
    }
    if (!ARRAY_INDEX.test(segment)) return false;
    const index = Number(segment);
    return index < root.length ? visitValues(root[index], segments, visit, from + 1) : false;
  }
  if (segment === '*') {
    for (const key of Object.keys(root)) {
      if (visitValues((root as Record<string, unknown>)[key], segments, visit, from + 1)) return true;
    }
    return false;
  }
  return hasOwn.call(root, segment)
    ? visitValues((root as Record<string, unknown>)[segment], segments, visit, from + 1)
    : false;
}

/**
 * Every value at `path` (an RFC 6901 pointer, `*` for every element) in a
 * request's `arguments`; none when the request has no arguments, even for
 * the pointer `""`.
 */
export function valuesAt(args: Readonly<Record<string, unknown>> | undefined, path: string): unknown[] {
  const out: unknown[] = [];
  if (args === undefined) return out;
  visitValues(args, pointerSegments(path), (v) => {
    out.push(v);
    return false;
  });
  return out;
}

/**
 * Go's `path.Clean` of a POSIX path, or undefined when the string has more
 * than {@link MAX_PATH_PARTS} `/`-separated parts (it is not taken for a path,
 * and `match` fails on it). `..` is resolved textually and never climbs above
 * `/`; a relative path keeps the `..` it cannot resolve; the empty result is `.`.
 */
export function cleanPath(s: string): string | undefined {
  const n = s.length;
  if (n === 0) return '.';
  const rooted = s.charCodeAt(0) === 0x2f;
  // The parts kept, as [start, end) of `s`; a kept ".." is the input's own "..".
  const starts = STARTS;
  const ends = ENDS;
  let depth = 0;
  /** Kept parts that are "..": only a relative path keeps them, below every name. */
  let ups = 0;
  let changed = false;
  let slashes = 0;
  let from = 0;
  for (;;) {
    let end = s.indexOf('/', from);
    const last = end < 0;
    if (last) end = n;
    const part = end - from;
    if (part === 0 || (part === 1 && s.charCodeAt(from) === 0x2e)) {
      // "" (a leading "/" aside) and "." are dropped.
      if (part === 1 || from !== 0) changed = true;
    } else if (part === 2 && s.charCodeAt(from) === 0x2e && s.charCodeAt(from + 1) === 0x2e) {
      if (depth > ups) {
        depth--;
        changed = true;
      } else if (rooted) {
        changed = true;
      } else {
        starts[depth] = from;
        ends[depth++] = end;
        ups++;
      }
    } else {
      starts[depth] = from;
      ends[depth++] = end;
    }
    if (last) break;
    if (++slashes >= MAX_PATH_PARTS) return undefined;
    from = end + 1;
  }
  if (!changed) return s;
  if (depth === 0) return rooted ? '/' : '.';
  let out = rooted ? '/' : '';
  for (let k = 0; k < depth; k++) out += (k === 0 ? '' : '/') + s.slice(starts[k], ends[k]);
  return out;
}

/** Scratch space of {@link cleanPath}: a path has at most {@link MAX_PATH_PARTS} parts, and cleaning never re-enters. */
const STARTS = new Int32Array(MAX_PATH_PARTS);
const ENDS = new Int32Array(MAX_PATH_PARTS);

/**
 * JSON equality of a request value and a policy scalar: the same JSON type
 * and equal, numbers as doubles (so `-0` equals `0`); an object or array
 * equals nothing.
 */
export function scalarEquals(value: unknown, scalar: Scalar): boolean {
  if (value === null || scalar === null) return value === scalar;
  const type = typeof value;
  if (type !== 'string' && type !== 'number' && type !== 'boolean') return false;
  // `===` is the comparison of each type: doubles (with -0 === 0), strings by code unit, booleans.
  return typeof scalar === type && value === scalar;
}

/** Request text as every engine decodes it: unpaired surrogates become U+FFFD. */
const wellFormed = (s: string): string => (s.isWellFormed() ? s : s.toWellFormed());

/** A test on one value found at a condition's path. */
type ValueTest = (value: unknown) => boolean;

function valueTest(condition: ArgumentCondition): ValueTest {
  if (condition.match !== undefined) {
    const matchers: Matcher[] = condition.match.map(compilePattern);
    const matches = (s: string): boolean => {
      for (let k = 0; k < matchers.length; k++) if ((matchers[k] as Matcher)(s)) return true;
      return false;
    };
    if (condition.normalize === 'path') {
      return (v) => {
        if (typeof v !== 'string') return false;
        const cleaned = cleanPath(wellFormed(v));
        return cleaned !== undefined && matches(cleaned);
      };
    }
    return (v) => typeof v === 'string' && matches(wellFormed(v));
  }
  if (condition.equals !== undefined) {
    const expected = condition.equals;
    return typeof expected === 'string'
      ? (v) => typeof v === 'string' && wellFormed(v) === expected
      : (v) => scalarEquals(v, expected);
  }
  if (condition.in !== undefined) {
    const options = condition.in;
    return (v) => {
      const value = typeof v === 'string' ? wellFormed(v) : v;
      for (let k = 0; k < options.length; k++) if (scalarEquals(value, options[k] as Scalar)) return true;
      return false;
    };
  }
  const { min, max } = condition;
  return (v) => typeof v === 'number' && (min === undefined || min <= v) && (max === undefined || v <= max);
}

/** A compiled argument condition: whether it holds for a request's `arguments` (undefined when it has none). */
export type ArgumentCheck = (args: Readonly<Record<string, unknown>> | undefined) => boolean;

/**
 * Compiles one condition (validated, in its source shape). `present: b` holds
 * when finding something at the path is b. Any other test fails when nothing
 * is found, `not` or not; otherwise it holds when some value found passes,
 * negated by `not`. A value of the wrong type fails the test, so a negated
 * test holds on it: the safe reading for deny rules.
 */
export function compileArgumentCondition(condition: ArgumentCondition): ArgumentCheck {
  const segments = pointerSegments(condition.path);
  const not = condition.not === true;
  const test = condition.present === undefined ? valueTest(condition) : undefined;
  if (!segments.includes('*')) {
    // One value at most: follow the segments without a visitor.
    return (args) => {
      const value = args === undefined ? NOTHING : valueAt(args, segments);
      if (test === undefined) return (value !== NOTHING) === condition.present;
      return value !== NOTHING && test(value) !== not;
    };
  }
  const found = (): boolean => true;
  if (test === undefined) {
    const wanted = condition.present;
    return (args) => (args !== undefined && visitValues(args, segments, found)) === wanted;
  }
  // Evaluation is synchronous and a test never evaluates another condition, so one flag per condition serves.
  let any = false;
  const visit = (v: unknown): boolean => {
    any = true;
    return test(v);
  };
  return (args) => {
    if (args === undefined) return false;
    any = false;
    const passed = visitValues(args, segments, visit);
    return any && passed !== not;
  };
}

/** What {@link valueAt} returns when nothing is at the path (`undefined` is no JSON value, but a caller may pass one). */
const NOTHING: unique symbol = Symbol('nothing');

/** The one value at `segments` (none of them `*`) from `root`, or {@link NOTHING}. */
function valueAt(root: unknown, segments: readonly string[]): unknown {
  let value = root;
  for (let k = 0; k < segments.length; k++) {
    if (typeof value !== 'object' || value === null) return NOTHING;
    const segment = segments[k] as string;
    if (Array.isArray(value)) {
      if (!ARRAY_INDEX.test(segment)) return NOTHING;
      const index = Number(segment);
      if (index >= value.length) return NOTHING;
      value = value[index];
    } else {
      if (!hasOwn.call(value, segment)) return NOTHING;
      value = (value as Record<string, unknown>)[segment];
    }
  }
  return value;
}

/** Compiles a rule's argument conditions into one check: all of them hold. */
export function compileArgumentConditions(conditions: readonly ArgumentCondition[]): ArgumentCheck {
  const checks = conditions.map(compileArgumentCondition);
  return (args) => {
    for (let k = 0; k < checks.length; k++) if (!(checks[k] as ArgumentCheck)(args)) return false;
    return true;
  };
}
