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

/**
 * A policy shaped like Docker's documented ones, at scale: per server a load
 * allow, an invoke allow and a tools deny, plus registry allowlist entries.
 * Rules overlap only within their server, as in real policies.
 */
export function dockerShapedPolicy(size: number): Policy {
  const rules: Rule[] = [];
  for (let i = 0; rules.length < size; i++) {
    const server = `srv-${i - (i % 4)}`;
    const kind = i % 4;
    if (kind === 0)
      rules.push({
        action: 'invoke',
        server,
        tools: ['delete_*', 'drop_*'],
        allow: false,
        reason: `no deletes on ${server}`,
      });
    else if (kind === 1) rules.push({ action: 'load', server, allow: true });
    else if (kind === 2) rules.push({ action: 'invoke', server, allow: true });
    else
      rules.push({
        action: 'load',
        serverType: 'registry',
        serverSource: `registry-${i}.example.com/mcp/*`,
        allow: true,
      });
  }
  return { version: 1, default: 'deny', rules };
}

/** The two shapes and their sizes: `BENCH_ANALYSIS_SIZES=a,b;c,d` overrides them. */
function sizes(): [number[], number[]] {
  const custom = process.env.BENCH_ANALYSIS_SIZES?.split(';').map((part) => part.split(',').map(Number));
  return [custom?.[0] ?? [250, 500, 1000, 2000], custom?.[1] ?? [25, 50, 100, 200]];
}

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

/** The analysis section of the benchmark report, as Markdown. */
export async function benchAnalysis(): Promise<string> {
  const lines = [
    '## Policy analysis (lint, diff)',
    '',
    '| policy | rules | lint ms | findings | diff ms | changes |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const [docker, overlapping] = sizes();
  const shapes: [string, number[], (n: number) => Policy][] = [
    ['docker-shaped', docker, dockerShapedPolicy],
    ['bench (overlapping wildcards)', overlapping, (n) => loadPolicyText(JSON.stringify(benchPolicy(n).policy)).policy],
  ];
  for (const [name, list, make] of shapes) {
    for (const size of list) {
      const old = make(size);
      const next = changedVersion(old);
      const lint = timed(() => lintPolicy(old));
      const diff = timed(() => diffPolicies(old, next));
      lines.push(
        `| ${name} | ${size} | ${lint.ms.toFixed(0)} | ${lint.value.findings.length} | ${diff.ms.toFixed(0)} | ${diff.value.changes.length} |`,
      );
      process.stderr.write(
        `bench: analysis ${name} ${size} rules: lint ${lint.ms.toFixed(0)} ms, diff ${diff.ms.toFixed(0)} ms\n`,
      );
    }
  }
  await Promise.resolve();
  return `${lines.join('\n')}\n`;
}
