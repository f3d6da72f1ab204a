/**
 * Version 2 against version 1 in one run: the bench policies of
 * bench-policies.ts, and the same rules with principal and argument
 * conditions added to every one (`version: 2`), decided by native and wasm at
 * each size for a request that matches the first rule, the last, or none. The
 * goals: a version 2 decision costs at most 1.5 times the version 1 decision
 * at the same size, and late(10,000) stays within 2 times late(10).
 *
 *   BENCH_ONLY=v2 npm run bench
 *   BENCH_V2_SIZES=10,1000,10000   (policy sizes; default shown)
 */
import { isDeepStrictEqual } from 'node:util';
import { type Decision, loadPolicyText, NativeEngine, type PolicyRequest, WasmEngine } from '../src/index.js';
import { compilePolicy } from '../src/pipeline/build.js';
import { perSecond } from './bench-engines.js';
import { benchPolicy, MATCH_CASES, type MatchCase } from './bench-policies.js';

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const rate = (n: number): string => int.format(Number(n.toPrecision(3)));

/** What every version 2 rule adds: who may ask, and what its arguments must be. */
export const CONDITIONS = {
  users: ['*@example.com'],
  groups: ['platform', 'eng-*'],
  arguments: [
    { path: '/path', match: ['/srv/projects/*'], normalize: 'path' },
    { path: '/limit', max: 1000 },
    { path: '/labels/*', match: ['secret*'], not: true },
  ],
};

/** The identity and arguments every version 2 request carries; they satisfy {@link CONDITIONS}. */
export const CONTEXT = {
  principal: {
    sub: 'alice@example.com',
    groups: ['staff', 'eng-payments', 'oncall'],
    claims: { tenant: 'acme' },
  },
  arguments: { path: '/srv/projects/app/../app/src/main.ts', limit: 20, labels: ['bug', 'triage'] },
  annotations: { readOnlyHint: true },
};

interface Engines {
  readonly native: NativeEngine;
  readonly wasm: WasmEngine;
}

async function engines(policyJson: unknown): Promise<Engines> {
  const policy = loadPolicyText(JSON.stringify(policyJson)).policy;
  const compiled = await compilePolicy(policy);
  return { native: new NativeEngine(policy), wasm: await WasmEngine.load(compiled.bundle) };
}

/** Decisions per second of both engines on one request, after checking they decide `rule`. */
function measure(e: Engines, request: PolicyRequest, rule: number | null, label: string): [number, number] {
  const expected: Decision = e.native.decideSync(request);
  const fromWasm = e.wasm.decideSync(request);
  if (expected.rule !== rule || expected.error !== undefined || !isDeepStrictEqual(expected, fromWasm)) {
    throw new Error(
      `${label}: native ${JSON.stringify(expected)}, wasm ${JSON.stringify(fromWasm)}; expected rule ${rule}`,
    );
  }
  return [
    perSecond(() => e.native.decideSync(request).rule === rule, 1),
    perSecond(() => isDeepStrictEqual(e.wasm.decideSync(request), expected), 1),
  ];
}

interface Row {
  readonly size: number;
  readonly c: MatchCase;
  readonly v1: [number, number];
  /** The version 1 policy on the version 2 request: the same request bytes, no condition to check. */
  readonly same: [number, number];
  readonly v2: [number, number];
}

/** The benchmark section, as Markdown. */
export async function benchV2(): Promise<string> {
  const sizes = (process.env.BENCH_V2_SIZES ?? '10,1000,10000').split(',').map(Number);
  const rows: Row[] = [];
  for (const size of sizes) {
    process.stderr.write(`bench v2: ${int.format(size)} rules...\n`);
    const b = benchPolicy(size);
    const v2Policy = { ...b.policy, version: 2, rules: b.policy.rules.map((r) => ({ ...r, ...CONDITIONS })) };
    const [one, two] = [await engines(b.policy), await engines(v2Policy)];
    for (const c of MATCH_CASES) {
      const request = b.requests[c];
      const rule = b.expectedRule[c];
      rows.push({
        size,
        c,
        v1: measure(one, request, rule, `v1 ${size} ${c}`),
        same: measure(one, { ...request, ...CONTEXT }, rule, `v1 on v2 request ${size} ${c}`),
        v2: measure(two, { ...request, ...CONTEXT }, rule, `v2 ${size} ${c}`),
      });
    }
  }
  const lines = [
    '### Version 2 conditions against version 1',
    '',
    'The bench policies, and the same rules each with `users`, `groups` and three argument conditions (one with',
    '`normalize: "path"`, one a bound, one `not` over a `*` path); version 2 requests carry a principal,',
    'arguments and annotations. Decisions per second of each engine: v1 is the version 1 policy on the version 1',
    'request; v1+ the version 1 policy on the version 2 request (the same request bytes to read, no condition to',
    'check); v2 the version 2 policy on it. The ratios are time per decision against v1 and against v1+ (goal: at',
    'most 1.5).',
    '',
    '| rules | request | engine | v1 | v1+ | v2 | v2 ÷ v1 | v2 ÷ v1+ |',
    '| ----: | ------- | ------ | -: | --: | -: | ------: | -------: |',
  ];
  for (const r of rows) {
    for (const [k, engine] of [
      [0, 'native'],
      [1, 'wasm'],
    ] as const) {
      lines.push(
        `| ${int.format(r.size)} | ${r.c} | ${engine} | ${rate(r.v1[k])} | ${rate(r.same[k])} | ${rate(r.v2[k])} | ` +
          `${(r.v1[k] / r.v2[k]).toFixed(2)} | ${(r.same[k] / r.v2[k]).toFixed(2)} |`,
      );
    }
  }
  const late = (size: number) => rows.find((r) => r.size === size && r.c === 'late');
  const [first, last] = [late(sizes[0] as number), late(sizes[sizes.length - 1] as number)];
  if (first && last && first !== last) {
    lines.push(
      '',
      `Version 2, late(${int.format(last.size)}) ÷ late(${int.format(first.size)}) in time per decision: native ` +
        `${(first.v2[0] / last.v2[0]).toFixed(2)}, wasm ${(first.v2[1] / last.v2[1]).toFixed(2)} (goal: at most 2).`,
    );
  }
  return `${lines.join('\n')}\n`;
}
