/**
 * The native engine's n-gram index for patterns with no literal start or
 * end: the candidates a value looks up are a superset of the rules whose
 * grams it contains (property tests over hashes, collisions and repeats),
 * indexed first match equals a walk over every rule on generated policies of
 * such patterns (version 1 fields and version 2 resources, users and groups),
 * thousands of rules sharing grams are spread over distinct keys, and the
 * longest field is decided against thousands of them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluatePolicy } from '../src/native/evaluate.js';
import { sourceForms, wildcardMatch } from '../src/native/match.js';
import { beginLookup, chooseGram, GramTable, gramChoices, gramHash, MAX_GRAM } from '../src/native/ngram.js';
import { planOf, RulePlan, type Subject } from '../src/native/plan.js';
import { type ArgumentCondition, MAX_FIELD_LENGTH, type Policy, type Rule } from '../src/policy/model.js';
import { type DiffEngine, nativeDiffEngine } from '../src/difftest/engines.js';
import { type DifftestResult, runDifftest } from '../src/difftest/run.js';
import { mustParse } from './helpers.js';
import { NATIVE_NGRAM_MUTANTS, withNativeMutant } from './source-mutants.js';

/** A fixed seed: these properties are about the index, not about finding rare inputs. */
const SEED = 20261206;

/** Few letters, so grams recur across rules and values; and a pair of surrogates, split or whole. */
const unit = fc.constantFrom('a', 'b', 'c', '-', '0', '1', '😀', 'é');
const text = (max: number): fc.Arbitrary<string> => fc.array(unit, { maxLength: max }).map((u) => u.join(''));
const gram = fc
  .array(unit, { minLength: 1, maxLength: MAX_GRAM })
  .map((u) => u.join(''))
  .filter((g) => g.length <= MAX_GRAM);

/** The rule lists a lookup of `value` returns, and the rules in them. */
function candidates(table: GramTable, value: string, head = ''): { lists: (readonly number[])[]; rules: Set<number> } {
  beginLookup();
  const lists: (readonly number[])[] = [];
  table.lookup(head, value, lists);
  return { lists, rules: new Set(lists.flat()) };
}

