/**
 * The raw-input campaign: JSON text as a fleet's OPA servers receive it goes
 * to opa and go-wasm as written, and to the hosts' engines as JSON.parse
 * reads it; error presence and denial must match the native engine's, but for
 * the known divergences, and no error may allow.
 */
import { describe, expect, it } from 'vitest';
import { KNOWN_DIVERGENCES, knownDivergence } from '../src/difftest/divergences.js';
import {
  DIFF_ENGINES,
  type DiffEngine,
  disposeRound,
  type Group,
  nativeDiffEngine,
  prepareRound,
} from '../src/difftest/engines.js';
import { oversizedInput, rawInputsFor, runRawRound, tooDeepForOpa } from '../src/difftest/raw.js';
import { type DifftestResult, generatedPolicy } from '../src/difftest/run.js';
import { type Policy } from '../src/policy/model.js';
import { mustParse } from './helpers.js';
import { mutatedCopy, type SourceMutant } from './source-mutants.js';

const SEED = 20260117;
const ENGINES = [DIFF_ENGINES.native!, DIFF_ENGINES.wasm!, DIFF_ENGINES.opa!, DIFF_ENGINES['go-wasm']!];

/** A default-allow policy: an input the Rego fails to refuse is allowed, never quietly denied. */
const ALLOW_MOST = mustParse(
  JSON.stringify({
    version: 1,
    default: 'allow',
    rules: [{ action: 'invoke', tools: ['delete_*'], deny: true, reason: 'no deletes' }],
  }),
);

/** Inputs chosen by hand for each kind the campaign sends. */
const HANDPICKED = [
  'null',
  '[]',
  '"tool"',
  '1e400',
  '[{"action":"invoke","tool":"read"}]',
  '{"action":"invoke","tool":1}',
  '{"action":"invoke","tool":null}',
  '{"action":"invoke","tool":["delete_all"]}',
  '{"action":"invoke","tool":"delete_all","tool":"read"}',
  '{"action":"invoke","tool":"read","tool":"delete_all"}',
  '{"action":"invoke","tool":"\\ud800"}',
  '{"action":"invoke","tool":"delete_\\udfff"}',
  '{"action":"\\ud800"}',
  '{"\\ud800":1,"\\udbff":2,"action":"invoke","tool":"read"}',
  `{"action":"invoke","tool":"read","x":${'['.repeat(31)}1${']'.repeat(31)}}`,
  `{"action":"invoke","tool":"read","x":${'['.repeat(32)}1${']'.repeat(32)}}`,
  tooDeepForOpa(),
  `{"action":"invoke","tool":"${'a'.repeat(65537)}"}`,
  `{"action":"invoke","tool":"${'\u{1F600}'.repeat(65536)}"}`,
  '{"action":"invoke","tool":"read","n":1e400}',
  oversizedInput(),
];

function groupsOf(policies: readonly Policy[]): Group[] {
  return policies.map((policy) => ({ policy, requests: [] }));
}

