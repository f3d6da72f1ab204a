/**
 * The native engine's index for patterns with no literal start or end
 * (`*-prod-*`, `*delete*`): such a rule can only match a value that
 * contains each of its middle pieces, so it is filed under one n-gram of one
 * piece, and a request looks up every n-gram of its value. A rule found this
 * way is only a candidate, checked in full like any other.
 *
 * Grams are hashed, not kept as strings: a request's value is rolled through
 * once per gram length without cutting a substring per position, and a
 * collision of two grams only adds candidates, never loses one. The work per
 * request is linear in the value (times the few gram lengths in use), and the
 * candidate lists it returns are distinct, so none is walked twice however
 * often its gram occurs.
 */

/** The longest gram: eight code units tell `-svc00042` from `-svc00043` and most real names apart. */
export const MAX_GRAM = 8;

/**
 * Grams of one pattern considered when choosing its key: every position of
 * every middle piece up to this many, so compiling a policy stays linear in
 * its size whatever the length of its pieces.
 */
const MAX_GRAM_CHOICES = 256;

/** The polynomial hash's base (odd, so multiplying by it is a bijection modulo 2^32). */
const BASE = 0x01000193;

/**
 * The most bits of a per-length filter (a position whose key is not among
 * the tier's is skipped without a map lookup): 8 KiB. A tier gets about 16
 * bits per key up to that, so a policy with many small tiers (one per claim
 * or argument path, say) does not hold 8 KiB for each.
 */
const MAX_FILTER_BITS = 16;

/**
 * Map keys stay small integers (31-bit on V8 with pointer compression), which
 * V8 hashes without allocating.
 */
const KEY_MASK = 0x3fffffff;

const filterBit = (key: number, mask: number): number => (key ^ (key >>> 15)) & mask;

/** The filter of a tier's keys, sized by how many there are. */
function filterOf(keys: Iterable<number>, count: number): { filter: Uint32Array; mask: number } {
  let bits = 6;
  while (bits < MAX_FILTER_BITS && 1 << bits < count * 16) bits++;
  const mask = (1 << bits) - 1;
  const filter = new Uint32Array((mask + 1) >>> 5);
  for (const key of keys) {
    const bit = filterBit(key, mask);
    filter[bit >>> 5] = (filter[bit >>> 5] as number) | (1 << (bit & 31));
  }
  return { filter, mask };
}

/** `BASE` to the power `n - 1`, modulo 2^32: what the code unit leaving the window weighs. */
function weightOf(n: number): number {
  let w = 1;
  for (let k = 1; k < n; k++) w = Math.imul(w, BASE);
  return w;
}

/** The hash of `gram`: Σ unit × BASE^(n-1-i), modulo 2^32, as rolling over a value computes it. */
export function gramHash(gram: string): number {
  let h = 0;
  for (let k = 0; k < gram.length; k++) h = (Math.imul(h, BASE) + gram.charCodeAt(k)) | 0;
  return h;
}

/**
 * The grams a pattern with no literal start or end may be filed under: of
 * each piece between stars, every window of `min(MAX_GRAM, piece length)`
 * code units. Empty when the pattern has a literal end (other keys serve it)
 * or no piece at all (`*`, which matches everything).
 */
export function gramChoices(pattern: string): string[] {
  const pieces = pattern.split('*');
  if (pieces.length < 3 || pieces[0] !== '' || pieces[pieces.length - 1] !== '') return [];
  const out: string[] = [];
  for (let p = 1; p < pieces.length - 1; p++) {
    const piece = pieces[p] as string;
    if (piece === '') continue;
    const n = Math.min(MAX_GRAM, piece.length);
    for (let i = 0; i + n <= piece.length; i++) {
      if (out.length === MAX_GRAM_CHOICES) return out;
      out.push(piece.slice(i, i + n));
    }
  }
  return out;
}