describe('gram table', () => {
  it('returns every rule whose gram the value contains, each list once, in rule order', () => {
    fc.assert(
      fc.property(fc.array(gram, { minLength: 1, maxLength: 40 }), text(60), (grams, value) => {
        const table = new GramTable();
        grams.forEach((g, rule) => table.add(g, rule));
        const { lists, rules } = candidates(table, value);
        grams.forEach((g, rule) => {
          if (value.includes(g)) expect(rules.has(rule), `${JSON.stringify(g)} in ${JSON.stringify(value)}`).toBe(true);
        });
        expect(new Set(lists).size).toBe(lists.length);
        for (const list of lists) expect([...list].sort((a, b) => a - b)).toEqual(list);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('looks a value in two parts up as the joined value', () => {
    fc.assert(
      fc.property(fc.array(gram, { minLength: 1, maxLength: 20 }), text(20), text(20), (grams, head, tail) => {
        const table = new GramTable();
        grams.forEach((g, rule) => table.add(g, rule));
        expect([...candidates(table, tail, head).rules].sort()).toEqual(
          [...candidates(table, head + tail).rules].sort(),
        );
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('returns a list again only after the next lookup begins', () => {
    const table = new GramTable();
    table.add('abc', 0);
    const out: (readonly number[])[] = [];
    beginLookup();
    table.lookup('', 'abcabc', out);
    table.lookup('', 'xabc', out);
    expect(out).toEqual([[0]]);
    beginLookup();
    table.lookup('', 'xabc', out);
    expect(out).toEqual([[0], [0]]);
  });

  it('hashes a gram as rolling over a value does, for every length', () => {
    const value = 'the quick-brown fox 😀 jumps';
    const table = new GramTable();
    for (let n = 1; n <= MAX_GRAM; n++) table.add(value.slice(4, 4 + n), n);
    expect(candidates(table, value).rules).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(candidates(table, 'quic').rules).toEqual(new Set([1, 2, 3, 4]));
    expect(gramHash('ab')).not.toBe(gramHash('ba'));
  });
});

describe('choosing grams', () => {
  it('offers every window of the longest usable length of each piece, and nothing for a literal end', () => {
    expect(gramChoices('*ab*-svc00042-*')).toEqual(['ab', '-svc0004', 'svc00042', 'vc00042-']);
    expect(gramChoices('*x*')).toEqual(['x']);
    expect(gramChoices('*')).toEqual([]);
    expect(gramChoices('**')).toEqual([]);
    expect(gramChoices('a*b*')).toEqual([]);
    expect(gramChoices('*b*a')).toEqual([]);
    expect(gramChoices('literal')).toEqual([]);
    expect(gramChoices(`*${'x'.repeat(1000)}*`)).toHaveLength(256);
  });

  it('picks the gram the fewest rules share, then the longest', () => {
    const shared = new Map([
      ['-svc0004', 10],
      ['svc00042', 1],
      ['vc00042-', 1],
      ['ab', 1],
    ]);
    expect(chooseGram(['ab', '-svc0004', 'svc00042', 'vc00042-'], (g) => shared.get(g) ?? 0)).toBe('svc00042');
    expect(chooseGram([], () => 0)).toBeUndefined();
  });

  it('files 10,000 `*-svcNNNNN-*` rules each under a gram of its own, and `*x*` rules under grams', () => {
    const rules = Array.from({ length: 10_000 }, (_, i) => ({ server: `*-svc${String(i).padStart(5, '0')}-*` }));
    const plan = planOf(policyOf(2, rules));
    const keys = new Set(rules.map((_, i) => plan.filing(i)[0]?.key));
    expect(keys.size).toBe(rules.length);
    expect(plan.filing(42)).toEqual([{ field: 'server', kind: 'gram', key: 'svc00042' }]);
    const mixed = planOf(
      policyOf(2, [
        { action: 'invoke', tools: ['*delete*', '*rm*'] },
        { server: 'team-*', tools: ['*x*'] },
        { action: 'resource', resources: ['*://*/internal/*'] },
        { users: ['*admin*'], groups: ['*ops*'] },
        { tools: ['*', '*x*'] },
      ]),
    );
    expect(mixed.filing(0)).toEqual([
      { field: 'tool', kind: 'gram', key: 'delete' },
      { field: 'tool', kind: 'gram', key: 'rm' },
    ]);
    // A literal end is looked up without reading the whole value.
    expect(mixed.filing(1)).toEqual([{ field: 'server', kind: 'prefix', key: 'team-' }]);
    expect(mixed.filing(2)).toEqual([{ field: 'resource', kind: 'gram', key: '/interna' }]);
    expect(mixed.filing(3)[0]?.kind).toBe('gram');
    // `*` matches every tool: nothing to look up.
    expect(mixed.filing(4)).toEqual([]);
  });
});

/** A policy of `version` allowing by each rule in turn. */
function policyOf(version: 1 | 2, rules: Omit<Rule, 'allow'>[]): Policy {
  return mustParse(JSON.stringify({ version, default: 'deny', rules: rules.map((r) => ({ ...r, allow: true })) }));
}

/** First match by walking every rule over the pattern fields the tests below use. */
function walk(policy: Policy, r: Record<string, unknown>): number | null {
  const m = (patterns: readonly string[] | undefined, v: unknown): boolean =>
    patterns === undefined || (typeof v === 'string' && v !== '' && patterns.some((p) => wildcardMatch(p, v)));
  const p = (r.principal ?? {}) as { sub?: string; groups?: string[] };
  const i = policy.rules.findIndex(
    (rule) =>
      m(rule.server === undefined ? undefined : [rule.server], r.server) &&
      (rule.serverSource === undefined ||
        (typeof r.serverSource === 'string' &&
          r.serverSource !== '' &&
          sourceForms(r.serverSource).some((f) => wildcardMatch(rule.serverSource!, f)))) &&
      m(rule.tools, r.tool) &&
      m(rule.resources, r.resource) &&
      m(rule.users, p.sub) &&
      (rule.groups === undefined || (p.groups ?? []).some((g) => m(rule.groups, g))),
  );
  return i < 0 ? null : i;
}

const infix = fc.array(text(3), { minLength: 1, maxLength: 3 }).map((pieces) => `*${pieces.join('*')}*`);

describe('indexed first match on patterns with no literal end', () => {
  it('equals a walk over every rule on generated policies and requests', () => {
    // One or two pattern keys a rule, so that requests often match.
    const key = fc.oneof(
      infix.map((server) => ({ server })),
      // Pieces across and after the head of a short image reference's canonical form (`docker.io/library/`).
      fc
        .oneof(infix, fc.constantFrom('*y/a*', '*o/l*', '*library/ab*', '*io/ab*', '*.io/*/a*', '*/c/*', '*ry/*'))
        .map((serverSource) => ({ serverSource })),
      fc.array(infix, { minLength: 1, maxLength: 2 }).map((tools) => ({ tools })),
      fc.array(infix, { minLength: 1, maxLength: 2 }).map((resources) => ({ resources })),
      fc.array(infix, { minLength: 1, maxLength: 2 }).map((users) => ({ users })),
      fc.array(infix, { minLength: 1, maxLength: 2 }).map((groups) => ({ groups })),
    );
    const rule = fc
      .array(key, { minLength: 1, maxLength: 2 })
      .map((keys) => Object.assign({}, ...keys) as Omit<Rule, 'allow'>);
    const request = fc.record(
      {
        server: text(16),
        serverSource: fc.oneof(
          text(8),
          fc.constantFrom('ab', 'abc:1', 'c/ab', 'docker.io/ab', 'index.docker.io/c/ab', 'ghcr.io/c/ab'),
        ),
        tool: text(16),
        resource: text(16),
        principal: fc.record({ sub: text(16), groups: fc.array(text(12), { maxLength: 3 }) }),
      },
      { requiredKeys: [] },
    );
    let matched = 0;
    fc.assert(
      fc.property(
        fc.array(rule, { minLength: 1, maxLength: 60 }),
        fc.array(request, { maxLength: 30 }),
        (rules, requests) => {
          // `resources` go with action `resource`, which every request below names.
          const policy = policyOf(
            2,
            rules.map((r) => ('resources' in r ? { ...r, action: 'resource' as const } : r)),
          );
          for (const request of requests) {
            const r = { ...request, action: 'resource' };
            const d = evaluatePolicy(policy, r);
            expect(d.error).toBeUndefined();
            expect(d.rule, JSON.stringify({ rules: policy.rules, r })).toBe(walk(policy, r));
            if (d.rule !== null) matched++;
          }
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
    expect(matched).toBeGreaterThan(200);
  });
});

describe('claims and argument values', () => {
  it('are looked up, and first match equals that of a plan without an index, on generated rules and requests', () => {
    const patterns = fc.array(
      fc.oneof(
        infix,
        text(3),
        text(3).map((t) => `${t}*`),
      ),
      { minLength: 1, maxLength: 2 },
    );
    const key = fc.oneof(
      fc.record({ claims: fc.dictionary(fc.constantFrom('org', 'team'), patterns, { minKeys: 1, maxKeys: 2 }) }),
      fc
        .record({
          path: fc.constantFrom('/a', '/p', '/l/*', '/*'),
          match: patterns,
          normalize: fc.constantFrom(undefined, 'path' as const),
          not: fc.constantFrom(undefined, true),
        })
        .map((c) => ({ arguments: [JSON.parse(JSON.stringify(c)) as ArgumentCondition] })),
      fc.array(infix, { minLength: 1, maxLength: 2 }).map((tools) => ({ tools })),
    );
    const rule = fc
      .array(key, { minLength: 1, maxLength: 2 })
      .map((keys) => ({ ...(Object.assign({}, ...keys) as Omit<Rule, 'allow'>), allow: true }));
    const value = fc.oneof(
      text(10),
      fc.array(fc.constantFrom('a', 'b', '..', '.', ''), { maxLength: 4 }).map((p) => p.join('/')),
    );
    const subject: fc.Arbitrary<Subject> = fc.record({
      action: fc.constant('invoke'),
      tool: text(10),
      principal: fc.constant(true),
      claims: fc.dictionary(fc.constantFrom('org', 'team', 'x'), fc.oneof(value, fc.array(value, { maxLength: 3 }))),
      arguments: fc.record(
        { a: fc.oneof(value, fc.integer()), p: value, l: fc.array(value, { maxLength: 3 }) },
        { requiredKeys: [] },
      ),
    });
    let matched = 0;
    fc.assert(
      fc.property(
        fc.array(rule, { minLength: 1, maxLength: 40 }),
        fc.array(subject, { maxLength: 30 }),
        (rules, subjects) => {
          const policy: Policy = { version: 2, default: 'deny', rules };
          const indexed = new RulePlan(policy);
          const walked = new RulePlan(policy, false);
          for (const s of subjects) {
            const expected = walked.firstMatch(s);
            expect(indexed.firstMatch(s), JSON.stringify({ rules, s })).toBe(expected);
            if (expected >= 0) matched++;
          }
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
    expect(matched).toBeGreaterThan(300);
  });

  it('file a rule with no other key under its claim or its argument values, never under a negated condition', () => {
    const plan = planOf(
      policyOf(2, [
        { claims: { org: ['*acme*'] } },
        { arguments: [{ path: '/repo', match: ['acme/*'] }] },
        { arguments: [{ path: '/file', match: ['*/secrets/*'], normalize: 'path' }] },
        { arguments: [{ path: '/file', match: ['*/secrets/*'], not: true }] },
        { tools: ['*x*'], claims: { org: ['*acme*'] } },
      ]),
    );
    expect(plan.filing(0)).toEqual([{ field: 'claim org', kind: 'gram', key: 'acme' }]);
    expect(plan.filing(1)).toEqual([{ field: 'argument text /repo', kind: 'prefix', key: 'acme/' }]);
    expect(plan.filing(2)).toEqual([{ field: 'argument path /file', kind: 'gram', key: '/secrets' }]);
    expect(plan.filing(3)).toEqual([]);
    expect(plan.filing(4)).toHaveLength(1);
  });
});

describe('bounded work', () => {
  it('decides the longest field against thousands of rules filed under grams it contains', () => {
    const id = (i: number): string => String(i).padStart(5, '0');
    const rules = Array.from({ length: 5000 }, (_, i) => ({ tools: [`*aaa*-${id(i)}-*`] }));
    const policy = policyOf(1, [...rules, { tools: [`*${'a*'.repeat(60)}`] }]);
    const long = 'a'.repeat(MAX_FIELD_LENGTH);
    expect(evaluatePolicy(policy, { tool: long }).rule).toBe(5000);
    expect(evaluatePolicy(policy, { tool: `${long.slice(12)}-04999-` }).rule).toBe(4999);
    expect(evaluatePolicy(policy, { tool: 'b'.repeat(MAX_FIELD_LENGTH) }).rule).toBeNull();
  });
});

/** A fixed seed and ten pattern-heavy policies of 40 requests: each mutant must be caught within them on every run. */
const MUTANT_SEED = 20261206;
const MUTANT_CASES = 400;

const runAgainst = (engine: DiffEngine, maxMismatches: number): Promise<DifftestResult> =>
  runDifftest({
    cases: MUTANT_CASES,
    seed: MUTANT_SEED,
    engines: [nativeDiffEngine, engine],
    version: 'both',
    // Policies dominated by patterns with no literal end and by long pieces, with requests near the pieces.
    shape: 'patterns',
    maxMismatches,
    shrink: false,
    raw: false,
  });

describe('mutants of the n-gram index', () => {
  it('an unmutated copy agrees with the native engine', async () => {
    const result = await withNativeMutant(undefined, (engine) => runAgainst(engine, 1));
    expect(result.mismatches.map((m) => m.found)).toEqual([]);
    expect(result.cases).toBe(MUTANT_CASES);
  });

  for (const mutant of NATIVE_NGRAM_MUTANTS) {
    it(`the differential tester catches ${mutant.name}: ${mutant.why}`, async () => {
      const result = await withNativeMutant(mutant, (engine) => runAgainst(engine, 1));
      expect(result.mismatches).toHaveLength(1);
      const m = result.mismatches[0]!;
      expect(m.decisions.native).not.toEqual(m.decisions[mutant.name]);
    });
  }
});
