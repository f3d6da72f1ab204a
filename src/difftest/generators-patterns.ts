/**
 * Generators of policies dominated by patterns no prefix or suffix can look
 * up (rule lists of `*x*`, `*a*b*`, `*-svc00042-*` on one field, tens to
 * hundreds of them) and by long literal pieces, with requests aimed at their
 * pieces: the piece at the very start or end of a value, a gram of a piece
 * present but not the piece, pieces out of order or overlapping, another
 * case, and values up to the field length limit. Pieces come from a small
 * alphabet and a shared pool of words, so many rules share grams and pieces
 * contain one another: an index of grams has many candidates to get wrong.
 * A few characters whose code points and UTF-16 units differ are mixed in.
 */
import fc from 'fast-check';
import { ACTIONS, ACTIONS_V2, MAX_FIELD_LENGTH, type Policy, SERVER_TYPES, TRANSPORTS } from '../policy/model.js';
import { requestFor } from './generators.js';
import { requestForV2 } from './generators-v2.js';
import { LIMITS } from './settings.js';

type Json = Record<string, unknown>;

/** Mostly a few plain characters, so grams repeat across pieces and values. */
const GRAM_CHARS = ['a', 'b', 'c', 'a', 'b', '-', '/', '.', 'x', '0', '1'];
/** Characters of one code point in two UTF-16 units, combining marks, case pairs, escapes. */
const ODD_CHARS = ['A', 'B', 'é', 'e\u0301', '😀', '中', '𝔸', '\n', '"', '\\', ' ', '%', '?', 'ß'];

const gramChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(...GRAM_CHARS) },
  { weight: 1, arbitrary: fc.constantFrom(...ODD_CHARS) },
);

/**
 * A literal piece of 1 to `LIMITS.maxGramPieceLength` characters, mostly 3 or
 * more: a piece of one or two characters is in most values, so a policy of
 * many would decide nearly every request by its first rules.
 */
const word: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 1, arbitrary: fc.array(gramChar, { minLength: 1, maxLength: 2 }) },
    { weight: 10, arbitrary: fc.array(gramChar, { minLength: 3, maxLength: LIMITS.maxGramPieceLength }) },
  )
  .map((cs) => cs.join(''));

/** Code points of a string (pieces are cut on them, never inside a surrogate pair). */
const chars = (s: string): string[] => Array.from(s);

/**
 * A long literal piece: a word repeated to 20 to `LIMITS.maxLongPieceLength`
 * code points with one character changed, so its grams are few and shared by
 * every piece made from the same word.
 */
const longPiece = (words: readonly string[]): fc.Arbitrary<string> =>
  fc
    .record({
      w: fc.constantFrom(...words),
      length: fc.integer({ min: 20, max: LIMITS.maxLongPieceLength }),
      at: fc.nat(),
      c: gramChar,
    })
    .map(({ w, length, at, c }) => {
      const unit = chars(w);
      const out = Array.from({ length }, (_, k) => unit[k % unit.length]!);
      out[at % length] = c;
      return out.join('');
    });

/** A piece made from the pool: a word, part of one, two run together, or a numbered service name. */
const pieceFrom = (words: readonly string[]): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...words) },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...words), fc.nat(), fc.nat()).map(([w, a, b]) => {
        const cs = chars(w);
        // At least three characters where the word has them.
        const from = a % Math.max(cs.length - 2, 1);
        return cs.slice(from, from + Math.min(3, cs.length) + (b % Math.max(cs.length - from - 2, 1))).join('');
      }),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...words), fc.constantFrom(...words)).map(([a, b]) => `${a}${b}`),
    },
    { weight: 2, arbitrary: fc.nat(60).map((n) => `-svc${String(n).padStart(5, '0')}-`) },
    { weight: 1, arbitrary: longPiece(words) },
  );

/**
 * A pattern over the pool: mostly `*piece*` and `*a*b*` (no literal start or
 * end), now and then a long piece as a literal start or end (longer than any
 * affix key), a literal, or `*` alone.
 */