describe('raw inputs', () => {
  it('cover non-objects, wrong types, deep nesting, long strings, lone surrogates, repeated keys and huge numbers', () => {
    const inputs = rawInputsFor(generatedPolicy(SEED, 1), SEED, 400);
    const has = (test: (text: string) => boolean) => inputs.some(test);
    expect(has((t) => !t.startsWith('{'))).toBe(true);
    expect(has((t) => t.includes('['.repeat(100)) || t.includes('{"x":'.repeat(100)))).toBe(true);
    expect(has((t) => t.includes('{"x":'.repeat(32)))).toBe(true);
    expect(has((t) => t.length > 65536 * 2)).toBe(true);
    expect(has((t) => /\\ud[89ab]/.test(t))).toBe(true);
    expect(has((t) => /[:,]1e400/.test(t))).toBe(true);
    expect(has((t) => /"action":1[,}]/.test(t) || /"tool":null/.test(t))).toBe(true);
    expect(has((t) => (t.match(/"action":/g) ?? []).length > 1)).toBe(true);
    expect(oversizedInput().length).toBeGreaterThan(4 * 1024 * 1024);
    expect(tooDeepForOpa()).toContain('['.repeat(10050));
  });

  it('the four engines agree on handpicked raw inputs', async () => {
    const result = await runRawRound(ENGINES, groupsOf([ALLOW_MOST]), [HANDPICKED], 10);
    expect(result.mismatches).toEqual([]);
    expect(result.cases).toBe(HANDPICKED.length);
  });

  it('lists only divergences that are real: opa decides what the boundary refuses', async () => {
    const deep = `{"action":"invoke","tool":"read","x":${'['.repeat(32)}1${']'.repeat(32)}}`;
    const texts = [deep, '{"action":"invoke","tool":"read","n":1e400}', oversizedInput()];
    const groups = groupsOf([ALLOW_MOST]);
    const round = await prepareRound(
      groups.map((g) => ({ ...g, requests: texts.map((t) => JSON.parse(t) as unknown) })),
    );
    try {
      const [native] = await nativeDiffEngine.decide(round);
      const [opa] = await DIFF_ENGINES.opa!.decideRaw!(round, [texts]);
      const names = native!.map((d, k) => knownDivergence('opa', opa![k]!, d));
      expect(names).toEqual(['request-depth', 'number-out-of-range', 'request-size']);
      for (const d of native!) expect(d).toMatchObject({ allowed: false, error: expect.any(String) });
      for (const d of opa!) expect(d).toEqual({ allowed: true, reason: 'no rule matched; default allow', rule: null });
    } finally {
      await disposeRound(round);
    }
    expect(Object.keys(KNOWN_DIVERGENCES)).toEqual(
      expect.arrayContaining(['request-depth', 'request-size', 'number-out-of-range']),
    );
  });

  it('the four engines agree on generated raw inputs for generated policies', async () => {
    const policies = Array.from({ length: 20 }, (_, k) => generatedPolicy(SEED, k));
    const inputs = policies.map((p, k) => rawInputsFor(p, SEED + k, 5));
    const result = await runRawRound(ENGINES, groupsOf(policies), inputs, 5);
    expect(result.mismatches).toEqual([]);
    expect(result.cases).toBe(100);
  });
});

/** The Rego's request check no longer refuses what is not an object (only null). */
const NON_OBJECTS_PASS: SourceMutant = {
  name: 'non-objects-pass',
  why: 'lib.rego refuses only null as a request that is not an object',
  edits: [{ file: 'rego/mcp_policy/lib.rego', from: '\tnot is_object(req)\n', to: '\tis_null(req)\n' }],
};

describe('a broken request check in the Rego', () => {
  async function runOnCopy(raw: boolean): Promise<DifftestResult> {
    const copy = await mutatedCopy(NON_OBJECTS_PASS);
    try {
      const run = await copy.load<typeof import('../src/difftest/run.js')>('src/difftest/run.ts');
      const engines = await copy.load<typeof import('../src/difftest/engines.js')>('src/difftest/engines.ts');
      const under: DiffEngine[] = [nativeDiffEngine, engines.opaDiffEngine, engines.goWasmDiffEngine];
      return await run.runDifftest({
        cases: 2000,
        seed: SEED,
        engines: under,
        policy: ALLOW_MOST,
        shrink: false,
        maxMismatches: 1,
        raw,
      });
    } finally {
      await copy.dispose();
    }
  }

  it('is caught by raw inputs through opa and go-wasm, and missed by requests that pass the boundary first', async () => {
    const caught = await runOnCopy(true);
    expect(caught.mismatches).toHaveLength(1);
    const m = caught.mismatches[0]!;
    expect(m.raw).toBeDefined();
    expect(m.decisions.native!.error).toBe('request must be a JSON object');
    expect(m.decisions.opa).toMatchObject({ allowed: true });
    expect(m.decisions['go-wasm']).toMatchObject({ allowed: true });
    const missed = await runOnCopy(false);
    expect(missed.mismatches).toEqual([]);
    expect(missed.rawCases).toBe(0);
  });
});
