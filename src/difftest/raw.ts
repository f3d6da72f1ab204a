/**
 * Raw inputs: JSON text as a fleet's OPA servers receive it in `input`, with
 * nothing in front of the Rego. Non-objects, arrays, nesting past the request
 * boundary's depth and past opa's own, huge strings, wrong types, lone
 * surrogate escapes, duplicate keys and numbers beyond a double's range go
 * to opa and go-wasm as text, and to the hosts' engines (native, wasm) as
 * JSON.parse reads it. Every engine must refuse what the reference refuses
 * and decide alike what it decides, but for the divergences listed in
 * KNOWN_DIVERGENCES; and no decision with an error may allow.
 */
import fc from 'fast-check';
import { describeThrown } from '../core/errors.js';
import { type Decision, failedDecision, type Policy } from '../policy/model.js';
import { MAX_REQUEST_SIZE } from '../engines/request-boundary.js';
import { knownDivergence } from './divergences.js';
import { type DiffEngine, disposeRound, type Group, prepareRound } from './engines.js';
import { requestForPolicy } from './generators-v2.js';

/** The request fields the Rego checks. */
const FIELDS = ['action', 'server', 'serverType', 'serverSource', 'transport', 'tool'] as const;

/** An object as JSON text, entry by entry (so keys can repeat): key text and value text. */
type Entries = readonly (readonly [string, string])[];

const objectText = (entries: Entries): string => `{${entries.map(([k, v]) => `${k}:${v}`).join(',')}}`;
const key = (name: string): string => JSON.stringify(name);

/** The entries of a generated request, or none when it is not an object. */
function entriesOf(request: unknown): Entries {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return [];
  // JSON.stringify drops what JSON cannot hold; what is left is what a client could send.
  const plain = JSON.parse(JSON.stringify(request) ?? '{}') as Record<string, unknown>;
  return Object.entries(plain).map(([k, v]) => [key(k), JSON.stringify(v)] as const);
}

const without = (entries: Entries, name: string): Entries => entries.filter(([k]) => k !== key(name));
const withEntry = (entries: Entries, name: string, value: string): Entries => [
  ...without(entries, name),
  [key(name), value],
];

/** `depth` levels of arrays or objects around a string (one level is `["x"]`). */
function nested(depth: number, kind: 'array' | 'object'): string {
  const [open, close] = kind === 'array' ? ['[', ']'] : ['{"x":', '}'];
  return `${open.repeat(depth)}"x"${close.repeat(depth)}`;
}

/** Strings of lone and paired surrogates, written as the escapes JSON allows. */
const SURROGATES = ['"\\ud800"', '"\\udfff"', '"a\\ud83dz"', '"\\ude00\\ud83d"', '"\\ud83d\\ude00"', '"x\\udbff"'];

/** Values of a type no request field has. */
const WRONG_TYPES = ['1', '-0', 'true', 'null', '{}', '[]', '["load"]', '{"0":"x"}', '1e400'];

const field = fc.constantFrom(...FIELDS);

/** Malformed and unusual JSON texts made from a request aimed at the policy. */
function malformed(entries: Entries): fc.Arbitrary<string> {
  const text = objectText(entries);
  return fc.oneof(
    // Not an object at all.
    fc.constantFrom('null', 'true', '0', '-1.5', '1e400', '"load"', '""', '[]', `[${text}]`, JSON.stringify(text)),
    // A request field of the wrong type.
    fc.tuple(field, fc.constantFrom(...WRONG_TYPES)).map(([f, v]) => objectText(withEntry(entries, f, v))),
    // Nesting either side of the boundary's 32 levels (the request is level 1) and far past it (past opa's own
    // 10,000 costs a process of its own: tooDeepForOpa is sent once a round).
    fc
      .tuple(fc.constantFrom(30, 31, 32, 100), fc.constantFrom('array' as const, 'object' as const))
      .map(([depth, kind]) => objectText(withEntry(entries, 'extra', nested(depth, kind)))),
    // Long strings either side of the 65,536 code point field limit, in BMP and astral characters, in a request field or not.
    fc
      .tuple(
        fc.constantFrom('tool', 'server', 'extra'),
        fc.constantFrom(65536, 65537),
        fc.constantFrom('a', '\u{1F600}'),
      )
      .map(([f, n, ch]) => objectText(withEntry(entries, f, JSON.stringify(ch.repeat(n))))),
    // Lone surrogates in a value or a key.
    fc.tuple(field, fc.constantFrom(...SURROGATES)).map(([f, v]) => objectText(withEntry(entries, f, v))),
    fc.constantFrom(...SURROGATES).map((k) => objectText([...entries, [k, '"x"'], [k.replace('d8', 'db'), '1']])),
    // A key given twice: JSON.parse and Go's decoder both keep the last.
    fc
      .tuple(field, fc.constantFrom('"load"', '"invoke"', '"prompt"', '"x"', '1', 'null'))
      .map(([f, v]) => objectText([...entries, [key(f), v]])),
    fc.tuple(field, fc.constantFrom('1', 'null')).map(([f, v]) => objectText([[key(f), v], ...entries])),
    // Numbers JavaScript and Go read differently, in a field no rule reads.
    fc
      .constantFrom('1e400', '-1e400', '1e-400', '123456789012345678901234567890', '-0.0')
      .map((n) => objectText(withEntry(entries, 'extra', n))),
    // Wide.
    fc.constant(
      objectText(
        withEntry(entries, 'extra', objectText(Array.from({ length: 2000 }, (_, i) => [key(`k${i}`), `${i}`]))),
      ),
    ),
  );
}

