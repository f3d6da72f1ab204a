/**
 * What deciding one request can cost on a compiled policy, read from its
 * rule index (data.json): hosts bound the work one HTTP request or one chunk
 * may ask for by it, so a small batch on a policy of thousands of rules that
 * no index narrows cannot hold a service for minutes.
 */
import { POLICY_PACKAGE } from '../core/contracts.js';
import { REQUEST_FIELDS } from '../policy/model.js';

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

/**
 * An upper bound on the rules one request makes the policy check, plus
 * {@link BASE_REQUEST_COST}: every rule in `always`, and for each lookup a
 * request makes (one per field and prefix or suffix tier, two for a
 * serverSource, which is looked up as given and in its canonical form) the
 * largest candidate list it can hit; never more than all the rules. Data
 * that is not a lowered mcp-policy counts every rule it has, or nothing.
 */
export function requestCost(data: unknown): number {
  const lowered = isRecord(data) && isRecord(data[POLICY_PACKAGE]) ? data[POLICY_PACKAGE].lowered : undefined;
  if (!isRecord(lowered)) return BASE_REQUEST_COST;
  const rules = Array.isArray(lowered.rules) ? lowered.rules.length : 0;
  const index = lowered.index;
  if (!isRecord(index)) return BASE_REQUEST_COST + rules;
  const forms = (field: string) => (field === 'source' ? 2 : 1);
  let bound = Array.isArray(index.always) ? index.always.length : rules;
  if (isRecord(index.equals)) {
    for (const [field, buckets] of Object.entries(index.equals)) bound += forms(field) * largestBucket(buckets);
  }
  for (const family of [index.prefix, index.suffix]) {
    if (!isRecord(family)) continue;
    for (const [field, tiers] of Object.entries(family)) {
      if (!Array.isArray(tiers)) continue;
      for (const tier of tiers) bound += forms(field) * largestBucket(tier);
    }
  }
  return BASE_REQUEST_COST + Math.min(bound, rules);
}

/**
 * Characters of a request field that cost about one more rule check per
 * rule: each pattern piece is searched for (and the rest of the field cut
 * off) in the field, so a rule check on a 65,536-character field costs some
 * 500 short ones, and grows WebAssembly memory by a copy of the field.
 */
export const CHARACTERS_PER_CHECK = 128;

/**
 * How many times a short request's cost `request` costs: 1, plus one for every
 * {@link CHARACTERS_PER_CHECK} characters of its longest known field (UTF-16
 * units, read without copying; anything that is not a string counts nothing).
 */
export function lengthFactor(request: unknown): number {
  if (typeof request !== 'object' || request === null) return 1;
  let longest = 0;
  for (const field of REQUEST_FIELDS) {
    const d = Object.getOwnPropertyDescriptor(request, field);
    const v: unknown = d !== undefined && 'value' in d ? d.value : undefined;
    if (typeof v === 'string' && v.length > longest) longest = v.length;
  }
  return 1 + Math.floor(longest / CHARACTERS_PER_CHECK);
}
