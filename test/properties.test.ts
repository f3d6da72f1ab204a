/**
 * Metamorphic properties of first-match policies: relations between a
 * policy and a transformed copy that must hold for every request, checked on
 * generated policies and requests with the native engine (the differential
 * tests show the other engines decide exactly as it does).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rawPolicy, rawRule, requestFor } from '../src/difftest/generators.js';
import { evaluatePolicy } from '../src/native/evaluate.js';
import { type Decision, type Policy, type Rule } from '../src/policy/model.js';
import { parsePolicy } from '../src/policy/validate.js';

const SEED = Number(process.env.DIFFTEST_SEED ?? Date.now() % 2 ** 31);
console.log(`properties.test.ts seed ${SEED}`);
const RUNS = { numRuns: 300, seed: SEED };

function validate(raw: unknown): Policy {
  const r = parsePolicy(JSON.stringify(raw));
  if (!r.value?.policy) throw new Error(JSON.stringify(r.errors));
  return r.value?.policy;
}

const policy = rawPolicy.map(validate);
const rule: fc.Arbitrary<Rule> = rawRule.map((r) => validate({ default: 'allow', rules: [r] }).rules[0]!);

/** A policy with requests aimed at it. */
const scenario = policy.chain((p) =>
  fc.record({ policy: fc.constant(p), requests: fc.array(requestFor(p), { minLength: 1, maxLength: 20 }) }),
);

const decide = (p: Policy, requests: readonly unknown[]): Decision[] => requests.map((r) => evaluatePolicy(p, r));

/** The rule's own reason, or the default text; used where rule indexes legitimately shift. */
function verdict(d: Decision): string {
  return JSON.stringify([d.allowed, d.error !== undefined]);
}

describe('first-match properties', () => {
  it('appending any rule after a rule that matches everything changes nothing', () => {
    fc.assert(
      fc.property(scenario, rule, ({ policy: p, requests }, extra) => {
        const withCatchAll: Policy = { ...p, rules: [...p.rules, { allow: false, reason: 'catch-all' }] };
        const appended: Policy = { ...withCatchAll, rules: [...withCatchAll.rules, extra] };
        expect(decide(appended, requests)).toEqual(decide(withCatchAll, requests));
      }),
      RUNS,
    );
  });

  it('appending rules never changes a decision that a rule made', () => {
    fc.assert(
      fc.property(scenario, fc.array(rule, { maxLength: 3 }), ({ policy: p, requests }, extra) => {
        const before = decide(p, requests);
        const after = decide({ ...p, rules: [...p.rules, ...extra] }, requests);
        before.forEach((d, k) => {
          if (d.rule !== null || d.error !== undefined) expect(after[k]).toEqual(d);
        });
      }),
      RUNS,
    );
  });

  it('moving a rule later changes only the decisions that rule made', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), fc.nat(), ({ policy: p, requests }, a, b) => {
        if (p.rules.length < 2) return;
        const from = a % p.rules.length;
        const to = from + (b % (p.rules.length - from));
        const moved = [...p.rules];
        const [r] = moved.splice(from, 1);
        moved.splice(to, 0, r!);
        // Where each old index lands after the move.
        const newIndex = (i: number) => (i === from ? to : i > from && i <= to ? i - 1 : i);
        const before = decide(p, requests);
        const after = decide({ ...p, rules: moved }, requests);
        before.forEach((d, k) => {
          if (d.rule === from) return;
          const rule = d.rule === null ? null : newIndex(d.rule);
          const reason = d.rule !== null && p.rules[d.rule]!.reason === undefined ? after[k]!.reason : d.reason;
          expect(after[k]).toEqual({ ...d, rule, reason });
        });
      }),
      RUNS,
    );
  });

  it('removing a rule that decided nothing changes no decision (but the indexes after it)', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), ({ policy: p, requests }, a) => {
        if (p.rules.length === 0) return;
        const gone = a % p.rules.length;
        const before = decide(p, requests);
        if (before.some((d) => d.rule === gone)) return;
        const after = decide({ ...p, rules: p.rules.filter((_, k) => k !== gone) }, requests);
        before.forEach((d, k) => {
          expect(verdict(after[k]!)).toBe(verdict(d));
          expect(after[k]!.rule).toBe(d.rule === null ? null : d.rule > gone ? d.rule - 1 : d.rule);
        });
      }),
      RUNS,
    );
  });

  it('flipping the default changes only the decisions the default made', () => {
    fc.assert(
      fc.property(scenario, ({ policy: p, requests }) => {
        const flipped: Policy = { ...p, default: p.default === 'allow' ? 'deny' : 'allow' };
        const before = decide(p, requests);
        const after = decide(flipped, requests);
        before.forEach((d, k) => {
          if (d.rule === null && d.error === undefined) expect(after[k]!.allowed).toBe(!d.allowed);
          else expect(after[k]).toEqual(d);
        });
      }),
      RUNS,
    );
  });

  it('a rule repeated right after itself is never reached', () => {
    fc.assert(
      fc.property(scenario, fc.nat(), ({ policy: p, requests }, a) => {
        if (p.rules.length === 0) return;
        const at = a % p.rules.length;
        const doubled = [...p.rules.slice(0, at + 1), p.rules[at]!, ...p.rules.slice(at + 1)];
        const after = decide({ ...p, rules: doubled }, requests);
        after.forEach((d) => expect(d.rule).not.toBe(at + 1));
      }),
      RUNS,
    );
  });

  it('a rule without conditions put first decides every valid request', () => {
    fc.assert(
      fc.property(scenario, fc.boolean(), ({ policy: p, requests }, allow) => {
        const first: Policy = { ...p, rules: [{ allow, reason: 'first' }, ...p.rules] };
        for (const d of decide(first, requests)) {
          if (d.error === undefined) expect(d).toEqual({ allowed: allow, reason: 'first', rule: 0 });
        }
      }),
      RUNS,
    );
  });
});

describe('equivalent spellings', () => {
  it('"deny": true is "allow": false, and "deny": false is "allow": true', () => {
    fc.assert(
      fc.property(rawPolicy, (raw) => {
        const respell = (r: Record<string, unknown>) => {
          const { allow, deny, ...rest } = r;
          const allowed = allow !== undefined ? (allow as boolean) : !(deny as boolean);
          return { ...rest, deny: !allowed };
        };
        const rules = (raw.rules as Record<string, unknown>[]).map(respell);
        expect(validate({ ...raw, rules })).toEqual(validate(raw));
      }),
      RUNS,
    );
  });

  it('wrapping a policy in admin-settings.json changes nothing', () => {
    fc.assert(
      fc.property(rawPolicy, fc.boolean(), (raw, locked) => {
        const wrapped = parsePolicy(
          JSON.stringify({ configurationFileVersion: 2, mcpPolicy: { locked, value: JSON.stringify(raw) } }),
        );
        expect(wrapped.value?.policy).toEqual(validate(raw));
        expect(wrapped.value?.source).toEqual({ kind: 'admin-settings', locked });
      }),
      RUNS,
    );
  });

  it('"version": 1 and no version are the same policy', () => {
    fc.assert(
      fc.property(rawPolicy, (raw) => {
        const { version: _v, ...bare } = raw;
        expect(validate(bare)).toEqual(validate({ ...bare, version: 1 }));
      }),
      RUNS,
    );
  });
});
