/**
 * Version 2 conditions on one concrete request, read from the semantics
 * (docs/semantics.md) for `explain`, which shows the value each condition
 * looked at, and for checking witnesses the analysis builds where it is not
 * exact. Deliberately separate from the native engine: the tests compare the
 * two readings.
 */
import {
  ANNOTATION_DEFAULTS,
  ANNOTATION_HINTS,
  type AnnotationHint,
  type ArgumentCondition,
  MAX_PATH_PARTS,
  pointerSegments,
  type Scalar,
} from '../policy/model.js';
import { wildcardMatch } from '../native/match.js';

const hasOwn = Object.prototype.hasOwnProperty;
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

function own(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null && !Array.isArray(o) && hasOwn.call(o, key)
    ? (o as Record<string, unknown>)[key]
    : undefined;
}

/** Every value a pointer reaches in `args` (undefined: the request has no arguments, so nothing is found). */
export function valuesAt(args: unknown, path: string): unknown[] {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return [];
  let current: unknown[] = [args];
  for (const s of pointerSegments(path)) {
    const next: unknown[] = [];
    for (const v of current) {
      if (typeof v !== 'object' || v === null) continue;
      if (Array.isArray(v)) {
        if (s === '*') next.push(...(v as unknown[]));
        else if (ARRAY_INDEX.test(s) && Number(s) < v.length) next.push(v[Number(s)]);
      } else if (s === '*') {
        for (const k of Object.keys(v)) next.push((v as Record<string, unknown>)[k]);
      } else if (hasOwn.call(v, s)) next.push((v as Record<string, unknown>)[s]);
    }
    current = next;
  }
  return current;
}

/** Go's `path.Clean`; undefined for a string of more than {@link MAX_PATH_PARTS} parts (not a path). */
export function cleanPath(s: string): string | undefined {
  const parts = s.split('/');
  if (parts.length > MAX_PATH_PARTS) return undefined;
  const rooted = s.startsWith('/');
  const stack: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (stack.length > 0 && stack.at(-1) !== '..') stack.pop();
      else if (!rooted) stack.push('..');
    } else stack.push(p);
  }
  const out = (rooted ? '/' : '') + stack.join('/');
  return out === '' ? '.' : out;
}

/** `equals` of version 2: the same JSON type and equal (numbers as doubles, so `-0` is `0`). */
export function scalarEquals(value: unknown, scalar: Scalar): boolean {
  return typeof value === typeof scalar && (value === scalar || (value === null && scalar === null));
}

/** Whether one found value passes a condition's test (before `not`). */
export function passes(c: ArgumentCondition, v: unknown): boolean {
  if (c.match !== undefined) {
    if (typeof v !== 'string') return false;
    const s = c.normalize === 'path' ? cleanPath(v) : v;
    return s !== undefined && c.match.some((p) => wildcardMatch(p, s));
  }
  if (c.equals !== undefined) return scalarEquals(v, c.equals);
  if (c.in !== undefined) return c.in.some((x) => scalarEquals(v, x));
  if (c.min !== undefined || c.max !== undefined) {
    return typeof v === 'number' && (c.min === undefined || c.min <= v) && (c.max === undefined || v <= c.max);
  }
  return false;
}

/** Whether an argument condition holds on a request's `arguments`, and the values it found. */
export function conditionHolds(c: ArgumentCondition, args: unknown): { holds: boolean; found: unknown[] } {
  const found = valuesAt(args, c.path);
  if (c.present !== undefined) return { holds: found.length > 0 === c.present, found };
  if (found.length === 0) return { holds: false, found };
  return { holds: found.some((v) => passes(c, v)) !== (c.not === true), found };
}

/** One hint's effective value and whether the request declared it. */
export interface EffectiveHint {
  readonly value: boolean;
  readonly declared: boolean;
}

/** The effective annotations: declared, else the readOnly exception for destructiveHint, else MCP's default. */
export function effectiveAnnotations(annotations: unknown): Record<AnnotationHint, EffectiveHint> {
  const out = {} as Record<AnnotationHint, EffectiveHint>;
  for (const h of ANNOTATION_HINTS) {
    const v = own(annotations, h);
    if (typeof v === 'boolean') out[h] = { value: v, declared: true };
    else if (h === 'destructiveHint' && own(annotations, 'readOnlyHint') === true)
      out[h] = { value: false, declared: false };
    else out[h] = { value: ANNOTATION_DEFAULTS[h], declared: false };
  }
  return out;
}

/** The version 2 facts of a (valid) request: empty strings read as absent. */
export interface PrincipalFacts {
  readonly sub: string | undefined;
  readonly groups: readonly string[];
  /** Own claims only; a string claim is a one-element list. */
  readonly claims: ReadonlyMap<string, readonly string[]>;
}

export function principalFacts(request: unknown): PrincipalFacts {
  const p = own(request, 'principal');
  const sub = own(p, 'sub');
  const groups = own(p, 'groups');
  const claims = own(p, 'claims');
  const map = new Map<string, string[]>();
  if (typeof claims === 'object' && claims !== null) {
    for (const k of Object.keys(claims)) {
      const v = (claims as Record<string, unknown>)[k];
      map.set(
        k,
        (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string' && x !== ''),
      );
    }
  }
  return {
    sub: typeof sub === 'string' && sub !== '' ? sub : undefined,
    groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string' && g !== '') : [],
    claims: map,
  };
}

/** A request field as rules see it: absent and empty are the same. */
export function field(request: unknown, name: string): string | undefined {
  const v = own(request, name);
  return typeof v === 'string' && v !== '' ? v : undefined;
}
