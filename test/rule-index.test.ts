/**
 * The rule index (data.json in Rego, RulePlan natively) and linear matching:
 * indexed first match equals a plain walk over every rule on large generated
 * policies, every engine agrees on the benchmark policies, a broken index is
 * caught by the differential tester, and hostile patterns against the longest
 * allowed field are decided (not hung) by every engine.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { benchPolicy, MATCH_CASES } from '../scripts/bench-policies.js';
import { largeRules, requestFor } from '../src/difftest/generators.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { evaluatePolicy, readRequest } from '../src/native/evaluate.js';
import { sourceForms, wildcardMatch } from '../src/native/match.js';
import { MAX_FIELD_LENGTH, type Policy } from '../src/policy/model.js';
import { parsePolicy } from '../src/policy/validate.js';
import { lower } from '../src/pipeline/lower.js';
import { caughtMismatch, INDEX_DROPS_ALWAYS } from './mutants.js';
import { compiledFor, decideEverywhere, ENGINE_NAMES, mustParse, ROOT } from './helpers.js';

const SEED = Number(process.env.DIFFTEST_SEED ?? Date.now() % 2 ** 31);

/** First match by walking every rule: what the index must reproduce. */
function walkFirstMatch(policy: Policy, request: unknown): number | null {
  const read = readRequest(request);
  if ('error' in read) return null;
  const f = read.facts;
  const forms = f.serverSource === undefined ? [] : sourceForms(f.serverSource);
  const index = policy.rules.findIndex(
    (r) =>
      (r.action === undefined || r.action === f.action) &&
      (r.serverType === undefined || r.serverType === f.serverType) &&
      (r.transport === undefined || r.transport === f.transport) &&
      (r.server === undefined || (f.server !== undefined && wildcardMatch(r.server, f.server))) &&
      (r.serverSource === undefined || forms.some((s) => wildcardMatch(r.serverSource!, s))) &&
      (r.tools === undefined || (f.tool !== undefined && r.tools.some((t) => wildcardMatch(t, f.tool!)))),
  );
  return index < 0 ? null : index;
}

describe('rule index', () => {
  it(`native indexed first match equals a walk over every rule on large generated policies (seed ${SEED})`, () => {
    const policies = fc.sample(largeRules, { seed: SEED, numRuns: 12 }).map((rules) => {
      const parsed = parsePolicy(JSON.stringify({ version: 1, default: 'deny', rules }));
      if (!parsed.value?.policy) throw new Error(`seed ${SEED}: generated policy is invalid`);
      return parsed.value?.policy;
    });
    let matched = 0;
    for (const [k, policy] of policies.entries()) {
      for (const request of fc.sample(requestFor(policy), { seed: SEED + k, numRuns: 300 })) {
        const expected = walkFirstMatch(policy, request);
        const got = evaluatePolicy(policy, request);
        if (got.rule !== expected && got.error === undefined) {
          throw new Error(`seed ${SEED}: rule ${got.rule}, walk says ${expected}, for ${JSON.stringify(request)}`);
        }
        if (expected !== null) matched++;
      }
    }
    expect(matched).toBeGreaterThan(500);
  });

  it('native finds source rules keyed inside, across and after the canonical head of a short image reference', () => {
    // `alpine` is tried as `docker.io/library/alpine` too: keys of every length
    // around the 18-character head, exact and as prefixes and suffixes.
    const canonical = 'docker.io/library/alpine:3';
    const patterns: string[] = [canonical, 'mcp/x', 'docker.io/mcp/x'];
    for (let n = 1; n <= canonical.length; n++) {
      patterns.push(`${canonical.slice(0, n)}*`, `*${canonical.slice(canonical.length - n)}`);
      patterns.push(`${canonical.slice(0, n)}#*`, `*#${canonical.slice(canonical.length - n)}`);
    }
    // Docker Hub spellings whose canonical form keeps only the end of the value after the head.
    const requests = [
      'alpine:3',
      'mcp/x',
      'docker.io/library/alpine:3',
      'ghcr.io/library/alpine:3',
      'alpine',
      'docker.io/alpine:3',
      'index.docker.io/alpine:3',
      'index.docker.io/library/alpine:3',
      'index.docker.io/mcp/x',
    ].map((serverSource) => ({ action: 'load', serverType: 'image', serverSource }));
    let matched = 0;
    // Each pattern first in turn, so every key is the one that decides.
    for (let first = 0; first < patterns.length; first++) {
      const order = [...patterns.slice(first), ...patterns.slice(0, first)];
      const policy = mustParse(
        JSON.stringify({
          version: 1,
          default: 'deny',
          rules: order.map((serverSource) => ({ serverSource, allow: true })),
        }),
      );
      for (const request of requests) {
        const expected = walkFirstMatch(policy, request);
        expect(evaluatePolicy(policy, request).rule, `${order[0]} on ${request.serverSource}`).toBe(expected);
        if (expected === 0) matched++;
      }
    }
    expect(matched).toBeGreaterThan(2 * canonical.length);
  });

  it('lowering files every rule under a lookup or in the always-checked list', () => {
    const policy = mustParse(JSON.stringify(benchPolicy(90).policy));
    const { index } = lower(policy).data;
    const filed = new Set<number>(index.always);
    for (const table of Object.values(index.equals))
      for (const list of Object.values(table)) list.forEach((i) => filed.add(i));
    for (const tiers of [...Object.values(index.prefix), ...Object.values(index.suffix)]) {
      for (const keys of tiers) for (const list of Object.values(keys)) list.forEach((i) => filed.add(i));
    }
    expect([...filed].sort((a, b) => a - b)).toEqual(policy.rules.map((_, i) => i));
    expect(index.always).toEqual([]);
  });

  it('every engine decides the 1,000-rule benchmark policy by the expected rule', async () => {
    const bench = benchPolicy(1000);
    const policy = mustParse(JSON.stringify(bench.policy));
    const requests = MATCH_CASES.map((c) => bench.requests[c]);
    const byEngine = await decideEverywhere(policy, requests);
    for (const engine of ENGINE_NAMES) {
      expect(
        byEngine[engine].map((d) => d.rule),
        engine,
      ).toEqual(MATCH_CASES.map((c) => bench.expectedRule[c]));
    }
  });

  it(`the differential tester catches an index that drops the always-checked rules (seed ${SEED})`, async () => {
    // Each shrink step is an opa build here; finding the mismatch is what this test is about.
    const m = await caughtMismatch(INDEX_DROPS_ALWAYS, { cases: 2000, seed: SEED, shrink: false });
    expect(m.decisions.native).not.toEqual(m.decisions[INDEX_DROPS_ALWAYS.name]);
  });
});

