/**
 * The differential tester on version 2 policies: its generators reach every
 * new key and request field and every request check, a run mixes version 2
 * in without changing the version 1 policies it generates, and the mutants
 * of version 2's semantics are each caught and shrunk. The real engines are
 * compared on version 2 policies by difftest.test.ts (a run of both
 * versions) and by `npm run difftest:ci`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIFF_ENGINES, type DiffEngine, nativeDiffEngine } from '../src/difftest/engines.js';
import { rawInputsFor, runRawRound } from '../src/difftest/raw.js';
import { policyTextV2 } from '../src/difftest/generators-v2.js';
import { type DifftestResult, generatedPolicy, generatedRequests, runDifftest } from '../src/difftest/run.js';
import { NativeEngine } from '../src/engines/native.js';
import { ANNOTATION_HINTS, MAX_GROUPS } from '../src/policy/model.js';
import { mustParse } from './helpers.js';
import { VERSION_2_MUTANTS, withNativeMutant } from './source-mutants.js';

const SEED = Number(process.env.DIFFTEST_SEED ?? Date.now() % 2 ** 31);
// Printed so that any failure below can be replayed with DIFFTEST_SEED.
console.log(`difftest-v2.test.ts seed ${SEED}`);

/** Every request error of version 2, as each engine words it. */
const REQUEST_ERRORS = [
  'request must be a JSON object',
  'field "resource" must be a string',
  'field "resource" is longer than 65536 characters',
  'unknown action "resources"',
  'field "principal" must be an object',
  'field "principal.sub" must be a string',
  'field "principal.sub" is longer than 65536 characters',
  'field "principal.groups" must be an array of strings',
  'field "principal.groups" has more than 4096 entries',
  'field "principal.groups" has an entry longer than 65536 characters',
  'field "principal.claims" must be an object',
  'field "principal.claims" has more than 64 claims',
  'field "principal.claims" must map each claim to a string or an array of strings',
  'field "principal.claims" has a claim with more than 256 values',
  'field "principal.claims" has a value longer than 65536 characters',
  'field "arguments" must be an object',
  'field "annotations" must be an object',
  ...ANNOTATION_HINTS.map((h) => `field "annotations.${h}" must be a boolean`),
];

/** Adds the shapes of interest a generated request has to `shapes`. */
function shapesOf(r: Record<string, unknown>, shapes: Set<string>): void {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  const p = r.principal;
  if (!('principal' in r)) shapes.add('no principal');
  if (p === null) shapes.add('null principal');
  if (isObject(p)) {
    if (Array.isArray(p.groups) && p.groups.length >= 1000 && p.groups.length <= MAX_GROUPS) shapes.add('long groups');
    if (isObject(p.claims)) {
      for (const v of Object.values(p.claims)) shapes.add(`claim ${Array.isArray(v) ? 'array' : typeof v}`);
    }
  }
  if (!('annotations' in r)) shapes.add('no annotations');
  const a = r.annotations;
  if (isObject(a) && ANNOTATION_HINTS.some((h) => !(h in a))) shapes.add('partial annotations');
  const args = JSON.stringify(r.arguments ?? null);
  if (args.includes('..')) shapes.add('dot-dot');
  if (args.includes('5e-324')) shapes.add('5e-324');
  if (args.includes('1.7976931348623157e+308')) shapes.add('max double');
  if (args.includes('9007199254740992')) shapes.add('2^53');
  if (args.length > 10_000) shapes.add('wide or deep arguments');
  if (typeof r.resource === 'string' && r.resource.includes('://')) shapes.add('resource URI');
}

