/**
 * Benchmark of policy analysis: lint of a policy and diff of two versions, at
 * growing sizes, to show how the exact analysis scales. The second version
 * is the first with some rules flipped, deleted, added and moved, as a real
 * change would be. `BENCH_ONLY=analysis npm run bench` runs only this section.
 */
import { performance } from 'node:perf_hooks';
import { diffPolicies } from '../src/analysis/diff.js';
import { lintPolicy } from '../src/analysis/lint.js';
import { type Policy, type Rule } from '../src/policy/model.js';
import { loadPolicyText } from '../src/policy/validate.js';
import { benchPolicy } from './bench-policies.js';

const SIZES = (process.env.BENCH_ANALYSIS_SIZES ?? '25,50,100,200').split(',').map(Number);

/** A plausible next version: every 50th rule flipped, every 70th deleted, wildcard rules added, two rules swapped. */
export function changedVersion(policy: Policy): Policy {
  const rules: Rule[] = [];
  policy.rules.forEach((r, i) => {
    if (i % 70 === 69) return;
    rules.push(i % 50 === 49 ? { ...r, allow: !r.allow } : r);
    if (i % 100 === 99) rules.push({ action: 'invoke', tools: [`drop_${i}_*`], allow: false, reason: `added ${i}` });
  });
  if (rules.length > 3) [rules[1], rules[2]] = [rules[2]!, rules[1]!];
  return { ...policy, rules };
}

function timed<T>(fn: () => T): { ms: number; value: T } {
  const start = performance.now();
  const value = fn();
  return { ms: performance.now() - start, value };
}

/** Runs the analysis section; returns true when BENCH_ONLY=analysis asked for it alone. */
export async function benchAnalysis(): Promise<boolean> {
  const only = process.env.BENCH_ONLY;
  if (only !== undefined && only !== 'analysis') return false;
  const lines = [
    '## Policy analysis (lint, diff)',
    '',
    '| rules | lint ms | findings | diff ms | changes |',
    '| ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const size of SIZES) {
    const old = loadPolicyText(JSON.stringify(benchPolicy(size).policy)).policy;
    const next = changedVersion(old);
    const lint = timed(() => lintPolicy(old));
    const diff = timed(() => diffPolicies(old, next));
    lines.push(
      `| ${size} | ${lint.ms.toFixed(0)} | ${lint.value.findings.length} | ${diff.ms.toFixed(0)} | ${diff.value.changes.length} |`,
    );
    process.stderr.write(
      `bench: analysis ${size} rules: lint ${lint.ms.toFixed(0)} ms, diff ${diff.ms.toFixed(0)} ms\n`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
  await Promise.resolve();
  return only === 'analysis';
}
