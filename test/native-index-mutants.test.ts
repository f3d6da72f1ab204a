/**
 * The native rule index's filters only skip lookups that cannot find a key,
 * and its per-decision state never outlives a decision: each mutant of them
 * (see source-mutants.ts) is caught by a seeded differential run of the
 * mutated native engine against the real one.
 */
import { describe, expect, it } from 'vitest';
import { type DiffEngine, nativeDiffEngine } from '../src/difftest/engines.js';
import { NativeEngine } from '../src/engines/native.js';
import { evaluatePolicy } from '../src/native/evaluate.js';
import { type DifftestResult, runDifftest } from '../src/difftest/run.js';
import { mustParse } from './helpers.js';
import { NATIVE_INDEX_MUTANTS, withNativeMutant } from './source-mutants.js';

const SEED = 20261206;
const CASES = 400;

const runAgainst = (engine: DiffEngine): Promise<DifftestResult> =>
  runDifftest({
    cases: CASES,
    seed: SEED,
    engines: [nativeDiffEngine, engine],
    version: 'both',
    shape: 'mixed',
    maxMismatches: 1,
    shrink: false,
    raw: false,
  });

describe('mutants of the native rule index', () => {
  it('an unmutated copy agrees with the native engine', async () => {
    const result = await withNativeMutant(undefined, runAgainst);
    expect(result.mismatches.map((m) => m.found)).toEqual([]);
    expect(result.cases).toBe(CASES);
  });

  for (const mutant of NATIVE_INDEX_MUTANTS) {
    it(`the differential tester catches ${mutant.name}: ${mutant.why}`, async () => {
      const result = await withNativeMutant(mutant, runAgainst);
      expect(result.mismatches).toHaveLength(1);
      // As decided in the run: a mutant that keeps state across decisions may decide a request alone correctly.
      const { decisions } = result.mismatches[0]!.found;
      expect(decisions.native).not.toEqual(decisions[mutant.name]);
    });
  }
});

describe('the native engine reads requests as the boundary copies them', () => {
  // The engine trusts the boundary's copy to hold well-formed strings and does not check its fields again.
  it('matches a field with unpaired surrogates as its U+FFFD form, as the other engines read it', () => {
    const policy = mustParse(
      JSON.stringify({
        version: 1,
        default: 'deny',
        rules: [{ server: 'a\uFFFDb', tools: ['t\uFFFD'], allow: true }],
      }),
    );
    const engine = new NativeEngine(policy);
    expect(engine.decideSync({ server: 'a\uD800b', tool: 't\uDC00' })).toEqual({
      allowed: true,
      reason: 'allowed by rule 0',
      rule: 0,
    });
    expect(engine.decideBatchSync([{ server: 'a\uDBFFb', tool: 't\uD83D' }])[0]?.rule).toBe(0);
    // A direct caller's request is not a copy: its fields are still made well-formed.
    expect(evaluatePolicy(policy, { server: 'a\uD800b', tool: 't\uDC00' }).rule).toBe(0);
  });
});
