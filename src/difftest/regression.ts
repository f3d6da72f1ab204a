/**
 * Turns a disagreement into a permanent case table under
 * test/cases/regressions/, so once fixed it stays fixed. The expected
 * decision is the majority's (the native engine's on a tie): review it
 * against docs/semantics.md before committing.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Decision } from '../policy/model.js';
import { comparable, type Mismatch } from './run.js';

/** The decision most engines gave; the native engine's (else the first) on a tie. */
export function majorityDecision(decisions: Readonly<Record<string, Decision>>): Decision {
  const counts = new Map<string, { n: number; decision: Decision }>();
  for (const d of Object.values(decisions)) {
    const key = comparable(d);
    const entry = counts.get(key) ?? { n: 0, decision: d };
    entry.n++;
    counts.set(key, entry);
  }
  const best = Math.max(...[...counts.values()].map((c) => c.n));
  const leaders = [...counts.values()].filter((c) => c.n === best);
  const native = decisions.native;
  const preferred = native ? leaders.find((c) => comparable(c.decision) === comparable(native)) : undefined;
  return (preferred ?? leaders[0]!).decision;
}

/** Writes one mismatch as a case table; returns the file written. */
export async function writeRegression(dir: string, mismatch: Mismatch, seed: number): Promise<string> {
  const expected = majorityDecision(mismatch.decisions);
  const disagreeing = Object.entries(mismatch.decisions)
    .filter(([, d]) => comparable(d) !== comparable(expected))
    .map(([name, d]) => `${name} decided ${JSON.stringify(d)}`);
  const table = {
    note: `found by mcp-policy difftest --seed ${seed}: ${disagreeing.join('; ')}`,
    policy: mismatch.policy,
    requests: [
      {
        note: 'shrunk disagreement',
        request: mismatch.request,
        expect: {
          allowed: expected.allowed,
          rule: expected.rule,
          reason: expected.reason,
          ...(expected.error !== undefined && { error: true }),
        },
      },
    ],
  };
  const text = `${JSON.stringify(table, null, 2)}\n`;
  const hash = createHash('sha256')
    .update(JSON.stringify([table.policy, table.requests]))
    .digest('hex')
    .slice(0, 12);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `difftest-${hash}.json`);
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
  return file;
}
