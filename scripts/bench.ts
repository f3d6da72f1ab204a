/**
 * `npm run bench`: compile times and decisions per second of the native and
 * wasm engines on generated policies (scripts/bench-policies.ts).
 *
 *   node dist/scripts/bench.js [--sizes 10,100,1000,10000] [--budget-ms 1000]
 *   BENCH_ONLY=core|engines|speed2|boundary|serve|proxy|fleet|analysis|v2   one section
 *
 * Prints a Markdown report; a full run (no BENCH_ONLY) writes the same text to bench/results.md.
 * Throughput is measured against a time budget rather than an iteration count,
 * so a 10,000-rule late match (which walks every rule) costs no more wall time
 * than a 10-rule early one.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { cpus, release, totalmem, type } from 'node:os';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, parseArgs } from 'node:util';
// buildWasm is the opa step alone; the public compilePolicy would also time Rego generation.
import { buildWasm } from '../src/pipeline/build.js';
import { type Decision, loadPolicyText, NativeEngine, type Policy, WasmEngine, WasmError } from '../src/index.js';
import { generateRego, regoSources } from '../src/pipeline/build.js';
import { OPA_VERSION, resolveOpa } from '../src/opa/cli.js';
import { benchAnalysis } from './bench-analysis.js';
import { benchV2 } from './bench-v2.js';
import { benchBoundary } from './bench-boundary.js';
import { benchFleet } from './bench-fleet.js';
import { benchEngines } from './bench-engines.js';
import { benchSpeed2 } from './bench-cedar.js';
import { benchPolicy, MATCH_CASES, type MatchCase } from './bench-policies.js';
import { benchProxy } from './bench-proxy.js';
import { benchServe } from './bench-serve.js';

const DEFAULT_SIZES = [10, 100, 1_000, 10_000];
const DEFAULT_BUDGET_MS = 1_000;
const BATCH_SIZE = 100;
/** Compile steps are repeated for a median only while they stay this cheap in total. */
const COMPILE_BUDGET_MS = 15_000;
const COMPILE_MAX_RUNS = 5;

// Relative to dist/scripts/bench.js, so the report lands in the project whatever the working folder.
const RESULTS_PATH = fileURLToPath(new URL('../../bench/results.md', import.meta.url));
// The engines section rewrites its tables in the performance document, where the benchmark numbers live.
const PERFORMANCE_DOC_PATH = fileURLToPath(new URL('../../docs/performance.md', import.meta.url));

