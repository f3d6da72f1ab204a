/** Saved regressions replay against the same bundle: the whole mismatch is written, enterprise config included. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCaseFile, runCaseTable } from '../src/testing/cases.js';
import { type DiffEngine, nativeDiffEngine } from '../src/difftest/engines.js';
import { writeRegression } from '../src/difftest/regression.js';
import { caughtMismatch, ENFORCED_YIELDS } from './mutants.js';

const SEED = Number(process.env.DIFFTEST_SEED ?? Date.now() % 2 ** 31);
console.log(`regression-writer.test.ts seed ${SEED} (replay with DIFFTEST_SEED=${SEED})`);

/** Decides like the native engine but drops the degraded-mode warning: only an enterprise config can expose it. */
const NO_WARNING: DiffEngine = {
  name: 'drops-warning',
  decide: async (round) => (await nativeDiffEngine.decide(round)).map((g) => g.map(({ warning: _warning, ...d }) => d)),
  configs: nativeDiffEngine.configs,
};

const dir = (): string => mkdtempSync(join(tmpdir(), 'mcp-policy-regr-'));

describe('regression writer', () => {
  it('saves the enterprise config and the expected warning, so the table replays the disagreement', async () => {
    const file = await writeRegression(dir(), await caughtMismatch(NO_WARNING, { cases: 3000, seed: SEED }), SEED);
    const table = parseCaseFile(readFileSync(file, 'utf8'), file);
    expect(table.enterprise).toBeDefined();
    expect(typeof table.requests![0]!.expect.warning).toBe('string');
    const native = await runCaseTable(table, { engines: ['native'] });
    expect(native.invalid).toBeUndefined();
    expect(native.failures).toEqual([]);
    // The mutant fails its own regression, which it could not if the config or the warning were dropped.
    const replay = await runCaseTable(table, {
      engines: ['native'],
      open: async (name, policy, extras) => {
        const { NativeEngine } = await import('../src/engines/native.js');
        const engine = new NativeEngine(policy, extras);
        return {
          ...engine,
          decideBatch: async (requests: readonly unknown[]) =>
            (await engine.decideBatch(requests)).map(({ warning: _w, ...d }) => d),
          config: (local: Record<string, unknown>) => engine.config(local),
          close: () => engine.close(),
        } as typeof engine;
      },
    });
    expect(replay.failures).toHaveLength(1);
  });

  it('saves a configuration mismatch as a configs table instead of throwing', async () => {
    const file = await writeRegression(dir(), await caughtMismatch(ENFORCED_YIELDS, { cases: 1000, seed: SEED }), SEED);
    const table = parseCaseFile(readFileSync(file, 'utf8'), file);
    expect(table.enterprise).toBeDefined();
    expect(table.configs).toHaveLength(1);
    const replay = await runCaseTable(table, { engines: ['native'] });
    expect(replay.invalid).toBeUndefined();
    expect(replay.failures).toEqual([]);
  });
});