const patternFrom = (words: readonly string[]): fc.Arbitrary<string> => {
  const p = pieceFrom(words);
  return fc.oneof(
    { weight: 12, arbitrary: p.map((x) => `*${x}*`) },
    { weight: 3, arbitrary: fc.tuple(p, p).map(([a, b]) => `*${a}*${b}*`) },
    { weight: 1, arbitrary: fc.tuple(p, p, p).map(([a, b, c]) => `*${a}*${b}**${c}*`) },
    { weight: 1, arbitrary: p.map((x) => `**${x}**`) },
    { weight: 1, arbitrary: longPiece(words).map((x) => `*${x}*`) },
    { weight: 1, arbitrary: fc.tuple(longPiece(words), p).map(([a, b]) => `${a}*${b}*`) },
    { weight: 1, arbitrary: fc.tuple(p, longPiece(words)).map(([a, b]) => `*${a}*${b}`) },
    { weight: 1, arbitrary: p },
    // Rare: a rule that matches every value leaves the rules after it nothing to decide.
    { weight: 1, arbitrary: fc.nat(19).chain((n) => (n === 0 ? fc.constant('*') : p.map((x) => `*${x}*`))) },
  );
};

/** The field a pattern-heavy policy fills; the rest of its rules' keys are rare. */
const FIELDS_V1 = ['server', 'serverSource', 'tools'] as const;
const FIELDS_V2 = [...FIELDS_V1, 'resources', 'users', 'groups', 'claims', 'match'] as const;
type MainField = (typeof FIELDS_V2)[number];

/** Claim names and argument pointers the pattern-heavy rules use (one segment, so requests can put values there). */
const CLAIM_NAMES = ['email', 'org'] as const;
const ARGUMENT_NAMES = ['q', 'url'] as const;

const decision = fc
  .record({ allowed: fc.boolean(), spelling: fc.constantFrom('allow', 'allow', 'deny') })
  .map(({ allowed, spelling }): Json => (spelling === 'allow' ? { allow: allowed } : { deny: !allowed }));

/** One rule: the main field's patterns, rarely another key, which an index may prefer. */
function ruleOn(field: MainField, version: 1 | 2, patterns: fc.Arbitrary<string>): fc.Arbitrary<Json> {
  const list = fc.array(patterns, { minLength: 1, maxLength: 2 });
  const main: fc.Arbitrary<Json> =
    field === 'tools' || field === 'resources' || field === 'users' || field === 'groups'
      ? list.map((ps) => ({ [field]: ps }))
      : field === 'claims'
        ? fc.tuple(fc.constantFrom(...CLAIM_NAMES), list).map(([name, ps]) => ({ claims: { [name]: ps } }))
        : field === 'match'
          ? fc
              .tuple(fc.constantFrom(...ARGUMENT_NAMES), list)
              .map(([name, ps]) => ({ arguments: [{ path: `/${name}`, match: ps }] }))
          : patterns.map((p) => ({ [field]: p }));
  return fc
    .record({
      main,
      extra: fc.nat(19),
      action: fc.constantFrom(...(version === 2 ? ACTIONS_V2.filter((a) => a !== 'resource') : ACTIONS)),
      serverType: fc.constantFrom(...SERVER_TYPES),
      transport: fc.constantFrom(...TRANSPORTS),
      other: patterns,
      decision,
      reason: fc.option(word, { nil: undefined, freq: 3 }),
    })
    .map(({ main, extra, action, serverType, transport, other, decision, reason }) => {
      const rule: Json = { ...main, ...decision, ...(reason !== undefined && { reason }) };
      if (field === 'resources') rule.action = 'resource';
      else if (extra === 0) rule.action = action;
      if (extra === 1) rule.serverType = serverType;
      if (extra === 2) rule.transport = transport;
      if (extra === 3 && field !== 'server') rule.server = other;
      if (extra === 4 && field !== 'tools') rule.tools = [other];
      return rule;
    });
}

/**
 * A policy of `LIMITS.minPatternRules` or more rules that mostly constrain one
 * field with patterns drawn from a shared pool of words; mostly tens of rules,
 * now and then hundreds.
 */
export function patternPolicy(version: 1 | 2): fc.Arbitrary<Json> {
  const most = version === 2 ? LIMITS.maxPatternRulesV2 : LIMITS.maxPatternRules;
  return fc
    .record({
      words: fc.array(word, { minLength: 3, maxLength: 12 }),
      field: fc.constantFrom(...(version === 2 ? FIELDS_V2 : FIELDS_V1)),
      count: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: LIMITS.minPatternRules, max: LIMITS.minPatternRules + 16 }) },
        { weight: 1, arbitrary: fc.integer({ min: LIMITS.minPatternRules + 16, max: most }) },
      ),
      default: fc.constantFrom('allow', 'deny'),
    })
    .chain(({ words, field, count, default: d }) =>
      fc
        .array(ruleOn(field, version, patternFrom(words)), { minLength: count, maxLength: count })
        .map((rules): Json => ({ version, default: d, rules })),
    );
}

