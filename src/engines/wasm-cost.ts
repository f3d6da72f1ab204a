/**
 * What deciding one request can cost on a compiled policy, read from its
 * rule index (data.json): hosts bound the work one HTTP request or one chunk
 * may ask for by it, so a small batch on a policy of thousands of rules that
 * no index narrows cannot hold a service for minutes.
 */
import { POLICY_PACKAGE } from '../core/contracts.js';
import { REQUEST_FIELDS_V2 } from '../policy/model.js';

/**
 * What a request costs before any rule is checked (reading it, the index
 * lookups, building the decision), in rule checks: on the bench policies a
 * request that matches nothing costs about as much as checking this many
 * unindexed rules.
 */
export const BASE_REQUEST_COST = 10;

type Buckets = Readonly<Record<string, unknown>>;

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The longest candidate list one lookup in `buckets` can return. */
function largestBucket(buckets: unknown): number {
  if (!isRecord(buckets)) return 0;
  let most = 0;
  for (const list of Object.values(buckets as Buckets)) if (Array.isArray(list)) most = Math.max(most, list.length);
  return most;
}

/** Every candidate a lookup in `buckets` can return, over all its keys. */
function allBuckets(buckets: unknown): number {
  if (!isRecord(buckets)) return 0;
  let all = 0;
  for (const list of Object.values(buckets as Buckets)) if (Array.isArray(list)) all += list.length;
  return all;
}

/**
 * Index fields a request can hold many values of: `groups`, and (in the
 * index of a policy with many patterns on them) a claim (`claim:` and its
 * name) and the strings an argument pointer finds (`arg:` or `argpath:` and
 * its steps).
 */
const manyValued = (field: string): boolean => field === 'groups' || field.includes(':');

/**
 * True when the policy's index cuts values a request can hold many of
 * (groups, claim values, argument strings) into n-grams: every one is cut,
 * so {@link lengthFactor} prices them by their total length, not the longest.
 */
export function cutsManyValues(data: unknown): boolean {
  const lowered = isRecord(data) && isRecord(data[POLICY_PACKAGE]) ? data[POLICY_PACKAGE].lowered : undefined;
  const index = isRecord(lowered) ? lowered.index : undefined;
  return isRecord(index) && isRecord(index.ngram) && Object.keys(index.ngram).some(manyValued);
}

/**
 * What the lookups of one index field can return: the largest bucket for a
 * field a request has one value of (two forms of a serverSource), every
 * bucket for `groups`, which a version 2 request may hold thousands of.
 */
function lookupBound(field: string, buckets: unknown): number {
  if (manyValued(field)) return allBuckets(buckets);
  return (field === 'source' ? 2 : 1) * largestBucket(buckets);
}

/**
 * An upper bound on the rules one request makes the policy check, plus
 * {@link BASE_REQUEST_COST}: every rule in `always`, and for each lookup a
 * request makes (one per field and prefix or suffix tier, two for a
 * serverSource, which is looked up as given and in its canonical form) the
 * largest candidate list it can hit, every list for the groups of a version 2
 * principal and for an n-gram tier; never more than all the rules; plus
 * {@link NGRAM_PASS_COST} per n-gram tier a request's values are cut into. Data
 * that is not a lowered mcp-policy counts every rule it has, or nothing.
 */
export function requestCost(data: unknown): number {
  const lowered = isRecord(data) && isRecord(data[POLICY_PACKAGE]) ? data[POLICY_PACKAGE].lowered : undefined;
  if (!isRecord(lowered)) return BASE_REQUEST_COST;
  const rules = Array.isArray(lowered.rules) ? lowered.rules.length : 0;
  const index = lowered.index;
  if (!isRecord(index)) return BASE_REQUEST_COST + rules;
  let bound = Array.isArray(index.always) ? index.always.length : rules;
  if (isRecord(index.equals)) {
    for (const [field, buckets] of Object.entries(index.equals)) bound += lookupBound(field, buckets);
  }
  for (const family of [index.prefix, index.suffix]) {
    if (!isRecord(family)) continue;
    for (const [field, tiers] of Object.entries(family)) {
      if (!Array.isArray(tiers)) continue;
      for (const tier of tiers) bound += lookupBound(field, tier);
    }
  }
  let grams = 0;
  if (isRecord(index.ngram)) {
    for (const [field, tiers] of Object.entries(index.ngram)) {
      if (!Array.isArray(tiers)) continue;
      // A long value has an n-gram at every position, so it can make every rule of a tier a candidate.
      for (const tier of tiers) bound += allBuckets(tier);
      grams += (field === 'source' ? 2 : 1) * tiers.length;
    }
  }
  return BASE_REQUEST_COST + Math.min(bound, rules) + grams * NGRAM_PASS_COST;
}

/**
 * Characters of a request field that cost about one more rule check per
 * rule: each pattern piece is searched for (and the rest of the field cut
 * off) in the field, so a rule check on a 65,536-character field costs some
 * 500 short ones, and grows WebAssembly memory by a copy of the field. A
 * version 2 request's subject, groups, claim values and argument strings are
 * matched the same way, and count alike.
 */
export const CHARACTERS_PER_CHECK = 128;

/**
 * What cutting a value into n-grams and looking each up costs, in rule
 * checks, for a value of up to {@link CHARACTERS_PER_CHECK} characters: a
 * request pays it once per n-gram tier of each field it is looked up in
 * (twice for a serverSource), and {@link lengthFactor} scales it with the
 * value's length like the rest. In WebAssembly an n-gram costs about two
 * short rule checks (a 65,536-character value takes some 160 ms).
 */
export const NGRAM_PASS_COST = 2 * CHARACTERS_PER_CHECK;

