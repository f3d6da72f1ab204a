/**
 * Exact finite automata over the pattern language of one analysis. `*` patterns
 * are regular, and the only characters that can make a difference to any of
 * them are the literal characters they (and image canonicalisation) mention;
 * every other character behaves alike, so one extra symbol stands for all of
 * them, except that image canonicalisation also tells ASCII capitals apart,
 * so the capitals no pattern mentions have a symbol of their own. With that
 * finite alphabet, intersection, complement, emptiness and a shortest witness
 * are all exact.
 *
 * Automata are complete, minimal and numbered canonically, then interned, so
 * two automata for the same language are the same object and operation results
 * can be memoised by identity.
 */

/** A complete, minimal DFA; state 0 is the start. */
export interface Dfa {
  /** Interned identity within its {@link Automata}. */
  readonly id: number;
  readonly states: number;
  /** `next[state * symbols + symbol]`. */
  readonly next: Int32Array;
  readonly accept: Uint8Array;
  /** The state that can never reach acceptance, or -1. */
  readonly dead: number;
}

const STAR = '*';
const CAPITALS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * The automata of one analysis: the alphabet (code points that occur in any
 * involved pattern, one symbol for the other ASCII capitals when there are
 * any, and one for every other character), interning and memoised operations.
 */
export class Automata {
  readonly chars: readonly string[];
  readonly symbols: number;
  /** A character outside the alphabet, written for the "any other" symbol in witnesses. */
  readonly otherChar: string;
  /** An ASCII capital outside the alphabet, written for their symbol; undefined when patterns mention all 26. */
  readonly capitalChar: string | undefined;
  /** The symbol of the ASCII capitals outside the alphabet, or -1. */
  private readonly capitalSymbol: number;
  private readonly index = new Map<string, number>();
  private readonly interned = new Map<string, Dfa>();
  private readonly all: Dfa[] = [];
  private readonly memo = new Map<string, Dfa>();
  private readonly emptyMemo = new Map<number, boolean>();
  readonly empty: Dfa;
  readonly universe: Dfa;
  /** Every non-empty string: a request field that is present. */
  readonly nonEmpty: Dfa;

  /** `texts` are `*` patterns; `literals` are exact strings, whose every character (`*` too) is in the alphabet. */
  constructor(texts: Iterable<string>, literals: Iterable<string> = []) {
    const set = new Set<string>();
    for (const t of texts) for (const c of t) if (c !== STAR) set.add(c);
    for (const t of literals) for (const c of t) set.add(c);
    const chars = [...set].sort();
    this.chars = chars;
    chars.forEach((c, k) => this.index.set(c, k));
    this.capitalChar = [...CAPITALS].find((c) => !set.has(c));
    this.capitalSymbol = this.capitalChar === undefined ? -1 : chars.length;
    // The "other" symbol is last, so witnesses try literal characters first.
    this.symbols = chars.length + (this.capitalChar === undefined ? 1 : 2);
    this.otherChar = pickOther(set);
    this.empty = this.build(
      1,
      () => 0,
      () => false,
    );
    this.universe = this.build(
      1,
      () => 0,
      () => true,
    );
    this.nonEmpty = this.build(
      2,
      () => 1,
      (s) => s === 1,
    );
  }

  /** The symbol of one character (a code point); unknown characters are "other", or the capitals' symbol. */
  symbol(c: string): number {
    const known = this.index.get(c);
    if (known !== undefined) return known;
    return this.capitalSymbol >= 0 && c.length === 1 && c >= 'A' && c <= 'Z' ? this.capitalSymbol : this.symbols - 1;
  }

  /** The symbols that stand for ASCII capitals: those patterns mention and the capitals' own. */
  capitalSymbols(): number[] {
    const out = [...CAPITALS].flatMap((c) => (this.index.has(c) ? [this.index.get(c)!] : []));
    if (this.capitalSymbol >= 0) out.push(this.capitalSymbol);
    return out;
  }