/** Pattern-heavy policy text (always bare: wrapping is exercised by the other generators). */
export const patternPolicyText = (version: 1 | 2): fc.Arbitrary<string> =>
  patternPolicy(version).map((p) => JSON.stringify(p));

/** Characters put where a star stands, or around a piece: the pieces' own alphabet, so fills make grams too. */
const fill: fc.Arbitrary<string> = fc.array(gramChar, { maxLength: 4 }).map((cs) => cs.join(''));

/** Another character than `c`, mostly from the same small alphabet. */
const otherThan = (c: string): fc.Arbitrary<string> => gramChar.filter((x) => x !== c);

/** The literal pieces of a pattern, in order. */
const piecesOf = (p: string): string[] => p.split('*').filter((x) => x !== '');

/** A piece changed by one character: replaced, left out, put in, or two swapped; its other grams stay. */
function brokenPiece(piece: string): fc.Arbitrary<string> {
  const cs = chars(piece);
  if (cs.length < 2) return otherThan(piece);
  return fc.record({ at: fc.nat(cs.length - 1), how: fc.nat(3), c: otherThan(cs[0]!) }).map(({ at, how, c }) => {
    const out = [...cs];
    if (how === 0) out[at] = c === cs[at] ? `${c}${c}` : c;
    else if (how === 1) out.splice(at, 1);
    else if (how === 2) out.splice(Math.max(at, 1), 0, c);
    else if (at + 1 < out.length && out[at] !== out[at + 1]) [out[at], out[at + 1]] = [out[at + 1]!, out[at]!];
    else out.splice(at, 1);
    return out.join('');
  });
}

/** `a` and `b` run together where the end of `a` is the start of `b`, so neither has room of its own. */
function overlapped(a: string, b: string): string {
  const x = chars(a);
  const y = chars(b);
  for (let n = Math.min(x.length, y.length) - 1; n > 0; n--) {
    if (x.slice(x.length - n).join('') === y.slice(0, n).join('')) return x.join('') + y.slice(n).join('');
  }
  return `${a}${b}`;
}

/** A value of `length` code points ending (or starting) with `core`, the rest filled with grams of `core`. */
function padded(core: string, length: number, at: 'start' | 'end' | 'middle', filler: string): string {
  const room = Math.max(length - chars(core).length, 0);
  const unit = chars(filler.length > 0 ? filler : 'a');
  const pad =
    unit.length === 1 ? unit[0]!.repeat(room) : Array.from({ length: room }, (_, k) => unit[k % unit.length]).join('');
  const half = Array.from(pad)
    .slice(0, room >> 1)
    .join('');
  return at === 'start'
    ? `${core}${pad}`
    : at === 'end'
      ? `${pad}${core}`
      : `${half}${core}${Array.from(pad)
          .slice(room >> 1)
          .join('')}`;
}

/**
 * Values near a pattern: a witness with the pieces at the very start and
 * end, one piece broken (its grams there, the piece not), the pieces out of
 * order or overlapping, another case, and long values with the pieces (or a
 * near miss) at the start, middle or end of up to `MAX_FIELD_LENGTH` code points.
 */