describe('version 2 generators', () => {
  it('produce valid version 2 policies using every key, test and pointer spelling', () => {
    const joined = fc.sample(policyTextV2, { seed: SEED, numRuns: 400 }).join('\n');
    for (const key of [
      '"version": 2',
      'mcpPolicy',
      '"action": "resource"',
      '"resources"',
      '"users"',
      '"groups"',
      '"claims"',
      '"__proto__"',
      '"annotations"',
      '"arguments"',
      '"match"',
      '"normalize": "path"',
      '"equals"',
      '"in"',
      '"min"',
      '"max"',
      '"present"',
      '"not": true',
      '"not": false',
      '"path": ""',
      '~0',
      '~1',
      '/*',
      '/01',
      '/-1',
      '"deny"',
    ]) {
      expect(joined, key).toContain(key);
    }
    for (let k = 0; k < 100; k++) expect(generatedPolicy(SEED, k, 2).version).toBe(2);
  });

  it('mix one version 2 policy in three into a run, the version 1 ones those of a version 1 run', () => {
    for (let k = 0; k < 30; k++) {
      const policy = generatedPolicy(SEED, k, 'both');
      expect(policy.version).toBe(k % 3 === 2 ? 2 : 1);
      if (policy.version === 1) expect(policy).toEqual(generatedPolicy(SEED, k, 1));
    }
  });

  it('aim requests at version 2 rules (many match, many miss) and break every request check', () => {
    let total = 0;
    let matched = 0;
    let laterRule = 0;
    let errors = 0;
    const texts = new Set<string>();
    const shapes = new Set<string>();
    for (let k = 0; k < 150; k++) {
      const policy = generatedPolicy(SEED, k, 2);
      const engine = new NativeEngine(policy);
      for (const request of generatedRequests(policy, SEED, k, 40)) {
        const d = engine.decideSync(request);
        total++;
        if (d.error !== undefined) {
          errors++;
          texts.add(d.error);
        } else if (d.rule !== null) {
          matched++;
          if (d.rule > 0) laterRule++;
        }
        if (typeof request !== 'object' || request === null) continue;
        try {
          // Hostile requests carry getters that throw: those count as no shape.
          shapesOf(request as Record<string, unknown>, shapes);
        } catch {
          continue;
        }
      }
    }
    expect(matched / total).toBeGreaterThan(0.2);
    expect(laterRule / total).toBeGreaterThan(0.05);
    expect(errors / total).toBeGreaterThan(0.05);
    expect(errors / total).toBeLessThan(0.35);
    expect((total - matched - errors) / total).toBeGreaterThan(0.2);
    expect([...texts]).toEqual(expect.arrayContaining(REQUEST_ERRORS));
    expect([...shapes]).toEqual(
      expect.arrayContaining([
        'no principal',
        'null principal',
        'long groups',
        'claim string',
        'claim array',
        'no annotations',
        'partial annotations',
        'dot-dot',
        '5e-324',
        'max double',
        '2^53',
        'wide or deep arguments',
        'resource URI',
      ]),
    );
  });
});

/** A fixed seed: each mutant must be caught within the cases below on every run. */
const MUTANT_SEED = 20261206;
const MUTANT_CASES = 4000;

const runAgainst = (engine: DiffEngine, maxMismatches: number, shrink = true): Promise<DifftestResult> =>
  runDifftest({
    cases: MUTANT_CASES,
    seed: MUTANT_SEED,
    engines: [nativeDiffEngine, engine],
    version: 2,
    maxMismatches,
    shrink,
    raw: false,
  });

describe('version 2 mutants of the native engine', () => {
  it('an unmutated copy agrees with the native engine', async () => {
    const result = await withNativeMutant(undefined, (engine) => runAgainst(engine, 1, false));
    expect(result.mismatches.map((m) => m.found)).toEqual([]);
    expect(result.cases).toBe(MUTANT_CASES);
  });

  for (const mutant of VERSION_2_MUTANTS) {
    it(`catches ${mutant.name} and shrinks it: ${mutant.why}`, async () => {
      const result = await withNativeMutant(mutant, (engine) => runAgainst(engine, 1));
      expect(result.mismatches).toHaveLength(1);
      const m = result.mismatches[0]!;
      expect(m.policy.version).toBe(2);
      expect(m.policy.rules.length).toBeLessThanOrEqual(2);
      expect(m.policy.rules.length).toBeLessThanOrEqual(m.found.policy.rules.length);
      expect(JSON.stringify(m.request).length).toBeLessThanOrEqual(JSON.stringify(m.found.request).length);
      expect(m.decisions.native).not.toEqual(m.decisions[mutant.name]);
    });
  }
});