  /** The character written for a symbol in witnesses. */
  charOf(symbol: number): string {
    return this.chars[symbol] ?? (symbol === this.capitalSymbol ? this.capitalChar! : this.otherChar);
  }

  /** `{ prefix + s | s ∈ L(x) }`: the language with a literal in front. */
  prepend(prefix: string, x: Dfa): Dfa {
    const lead = [...prefix].map((c) => this.symbol(c));
    const m = lead.length;
    const dead = m + x.states;
    // States: positions in the prefix, then x's states (from m), then a sink.
    return this.build(
      dead + 1,
      (s, a) => {
        if (s === dead) return dead;
        if (s >= m) return m + x.next[(s - m) * this.symbols + a]!;
        return a === lead[s] ? s + 1 : dead;
      },
      (s) => s >= m && s < dead && x.accept[s - m] === 1,
    );
  }

  /** `{ text }`: one exact string, `*` included literally (what `equals` and `in` compare with). */
  literal(text: string): Dfa {
    const key = `l${text}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const symbols = [...text].map((c) => this.symbol(c));
    const m = symbols.length;
    const dead = m + 1;
    const d = this.build(
      m + 2,
      (s, a) => (s < m && a === symbols[s] ? s + 1 : dead),
      (s) => s === m,
    );
    this.memo.set(key, d);
    return d;
  }

  /** The language of a `*` pattern (whole-string match; `*` is any string, possibly empty). */
  glob(pattern: string): Dfa {
    const key = `g${pattern}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    // Tokens: literal symbols, -1 for a star; runs of stars are one star.
    const tokens: number[] = [];
    for (const c of pattern) {
      if (c === STAR) {
        if (tokens.at(-1) !== -1) tokens.push(-1);
      } else tokens.push(this.symbol(c));
    }
    const m = tokens.length;
    const closure = (positions: Set<number>): number[] => {
      const out = new Set<number>();
      for (let p of positions) {
        out.add(p);
        while (p < m && tokens[p] === -1) out.add(++p);
      }
      return [...out].sort((a, b) => a - b);
    };
    const sets: number[][] = [closure(new Set([0]))];
    const ids = new Map<string, number>([[sets[0]!.join(','), 0]]);
    const edges: number[] = [];
    for (let s = 0; s < sets.length; s++) {
      for (let a = 0; a < this.symbols; a++) {
        const step = new Set<number>();
        for (const p of sets[s]!) {
          if (p >= m) continue;
          const t = tokens[p]!;
          if (t === -1) step.add(p);
          else if (t === a) step.add(p + 1);
        }
        const target = closure(step);
        const k = target.join(',');
        let id = ids.get(k);
        if (id === undefined) {
          id = sets.length;
          ids.set(k, id);
          sets.push(target);
        }
        edges[s * this.symbols + a] = id;
      }
    }
    const d = this.build(
      sets.length,
      (s, a) => edges[s * this.symbols + a]!,
      (s) => sets[s]!.includes(m),
    );
    this.memo.set(key, d);
    return d;
  }

  /** A DFA that tracks an arbitrary state machine given as functions; minimised and interned. */
  build(
    states: number,
    step: (state: number, symbol: number) => number,
    accepting: (state: number) => boolean,
    start = 0,
  ): Dfa {
    const k = this.symbols;
    const next = new Int32Array(states * k);
    const accept = new Uint8Array(states);
    for (let s = 0; s < states; s++) {
      accept[s] = accepting(s) ? 1 : 0;
      for (let a = 0; a < k; a++) next[s * k + a] = step(s, a);
    }
    return this.canonical(states, next, accept, start);
  }