/**
 * Groups and claim values of a version 2 principal that cost about one more
 * rule check per rule: each is looked up in the index and tried against the
 * patterns of every candidate rule that names groups or claims.
 */
export const ENTRIES_PER_CHECK = 16;

/**
 * Values in a version 2 request's arguments that cost about one more rule
 * check per rule: a `*` segment of an argument condition visits every element
 * or member it passes, and a test runs on each value found.
 */
export const ARGUMENT_VALUES_PER_CHECK = 16;

/**
 * The most patterns one rule of the compiled policy tries against each group,
 * claim value or argument value (`patternWeight` in its data; 1 when absent,
 * as in version 1): a request's entries and argument values cost that many
 * times more.
 */
export function patternWeight(data: unknown): number {
  const lowered = isRecord(data) && isRecord(data[POLICY_PACKAGE]) ? data[POLICY_PACKAGE].lowered : undefined;
  const weight = isRecord(lowered) ? lowered.patternWeight : undefined;
  return typeof weight === 'number' && Number.isFinite(weight) && weight >= 1 ? Math.floor(weight) : 1;
}

/** Values of the arguments counted at most: far past this the request costs more than any bound lets through. */
const MAX_COUNTED_VALUES = 1 << 20;

/** A data property's value, read without running a getter. */
function own(value: object, key: string): unknown {
  const d = Object.getOwnPropertyDescriptor(value, key);
  return d !== undefined && 'value' in d ? d.value : undefined;
}

/**
 * What a request makes matching cost: its longest string, its principal's
 * entries, its argument values, and the total length of its groups, claim
 * values and argument strings (`many`).
 */
interface Weight {
  longest: number;
  entries: number;
  values: number;
  many: number;
}

function weighString(w: Weight, v: unknown, many = false): void {
  if (typeof v !== 'string') return;
  if (v.length > w.longest) w.longest = v.length;
  if (many) w.many += v.length;
}

function weighPrincipal(w: Weight, principal: unknown): void {
  if (typeof principal !== 'object' || principal === null) return;
  weighString(w, own(principal, 'sub'));
  const groups = own(principal, 'groups');
  if (Array.isArray(groups)) {
    w.entries += groups.length;
    for (let k = 0; k < groups.length && k < MAX_COUNTED_VALUES; k++) weighString(w, own(groups, String(k)), true);
  }
  const claims = own(principal, 'claims');
  if (typeof claims !== 'object' || claims === null) return;
  for (const name of Object.keys(claims).slice(0, MAX_COUNTED_VALUES)) {
    const v = own(claims, name);
    w.entries += 1;
    if (!Array.isArray(v)) weighString(w, v, true);
    else {
      w.entries += v.length;
      for (let k = 0; k < v.length && k < MAX_COUNTED_VALUES; k++) weighString(w, own(v, String(k)), true);
    }
  }
}

/** Counts the values of the arguments (up to {@link MAX_COUNTED_VALUES}) with a stack of its own, however deep. */
function weighArguments(w: Weight, args: unknown): void {
  const pending: unknown[] = [args];
  let seen = 0;
  while (pending.length > 0 && seen < MAX_COUNTED_VALUES) {
    const v = pending.pop();
    seen += 1;
    if (typeof v === 'string') weighString(w, v, true);
    else if (typeof v === 'object' && v !== null) {
      const keys = Array.isArray(v) ? Array.from({ length: v.length }, (_, k) => String(k)) : Object.keys(v);
      for (const key of keys) pending.push(own(v, key));
    }
  }
  w.values += seen;
}

/**
 * How many times a short request's cost `request` costs: 1, plus one for every
 * {@link CHARACTERS_PER_CHECK} characters of its longest string a rule
 * matches (a known field, and in version 2 the subject, a group, a claim
 * value or an argument string), one for every {@link ENTRIES_PER_CHECK}
 * groups and claim values, and one for every {@link ARGUMENT_VALUES_PER_CHECK}
 * values in its arguments, these two times `weight` (the policy's
 * {@link patternWeight}). With `cutsMany` (the policy's index cuts groups,
 * claim values or argument strings into n-grams: {@link cutsManyValues}),
 * the characters counted are those of every group, claim value and argument
 * string together when they outnumber the longest string's, as each of them
 * is cut. Lengths are UTF-16 units; everything is read without copying and
 * without running getters; anything of another type counts nothing.
 */
export function lengthFactor(request: unknown, weight = 1, cutsMany = false): number {
  if (typeof request !== 'object' || request === null) return 1;
  const w: Weight = { longest: 0, entries: 0, values: 0, many: 0 };
  for (const field of REQUEST_FIELDS_V2) weighString(w, own(request, field));
  weighPrincipal(w, own(request, 'principal'));
  const args = own(request, 'arguments');
  if (typeof args === 'object' && args !== null) weighArguments(w, args);
  return (
    1 +
    Math.floor((cutsMany ? Math.max(w.longest, w.many) : w.longest) / CHARACTERS_PER_CHECK) +
    Math.floor((w.entries * weight) / ENTRIES_PER_CHECK) +
    Math.floor((w.values * weight) / ARGUMENT_VALUES_PER_CHECK)
  );
}

/**
 * What deciding one request costs, in rule checks: `cost`, what a short
 * request costs on the policy ({@link requestCost}), times what its long
 * fields, entries and argument values add ({@link lengthFactor} with the
 * policy's {@link patternWeight}, and whether its index cuts many values:
 * {@link cutsManyValues}). Every host prices its decisions by it.
 */
export function requestWork(request: unknown, cost: number, weight = 1, cutsMany = false): number {
  return cost * lengthFactor(request, weight, cutsMany);
}
