/**
 * The differential tester's pattern-heavy policies: tens to hundreds of rules
 * on one field with patterns that have no literal start or end (past the
 * count at which an index of their pieces pays), long literal pieces, and
 * requests aimed at the pieces from every side; one policy in 16 of a run,
 * or all of them with the `patterns` shape.
 */
import { describe, expect, it } from 'vitest';
import { nativeDiffEngine, wasmDiffEngine } from '../src/difftest/engines.js';
import { generatedPolicy, generatedRequests, isPatternHeavy, runDifftest } from '../src/difftest/run.js';
import { LIMITS } from '../src/difftest/settings.js';
import { NativeEngine } from '../src/engines/native.js';
import { MAX_FIELD_LENGTH, type Policy } from '../src/policy/model.js';

const SEED = Number(process.env.DIFFTEST_SEED ?? Date.now() % 2 ** 31);
console.log(`difftest-patterns.test.ts seed ${SEED}`);

/** Patterns with a star at each end and a piece between: no prefix or suffix lookup can find them. */
const isInfix = (p: string): boolean => p.length > 2 && p.startsWith('*') && p.endsWith('*') && p !== '**';

/** Per request field, the patterns of a policy's rules. */
function patternsOf(policy: Policy): string[][] {
  const fields: string[][] = [[], [], [], [], [], [], [], []];
  for (const r of policy.rules) {
    if (r.server !== undefined) fields[0]!.push(r.server);
    if (r.serverSource !== undefined) fields[1]!.push(r.serverSource);
    fields[2]!.push(...(r.tools ?? []));
    fields[3]!.push(...(r.resources ?? []));
    fields[4]!.push(...(r.users ?? []));
    fields[5]!.push(...(r.groups ?? []));
    fields[6]!.push(...Object.values(r.claims ?? {}).flat());
    fields[7]!.push(...(r.arguments ?? []).flatMap((c) => c.match ?? []));
  }
  return fields;
}

/** The strings in a request, a few levels down, found without calling getters (some requests carry hostile ones). */
function strings(v: unknown, out: string[] = [], depth = 4): string[] {
  if (typeof v === 'string') out.push(v);
  else if (typeof v === 'object' && v !== null && depth > 0) {
    for (const key of Object.keys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (d && 'value' in d) strings(d.value, out, depth - 1);
    }
  }
  return out;
}

describe('pattern-heavy policies in the differential tester', () => {
  it('fill one field with more than 32 patterns no prefix or suffix finds, in both versions', () => {
    for (const version of [1, 2] as const) {
      const fields = new Set<number>();
      let longPieces = 0;
      for (let k = 0; k < 80; k++) {
        const policy = generatedPolicy(SEED, k, version, 'patterns');
        expect(policy.version).toBe(version);
        expect(policy.rules.length).toBeGreaterThanOrEqual(LIMITS.minPatternRules);
        const byField = patternsOf(policy);
        const main = byField.findIndex((ps) => ps.filter(isInfix).length > 32);
        expect(main, JSON.stringify(policy.rules.slice(0, 3))).toBeGreaterThanOrEqual(0);
        fields.add(main);
        if (byField.flat().some((p) => p.split('*').some((piece) => Array.from(piece).length >= 20))) longPieces++;
      }
      // Every field a version has patterns on is the main one of some policy.
      expect(fields.size).toBe(version === 1 ? 3 : 8);
      expect(longPieces).toBeGreaterThan(40);
    }
  });

  it('put one pattern-heavy policy in 16 into a run, the others unchanged', () => {
    for (let k = 0; k < 48; k++) {
      const heavy = k % LIMITS.patternPolicyEvery === LIMITS.patternPolicyEvery - 1;
      expect(isPatternHeavy('mixed', k)).toBe(heavy);
      expect(isPatternHeavy('patterns', k)).toBe(true);
      for (const version of [1, 2, 'both'] as const) {
        const mixed = generatedPolicy(SEED, k, version, 'mixed');
        expect(mixed).toEqual(generatedPolicy(SEED, k, version));
        if (heavy) expect(mixed).toEqual(generatedPolicy(SEED, k, version, 'patterns'));
        else expect(mixed).not.toEqual(generatedPolicy(SEED, k, version, 'patterns'));
      }
    }
  });

  it('aim requests at the pieces: later rules decide, some miss, values reach the length limit', () => {
    for (const version of [1, 2] as const) {
      let total = 0;
      let later = 0;
      let missed = 0;
      let long = 0;
      let atStart = 0;
      for (let k = 0; k < 30; k++) {
        const policy = generatedPolicy(SEED, k, version, 'patterns');
        const pieces = new Set(patternsOf(policy).flatMap((ps) => ps.flatMap((p) => p.split('*'))));
        pieces.delete('');
        const engine = new NativeEngine(policy);
        for (const request of generatedRequests(policy, SEED, k, 40, false, 'patterns')) {
          total++;
          const d = engine.decideSync(request);
          if (d.error === undefined && d.rule !== null && d.rule >= 10) later++;
          if (d.error === undefined && d.rule === null) missed++;
          for (const s of strings(request)) {
            // Version 1's own long values repeat one character; these carry pieces.
            const n = Array.from(s).length;
            if (n >= MAX_FIELD_LENGTH - 1 && n <= MAX_FIELD_LENGTH && new Set(s).size > 2) long++;
            if (s.length > 2 && [...pieces].some((p) => p.length > 2 && s.startsWith(p) && s !== p)) atStart++;
          }
        }
      }
      expect(later / total, `version ${version}`).toBeGreaterThan(0.12);
      expect(missed / total, `version ${version}`).toBeGreaterThan(0.03);
      expect(long).toBeGreaterThan(0);
      expect(atStart).toBeGreaterThan(total / 20);
    }
  });

  it('decide pattern-heavy policies of both versions alike on the native and wasm engines', async () => {
    const result = await runDifftest({
      cases: 400,
      seed: SEED,
      engines: [nativeDiffEngine, wasmDiffEngine],
      shape: 'patterns',
      requestsPerPolicy: 40,
      raw: false,
    });
    expect(result.mismatches.map((m) => m.found)).toEqual([]);
    expect(result.policies).toBe(10);
  });
});
