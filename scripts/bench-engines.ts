/**
 * The engines side by side on the same policies and requests, in one run:
 * native, wasm (single and batch), OPA's interpreter (`opa bench` on the
 * generated Rego and data.json) and a real `opa run --server` over HTTP with
 * keep-alive (autocannon), with the ratios the rule index is judged by.
 * Also: a worst case no index can narrow (every rule `*x*`), the most hostile
 * pattern against the longest allowed request field, and compile time and
 * bundle size per size.
 *
 *   BENCH_ONLY=engines npm run bench            (this section alone)
 *   BENCH_ENGINE_SIZES=10,1000,10000            (policy sizes; default shown)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import autocannon from 'autocannon';
import { format, resolveConfig } from 'prettier';
import { buildWasm, writeSources } from '../src/pipeline/build.js';
import {
  type Decision,
  loadPolicyText,
  MAX_FIELD_LENGTH,
  NativeEngine,
  type Policy,
  type PolicyRequest,
  WasmEngine,
} from '../src/index.js';
import { regoSources } from '../src/pipeline/build.js';
import { resolveOpa } from '../src/opa/cli.js';
import { decideAtBoundary } from '../src/engines/request-boundary.js';
import { runOpa } from '../src/opa/cli.js';
import { readWasmBundle } from '../src/bundle/read.js';
import { benchPolicy, MATCH_CASES, type MatchCase } from './bench-policies.js';

const BATCH = 100;
const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 600);
const SERVER_SECONDS = Number(process.env.BENCH_SERVER_SECONDS ?? 2);

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const rate = (n: number): string => int.format(Number(n.toPrecision(3)));
const ratio = (n: number): string => (n >= 10 ? n.toFixed(0) : n.toFixed(1));

/** Decisions per second of `call` (which makes `per` decisions and checks them) over the budget. */
export function perSecond(call: () => boolean, per: number, budgetMs = BUDGET_MS): number {
  const warm = performance.now() + budgetMs / 4;
  let calls = 0;
  const ws = performance.now();
  do {
    if (!call()) throw new Error('wrong decision during warm-up');
    calls++;
  } while (performance.now() < warm);
  const chunk = Math.max(1, Math.floor(5 / ((performance.now() - ws) / calls)));
  let done = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    for (let k = 0; k < chunk; k++) if (!call()) throw new Error('wrong decision while timing');
    done += chunk;
    elapsed = performance.now() - start;
  } while (elapsed < budgetMs);
  return (done * per * 1000) / elapsed;
}

