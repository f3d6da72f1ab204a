/**
 * Analysis claims decided by every engine (native, wasm, opa) in one build:
 * each lint and diff witness shows exactly the claimed decision; deleting a
 * rule lint calls shadowed or redundant changes no decision on generated
 * requests; diff of a policy with itself, a reordering of independent rules,
 * and its admin-settings wrapping is empty. Seeded; the seed is printed on failure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { diffPolicies } from '../src/analysis/diff.js';
import { lintPolicy } from '../src/analysis/lint.js';
import { RequestSpace } from '../src/analysis/region.js';
import {
  policyPair,
  policyPairV2,
  requestForV2,
  smallPolicy,
  smallPolicyV2,
} from '../src/difftest/analysis-generators.js';
import { DIFF_ENGINES, disposeRound, type Group, prepareRound } from '../src/difftest/engines.js';
import { requestFor } from '../src/difftest/generators.js';
import { canonicalImageReference } from '../src/native/match.js';
import { type Policy } from '../src/policy/model.js';
import { parsePolicy } from '../src/policy/validate.js';
import { EXAMPLES, examplePolicies, mustParse } from './helpers.js';

const SEED = process.env.ANALYSIS_SEED !== undefined ? Number(process.env.ANALYSIS_SEED) : Date.now() % 2 ** 31;
const ENGINES = ['native', 'wasm', 'opa'].map((n) => DIFF_ENGINES[n]!);

interface Claim {
  group: number;
  request: number;
  check: (d: { allowed: boolean; rule: number | null }) => boolean;
  what: string;
}

describe('analysis claims hold on every engine', () => {
  it(`lint and diff witnesses, and deleting shadowed or redundant rules (seed ${SEED})`, async () => {
    const examples = examplePolicies().map((e) => mustParse(readFileSync(e.policyFile, 'utf8')));
    const policies = [
      ...examples,
      ...fc.sample(smallPolicy, { seed: SEED, numRuns: 60 }),
      ...fc.sample(smallPolicyV2, { seed: SEED, numRuns: 30 }),
    ];
    const pairs = [
      ...fc.sample(policyPair, { seed: SEED + 1, numRuns: 40 }),
      ...fc.sample(policyPairV2, { seed: SEED + 1, numRuns: 20 }),
    ];
    const groups: Group[] = [];
    const claims: Claim[] = [];
    const add = (policy: Policy, requests: unknown[]): number => groups.push({ policy, requests }) - 1;

    for (const policy of policies) {
      const lint = lintPolicy(policy);
      const witnesses = lint.findings.filter((f) => f.witness);
      const g = add(
        policy,
        witnesses.map((f) => f.witness),
      );
      witnesses.forEach((f, k) => {
        const i = Number(f.path.split('/')[2]);
        if (f.code === 'non_canonical_source') {
          // The rule alone matches the witness but not the same request in canonical form.
          const canonical = { ...f.witness, serverSource: canonicalImageReference(f.witness!.serverSource!) };
          const alone = add({ ...policy, rules: [policy.rules[i]!] }, [f.witness, canonical]);
          const what = `${f.code} ${JSON.stringify(f.witness)}`;
          claims.push({ group: alone, request: 0, check: (d) => d.rule === 0, what });
          claims.push({ group: alone, request: 1, check: (d) => d.rule === null, what: `${what} canonical` });
          return;
        }
        if (f.code === 'partially_shadowed') {
          // An earlier allow rule decides the witness, and the deny rule alone matches it.
          const alone = add({ ...policy, rules: [policy.rules[i]!] }, [f.witness]);
          const what = `${f.code} ${JSON.stringify(f.witness)}`;
          claims.push({ group: g, request: k, check: (d) => d.allowed && f.rules!.includes(d.rule!), what });
          claims.push({ group: alone, request: 0, check: (d) => d.rule === 0, what: `${what} alone` });
          return;
        }
        const check =
          f.code === 'shadowed_rule'
            ? (d: { rule: number | null }) => d.rule !== null && d.rule < i && f.rules!.includes(d.rule)
            : (d: { rule: number | null }) => d.rule === i;
        claims.push({ group: g, request: k, check, what: `${f.code} ${JSON.stringify(f.witness)}` });
      });
      // Metamorphic: without each shadowed or redundant rule, no decision changes.
      const requests = fc.sample(policy.version === 2 ? requestForV2(policy) : requestFor(policy), {
        seed: SEED,
        numRuns: 40,
      });
      const base = add(policy, requests);
      for (const f of lint.findings) {
        if (f.code !== 'shadowed_rule' && f.code !== 'redundant_rule') continue;
        const i = Number(f.path.split('/')[2]);
        const smaller = add({ ...policy, rules: policy.rules.filter((_, k) => k !== i) }, requests);
        claims.push({ group: smaller, request: -base - 1, check: () => true, what: `delete rule ${i}` });
      }
    }
    for (const [a, b] of pairs) {
      const diff = { changes: diffPolicies(a, b).changes.filter((c) => c.witness !== undefined) };
      const ga = add(
        a,
        diff.changes.map((c) => c.witness),
      );
      const gb = add(
        b,
        diff.changes.map((c) => c.witness),
      );
      diff.changes.forEach((c, k) => {
        claims.push({
          group: ga,
          request: k,
          check: (d) => d.rule === c.old.rule,
          what: `diff old ${JSON.stringify(c)}`,
        });
        claims.push({
          group: gb,
          request: k,
          check: (d) => d.rule === c.new.rule,
          what: `diff new ${JSON.stringify(c)}`,
        });
      });
    }

    const round = await prepareRound(groups);
    try {
      for (const engine of ENGINES) {
        const decisions = await engine.decide(round);
        const failures: string[] = [];
        for (const c of claims) {
          if (c.request >= 0) {
            const d = decisions[c.group]![c.request]!;
            if (!c.check(d)) failures.push(`${c.what}: got ${JSON.stringify(d)}`);
          } else {
            const base = decisions[-c.request - 1]!.map((d) => d.allowed);
            const smaller = decisions[c.group]!.map((d) => d.allowed);
            if (JSON.stringify(base) !== JSON.stringify(smaller)) failures.push(`${c.what} changed a decision`);
          }
        }
        expect(failures, `${engine.name}, seed ${SEED}`).toEqual([]);
      }
    } finally {
      await disposeRound(round);
    }
  });
});

describe('diff: metamorphic', () => {
  it('is empty against itself, a reordering of independent rules, and its admin-settings wrapping', () => {
    const policies = fc.sample(smallPolicy, { seed: SEED + 2, numRuns: 300 });
    for (const p of policies) {
      expect(diffPolicies(p, p).same, `seed ${SEED}`).toBe(true);
      // Swap each adjacent pair of rules that no request matches both of.
      const space = new RequestSpace([p]);
      const boxes = p.rules.map((r) => space.ruleBox(r));
      for (let i = 0; i + 1 < p.rules.length; i++) {
        if (!space.disjoint(boxes[i]!, boxes[i + 1]!)) continue;
        const rules = [...p.rules];
        [rules[i], rules[i + 1]] = [rules[i + 1]!, rules[i]!];
        expect(diffPolicies(p, { ...p, rules }).same, `seed ${SEED} ${JSON.stringify(p)} swap ${i}`).toBe(true);
      }
      const wrapped = parsePolicy(
        JSON.stringify({ configurationFileVersion: 2, mcpPolicy: { locked: true, value: JSON.stringify(p) } }),
      );
      expect(diffPolicies(p, wrapped.value!.policy).same).toBe(true);
    }
    const admin = mustParse(readFileSync(join(EXAMPLES, 'admin-settings.json'), 'utf8'));
    const inner = JSON.parse(
      (JSON.parse(readFileSync(join(EXAMPLES, 'admin-settings.json'), 'utf8')) as { mcpPolicy: { value: string } })
        .mcpPolicy.value,
    ) as Policy;
    expect(diffPolicies(admin, mustParse(JSON.stringify(inner))).same).toBe(true);
  });
});
