/**
 * Turns a disagreement into a permanent case table under
 * test/cases/regressions/, so once fixed it stays fixed. The expected
 * decision is the majority's (the native engine's on a tie): review it
 * against docs/semantics.md before committing.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sortKeysDeep } from '../diagnostics/json.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
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

/** A validated enterprise config written back as a document admins write (`{enterpriseConfig: {...}}`). */
export function enterpriseDocument(config: EnterpriseConfig): Record<string, unknown> {
  const map: Record<string, unknown> = {};
  for (const [key, directive] of Object.entries(config.directives)) {
    Object.defineProperty(map, key, { value: directive, enumerable: true, writable: true, configurable: true });
  }
  const dm = config.degradedMode;
  if (dm) {
    map.degraded_mode = {
      policy: dm.policy,
      ...(dm.gracePeriod !== undefined && { grace_period: dm.gracePeriod }),
      ...(dm.message !== undefined && { message: dm.message }),
    };
  }
  return { enterpriseConfig: map };
}

/** The effective configuration most engines computed; the native engine's (else the first) on a tie. */
function majorityConfig(configs: Readonly<Record<string, unknown>>): unknown {
  const key = (c: unknown): string => JSON.stringify(sortKeysDeep(c));
  const counts = new Map<string, number>();
  for (const c of Object.values(configs)) counts.set(key(c), (counts.get(key(c)) ?? 0) + 1);
  const best = Math.max(...counts.values());
  const native = configs.native;
  if (native !== undefined && counts.get(key(native)) === best) return native;
  return Object.values(configs).find((c) => counts.get(key(c)) === best);
}

/**
 * The case table for one mismatch: the whole of it (policy, enterprise
 * config, request or local settings) so the regression replays against the
 * same bundle, with the majority's answer (directive and warning included)
 * as the expectation.
 */
export function regressionTable(mismatch: Mismatch, seed: number): Record<string, unknown> {
  const enterprise = mismatch.enterprise === undefined ? {} : { enterprise: enterpriseDocument(mismatch.enterprise) };
  if (mismatch.configs !== undefined) {
    const expected = majorityConfig(mismatch.configs) as { directives?: unknown; rejected?: unknown } | undefined;
    const disagreeing = Object.entries(mismatch.configs)
      .filter(([, c]) => JSON.stringify(sortKeysDeep(c)) !== JSON.stringify(sortKeysDeep(expected)))
      .map(([name, c]) => `${name} computed ${JSON.stringify(c)}`);
    const local = (mismatch.request as { local?: unknown } | undefined)?.local ?? {};
    return {
      note: `found by mcp-policy difftest --seed ${seed}: ${disagreeing.join('; ')}`,
      policy: mismatch.policy,
      ...enterprise,
      configs: [
        {
          note: 'shrunk disagreement on the effective configuration',
          local,
          expect: { directives: expected?.directives ?? {}, rejected: expected?.rejected ?? [] },
        },
      ],
    };
  }
  const expected = majorityDecision(mismatch.decisions);
  const disagreeing = Object.entries(mismatch.decisions)
    .filter(([, d]) => comparable(d) !== comparable(expected))
    .map(([name, d]) => `${name} decided ${JSON.stringify(d)}`);
  return {
    note: `found by mcp-policy difftest --seed ${seed}: ${disagreeing.join('; ')}`,
    policy: mismatch.policy,
    ...enterprise,
    requests: [
      {
        note: 'shrunk disagreement',
        request: mismatch.request,
        expect: {
          allowed: expected.allowed,
          rule: expected.rule,
          reason: expected.reason,
          directive: expected.directive ?? null,
          warning: expected.warning ?? null,
          ...(expected.error !== undefined && { error: true }),
        },
      },
    ],
  };
}

/** Writes one mismatch as a case table; returns the file written. */
export async function writeRegression(dir: string, mismatch: Mismatch, seed: number): Promise<string> {
  const table = regressionTable(mismatch, seed);
  const text = `${JSON.stringify(table, null, 2)}\n`;
  const hash = createHash('sha256')
    .update(JSON.stringify([table.policy, table.enterprise ?? null, table.requests ?? null, table.configs ?? null]))
    .digest('hex')
    .slice(0, 12);
  await mkdir(dir, { recursive: true });
  const file = join(dir, `difftest-${hash}.json`);
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
  return file;
}
