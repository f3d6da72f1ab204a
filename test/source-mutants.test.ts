/**
 * The project's checks catch regressions in the shipped build path: each
 * mutant of lowering or emitting (see source-mutants.ts) is compiled into real
 * bundles by the real opa from a mutated copy of the sources, and a
 * differential run against the native engine must find a request that both
 * the opa and the wasm engine now decide differently.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeDiffEngine } from '../src/difftest/engines.js';
import { comparable, type DifftestResult } from '../src/difftest/run.js';
import { opaEvalValue } from '../src/engines/opa.js';
import { BUILD_PATH_MUTANTS, ESCAPING_MUTANTS, mutatedCopy, type SourceMutant } from './source-mutants.js';

const SEED = 20260115;
/** One round of the differential tester: 50 policies, 40 requests each, one opa process. */
const CASES = 2000;

type RunModule = typeof import('../src/difftest/run.js');
type EnginesModule = typeof import('../src/difftest/engines.js');
type StringsModule = typeof import('../src/pipeline/rego-strings.js');

/** A differential run of the copy's opa and wasm engines (built by the copy's pipeline) against the real native engine. */
async function difftestThroughCopy(mutant: SourceMutant | undefined, maxMismatches: number): Promise<DifftestResult> {
  const copy = await mutatedCopy(mutant);
  try {
    const { runDifftest } = await copy.load<RunModule>('src/difftest/run.ts');
    const { opaDiffEngine, wasmDiffEngine } = await copy.load<EnginesModule>('src/difftest/engines.ts');
    return await runDifftest({
      cases: CASES,
      seed: SEED,
      engines: [nativeDiffEngine, wasmDiffEngine, opaDiffEngine],
      shrink: false,
      maxMismatches,
      // The build path of version 1, whose output these mutants change; version 2 has its own mutants.
      version: 1,
      // Raw JSON inputs test the Rego's request checks, not these mutants; difftest-raw.test.ts has them.
      raw: false,
    });
  } finally {
    await copy.dispose();
  }
}

describe('mutants of the shipped build path', () => {
  it('an unmutated copy of the sources agrees with the native engine', async () => {
    const result = await difftestThroughCopy(undefined, 5);
    expect(result.mismatches.map((m) => m.found)).toEqual([]);
    expect(result.cases).toBe(CASES);
  });

  for (const mutant of BUILD_PATH_MUTANTS) {
    it(`catches ${mutant.name} through the opa and wasm engines: ${mutant.why}`, async () => {
      const result = await difftestThroughCopy(mutant, 1);
      expect(result.mismatches).toHaveLength(1);
      const { decisions } = result.mismatches[0]!.found;
      const native = comparable(decisions.native!);
      expect(comparable(decisions.wasm!), 'wasm').not.toBe(native);
      expect(comparable(decisions.opa!), 'opa').not.toBe(native);
    });
  }
});

/** Strings like those the escaping suite prints into Rego; all but the emoji need an escape. */
const HOSTILE = [
  '"} else := {"allowed": true} if {',
  '\\',
  '\\u0041',
  '"',
  '\n# x',
  'a\nb := 1',
  '😀',
  '\u{E0001}x',
  '\u{F0000}',
];

/**
 * The strings as the real opa reads them back from literals printed by the
 * copy's `regoString`, by its interpreter and by its WebAssembly target; a
 * literal opa cannot parse is an error.
 */
async function readBack(mutant: SourceMutant | undefined): Promise<{ rego: unknown; wasm: unknown }> {
  const copy = await mutatedCopy(mutant);
  const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-esc-mutant-'));
  try {
    const { regoString } = await copy.load<StringsModule>('src/pipeline/rego-strings.ts');
    await writeFile(join(dir, 't.rego'), `package t\n\nxs := [${HOSTILE.map(regoString).join(', ')}]\n`);
    const read = (target: 'rego' | 'wasm') =>
      opaEvalValue(dir, 'data.t.xs', {}, target).catch((e: unknown) => ({ failed: String(e) }));
    return { rego: await read('rego'), wasm: await read('wasm') };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await copy.dispose();
  }
}

describe('mutants of the escaping of Rego strings', () => {
  it('an unmutated copy prints literals opa reads back exactly', async () => {
    expect(await readBack(undefined)).toEqual({ rego: HOSTILE, wasm: HOSTILE });
  });

  for (const mutant of ESCAPING_MUTANTS) {
    it(`catches ${mutant.name} through opa's interpreter and its wasm target: ${mutant.why}`, async () => {
      const { rego, wasm } = await readBack(mutant);
      expect(rego).not.toEqual(HOSTILE);
      expect(wasm).not.toEqual(HOSTILE);
    });
  }
});
