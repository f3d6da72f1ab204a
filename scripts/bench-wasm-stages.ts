/**
 * Where a wasm decision's time goes: the 10-rule bench policy (version 1,
 * and version 2 with the conditions of bench-v2.ts) built as it ships and as
 * variants whose decision stops after each stage (a constant; the request
 * checks; the facts; the index lookup), each decided on the late request.
 * CPU time per decision (process.cpuUsage), variants alternated round by
 * round, median of the rounds, so that other work on the machine weighs on
 * every variant alike. docs/performance.md ("Where a wasm decision's time
 * goes") reads these numbers.
 *
 *   npm run build && node dist/scripts/bench-wasm-stages.js
 */
import { loadPolicyText, type PolicyRequest, WasmEngine } from '../src/index.js';
import { buildWasm, regoSources } from '../src/pipeline/build.js';
import { benchPolicy } from './bench-policies.js';
import { CONDITIONS, CONTEXT } from './bench-v2.js';

const ROUNDS = 9;
const CALLS = Number(process.env.BENCH_STAGE_CALLS ?? 3000);

/** The decision of each variant, in place of `decision := decide(input)`; `{}` is the helper package. */
const STAGES: Readonly<Record<string, (helpers: string) => string>> = {
  floor: () => 'decision := {"allowed": true, "reason": "stage", "rule": null}',
  checks: (h) => `decision := {"allowed": true, "reason": "stage", "rule": null} if not ${h}.request_error(input)`,
  facts: (h) =>
    `decision := {"allowed": true, "reason": "stage", "rule": count(${h}.facts(input))} if not ${h}.request_error(input)`,
  lookup: (h) =>
    `decision := {"allowed": true, "reason": "stage", "rule": count(candidates(${h}.facts(input)))} if not ${h}.request_error(input)`,
};

async function variants(policyJson: unknown, helpers: string): Promise<Record<string, WasmEngine>> {
  const sources = await regoSources(loadPolicyText(JSON.stringify(policyJson)).policy);
  const out: Record<string, WasmEngine> = {};
  for (const [name, decision] of Object.entries(STAGES)) {
    const policy = sources.policy.replace('decision := decide(input)', decision(helpers));
    out[name] = await WasmEngine.load((await buildWasm({ ...sources, policy })).bundle);
  }
  out.decision = await WasmEngine.load((await buildWasm(sources)).bundle);
  return out;
}

/** Median CPU microseconds per decision of each engine on its request, alternated round by round. */
function cpuPerDecision(cases: Readonly<Record<string, [WasmEngine, PolicyRequest]>>): Record<string, number> {
  const samples: Record<string, number[]> = {};
  for (const [name, [engine, request]] of Object.entries(cases)) {
    engine.decideSync(request);
    samples[name] = [];
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, [engine, request]] of Object.entries(cases)) {
      const start = process.cpuUsage();
      for (let k = 0; k < CALLS; k++) engine.decideSync(request);
      const used = process.cpuUsage(start);
      samples[name]!.push((used.user + used.system) / CALLS);
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, s]) => [name, s.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!]),
  );
}

async function main(): Promise<void> {
  const b = benchPolicy(10);
  const v2Policy = { ...b.policy, version: 2, rules: b.policy.rules.map((r) => ({ ...r, ...CONDITIONS })) };
  const one = await variants(b.policy, 'lib');
  const two = await variants(v2Policy, 'v2');
  const cases: Record<string, [WasmEngine, PolicyRequest]> = {};
  for (const name of [...Object.keys(STAGES), 'decision']) {
    cases[`v1 ${name}`] = [one[name]!, b.requests.late];
    cases[`v2 ${name}`] = [two[name]!, { ...b.requests.late, ...CONTEXT }];
  }
  const us = cpuPerDecision(cases);
  const lines = ['| version | floor | + request checks | + facts | + index lookup | decision | decision ÷ floor |'];
  lines.push('| :--- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const v of ['v1', 'v2']) {
    const at = (stage: string): number => us[`${v} ${stage}`]!;
    lines.push(
      `| ${v} | ${at('floor').toFixed(1)} | ${(at('checks') - at('floor')).toFixed(1)} | ` +
        `${(at('facts') - at('checks')).toFixed(1)} | ${(at('lookup') - at('facts')).toFixed(1)} | ` +
        `${at('decision').toFixed(1)} | ${(at('decision') / at('floor')).toFixed(2)}× |`,
    );
  }
  process.stdout.write(
    `CPU µs per wasm decision, 10 rules, late request (median of ${ROUNDS} alternated rounds of ${CALLS}):\n\n` +
      `${lines.join('\n')}\n`,
  );
}

await main();
