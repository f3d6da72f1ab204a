/**
 * The shortcuts of the version 2 wasm decision are checked by the
 * differential tester: each is broken on purpose in a copy of the sources
 * (see source-mutants.ts), the copy's pipeline builds real bundles with the
 * real opa, and a seeded run of version 2 policies must find a request its
 * wasm engine decides differently from the native engine.
 */
import { describe, expect, it } from 'vitest';
import { nativeDiffEngine, wasmDiffEngine } from '../src/difftest/engines.js';
import { comparable, type DifftestResult, runDifftest } from '../src/difftest/run.js';
import { type Policy } from '../src/policy/model.js';
import { mustParse } from './helpers.js';
import { mutatedCopy, type SourceMutant } from './source-mutants.js';

const EMIT = 'src/pipeline/emit.ts';
const V2 = 'rego/mcp_policy/v2.rego';

const policyOf = (rules: unknown[], fallback: 'allow' | 'deny'): Policy =>
  mustParse(JSON.stringify({ version: 2, default: fallback, rules }));

/**
 * Mutants of the shortcuts, each with the policy its requests are generated
 * for: each makes the wasm engine miss a rule or a source form for some request.
 */
const SHORTCUT_MUTANTS: readonly (SourceMutant & { readonly policy: Policy })[] = [
  {
    name: 'source-lookup-as-given',
    why: "the index is looked up under serverSource as given, never under the image reference's canonical form",
    edits: [{ file: EMIT, from: "return ['\\tsome v in r.sources'];", to: "return ['\\tv := r.serverSource'];" }],
    policy: policyOf([{ serverSource: 'docker.io/mcp/*', deny: true }], 'allow'),
  },
  {
    name: 'first-group-only',
    why: "the index is looked up under the principal's first group only",
    edits: [
      {
        file: EMIT,
        from: "return ['\\tsome v in r.request.principal.groups', '\\tv != \"\"'];",
        to: "return ['\\tv := r.request.principal.groups[0]', '\\tv != \"\"'];",
      },
    ],
    policy: policyOf([{ groups: ['eng-*'], allow: true }], 'deny'),
  },
  {
    name: 'registry-host-capitals-skipped',
    why: 'a first component with an ASCII capital (and no "." or ":") is no longer read as a registry host',
    edits: [{ file: V2, from: '\tlower(h) != h\n', to: '\tfalse\n' }],
    policy: policyOf([{ serverSource: 'docker.io/Org/*', deny: true }], 'allow'),
  },
];

const SEED = 20261206;
const CASES = 400;

type RunModule = typeof import('../src/difftest/run.js');
type EnginesModule = typeof import('../src/difftest/engines.js');

/** A seeded version 2 run of the copy's wasm engine (built by the copy's pipeline) against the real native engine. */
async function difftestThroughCopy(mutant: SourceMutant, policy: Policy): Promise<DifftestResult> {
  const copy = await mutatedCopy(mutant);
  try {
    const { runDifftest: runCopy } = await copy.load<RunModule>('src/difftest/run.ts');
    const { wasmDiffEngine: mutatedWasm } = await copy.load<EnginesModule>('src/difftest/engines.ts');
    return await runCopy({
      cases: CASES,
      seed: SEED,
      engines: [nativeDiffEngine, mutatedWasm],
      policy,
      shrink: false,
      maxMismatches: 1,
      version: 2,
      raw: false,
    });
  } finally {
    await copy.dispose();
  }
}

describe('mutants of the version 2 wasm shortcuts', () => {
  it('the shipped engines agree on the policies of the mutants', async () => {
    for (const { policy } of SHORTCUT_MUTANTS) {
      const result = await runDifftest({
        cases: CASES,
        seed: SEED,
        engines: [nativeDiffEngine, wasmDiffEngine],
        policy,
        shrink: false,
        maxMismatches: 1,
        raw: false,
      });
      expect(result.mismatches.map((m) => m.found)).toEqual([]);
    }
  }, 300_000);

  for (const mutant of SHORTCUT_MUTANTS) {
    it(`catches ${mutant.name}: ${mutant.why}`, async () => {
      const result = await difftestThroughCopy(mutant, mutant.policy);
      expect(result.mismatches).toHaveLength(1);
      const { decisions } = result.mismatches[0]!.found;
      expect(comparable(decisions.wasm!)).not.toBe(comparable(decisions.native!));
    }, 300_000);
  }
});