/** `opa bench` on the generated sources: evaluations per second of OPA's interpreter. */
export async function opaBench(dir: string, input: unknown): Promise<number> {
  const file = join(dir, 'input.json');
  await writeFile(file, JSON.stringify(input));
  const out = await runOpa(
    ['bench', '--format', 'json', '-d', join(dir, 'mcp_policy'), '-i', file, 'data.mcp_policy.decision'],
    {
      timeoutMs: 300_000,
    },
  );
  const r = JSON.parse(out) as { N: number; T: number };
  return r.N / (r.T / 1e9);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A real OPA server on loopback, serving the generated sources. */
export async function opaServer(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const opa = await resolveOpa();
  const port = await freePort();
  const child = spawn(
    opa,
    ['run', '--server', '--addr', `127.0.0.1:${port}`, '--log-level', 'error', join(dir, 'mcp_policy')],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  for (let k = 0; k < 600; k++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return { url, stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error('opa run --server did not become healthy');
}

/** Requests per second of the OPA server deciding `request`, over keep-alive connections. */
export async function serverRate(url: string, request: unknown, expected: Decision): Promise<number> {
  const body = JSON.stringify({ input: request });
  const path = `${url}/v1/data/mcp_policy/decision`;
  const check = (await (await fetch(path, { method: 'POST', body })).json()) as { result?: unknown };
  if (!isDeepStrictEqual(check.result, expected)) {
    throw new Error(`opa server decided ${JSON.stringify(check.result)}, native ${JSON.stringify(expected)}`);
  }
  const result = await autocannon({
    url: path,
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    connections: 4,
    duration: SERVER_SECONDS,
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`opa server: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

export interface Prepared {
  readonly policy: Policy;
  readonly dir: string;
  readonly wasm: WasmEngine;
  readonly native: NativeEngine;
  readonly buildMs: number;
  readonly bundleKiB: number;
  readonly dataKiB: number;
}

export async function prepare(policyJson: unknown): Promise<Prepared> {
  const policy = loadPolicyText(JSON.stringify(policyJson)).policy;
  const sources = await regoSources(policy);
  const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-bench-'));
  await writeSources(dir, sources);
  const start = performance.now();
  const compiled = await buildWasm(sources);
  const buildMs = performance.now() - start;
  return {
    policy,
    dir,
    wasm: await WasmEngine.load(compiled.bundle),
    native: new NativeEngine(policy),
    buildMs,
    bundleKiB: compiled.bundle.length / 1024,
    dataKiB: sources.data.length / 1024,
  };
}

interface Row {
  readonly size: number;
  readonly c: MatchCase;
  readonly native: number;
  readonly wasm: number;
  readonly batch: number;
  readonly interp: number;
  readonly server: number;
}

async function measure(
  p: Prepared,
  c: MatchCase,
  request: PolicyRequest,
  size: number,
  expectedRule: number | null,
): Promise<Row> {
  const expected = p.native.decideSync(request);
  if (expected.rule !== expectedRule || expected.error !== undefined) {
    throw new Error(`${size} rules, ${c}: native decided ${JSON.stringify(expected)}, expected rule ${expectedRule}`);
  }
  const batch = Array.from({ length: BATCH }, () => request);
  const same = (d: Decision): boolean => isDeepStrictEqual(d, expected);
  const native = perSecond(() => p.native.decideSync(request).rule === expectedRule, 1);
  const wasm = perSecond(() => same(p.wasm.decideSync(request)), 1);
  const batchRate = perSecond(() => p.wasm.decideBatchSync(batch).every(same), BATCH);
  const interp = await opaBench(p.dir, request);
  const server = await opaServer(p.dir);
  try {
    return { size, c, native, wasm, batch: batchRate, interp, server: await serverRate(server.url, request, expected) };
  } finally {
    await server.stop();
  }
}

/**
 * What an engine costs before any policy work: a module whose decision is a
 * constant, built by the same opa and run through the same WasmEngine path
 * (request boundary, JSON into module memory, `opa_eval`, JSON back), and the
 * request boundary alone for native. The policy's own work is the rest.
 */
export async function floors(request: PolicyRequest): Promise<{ wasm: number; native: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-bench-floor-'));
  try {
    const constant = '{"allowed": true, "reason": "floor", "rule": null}';
    await writeFile(
      join(dir, 'floor.rego'),
      `package mcp_policy\n\ndecision := ${constant}\n\ndecisions := [${constant} | some _ in input.requests]\n`,
    );
    await runOpa(
      [
        'build',
        '-t',
        'wasm',
        '-e',
        'mcp_policy/decision',
        '-e',
        'mcp_policy/decisions',
        '-o',
        'floor.tar.gz',
        'floor.rego',
      ],
      { cwd: dir },
    );
    const { wasm } = readWasmBundle(new Uint8Array(await readFile(join(dir, 'floor.tar.gz'))));
    // The engine insists on an mcp-policy data document; the constant module reads none of it.
    const engine = await WasmEngine.load(wasm, { data: { mcp_policy: { lowered: {} } } });
    const answer: Decision = { allowed: true, reason: 'floor', rule: null };
    return {
      wasm: perSecond(() => engine.decideSync(request).reason === 'floor', 1),
      native: perSecond(() => decideAtBoundary(request, () => answer) === answer, 1),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every rule `*x*`: nothing for an index to look up, so every rule is checked. */
function infixPolicy(size: number): { policy: unknown; late: PolicyRequest } {
  const id = (i: number): string => String(i).padStart(5, '0');
  return {
    policy: {
      version: 1,
      default: 'deny',
      rules: Array.from({ length: size }, (_, i) => ({ server: `*-svc${id(i)}-*`, allow: i % 2 === 0 })),
    },
    late: { server: `x-svc${id(size - 1)}-y` },
  };
}

/**
 * What loading `bundle` into the wasm engine adds to the RSS of a fresh process that holds nothing else, once
 * the garbage of loading is collected: in this process the garbage of the builds before it would make the
 * difference noise (even negative).
 */
async function loadMemory(bundle: Uint8Array): Promise<{ rss: number; wasm: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-bench-load-'));
  try {
    const file = join(dir, 'bundle.tar.gz');
    await writeFile(file, bundle);
    const engine = new URL('../src/engines/wasm.js', import.meta.url).href;
    const script = `
      const { readFileSync } = await import('node:fs');
      const { WasmEngine } = await import(${JSON.stringify(engine)});
      const bytes = new Uint8Array(readFileSync(${JSON.stringify(file)}));
      gc();
      const before = process.memoryUsage().rss;
      const loaded = await WasmEngine.load(bytes);
      gc();
      // The SDK's linear memory, where the data (the rules and their index) lives as OPA values.
      const memory = loaded.policy.mem.buffer.byteLength;
      process.stdout.write(JSON.stringify({ added: process.memoryUsage().rss - before, memory }));`;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString('utf8')));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`load measurement exited ${code}`))));
    });
    const { added, memory } = JSON.parse(out) as { added: number; memory: number };
    return { rss: added / 2 ** 20, wasm: memory / 2 ** 20 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Puts the section between its markers (`bench:<name>:begin`, `…:end`) in a Markdown document (written beside and renamed). */
export async function updateDocument(document: string, section: string, name = 'engines'): Promise<void> {
  const BEGIN = `<!-- bench:${name}:begin -->`;
  const END = `<!-- bench:${name}:end -->`;
  const text = await readFile(document, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) {
    process.stderr.write(`bench engines: no ${BEGIN} … ${END} in ${document}; not updated\n`);
    return;
  }
  const temp = `${document}.tmp-${process.pid}`;
  // Formatted as the repository's format check wants it, so a benchmark run leaves `npm run check` green.
  const updated = await format(`${text.slice(0, a + BEGIN.length)}\n\n${section}\n${text.slice(b)}`, {
    ...(await resolveConfig(document)),
    filepath: document,
  });
  await writeFile(temp, updated);
  await rename(temp, document);
}

/** The benchmark section: returns Markdown and writes it into `document` between its markers. */
export async function benchEngines(document?: string): Promise<string> {
  const sizes = (process.env.BENCH_ENGINE_SIZES ?? '10,1000,10000').split(',').map(Number);
  const rows: Row[] = [];
  const builds: { size: number; buildMs: number; bundleKiB: number; dataKiB: number }[] = [];
  for (const size of sizes) {
    process.stderr.write(`bench engines: ${int.format(size)} rules...\n`);
    const b = benchPolicy(size);
    const p = await prepare(b.policy);
    try {
      builds.push({ size, buildMs: p.buildMs, bundleKiB: p.bundleKiB, dataKiB: p.dataKiB });
      for (const c of MATCH_CASES) rows.push(await measure(p, c, b.requests[c], size, b.expectedRule[c]));
    } finally {
      await rm(p.dir, { recursive: true, force: true });
    }
  }

  // Worst case for the index: every rule `*x*`, the request matches only the last.
  const worst: { size: number; native: number; wasm: number; interp: number }[] = [];
  for (const size of [sizes[0] ?? 10, sizes[sizes.length - 1] ?? 10_000]) {
    process.stderr.write(`bench engines: ${int.format(size)} rules of *x*...\n`);
    const w = infixPolicy(size);
    const p = await prepare(w.policy);
    try {
      const expected = p.native.decideSync(w.late);
      if (expected.rule !== size - 1) throw new Error(`worst case decided ${JSON.stringify(expected)}`);
      worst.push({
        size,
        native: perSecond(() => p.native.decideSync(w.late).rule === size - 1, 1),
        wasm: perSecond(() => p.wasm.decideSync(w.late).rule === size - 1, 1),
        interp: await opaBench(p.dir, w.late),
      });
    } finally {
      await rm(p.dir, { recursive: true, force: true });
    }
  }

  // The most hostile pattern against the longest field a request may carry.
  process.stderr.write('bench engines: hostile pattern...\n');
  const hostilePattern = `*${'a*'.repeat(60)}file`;
  const hostile = await prepare({ version: 1, default: 'deny', rules: [{ tools: [hostilePattern], allow: true }] });
  // Ends in `file`, so every piece is searched for (a field that fails the suffix check costs nothing).
  const longest = { tool: `${'a'.repeat(MAX_FIELD_LENGTH - 4)}file` };
  let hostileRow: { native: number; wasm: number; interp: number };
  try {
    hostileRow = {
      native: perSecond(() => hostile.native.decideSync(longest).rule === 0, 1, 300),
      wasm: perSecond(() => hostile.wasm.decideSync(longest).rule === 0, 1, 300),
      interp: await opaBench(hostile.dir, longest),
    };
  } finally {
    await rm(hostile.dir, { recursive: true, force: true });
  }

  // A policy three times the largest size: build time, load memory and a late decision.
  const largeSize = Number(process.env.BENCH_LARGE ?? 30_000);
  process.stderr.write(`bench engines: ${int.format(largeSize)} rules, build and load...\n`);
  const large = benchPolicy(largeSize);
  const largePolicy = loadPolicyText(JSON.stringify(large.policy)).policy;
  const largeSources = await regoSources(largePolicy);
  const largeStart = performance.now();
  const largeCompiled = await buildWasm(largeSources);
  const largeBuildMs = performance.now() - largeStart;
  const loadMiB = await loadMemory(largeCompiled.bundle);
  const largeWasm = await WasmEngine.load(largeCompiled.bundle);
  const lateRule = large.expectedRule.late;
  const largeLate = perSecond(() => largeWasm.decideSync(large.requests.late).rule === lateRule, 1);

  process.stderr.write('bench engines: floors...\n');
  const floor = await floors(benchPolicy(sizes[0] ?? 10).requests.early);

  const out: string[] = [];
  const first = sizes[0] ?? 10;
  const last = sizes[sizes.length - 1] ?? 10;
  out.push('### Engines side by side (decisions per second)');
  out.push('');
  out.push(
    'Same policies and requests for every engine. native: `NativeEngine.decideSync`; wasm: `WasmEngine.decideSync`; ' +
      `wasm batch: \`decideBatchSync\` of ${BATCH}; interpreter: \`opa bench\` on the generated Rego and data.json; ` +
      `OPA server: \`opa run --server\` on the same files, \`POST /v1/data/mcp_policy/decision\` from autocannon ` +
      `(4 keep-alive connections, ${SERVER_SECONDS} s).`,
  );
  out.push('');
  out.push(
    '| rules | match | native | wasm | wasm batch | interpreter | OPA server | wasm ÷ server | wasm ÷ interpreter |',
  );
  out.push('| ---: | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    out.push(
      `| ${int.format(r.size)} | ${r.c} | ${rate(r.native)} | ${rate(r.wasm)} | ${rate(r.batch)} | ${rate(r.interp)} | ${rate(r.server)} | ${ratio(r.wasm / r.server)}× | ${ratio(r.wasm / r.interp)}× |`,
    );
  }
  out.push('');
  const at = (size: number, c: MatchCase): Row | undefined => rows.find((r) => r.size === size && r.c === c);
  const slowdown = (c: MatchCase, k: keyof Pick<Row, 'native' | 'wasm' | 'batch' | 'interp' | 'server'>): string => {
    const a = at(first, c);
    const z = at(last, c);
    return a && z ? `${ratio(a[k] / z[k])}×` : 'n/a';
  };
  out.push(
    `Cost of ${int.format(last)} rules against ${int.format(first)} (time per decision, late(${int.format(last)}) ÷ late(${int.format(first)}); same for none):`,
  );
  out.push('');
  out.push('| match | native | wasm | wasm batch | interpreter | OPA server |');
  out.push('| :--- | ---: | ---: | ---: | ---: | ---: |');
  for (const c of ['late', 'none'] as const) {
    out.push(
      `| ${c} | ${slowdown(c, 'native')} | ${slowdown(c, 'wasm')} | ${slowdown(c, 'batch')} | ${slowdown(c, 'interp')} | ${slowdown(c, 'server')} |`,
    );
  }
  out.push('');
  out.push('Compile (`opa build -t wasm`, one run) and bundle size:');
  out.push('');
  out.push('| rules | opa build ms | bundle.tar.gz KiB | data.json KiB |');
  out.push('| ---: | ---: | ---: | ---: |');
  for (const b of builds)
    out.push(
      `| ${int.format(b.size)} | ${int.format(b.buildMs)} | ${b.bundleKiB.toFixed(1)} | ${b.dataKiB.toFixed(1)} |`,
    );
  out.push('');
  out.push(
    `At ${int.format(largeSize)} rules: \`opa build\` ${int.format(largeBuildMs)} ms, bundle ` +
      `${(largeCompiled.bundle.length / 1024).toFixed(0)} KiB, loading it into the wasm engine adds ` +
      `${loadMiB.rss.toFixed(0)} MiB RSS in a fresh process (its WebAssembly memory, where data.json ` +
      `lives as OPA values, is ${loadMiB.wasm.toFixed(0)} MiB), a late wasm decision ${rate(largeLate)}/s.`,
  );
  out.push('');
  out.push(
    'Worst case for the index, every rule `*-svcNNNNN-*` (no literal end to look up), request matching only the last rule:',
  );
  out.push('');
  out.push('| rules | native | wasm | interpreter |');
  out.push('| ---: | ---: | ---: | ---: |');
  for (const w of worst)
    out.push(`| ${int.format(w.size)} | ${rate(w.native)} | ${rate(w.wasm)} | ${rate(w.interp)} |`);
  out.push('');
  out.push(
    `Most hostile pattern (\`*a*a*…*file\`, 60 stars) against a tool name of ${int.format(MAX_FIELD_LENGTH)} characters ending in \`file\` ` +
      `(the longest allowed field): native ${rate(hostileRow.native)}/s, wasm ${rate(hostileRow.wasm)}/s, ` +
      `interpreter ${rate(hostileRow.interp)}/s.`,
  );
  out.push('');
  out.push(
    `Floors, the engine path with no policy work (the early request): wasm on a module whose decision is a constant, ` +
      `built by the same opa, ${rate(floor.wasm)}/s; native's request boundary alone, ${rate(floor.native)}/s.`,
  );
  const section = `${out.join('\n')}\n`;
  if (document !== undefined) await updateDocument(document, section);
  return section;
}
