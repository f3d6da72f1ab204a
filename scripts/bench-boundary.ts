/**
 * The cost of the request boundary (src/engines/request-boundary.ts) next to
 * the decisions it guards: the boundary alone, and a whole `decideSync` on
 * the native and wasm engines, for a request as Docker's gateway sends it and
 * for one with a large ignored field. `BENCH_ONLY=boundary` runs only this.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { compilePolicy } from '../src/pipeline/build.js';
import { NativeEngine } from '../src/engines/native.js';
import { readRequestValue } from '../src/engines/request-boundary.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { PACKAGE_ROOT } from '../src/opa/cli.js';
import { loadPolicyText } from '../src/policy/validate.js';

const GATEWAY_REQUEST = {
  action: 'invoke',
  server: 'github-official',
  serverType: 'registry',
  serverSource: 'mcp/github@sha256:0123',
  transport: 'stdio',
  tool: 'create_issue',
  catalog: 'docker-mcp',
  workingSet: 'default',
  target: { type: 'tool', name: 'create_issue' },
};

const LARGE_REQUEST = {
  ...GATEWAY_REQUEST,
  context: Object.fromEntries(Array.from({ length: 200 }, (_, k) => [`key${k}`, { value: `v${k}`, list: [k, k + 1] }])),
};

/** Microseconds per call of `f`, measured over `budgetMs` after a warm-up. */
function microseconds(f: () => unknown, budgetMs: number): number {
  for (let k = 0; k < 1000; k++) f();
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < budgetMs) {
    for (let k = 0; k < 100; k++) f();
    calls += 100;
  }
  return ((performance.now() - start) * 1000) / calls;
}

/** The boundary section of the benchmark report, as Markdown. */
export async function benchBoundary(budgetMs = 500): Promise<string> {
  const { policy } = loadPolicyText(await readFile(join(PACKAGE_ROOT, 'examples', 'production.json'), 'utf8'));
  const native = new NativeEngine(policy);
  const wasm = await WasmEngine.load((await compilePolicy(policy)).bundle);
  const rows = [
    '## Request boundary',
    '',
    '| request | boundary alone | native `decideSync` | boundary share | wasm `decideSync` | boundary share |',
    '| --- | --: | --: | --: | --: | --: |',
  ];
  for (const [name, request] of [
    ['gateway request (9 fields)', GATEWAY_REQUEST],
    ['with a 200-entry ignored field', LARGE_REQUEST],
  ] as const) {
    const boundary = microseconds(() => readRequestValue(request), budgetMs);
    const n = microseconds(() => native.decideSync(request), budgetMs);
    const w = microseconds(() => wasm.decideSync(request), budgetMs);
    const pct = (part: number, whole: number) => `${Math.round((100 * part) / whole)}%`;
    rows.push(
      `| ${name} | ${boundary.toFixed(2)} µs | ${n.toFixed(2)} µs | ${pct(boundary, n)} | ${w.toFixed(2)} µs | ${pct(boundary, w)} |`,
    );
  }
  return `${rows.join('\n')}\n`;
}