interface Options {
  readonly sizes: readonly number[];
  readonly budgetMs: number;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: { sizes: { type: 'string' }, 'budget-ms': { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  const positiveInt = (text: string, flag: string): number => {
    const n = Number(text.trim());
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} takes positive integers, got "${text}"`);
    return n;
  };
  const sizes =
    values.sizes === undefined ? DEFAULT_SIZES : values.sizes.split(',').map((s) => positiveInt(s, '--sizes'));
  const budgetMs =
    values['budget-ms'] === undefined ? DEFAULT_BUDGET_MS : positiveInt(values['budget-ms'], '--budget-ms');
  // Ascending, so the table reads top to bottom and the last memory reading is the largest policy's.
  return { sizes: [...new Set(sizes)].sort((a, b) => a - b), budgetMs };
}

/** Median wall time of `fn`, repeated up to `maxRuns` times while the total stays under `budgetMs`. */
async function medianMs(fn: () => unknown, maxRuns: number, budgetMs: number): Promise<{ ms: number; runs: number }> {
  const times: number[] = [];
  let total = 0;
  while (times.length < maxRuns && (times.length === 0 || total < budgetMs)) {
    const start = performance.now();
    await fn();
    const t = performance.now() - start;
    times.push(t);
    total += t;
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const ms = times.length % 2 === 1 ? (times[mid] ?? 0) : ((times[mid - 1] ?? 0) + (times[mid] ?? 0)) / 2;
  return { ms, runs: times.length };
}

/**
 * Decisions per second of `call`, which makes `perCall` decisions and returns
 * false if any answer is wrong. Checking every answer keeps an engine that
 * fails closed (fast, and wrong) from posting a good number, and gives the
 * optimiser a use for each result.
 */
function decisionsPerSecond(call: () => boolean, perCall: number, budgetMs: number): number {
  // Warm-up lets V8 optimise the call path and the wasm heap reach its working size.
  const warmUntil = performance.now() + budgetMs / 4;
  let warmCalls = 0;
  const warmStart = performance.now();
  do {
    if (!call()) throw new Error('wrong decision during warm-up');
    warmCalls++;
  } while (performance.now() < warmUntil);
  // Read the clock about every 5 ms, not every call: a native early match is
  // cheap enough that performance.now() itself would show in the result.
  const perCallMs = (performance.now() - warmStart) / warmCalls;
  const chunk = Math.max(1, Math.floor(5 / perCallMs));
  let calls = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    for (let k = 0; k < chunk; k++) {
      if (!call()) throw new Error('wrong decision while timing');
    }
    calls += chunk;
    elapsed = performance.now() - start;
  } while (elapsed < budgetMs);
  return (calls * perCall * 1000) / elapsed;
}

interface Rates {
  readonly native: number;
  /** Undefined when the wasm policy could not be loaded. */
  readonly wasm: number | undefined;
  readonly batch: number | undefined;
}

interface SizeResult {
  readonly size: number;
  readonly policyKiB: number;
  readonly regoKiB: number;
  readonly wasmKiB: number;
  readonly validate: { ms: number; runs: number };
  readonly generate: { ms: number; runs: number };
  readonly build: { ms: number; runs: number };
  readonly loadMs: number | undefined;
  /** Why WasmEngine.load refused the bundle; the native numbers are still worth reporting. */
  readonly loadError: string | undefined;
  readonly rates: Record<MatchCase, Rates>;
  /** Process memory with this size's wasm policy loaded. */
  readonly memory: { readonly afterLoad: NodeJS.MemoryUsage; readonly afterRuns: NodeJS.MemoryUsage } | undefined;
}

/** Stops the run when the engines disagree, or a request does not hit the rule it was generated for. */
function verify(
  size: number,
  c: MatchCase,
  expected: number | null,
  native: Decision,
  wasm: { single: Decision; batch: readonly Decision[] } | undefined,
): void {
  const where = `${size} rules, ${c} request`;
  if (native.error !== undefined || native.rule !== expected) {
    throw new Error(`${where}: native decided ${JSON.stringify(native)}, expected rule ${expected}`);
  }
  if (wasm === undefined) return;
  if (!isDeepStrictEqual(wasm.single, native)) {
    throw new Error(`${where}: wasm decided ${JSON.stringify(wasm.single)}, native ${JSON.stringify(native)}`);
  }
  const mismatch = wasm.batch.findIndex((d) => !isDeepStrictEqual(d, native));
  if (wasm.batch.length !== BATCH_SIZE || mismatch >= 0) {
    throw new Error(
      `${where}: wasm batch decided ${JSON.stringify(wasm.batch[mismatch])}, native ${JSON.stringify(native)}`,
    );
  }
}

async function benchSize(size: number, budgetMs: number): Promise<SizeResult> {
  const generated = benchPolicy(size);
  const text = JSON.stringify(generated.policy, null, 2);

  let policy: Policy | undefined;
  const validate = await medianMs(() => (policy = loadPolicyText(text).policy), COMPILE_MAX_RUNS, COMPILE_BUDGET_MS);
  if (policy === undefined) throw new Error('unreachable: validation ran at least once');
  const validPolicy: Policy = policy;
  const generate = await medianMs(() => generateRego(validPolicy), COMPILE_MAX_RUNS, COMPILE_BUDGET_MS);
  const sources = await regoSources(validPolicy);
  let compiled: Awaited<ReturnType<typeof buildWasm>> | undefined;
  const build = await medianMs(async () => (compiled = await buildWasm(sources)), COMPILE_MAX_RUNS, COMPILE_BUDGET_MS);
  if (compiled === undefined) throw new Error('unreachable: the build ran at least once');

  let wasm: WasmEngine | undefined;
  let loadMs: number | undefined;
  let loadError: string | undefined;
  const loadStart = performance.now();
  try {
    wasm = await WasmEngine.load(compiled.bundle);
    loadMs = performance.now() - loadStart;
  } catch (e) {
    // Only the engine's own typed load errors are a result; anything else is a bug in this script.
    if (!(e instanceof WasmError)) throw e;
    loadError = e.message;
  }
  const afterLoad = wasm === undefined ? undefined : process.memoryUsage();
  const native = new NativeEngine(validPolicy);

  // Check every request on every entry point before timing any of them, so
  // a disagreement stops the run before minutes are spent on it.
  const batches = {} as Record<MatchCase, unknown[]>;
  for (const c of MATCH_CASES) {
    const request = generated.requests[c];
    const batch = Array.from({ length: BATCH_SIZE }, () => request);
    batches[c] = batch;
    const answers =
      wasm === undefined ? undefined : { single: wasm.decideSync(request), batch: wasm.decideBatchSync(batch) };
    verify(size, c, generated.expectedRule[c], native.decideSync(request), answers);
  }

  const rates = {} as Record<MatchCase, Rates>;
  for (const c of MATCH_CASES) {
    const request = generated.requests[c];
    const expected = generated.expectedRule[c];
    const batch = batches[c];
    const loaded = wasm;
    rates[c] = {
      native: decisionsPerSecond(() => native.decideSync(request).rule === expected, 1, budgetMs),
      wasm: loaded && decisionsPerSecond(() => loaded.decideSync(request).rule === expected, 1, budgetMs),
      batch:
        loaded &&
        decisionsPerSecond(
          () => {
            const out = loaded.decideBatchSync(batch);
            // First and last suffice: a failed batch answers every slot with an error.
            return out.length === BATCH_SIZE && out[0]?.rule === expected && out[BATCH_SIZE - 1]?.rule === expected;
          },
          BATCH_SIZE,
          budgetMs,
        ),
    };
  }
  // Read before close, while the engine (and its wasm memory) is still reachable.
  const memory = afterLoad === undefined ? undefined : { afterLoad, afterRuns: process.memoryUsage() };
  await wasm?.close();
  await native.close();

  return {
    size,
    policyKiB: Buffer.byteLength(text) / 1024,
    regoKiB: Buffer.byteLength(sources.policy) / 1024,
    wasmKiB: compiled.wasm.byteLength / 1024,
    validate,
    generate,
    build,
    loadMs,
    loadError,
    rates,
    memory,
  };
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function fmtMs(ms: number): string {
  if (ms >= 100) return int.format(ms);
  return ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function fmtRate(perSecond: number): string {
  // Three significant figures: run-to-run noise is larger than that.
  return int.format(Number(perSecond.toPrecision(3)));
}

function fmtTimed(t: { ms: number; runs: number }): string {
  return t.runs === 1 ? `${fmtMs(t.ms)} (1 run)` : fmtMs(t.ms);
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function table(header: readonly string[], align: readonly ('l' | 'r')[], rows: readonly (readonly string[])[]): string {
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? ' ---: ' : ' :--- ')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
  return lines.join('\n');
}

function report(options: Options, results: readonly SizeResult[]): string {
  const cpu = cpus();
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  const out: string[] = [];
  out.push('## Benchmark');
  out.push('');
  out.push(
    `Machine: ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${cpu.length} cores, ${gib} GiB RAM, ${type()} ${release()}, Node ${process.version}, opa ${OPA_VERSION}`,
  );
  out.push('');
  out.push(
    `Generated default-deny policies (scripts/bench-policies.ts): server literals, \`prefix*\`, \`*suffix\` and \`a*b*c\` patterns, ` +
      'registry, image and remote sources, tools lists, all three actions, allow and deny mixed. ' +
      'Requests match the first rule (early), only the last rule (late), or no rule (none).',
  );
  out.push('');
  out.push('### Compile time (ms, median of up to 5 runs; wasm load is one run)');
  out.push('');
  out.push(
    table(
      [
        'rules',
        'policy JSON KiB',
        'parse + validate',
        'JSON→Rego',
        'Rego→WASM (opa build)',
        'Rego KiB',
        'policy.wasm KiB',
        'wasm load',
      ],
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      results.map((r) => [
        int.format(r.size),
        r.policyKiB.toFixed(1),
        fmtTimed(r.validate),
        fmtTimed(r.generate),
        fmtTimed(r.build),
        r.regoKiB.toFixed(1),
        r.wasmKiB.toFixed(1),
        r.loadMs === undefined ? 'failed' : fmtMs(r.loadMs),
      ]),
    ),
  );
  out.push('');
  out.push(`### Decisions per second (${int.format(options.budgetMs)} ms per measurement after warm-up)`);
  out.push('');
  out.push(
    'native: `NativeEngine.decideSync`; wasm: `WasmEngine.decideSync` (single entry point); ' +
      `wasm batch: \`WasmEngine.decideBatchSync\` with ${BATCH_SIZE} requests per call, counted per decision.`,
  );
  out.push('');
  out.push(
    table(
      ['rules', 'match', 'native', 'wasm', `wasm batch of ${BATCH_SIZE}`],
      ['r', 'l', 'r', 'r', 'r'],
      results.flatMap((r) =>
        MATCH_CASES.map((c) => [
          int.format(r.size),
          c,
          fmtRate(r.rates[c].native),
          r.rates[c].wasm === undefined ? 'load failed' : fmtRate(r.rates[c].wasm),
          r.rates[c].batch === undefined ? 'load failed' : fmtRate(r.rates[c].batch),
        ]),
      ),
    ),
  );
  out.push('');
  for (const r of results) {
    if (r.loadError !== undefined) {
      out.push(`**${int.format(r.size)} rules: the wasm engine could not load the bundle:** ${r.loadError}`);
      out.push('');
    }
  }
  const measured = results.findLast((r) => r.memory !== undefined);
  if (measured?.memory !== undefined) {
    const { memory } = measured;
    const line = (m: NodeJS.MemoryUsage): string =>
      `RSS ${mib(m.rss)}, heap used ${mib(m.heapUsed)}, external ${mib(m.external)}`;
    out.push(
      `Memory of the whole benchmark process with the ${int.format(measured.size)}-rule wasm policy loaded: ` +
        `${line(memory.afterLoad)}; after its measurements: ${line(memory.afterRuns)}.`,
    );
    out.push('');
  }
  out.push(
    'With the rule index, a request is checked only against the candidate rules its values look up (and the few ' +
      'no lookup can find), so early, late and unmatched requests cost about the same at every size.',
  );
  return `${out.join('\n')}\n`;
}

/** Writes beside the target and renames, so a reader never sees half a report. */
async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(temp, text);
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

async function main(): Promise<void> {
  if (process.env.BENCH_ONLY === 'boundary') return void process.stdout.write(await benchBoundary());
  if (process.env.BENCH_ONLY === 'serve') return void process.stdout.write(await benchServe());
  if (process.env.BENCH_ONLY === 'proxy') return void process.stdout.write(await benchProxy());
  if (process.env.BENCH_ONLY === 'fleet') return void process.stdout.write(await benchFleet());
  if (process.env.BENCH_ONLY === 'analysis') return void process.stdout.write(await benchAnalysis());
  if (process.env.BENCH_ONLY === 'v2') return void process.stdout.write(await benchV2());
  const options = parseOptions(process.argv.slice(2));
  // Fail before any work if the pinned opa is missing, with the library's own fix text.
  await resolveOpa();
  const only = process.env.BENCH_ONLY;
  const results: SizeResult[] = [];
  for (const size of only === undefined || only === 'core' ? options.sizes : []) {
    process.stderr.write(`bench: ${int.format(size)} rules...\n`);
    results.push(await benchSize(size, options.budgetMs));
  }
  const fleet = process.env.BENCH_ONLY === undefined ? `\n${await benchFleet()}` : '';
  let markdown = results.length > 0 ? report(options, results) : '## Benchmark\n';
  if (only === undefined || only === 'core') markdown += `\n${await benchBoundary()}`;
  if (only === undefined || only === 'engines') markdown += `\n${await benchEngines(PERFORMANCE_DOC_PATH)}`;
  if (only === undefined || only === 'engines' || only === 'speed2') {
    markdown += `\n${await benchSpeed2(PERFORMANCE_DOC_PATH)}`;
  }
  if (only === undefined) markdown += `${await benchProxy()}${fleet}`;
  if (only === undefined) markdown += `\n${await benchServe()}`;
  if (only === undefined) markdown += `\n${await benchAnalysis()}`;
  if (only === undefined) markdown += `\n${await benchV2()}`;
  process.stdout.write(markdown);
  // One section would replace the whole report with itself; only a full run writes it.
  if (only === undefined) {
    await writeAtomically(RESULTS_PATH, markdown);
    process.stderr.write(`bench: wrote ${RESULTS_PATH}\n`);
  } else {
    process.stderr.write(`bench: one section printed; a full run writes ${RESULTS_PATH}\n`);
  }
  // The report is still written, but a policy the wasm engine cannot load is a product bug, not a result.
  if (results.some((r) => r.loadError !== undefined)) {
    process.stderr.write('bench: the wasm engine failed to load at least one policy (see the report)\n');
    process.exitCode = 1;
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