/**
 * The numbers of version 2's edge cases as JSON.stringify prints them, and
 * other spellings of exactly the same number: no exponent, the mantissa
 * written out, `-0`. JavaScript reads each as the same double and opa reads
 * the same decimal, so every engine must decide alike. (Spellings that only
 * round to the same double, such as `9007199254740993`, are read exactly by
 * opa from raw text, which no host's engine sees: not compared here.)
 */
const NUMBER_SPELLINGS: readonly (readonly [string, string])[] = [
  ['1e+21', '1000000000000000000000'],
  ['1e+20', '100000000000000000000.0'],
  ['1.7976931348623157e+308', '17976931348623157e292'],
  ['5e-324', '0.5e-323'],
  [':0,', ':-0,'],
  [':0}', ':-0.0}'],
  [',0]', ',-0]'],
  ['[0,', '[0e5,'],
];

/** The text with the numbers of version 2's edge cases spelt another way, or undefined when it has none. */
function respelled(text: string): string | undefined {
  let out = text;
  for (const [from, to] of NUMBER_SPELLINGS) out = out.replaceAll(from, to);
  return out === text ? undefined : out;
}

/** `count` raw inputs for a policy. */
export function rawInputsFor(policy: Policy, seed: number, count: number): string[] {
  const arb = requestForPolicy(policy)
    .map(entriesOf)
    .chain((entries) =>
      fc.oneof(
        { weight: 1, arbitrary: fc.constant(objectText(entries)) },
        { weight: 6, arbitrary: malformed(entries) },
        // Numbers at the edges, as a client may write them; a policy of version 1 reads no numbers.
        ...(policy.version === 2
          ? [{ weight: 2, arbitrary: fc.constant(respelled(objectText(entries)) ?? objectText(entries)) }]
          : []),
      ),
    );
  return fc.sample(arb, { seed, numRuns: count });
}

/** One request just larger than the request boundary's size limit, its bulk in a field no rule reads. */
export function oversizedInput(): string {
  return objectText([
    [key('action'), '"load"'],
    [key('extra'), JSON.stringify('x'.repeat(MAX_REQUEST_SIZE))],
  ]);
}

/** One request nested deeper than opa reads (Go's JSON decoder stops at 10,000 levels). */
export function tooDeepForOpa(): string {
  return objectText([
    [key('action'), '"load"'],
    [key('extra'), nested(10_050, 'array')],
  ]);
}

/** A raw input the engines disagree on. */
export interface RawMismatch {
  readonly group: number;
  /** The input as JSON text, as opa read it. */
  readonly text: string;
  readonly decisions: Readonly<Record<string, Decision>>;
}

/** What a round of raw inputs found. */
export interface RawRoundResult {
  readonly cases: number;
  /** Comparisons left out because a known divergence covers them. */
  readonly skipped: number;
  readonly mismatches: readonly RawMismatch[];
}

const hasError = (d: Decision): boolean => d.error !== undefined;

/** What raw decisions are compared on: whether there is an error, the decision, and the rule. */
function rawComparable(d: Decision): string {
  return JSON.stringify([hasError(d), d.allowed, hasError(d) ? null : d.rule]);
}

function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // The boundary refuses `undefined` (not an object), as a host refuses a body it cannot parse.
    return undefined;
  }
}

/** One engine's decisions on the raw inputs, or undefined when it reads neither text nor requests itself. */
async function decideRaw(
  engine: DiffEngine,
  round: Awaited<ReturnType<typeof prepareRound>>,
  inputs: readonly (readonly string[])[],
): Promise<Decision[][] | undefined> {
  if (engine.decideRaw === undefined && engine.ownBoundary !== true) return undefined;
  try {
    return engine.decideRaw ? await engine.decideRaw(round, inputs) : await engine.decide(round);
  } catch (e) {
    const failed = failedDecision(`${engine.name} failed: ${describeThrown(e)}`);
    return inputs.map((texts) => texts.map(() => failed));
  }
}

/**
 * Decides the raw inputs of each group on every engine and compares them
 * with the first engine's decisions; stops collecting at `maxMismatches`.
 */
export async function runRawRound(
  engines: readonly DiffEngine[],
  groups: readonly Group[],
  inputs: readonly (readonly string[])[],
  maxMismatches: number,
): Promise<RawRoundResult> {
  const round = await prepareRound(groups.map((g, gi) => ({ ...g, requests: inputs[gi]!.map(parsedOrUndefined) })));
  const byEngine: (Decision[][] | undefined)[] = [];
  try {
    for (const engine of engines) byEngine.push(await decideRaw(engine, round, inputs));
  } finally {
    await disposeRound(round);
  }
  let skipped = 0;
  const mismatches: RawMismatch[] = [];
  inputs.forEach((texts, gi) => {
    texts.forEach((text, ti) => {
      const decided = engines.flatMap((e, ei) => {
        const d = byEngine[ei]?.[gi]?.[ti];
        return d === undefined ? [] : [[e.name, d] as const];
      });
      const reference = decided[0]?.[1];
      if (reference === undefined) return;
      let differs = false;
      for (const [name, d] of decided) {
        // Failing open is never a known divergence.
        if (hasError(d) && d.allowed) differs = true;
        else if (knownDivergence(name, d, reference) !== undefined) skipped++;
        else if (rawComparable(d) !== rawComparable(reference)) differs = true;
      }
      if (differs && mismatches.length < maxMismatches) {
        mismatches.push({ group: gi, text, decisions: Object.fromEntries(decided) });
      }
    });
  });
  return { cases: inputs.reduce((n, texts) => n + texts.length, 0), skipped, mismatches };
}
