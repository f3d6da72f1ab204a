/**
 * The generated Rego's n-gram index on rule lists with no literal start or
 * end, in WebAssembly and in OPA's interpreter: decisions per second for a
 * request that only the last rule matches, at 10 rules (below the threshold,
 * no index) and at 10,000 (filed under n-grams), and the ratio of the two
 * (the goal is at most 2×). wasm is measured in rounds that alternate the
 * sizes, best of three, so a busy machine moves both alike. Also a value of
 * the longest allowed length against 40 and 10,000 such rules.
 *
 *   npx tsc -p tsconfig.build.json && node dist/scripts/bench-rego-index.js
 *   BENCH_INDEX_SIZES=10,10000   BENCH_INTERPRETER=0 (wasm only)   BENCH_INDEX_SHAPE=groups (names containing it)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WasmEngine } from '../src/engines/wasm.js';
import { runOpa } from '../src/opa/cli.js';
import { buildWasm, regoSources, writeSources } from '../src/pipeline/build.js';
import { MAX_FIELD_LENGTH, type PolicyRequest } from '../src/policy/model.js';
import { loadPolicyText } from '../src/policy/validate.js';

const BUDGET_MS = Number(process.env.BENCH_BUDGET_MS ?? 400);
const SIZES = (process.env.BENCH_INDEX_SIZES ?? '10,10000').split(',').map(Number);
const INTERPRETER = process.env.BENCH_INTERPRETER !== '0';
const ONLY = process.env.BENCH_INDEX_SHAPE;

function perSecond(call: () => boolean): number {
  for (let k = 0; k < 100; k++) if (!call()) throw new Error('wrong decision during warm-up');
  let done = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    for (let k = 0; k < 20; k++) if (!call()) throw new Error('wrong decision while timing');
    done += 20;
    elapsed = performance.now() - start;
  } while (elapsed < BUDGET_MS);
  return (done * 1000) / elapsed;
}

const id = (i: number): string => String(i).padStart(5, '0');

/** A distinct word of three letters per rule. */
function word(i: number): string {
  let k = (i * 7919 + 13) % 17_576;
  let s = '';
  for (let j = 0; j < 3; j++) {
    s += String.fromCharCode(97 + (k % 26));
    k = Math.floor(k / 26);
  }
  return s;
}

interface Shape {
  readonly name: string;
  readonly version?: 2;
  rules(size: number): unknown[];
  late(size: number): PolicyRequest;
}

const ALL_SHAPES: readonly Shape[] = [
  {
    name: '`*-svcNNNNN-*` on server',
    rules: (size) => Array.from({ length: size }, (_, i) => ({ server: `*-svc${id(i)}-*`, allow: i % 2 === 0 })),
    late: (size) => ({ server: `x-svc${id(size - 1)}-y` }),
  },
  {
    name: '`*abc*` (three letters) on tools',
    rules: (size) => Array.from({ length: size }, (_, i) => ({ tools: [`*${word(i)}*`], allow: true })),
    late: (size) => ({ tool: `Q${word(size - 1)}Q` }),
  },
  {
    name: '`*-grpNNNNN-*` on groups (version 2, 16 groups, the last matches)',
    version: 2,
    rules: (size) => Array.from({ length: size }, (_, i) => ({ groups: [`*-grp${id(i)}-*`], allow: true })),
    late: (size) =>
      ({
        action: 'invoke',
        tool: 'run',
        principal: { groups: [...Array.from({ length: 15 }, (_, k) => `team-${k}`), `x-grp${id(size - 1)}-y`] },
      }) as PolicyRequest,
  },
  {
    name: '`*-argNNNNN-*` on argument `/files/*` (version 2, 8 strings, the last matches)',
    version: 2,
    rules: (size) =>
      Array.from({ length: size }, (_, i) => ({
        tools: ['*'],
        arguments: [{ path: '/files/*', match: [`*-arg${id(i)}-*`] }],
        allow: true,
      })),
    late: (size) =>
      ({
        action: 'invoke',
        tool: 'run',
        arguments: { files: [...Array.from({ length: 7 }, (_, k) => `/tmp/file-${k}`), `/x-arg${id(size - 1)}-y`] },
      }) as PolicyRequest,
  },
];