  /** Hopcroft minimisation, then renumbering in breadth-first order from the start, then interning. */
  private canonical(states: number, next: Int32Array, accept: Uint8Array, start: number): Dfa {
    const k = this.symbols;
    // Reachable states only.
    const order: number[] = [start];
    const seen = new Int32Array(states).fill(-1);
    seen[start] = 0;
    for (let i = 0; i < order.length; i++) {
      const s = order[i]!;
      for (let a = 0; a < k; a++) {
        const t = next[s * k + a]!;
        if (seen[t] === -1) {
          seen[t] = order.length;
          order.push(t);
        }
      }
    }
    const n = order.length;
    const local = new Int32Array(n * k);
    const localAccept = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const s = order[i]!;
      localAccept[i] = accept[s]!;
      for (let a = 0; a < k; a++) local[i * k + a] = seen[next[s * k + a]!]!;
    }
    const cls = hopcroft(n, k, local, localAccept);
    let count = 0;
    for (let i = 0; i < n; i++) if (cls[i]! + 1 > count) count = cls[i]! + 1;
    // Renumber classes in BFS order from the start class.
    const rep = new Int32Array(count).fill(-1);
    for (let i = n - 1; i >= 0; i--) rep[cls[i]!] = i;
    const num = new Int32Array(count).fill(-1);
    const bfs: number[] = [cls[0]!];
    num[cls[0]!] = 0;
    for (let i = 0; i < bfs.length; i++) {
      const s = rep[bfs[i]!]!;
      for (let a = 0; a < k; a++) {
        const c = cls[local[s * k + a]!]!;
        if (num[c] === -1) {
          num[c] = bfs.length;
          bfs.push(c);
        }
      }
    }
    const m = bfs.length;
    const outNext = new Int32Array(m * k);
    const outAccept = new Uint8Array(m);
    for (let i = 0; i < m; i++) {
      const s = rep[bfs[i]!]!;
      outAccept[i] = localAccept[s]!;
      for (let a = 0; a < k; a++) outNext[i * k + a] = num[cls[local[s * k + a]!]!]!;
    }
    const key = `${outAccept.join('')}|${outNext.join(',')}`;
    const hit = this.interned.get(key);
    if (hit) return hit;
    let dead = -1;
    for (let i = 0; i < m && dead < 0; i++) {
      if (outAccept[i]) continue;
      let loops = true;
      for (let a = 0; a < k && loops; a++) loops = outNext[i * k + a] === i;
      if (loops) dead = i;
    }
    const d: Dfa = { id: this.all.length, states: m, next: outNext, accept: outAccept, dead };
    this.all.push(d);
    this.interned.set(key, d);
    return d;
  }

  private product(x: Dfa, y: Dfa, op: 'and' | 'or' | 'minus'): Dfa {
    const key = `${op}${x.id},${y.id}`;
    const hit = this.memo.get(key);
    if (hit) return hit;
    const k = this.symbols;
    // Pairs that can never accept collapse into one sink (-1, -1), so a narrow
    // operand keeps the product small however large the other one is.
    const hopeless = (p: number, q: number): boolean =>
      op === 'or' ? p === x.dead && q === y.dead : p === x.dead || (op === 'and' && q === y.dead);
    const pairs = new Map<number, number>();
    const list: number[] = [];
    const edges: number[] = [];
    const idOf = (p: number, q: number): number => {
      const code = p < 0 ? -1 : p * y.states + q;
      let id = pairs.get(code);
      if (id === undefined) {
        id = list.length / 2;
        pairs.set(code, id);
        list.push(p, q);
      }
      return id;
    };
    idOf(hopeless(0, 0) ? -1 : 0, hopeless(0, 0) ? -1 : 0);
    for (let i = 0; i < list.length / 2; i++) {
      const p = list[2 * i]!;
      const q = list[2 * i + 1]!;
      for (let a = 0; a < k; a++) {
        if (p < 0) {
          edges.push(i);
          continue;
        }
        const p2 = x.next[p * k + a]!;
        const q2 = y.next[q * k + a]!;
        edges.push(hopeless(p2, q2) ? idOf(-1, -1) : idOf(p2, q2));
      }
    }
    const accepting = (s: number): boolean => {
      const p = list[2 * s]!;
      if (p < 0) return false;
      const a = x.accept[p] === 1;
      const b = y.accept[list[2 * s + 1]!] === 1;
      return op === 'and' ? a && b : op === 'or' ? a || b : a && !b;
    };
    const d = this.build(list.length / 2, (s, a) => edges[s * k + a]!, accepting);
    this.memo.set(key, d);
    return d;
  }

  and(x: Dfa, y: Dfa): Dfa {
    if (x === y || y === this.universe || x === this.empty) return x;
    if (x === this.universe || y === this.empty) return y;
    return x.id < y.id ? this.product(x, y, 'and') : this.product(y, x, 'and');
  }

  or(x: Dfa, y: Dfa): Dfa {
    if (x === y || y === this.empty || x === this.universe) return x;
    if (x === this.empty || y === this.universe) return y;
    return x.id < y.id ? this.product(x, y, 'or') : this.product(y, x, 'or');
  }

  minus(x: Dfa, y: Dfa): Dfa {
    if (x === this.empty || y === this.universe || x === y) return this.empty;
    if (y === this.empty) return x;
    return this.product(x, y, 'minus');
  }

  /** `{ s | prefix + s ∈ L(x) }`: the left quotient, used for image canonicalisation. */
  quotient(x: Dfa, prefix: string): Dfa {
    let s = 0;
    for (const c of prefix) s = x.next[s * this.symbols + this.symbol(c)]!;
    return this.build(
      x.states,
      (q, a) => x.next[q * this.symbols + a]!,
      (q) => x.accept[q] === 1,
      s,
    );
  }

  isEmpty(x: Dfa): boolean {
    return x === this.empty;
  }

  /** Whether `L(x) ∩ L(y)` is empty, without building the intersection (explores pairs, skips dead ones). */
  disjoint(x: Dfa, y: Dfa): boolean {
    if (x === this.empty || y === this.empty) return true;
    if (x === this.universe || y === this.universe) return false;
    const key = x.id < y.id ? x.id * 0x100000 + y.id : y.id * 0x100000 + x.id;
    const hit = this.emptyMemo.get(key);
    if (hit !== undefined) return hit;
    const k = this.symbols;
    const seen = new Set<number>([0]);
    const stack = [0, 0];
    let result = true;
    while (stack.length > 0) {
      const q = stack.pop()!;
      const p = stack.pop()!;
      if (x.accept[p] && y.accept[q]) {
        result = false;
        break;
      }
      for (let a = 0; a < k; a++) {
        const p2 = x.next[p * k + a]!;
        const q2 = y.next[q * k + a]!;
        if (p2 === x.dead || q2 === y.dead) continue;
        const code = p2 * y.states + q2;
        if (!seen.has(code)) {
          seen.add(code);
          stack.push(p2, q2);
        }
      }
    }
    this.emptyMemo.set(key, result);
    return result;
  }

  /** Whether `L(x) ⊆ L(y)`. */
  subset(x: Dfa, y: Dfa): boolean {
    return this.minus(x, y) === this.empty;
  }

  /** Whether the DFA accepts a string. */
  accepts(x: Dfa, text: string): boolean {
    let s = 0;
    for (const c of text) s = x.next[s * this.symbols + this.symbol(c)]!;
    return x.accept[s] === 1;
  }

  /**
   * A shortest accepted string, preferring literal characters over "other" so
   * witnesses read like the patterns; undefined for the empty language.
   */
  witness(x: Dfa): string | undefined {
    if (x === this.empty) return undefined;
    const k = this.symbols;
    const from = new Int32Array(x.states).fill(-1);
    const via = new Int32Array(x.states);
    from[0] = 0;
    const queue = [0];
    for (let i = 0; i < queue.length; i++) {
      const s = queue[i]!;
      if (x.accept[s]) {
        const out: string[] = [];
        for (let t = s; t !== 0; t = from[t]!) out.push(this.charOf(via[t]!));
        return out.reverse().join('');
      }
      // The "other" symbol is last, so literal characters are tried first.
      for (let a = 0; a < k; a++) {
        const t = x.next[s * k + a]!;
        if (from[t] === -1 && t !== 0) {
          from[t] = s;
          via[t] = a;
          queue.push(t);
        }
      }
    }
    return undefined;
  }
}