export function valueNear(p: string): fc.Arbitrary<string> {
  const pieces = piecesOf(p);
  if (pieces.length === 0) return fill;
  const startsWithStar = p.startsWith('*');
  const endsWithStar = p.endsWith('*');
  const joinWith = (parts: readonly string[], fills: readonly string[]) =>
    parts.map((x, k) => `${k > 0 || startsWithStar ? (fills[k] ?? '') : ''}${x}`).join('') +
    (endsWithStar ? (fills[parts.length] ?? '') : '');
  const fills = fc.array(fill, { minLength: pieces.length + 1, maxLength: pieces.length + 1 });
  const witness = fills.map((f) => joinWith(pieces, f));
  const bare = fc.constant(pieces.join(''));
  const broken = fc.tuple(fc.nat(pieces.length - 1), fills).chain(([k, f]) =>
    brokenPiece(pieces[k]!).map((b) =>
      joinWith(
        pieces.map((x, j) => (j === k ? b : x)),
        f,
      ),
    ),
  );
  const grams = fc.nat(pieces.length - 1).map((k) => {
    // The piece's first and last halves apart: every gram that does not straddle the middle is there.
    const cs = chars(pieces[k]!);
    const mid = cs.length >> 1;
    return pieces.map((x, j) => (j === k ? `${cs.slice(mid).join('')}/${cs.slice(0, mid + 1).join('')}` : x)).join('');
  });
  const options: { weight: number; arbitrary: fc.Arbitrary<string> }[] = [
    { weight: 6, arbitrary: witness },
    { weight: 2, arbitrary: bare },
    { weight: 4, arbitrary: broken },
    { weight: 2, arbitrary: grams },
    { weight: 1, arbitrary: witness.map((w) => w.toUpperCase()) },
    { weight: 1, arbitrary: fc.tuple(fill, fill).map(([a, b]) => `${a}${pieces.join('')}${b}`) },
  ];
  if (pieces.length > 1) {
    options.push(
      { weight: 2, arbitrary: fills.map((f) => joinWith([...pieces].reverse(), f)) },
      { weight: 2, arbitrary: fc.constant(pieces.reduce(overlapped)) },
    );
  }
  const near = fc.oneof(...options);
  const long = fc
    .record({
      core: fc.oneof(witness, broken),
      at: fc.constantFrom('start', 'end', 'middle'),
      length: fc.constantFrom(MAX_FIELD_LENGTH, MAX_FIELD_LENGTH - 1, 4096, 1000),
      filler: fc.oneof(
        fc.constant(chars(pieces[0]!).slice(0, -1).join('')),
        fc.constant(chars(pieces[0]!).slice(1).join('')),
        fill,
      ),
    })
    .map(({ core, at, length, filler }) => padded(core, length, at, filler));
  // Rare: OPA's interpreter and go-wasm take milliseconds on a field of 65,536 characters against many rules.
  return fc.oneof({ weight: 60, arbitrary: near }, { weight: 1, arbitrary: long });
}

/** The patterns a policy puts on each field a request carries (claims and arguments by name). */
function patternsByField(policy: Policy): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (field: string, ps: readonly string[] | undefined) => {
    if (ps !== undefined && ps.length > 0) out.set(field, [...(out.get(field) ?? []), ...ps]);
  };
  for (const r of policy.rules) {
    add('server', r.server === undefined ? undefined : [r.server]);
    add('serverSource', r.serverSource === undefined ? undefined : [r.serverSource]);
    add('tool', r.tools);
    add('resource', r.resources);
    add('sub', r.users);
    add('groups', r.groups);
    for (const [name, ps] of Object.entries(r.claims ?? {})) add(`claims:${name}`, ps);
    for (const c of r.arguments ?? []) {
      if (c.match !== undefined && /^\/[^/~*]+$/.test(c.path) && c.normalize === undefined) {
        add(`arguments:${c.path.slice(1)}`, c.match);
      }
    }
  }
  return out;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `request` with `value` put where `field` (from {@link patternsByField}) reads it. */
function withValue(request: Json, field: string, value: string, others: readonly string[]): Json {
  const principal = isObject(request.principal) ? request.principal : {};
  if (field === 'resource') return { ...request, action: 'resource', resource: value };
  if (field === 'sub') return { ...request, principal: { ...principal, sub: value } };
  if (field === 'groups') return { ...request, principal: { ...principal, groups: [...others, value] } };
  if (field.startsWith('claims:')) {
    const claims = isObject(principal.claims) ? principal.claims : {};
    const v = others.length > 0 ? [...others, value] : value;
    return { ...request, principal: { ...principal, claims: { ...claims, [field.slice(7)]: v } } };
  }
  if (field.startsWith('arguments:')) {
    const args = isObject(request.arguments) ? request.arguments : {};
    return { ...request, arguments: { ...args, [field.slice(10)]: value } };
  }
  return { ...request, [field]: value };
}

/**
 * Requests for a pattern-heavy policy: the version's own requests, most with
 * one pattern field (now and then two) replaced by a value near one of its
 * patterns (see {@link valueNear}).
 */
export function requestForPatterns(policy: Policy): fc.Arbitrary<unknown> {
  const base = policy.version === 2 ? requestForV2(policy) : requestFor(policy);
  const fields = [...patternsByField(policy).entries()];
  if (fields.length === 0) return base;
  const near = fc
    .constantFrom(...fields)
    .chain(([field, ps]) =>
      fc.tuple(fc.constant(field), fc.constantFrom(...ps).chain(valueNear), fc.array(fill, { maxLength: 2 })),
    );
  const objects = base.filter(isObject);
  const edited = fc.tuple(objects, near, fc.option(near, { nil: undefined, freq: 4 })).map(([r, a, b]) => {
    const once = withValue(r, a[0], a[1], a[2]);
    return b === undefined ? once : withValue(once, b[0], b[1], b[2]);
  });
  return fc.oneof({ weight: 1, arbitrary: base }, { weight: 3, arbitrary: edited });
}