/**
 * The gram to file a pattern under among its `choices`: the one the fewest
 * rules could be filed under (`rules`), so thousands of rules repeating
 * `-svc0` spread over their distinct grams; then the longest, which fewer
 * request values contain; then the first.
 */
export function chooseGram(choices: readonly string[], rules: (gram: string) => number): string | undefined {
  let best: string | undefined;
  let bestRules = Infinity;
  for (const gram of choices) {
    const r = rules(gram);
    if (r < bestRules || (r === bestRules && gram.length > (best as string).length)) {
      best = gram;
      bestRules = r;
    }
  }
  return best;
}

/** The rules filed under one hash, in rule order, and the lookup that last returned them. */
interface Bucket {
  readonly rules: number[];
  mark: number;
}

/** Rules filed under grams of one length. */
interface Tier {
  readonly n: number;
  readonly weight: number;
  readonly buckets: Map<number, Bucket>;
  /** Built on the first lookup, once every rule is filed. */
  filter: Uint32Array | undefined;
  mask: number;
}

/**
 * Numbers each lookup; a bucket marked with the current one was returned
 * already. Evaluation is synchronous and a lookup never starts another, so one
 * counter serves every table.
 */
let lookups = 0;

/** Starts a request's lookups: from now on each bucket is returned at most once. */
export function beginLookup(): void {
  lookups++;
}

/** Rules filed under n-grams of one request field. */
export class GramTable {
  private readonly tiers: Tier[] = [];

  get empty(): boolean {
    return this.tiers.length === 0;
  }

  /** Files rule `rule` under `gram` (1 to {@link MAX_GRAM} code units); rules must be added in order. */
  add(gram: string, rule: number): void {
    const n = gram.length;
    let tier = this.tiers.find((t) => t.n === n);
    if (tier === undefined) {
      tier = { n, weight: weightOf(n), buckets: new Map(), filter: undefined, mask: 0 };
      this.tiers.push(tier);
      // Shorter grams first: not needed for correctness, but lookups then run in a fixed order.
      this.tiers.sort((a, b) => a.n - b.n);
    }
    tier.filter = undefined;
    const key = gramHash(gram) & KEY_MASK;
    const bucket = tier.buckets.get(key);
    if (bucket === undefined) tier.buckets.set(key, { rules: [rule], mark: 0 });
    else if (bucket.rules[bucket.rules.length - 1] !== rule) bucket.rules.push(rule);
  }

  /**
   * Appends to `out` the rule lists of every gram of the value `head + tail`
   * not returned since {@link beginLookup}: each position of each gram length
   * in use costs a multiply, a shift and a bit test, and a map lookup only
   * when the bit is set.
   */
  lookup(head: string, tail: string, out: (readonly number[])[]): void {
    // Only a short image reference's canonical form comes in two parts; joining them once is cheaper than
    // reading every position through a branch.
    const value = head === '' ? tail : head + tail;
    const total = value.length;
    const mark = lookups;
    for (let t = 0; t < this.tiers.length; t++) {
      const tier = this.tiers[t] as Tier;
      const n = tier.n;
      if (n > total) break;
      if (tier.filter === undefined) Object.assign(tier, filterOf(tier.buckets.keys(), tier.buckets.size));
      const { weight, buckets, mask } = tier;
      const filter = tier.filter as Uint32Array;
      let h = 0;
      for (let i = 0; i < n; i++) h = (Math.imul(h, BASE) + value.charCodeAt(i)) | 0;
      for (let i = n; ; i++) {
        const key = h & KEY_MASK;
        const bit = filterBit(key, mask);
        if (((filter[bit >>> 5] as number) & (1 << (bit & 31))) !== 0) {
          const bucket = buckets.get(key);
          if (bucket !== undefined && bucket.mark !== mark) {
            bucket.mark = mark;
            out.push(bucket.rules);
          }
        }
        if (i === total) break;
        h = (Math.imul(h - Math.imul(value.charCodeAt(i - n), weight), BASE) + value.charCodeAt(i)) | 0;
      }
    }
  }
}