/** A character that no pattern mentions and is no ASCII capital, readable when possible. */
function pickOther(used: Set<string>): string {
  for (const c of 'xyzqwvkj0123456789') if (!used.has(c)) return c;
  for (let code = 0x4e00; ; code++) {
    const c = String.fromCodePoint(code);
    if (!used.has(c)) return c;
  }
}

/**
 * Hopcroft's partition refinement: the coarsest partition of a complete DFA's
 * states (all reachable) that respects acceptance and transitions. Returns
 * each state's block. O(k n log n), where Moore's rounds cost O(k n²) on the
 * long literal chains that patterns produce.
 */
function hopcroft(n: number, k: number, next: Int32Array, accept: Uint8Array): Int32Array {
  // Inverse transitions in compressed rows: sources of (symbol a, target t).
  const start = new Int32Array(k * n + 1);
  for (let s = 0; s < n; s++) for (let a = 0; a < k; a++) start[a * n + next[s * k + a]! + 1]!++;
  for (let i = 0; i < k * n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, k * n);
  const sources = new Int32Array(n * k);
  for (let s = 0; s < n; s++) for (let a = 0; a < k; a++) sources[fill[a * n + next[s * k + a]!]!++] = s;

  const block = new Int32Array(n);
  const members: number[][] = [];
  const accepting: number[] = [];
  const rejecting: number[] = [];
  for (let s = 0; s < n; s++) (accept[s] ? accepting : rejecting).push(s);
  for (const group of [rejecting, accepting]) {
    if (group.length === 0) continue;
    for (const s of group) block[s] = members.length;
    members.push(group);
  }
  if (members.length === 1) return block;
  const pending = new Uint8Array(n * k);
  const work: number[] = [];
  const smaller = members[0]!.length <= members[1]!.length ? 0 : 1;
  for (let a = 0; a < k; a++) {
    pending[smaller * k + a] = 1;
    work.push(smaller * k + a);
  }
  const marked = new Uint8Array(n);
  const markedCount = new Int32Array(n);
  while (work.length > 0) {
    const item = work.pop()!;
    pending[item] = 0;
    const splitter = Math.floor(item / k);
    const a = item % k;
    const touched: number[] = [];
    const hit: number[] = [];
    for (const t of members[splitter]!) {
      for (let x = start[a * n + t]!; x < start[a * n + t + 1]!; x++) {
        const s = sources[x]!;
        if (marked[s]) continue;
        marked[s] = 1;
        hit.push(s);
        const b = block[s]!;
        if (markedCount[b] === 0) touched.push(b);
        markedCount[b]!++;
      }
    }
    for (const b of touched) {
      const size = members[b]!.length;
      const count = markedCount[b]!;
      markedCount[b] = 0;
      if (count === size) continue;
      const inside: number[] = [];
      const outside: number[] = [];
      for (const s of members[b]!) (marked[s] ? inside : outside).push(s);
      const fresh = members.length;
      members[b] = outside;
      members.push(inside);
      for (const s of inside) block[s] = fresh;
      for (let d = 0; d < k; d++) {
        if (pending[b * k + d]) {
          pending[fresh * k + d] = 1;
          work.push(fresh * k + d);
        } else {
          const pick = inside.length <= outside.length ? fresh : b;
          pending[pick * k + d] = 1;
          work.push(pick * k + d);
        }
      }
    }
    for (const s of hit) marked[s] = 0;
  }
  return block;
}
