/**
 * The differential tester itself: its generators reach the interesting
 * places, it catches deliberately broken engines quickly, shrinks what it
 * finds and turns it into a regression case, and the real engines agree.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCaseFile } from '../src/testing/cases.js';
import { DIFF_ENGINES, nativeDiffEngine } from '../src/difftest/engines.js';
import { NativeEngine } from '../src/engines/native.js';
import { evaluatePolicy } from '../src/native/evaluate.js';
import { pattern, policyText } from '../src/difftest/generators.js';
import { writeRegression } from '../src/difftest/regression.js';
import { generatedPolicy, generatedRequests, runDifftest } from '../src/difftest/run.js';
import { caughtMismatch, ENFORCED_YIELDS, MUTANTS, SYNC_DIFFERS, UNMUTATED } from './mutants.js';

const SEED = Number(process.env.DIFFTEST_SEED ?? Date.now() % 2 ** 31);
// Printed so that any failure below can be replayed with DIFFTEST_SEED.
console.log(`difftest.test.ts seed ${SEED}`);

describe('generators', () => {
  it('produce valid policies using every field, spelling and wrapping', () => {
    const texts = fc.sample(policyText, { seed: SEED, numRuns: 400 });
    const joined = texts.join('\n');
    expect(joined).toContain('mcpPolicy');
    for (const key of ['"deny"', '"allow"', 'serverType', 'serverSource', 'transport', 'tools', 'reason', 'version']) {
      expect(joined).toContain(key);
    }
    for (let k = 0; k < 200; k++) expect(() => generatedPolicy(SEED, k)).not.toThrow();
  });

  it('put stars at the start, middle, end, repeated and alone', () => {
    const patterns = fc.sample(pattern, { seed: SEED, numRuns: 2000 });
    expect(patterns.some((p) => p === '*')).toBe(true);
    expect(patterns.some((p) => p.startsWith('*') && p.length > 1)).toBe(true);
    expect(patterns.some((p) => p.endsWith('*') && p.length > 1)).toBe(true);
    expect(patterns.some((p) => p.includes('**'))).toBe(true);
    expect(patterns.some((p) => /[^*]\*+[^*]/.test(p))).toBe(true);
    // eslint-disable-next-line no-control-regex -- NUL is one of the characters the generators must produce
    expect(patterns.some((p) => /[\n"\\\u0000]/.test(p))).toBe(true);
    expect(patterns.some((p) => /[\u{10000}-\u{10FFFF}]/u.test(p))).toBe(true);
  });

  it('aim requests at rules: many match one, many miss, some are invalid', () => {
    let total = 0;
    let matched = 0;
    let laterRule = 0;
    let errors = 0;
    for (let k = 0; k < 150; k++) {
      const policy = generatedPolicy(SEED, k, 1);
      for (const request of generatedRequests(policy, SEED, k, 40)) {
        // Through the host API: generated requests include hostile JavaScript values.
        const d = new NativeEngine(policy).decideSync(request);
        total++;
        if (d.error !== undefined) errors++;
        else if (d.rule !== null) {
          matched++;
          if (d.rule > 0) laterRule++;
        }
      }
    }
    expect(matched / total).toBeGreaterThan(0.25);
    expect(laterRule / total).toBeGreaterThan(0.1);
    expect(errors / total).toBeGreaterThan(0.03);
    expect(errors / total).toBeLessThan(0.25);
    expect((total - matched - errors) / total).toBeGreaterThan(0.2);
  });
});

describe('mutants', () => {
  for (const mutant of MUTANTS) {
    it(`catches ${mutant.name} within 1,000 cases and shrinks it`, async () => {
      const m = await caughtMismatch(mutant, { cases: 1000, seed: SEED });
      expect(m.policy.rules.length).toBeLessThanOrEqual(2);
      expect(JSON.stringify(m.request).length).toBeLessThan(JSON.stringify(m.found.request).length + 1);
      expect(m.decisions.native).not.toEqual(m.decisions[mutant.name]);
    });
  }

  it('catches a broken effective configuration (enforced yielding to local) through config comparisons', async () => {
    const m = await caughtMismatch(ENFORCED_YIELDS, { cases: 1000, seed: SEED });
    expect(m.configs).toBeDefined();
  });

  it('compares the hot path of a shipped engine with its batch path', async () => {
    const m = await caughtMismatch(SYNC_DIFFERS, { cases: 200, seed: SEED, shrink: false });
    expect(m.decisions[SYNC_DIFFERS.name]!.error).toMatch(/^decideSync .* but decideBatch /);
  });

  it('finds nothing when the "mutant" is correct', async () => {
    const result = await runDifftest({ cases: 4000, seed: SEED, engines: [nativeDiffEngine, UNMUTATED], version: 1 });
    expect(result.mismatches).toEqual([]);
    expect(result.cases).toBe(4000);
  });

  it('writes a shrunk mismatch as a regression table that the real engines pass', async () => {
    const mutant = MUTANTS.find((m) => m.name === 'last-match')!;
    const m = await caughtMismatch(mutant, { cases: 2000, seed: SEED });
    const file = await writeRegression(mkdtempSync(join(tmpdir(), 'mcp-policy-regr-')), m, SEED);
    const table = parseCaseFile(readFileSync(file, 'utf8'), file);
    expect(table.note).toContain(`--seed ${SEED}`);
    const c = table.requests![0]!;
    // On a tie the native engine's decision is the expectation.
    expect(evaluatePolicy(table.policy as never, c.request)).toMatchObject({
      allowed: c.expect.allowed,
      rule: c.expect.rule,
    });
  });
});

describe('real engines', () => {
  it(`agree on 2,000 generated cases of both versions (seed ${SEED})`, async () => {
    const engines = Object.values(DIFF_ENGINES);
    // Not shrunk here, so a disagreement fails fast; `mcp-policy difftest --seed` shrinks it.
    const result = await runDifftest({ cases: 2000, seed: SEED, engines, shrink: false });
    expect(result.mismatches.map((m) => m.found)).toEqual([]);
    expect(result.cases).toBe(2000);
  });

  it('with --policy, test one policy against generated requests', async () => {
    const policy = generatedPolicy(SEED, 3);
    const result = await runDifftest({
      cases: 400,
      seed: SEED,
      engines: [DIFF_ENGINES.native!, DIFF_ENGINES.wasm!],
      policy,
    });
    expect(result.policies).toBe(1);
    expect(result.cases).toBe(400);
    expect(result.mismatches).toEqual([]);
  });
});