describe('linear matching and the field length limit', () => {
  const stars = `*${'a*'.repeat(60)}file`;
  const backtracker = `*${'a'.repeat(2000)}*b`;
  const policy = mustParse(
    JSON.stringify({
      version: 1,
      default: 'deny',
      rules: [
        { tools: [stars], allow: true },
        { tools: [backtracker], allow: true },
        { server: 'ok', allow: true },
      ],
    }),
  );
  const longest = 'a'.repeat(MAX_FIELD_LENGTH);

  it('hostile patterns against the longest allowed field are decided by every engine, and wasm still decides after', async () => {
    const requests = [
      { tool: longest },
      { tool: `${longest.slice(4)}file` },
      { tool: longest, server: 'ok' },
      { tool: '😀'.repeat(MAX_FIELD_LENGTH) },
      { tool: `${'😀'.repeat(MAX_FIELD_LENGTH - 1)}b` },
    ];
    const byEngine = await decideEverywhere(policy, requests);
    for (const engine of ENGINE_NAMES) {
      expect(
        byEngine[engine].map((d) => [d.allowed, d.rule, d.error]),
        engine,
      ).toEqual([
        [false, null, undefined],
        [true, 0, undefined],
        [true, 2, undefined],
        [false, null, undefined],
        [false, null, undefined],
      ]);
    }
    const wasm = await WasmEngine.load((await compiledFor(policy)).bundle);
    for (let k = 0; k < 20; k++) expect(wasm.decideSync({ tool: longest }).rule).toBeNull();
    expect(wasm.decideSync({ server: 'ok' })).toEqual({ allowed: true, reason: 'allowed by rule 2', rule: 2 });
  });

  it('a field one character over the limit is an invalid request in every engine, counted in code points', async () => {
    const requests = [
      { server: 'ok', tool: 'a'.repeat(MAX_FIELD_LENGTH + 1) },
      { server: 'é'.repeat(MAX_FIELD_LENGTH + 1) },
      { server: 'ok', tool: '😀'.repeat(MAX_FIELD_LENGTH) },
    ];
    const byEngine = await decideEverywhere(policy, requests);
    for (const engine of ENGINE_NAMES) {
      expect(
        byEngine[engine].map((d) => d.error ?? d.rule),
        engine,
      ).toEqual(['field "tool" is longer than 65536 characters', 'field "server" is longer than 65536 characters', 2]);
    }
  });

  it('lib.rego and the native engine share the limit', () => {
    const lib = readFileSync(join(ROOT, 'rego', 'mcp_policy', 'lib.rego'), 'utf8');
    expect(lib).toContain(`max_field_length := ${MAX_FIELD_LENGTH}\n`);
    expect(lib).toContain(`is longer than ${MAX_FIELD_LENGTH} characters`);
  });

  it('a pattern with more than 512 stars is rejected with a located error', () => {
    const parsed = parsePolicy(
      JSON.stringify({ version: 1, default: 'deny', rules: [{ tools: ['x', `a${'*a'.repeat(513)}`], allow: true }] }),
    );
    expect(parsed.value?.policy).toBeUndefined();
    expect(parsed.errors).toEqual([
      expect.objectContaining({
        code: 'too_many_stars',
        path: '/rules/0/tools/1',
        message: 'pattern has 513 "*"; at most 512 are supported',
      }),
    ]);
    expect(
      parsePolicy(
        JSON.stringify({ version: 1, default: 'deny', rules: [{ server: `a${'*a'.repeat(512)}`, allow: true }] }),
      ).value?.policy,
    ).toBeDefined();
  });
});
