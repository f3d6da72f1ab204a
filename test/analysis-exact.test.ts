/**
 * Lint and diff against brute force on thousands of small generated policies,
 * and every witness checked with the native evaluator. Seeded; the seed is
 * printed on failure (set ANALYSIS_SEED to replay one).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffPolicies } from '../src/analysis/diff.js';
import { lintPolicy } from '../src/analysis/lint.js';
import { policyPair, smallPolicy } from '../src/difftest/analysis-generators.js';
import { evaluatePolicy } from '../src/native/evaluate.js';
import { canonicalImageReference } from '../src/native/match.js';
import { type Policy, type PolicyRequest } from '../src/policy/model.js';
import { allowedBy, diffTruth, lintTruth, universe } from './analysis-oracle.js';

const SEED = process.env.ANALYSIS_SEED !== undefined ? Number(process.env.ANALYSIS_SEED) : Date.now() % 2 ** 31;
const CASES = Number(process.env.ANALYSIS_CASES ?? 800);

function withSeed(name: string, check: () => void): void {
  try {
    check();
  } catch (e) {
    throw new Error(`${name} failed with seed ${SEED} (ANALYSIS_SEED=${SEED} replays it): ${(e as Error).message}`, {
      cause: e,
    });
  }
}

function found(policy: Policy, code: string): number[] {
  const out = lintPolicy(policy)
    .findings.filter((f) => f.code === code)
    .map((f) => (f.path === '/default' ? -1 : Number(f.path.split('/')[2])));
  return [...new Set(out)].sort((a, b) => a - b);
}

/**
 * Requests where removing a rule, or flipping it, changes a decision, as diff
 * finds them. A rule lint calls neither shadowed nor redundant has no witness
 * of its own, and the small value sets can miss the one request that proves
 * it (a source four pieces long, say); these values join the universe, where
 * brute force judges them like any other, so they can only make the truth
 * stronger, never bend it toward lint.
 */
function counterWitnesses(policy: Policy): PolicyRequest[] {
  return policy.rules.flatMap((rule, i) => {
    const without = { ...policy, rules: policy.rules.filter((_, k) => k !== i) };
    const flipped = { ...policy, rules: policy.rules.map((r, k) => (k === i ? { ...r, allow: !r.allow } : r)) };
    return [without, flipped].flatMap((other) => diffPolicies(policy, other).changes.map((c) => c.witness));
  });
}

describe('lint is exact', () => {
  it(`agrees with brute force on ${CASES} generated policies`, () => {
    const policies = fc.sample(smallPolicy, { seed: SEED, numRuns: CASES });
    withSeed('lint', () => {
      for (const policy of policies) {
        const lint = lintPolicy(policy);
        const witnesses = [
          ...lint.findings.flatMap((x) => (x.witness ? [x.witness] : [])),
          ...counterWitnesses(policy),
        ];
        const values = (f: 'server' | 'serverSource' | 'tool') =>
          witnesses.flatMap((w) => (w[f] === undefined ? [] : [w[f]]));
        const truth = lintTruth(
          policy,
          universe([policy], { server: values('server'), serverSource: values('serverSource'), tool: values('tool') }),
        );
        const got: Record<string, number[]> = {};
        for (const code of Object.keys(truth)) got[code] = found(policy, code);
        expect(got, JSON.stringify(policy)).toEqual(truth);
        for (const f of lint.findings) {
          if (!f.witness) continue;
          const i = Number(f.path.split('/')[2]);
          const d = evaluatePolicy(policy, f.witness);
          const alone = evaluatePolicy({ ...policy, rules: [policy.rules[i]!] }, f.witness);
          if (f.code === 'shadowed_rule') {
            expect(alone.rule, `${JSON.stringify(policy)} ${JSON.stringify(f)}`).toBe(0);
            expect(f.rules).toContain(d.rule);
          }
          if (f.code === 'redundant_rule') {
            expect(d.rule).toBe(i);
            const without = evaluatePolicy({ ...policy, rules: policy.rules.filter((_, k) => k !== i) }, f.witness);
            expect(without.allowed).toBe(d.allowed);
          }
          if (f.code === 'non_canonical_source') {
            // The rule matches the witness, but not the same request spelled in canonical form.
            const source = f.witness.serverSource!;
            const canonical = { ...f.witness, serverSource: canonicalImageReference(source) };
            expect(canonical.serverSource).not.toBe(source);
            expect(alone.rule, `${JSON.stringify(policy)} ${JSON.stringify(f)}`).toBe(0);
            expect(evaluatePolicy({ ...policy, rules: [policy.rules[i]!] }, canonical).rule).toBeNull();
          }
          if (f.code === 'tools_blocked_by_default' || f.code === 'prompts_blocked_by_default') {
            expect(d).toMatchObject({ allowed: true, rule: i });
          }
        }
      }
    });
  });
});

describe('diff is exact', () => {
  it(`agrees with brute force on ${CASES} generated policy pairs`, () => {
    const pairs = fc.sample(policyPair, { seed: SEED + 1, numRuns: CASES });
    withSeed('diff', () => {
      for (const [a, b] of pairs) {
        const diff = diffPolicies(a, b);
        // The witnesses' values join the brute-force universe: more points can only make the truth stronger.
        const values = (f: 'server' | 'serverSource' | 'tool') =>
          diff.changes.flatMap((c) => (c.witness[f] === undefined ? [] : [c.witness[f]]));
        const truth = diffTruth(
          a,
          b,
          universe([a, b], { server: values('server'), serverSource: values('serverSource'), tool: values('tool') }),
        );
        const got = [...new Set(diff.changes.map((c) => `${c.old.rule}→${c.new.rule}:${c.kind}`))].sort();
        const context = JSON.stringify({ a, b });
        expect(got, context).toEqual(truth);
        expect(diff.same, context).toBe(truth.length === 0);
        for (const c of diff.changes) {
          const x = evaluatePolicy(a, c.witness);
          const y = evaluatePolicy(b, c.witness);
          expect({ old: x.rule, new: y.rule }, `${context} ${JSON.stringify(c)}`).toEqual({
            old: c.old.rule,
            new: c.new.rule,
          });
          expect(x.allowed).toBe(allowedBy(a, c.old.rule));
          expect(y.allowed).toBe(allowedBy(b, c.new.rule));
        }
      }
    });
  });
});