/** The native engine with its error texts reworded: version 2 says each engine words them the same. */
const REWORDED: DiffEngine = {
  name: 'reworded-errors',
  ownBoundary: true,
  configs: nativeDiffEngine.configs,
  decide: async (round) =>
    (await nativeDiffEngine.decide(round)).map((ds) =>
      ds.map((d) => (d.error === undefined ? d : { ...d, error: d.error.replace('field', 'member') })),
    ),
};

describe('error texts', () => {
  it('are compared on version 2 policies, and only whether there is an error on version 1 policies', async () => {
    const run = (version: 1 | 2) =>
      runDifftest({
        cases: 400,
        seed: SEED,
        engines: [nativeDiffEngine, REWORDED],
        version,
        maxMismatches: 1,
        raw: false,
      });
    const v2 = await run(2);
    expect(v2.mismatches).toHaveLength(1);
    const m = v2.mismatches[0]!;
    expect(m.decisions.native!.error).toMatch(/^field /);
    expect(m.decisions['reworded-errors']!.error).toMatch(/^member /);
    expect(JSON.stringify(m.request).length).toBeLessThanOrEqual(JSON.stringify(m.found.request).length);
    expect((await run(1)).mismatches).toEqual([]);
  });
});

/** Conditions on the numbers at the edges of a double, each deciding with its own rule. */
const NUMBERS_POLICY = mustParse(
  JSON.stringify({
    version: 2,
    default: 'deny',
    rules: [
      { arguments: [{ path: '/big', in: [1e21] }], allow: true },
      { arguments: [{ path: '/tiny', min: 5e-324, max: 5e-324 }], allow: true },
      { arguments: [{ path: '/max', equals: 1.7976931348623157e308 }], allow: true },
      { arguments: [{ path: '/zero', equals: 0 }], allow: true },
      { arguments: [{ path: '/n', min: 9007199254740992 }], allow: true },
    ],
  }),
);

describe('raw inputs to version 2 policies', () => {
  it('numbers at the edges, spelt as clients may write the same number, are decided alike by the four engines', async () => {
    const texts = [
      '{"arguments":{"big":1000000000000000000000}}',
      '{"arguments":{"big":1e21}}',
      '{"arguments":{"big":1000000000000000000000.000}}',
      '{"arguments":{"tiny":0.5e-323}}',
      '{"arguments":{"tiny":5e-324}}',
      '{"arguments":{"max":17976931348623157e292}}',
      '{"arguments":{"zero":-0}}',
      '{"arguments":{"zero":-0.0}}',
      '{"arguments":{"zero":0e5}}',
      '{"arguments":{"n":9007199254740992}}',
      '{"arguments":{"n":9007199254740991}}',
    ];
    const engines = Object.values(DIFF_ENGINES);
    const result = await runRawRound(engines, [{ policy: NUMBERS_POLICY, requests: [] }], [texts], texts.length);
    expect(result.mismatches).toEqual([]);
    expect(result.cases).toBe(texts.length);
  });

  it('generated raw inputs of generated version 2 policies are decided alike by the four engines', async () => {
    const policies = Array.from({ length: 10 }, (_, k) => generatedPolicy(SEED, k, 2));
    const inputs = policies.map((p, k) => rawInputsFor(p, SEED + k, 10));
    const groups = policies.map((policy) => ({ policy, requests: [] }));
    const result = await runRawRound(Object.values(DIFF_ENGINES), groups, inputs, 5);
    expect(result.mismatches).toEqual([]);
    expect(result.cases).toBe(100);
  });
});