const SHAPES = ALL_SHAPES.filter((shape) => ONLY === undefined || shape.name.includes(ONLY));

interface Prepared {
  readonly dir: string;
  readonly wasm: WasmEngine;
  readonly late: PolicyRequest;
  readonly rule: number | null;
  readonly ngram: boolean;
}

async function prepare(rules: unknown[], late: PolicyRequest, version: 1 | 2 = 1): Promise<Prepared> {
  const policy = loadPolicyText(JSON.stringify({ version, default: 'deny', rules })).policy;
  const sources = await regoSources(policy);
  const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-bench-rego-index-'));
  await writeSources(dir, sources);
  const wasm = await WasmEngine.load((await buildWasm(sources)).bundle);
  return { dir, wasm, late, rule: wasm.decideSync(late).rule, ngram: sources.ngram !== undefined };
}

async function interpreter(p: Prepared, input: unknown): Promise<number> {
  const file = join(p.dir, 'input.json');
  await writeFile(file, JSON.stringify(input));
  const out = await runOpa(
    ['bench', '--format', 'json', '-d', join(p.dir, 'mcp_policy'), '-i', file, 'data.mcp_policy.decision'],
    { timeoutMs: 300_000 },
  );
  const r = JSON.parse(out) as { N: number; T: number };
  return r.N / (r.T / 1e9);
}

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const rate = (n: number): string => int.format(Number(n.toPrecision(3)));

async function main(): Promise<void> {
  const lines = [
    '| rules | n-gram index | wasm late/s | OPA interpreter late/s |',
    '| ----- | ------------ | ----------- | ---------------------- |',
  ];
  for (const shape of SHAPES) {
    const prepared = await Promise.all(
      SIZES.map((size) => prepare(shape.rules(size), shape.late(size), shape.version ?? 1)),
    );
    try {
      const best = SIZES.map(() => 0);
      for (let round = 0; round < 3; round++) {
        prepared.forEach((p, k) => {
          best[k] = Math.max(
            best[k]!,
            perSecond(() => p.wasm.decideSync(p.late).rule === p.rule),
          );
        });
      }
      const interp = INTERPRETER ? await Promise.all(prepared.map((p) => interpreter(p, p.late))) : [];
      lines.push(`| ${shape.name} | | | |`);
      prepared.forEach((p, k) => {
        const i = interp[k];
        lines.push(
          `| ${int.format(SIZES[k]!)} | ${p.ngram ? 'yes' : 'no'} | ${rate(best[k]!)} | ${i === undefined ? '-' : rate(i)} |`,
        );
      });
      const last = best.length - 1;
      const ratio = (a: number, b: number) => (a / b).toFixed(2);
      lines.push(
        `| late(${int.format(SIZES[0]!)}) ÷ late(${int.format(SIZES[last]!)}) | | ${ratio(best[0]!, best[last]!)} | ` +
          `${interp.length > 0 ? ratio(interp[0]!, interp[last]!) : '-'} |`,
      );
    } finally {
      await Promise.all(prepared.map((p) => rm(p.dir, { recursive: true, force: true })));
    }
  }
  process.stdout.write(
    `${lines.join('\n')}\n\nA value of ${int.format(MAX_FIELD_LENGTH)} characters (one decision):\n`,
  );
  const server = SHAPES.find((shape) => shape.version === undefined);
  for (const size of server === undefined ? [] : [40, 10_000]) {
    const shape = server!;
    const p = await prepare(shape.rules(size), shape.late(size));
    try {
      const request = { server: `${'a-svc'.repeat(MAX_FIELD_LENGTH / 4)}`.slice(0, MAX_FIELD_LENGTH) };
      const start = performance.now();
      p.wasm.decideSync(request);
      const wasmMs = performance.now() - start;
      const interp = INTERPRETER ? 1000 / (await interpreter(p, request)) : undefined;
      process.stdout.write(
        `- ${int.format(size)} rules: wasm ${wasmMs.toFixed(0)} ms (memory ${(p.wasm.memoryBytes / 2 ** 20).toFixed(1)} MiB)` +
          `${interp === undefined ? '' : `, OPA's interpreter ${interp.toFixed(0)} ms`}\n`,
      );
    } finally {
      await rm(p.dir, { recursive: true, force: true });
    }
  }
}

await main();
