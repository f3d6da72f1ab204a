/**
 * Bench section `proxy`: the latency `mcp-policy proxy` adds to each
 * `tools/call`, measured with the real filesystem server over stdio. The same
 * SDK client calls the server directly and through the proxy (wasm engine,
 * block-tools example policy), alternating call by call so machine load affects
 * both alike; the table gives p50 and p99 of each and their difference.
 *
 *   BENCH_ONLY=proxy node dist/scripts/bench.js
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { compilePolicy } from '../src/pipeline/build.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { loadPolicyFile } from '../src/policy/file.js';
import { PolicyGate } from '../src/proxy/enforce.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FILESYSTEM = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');
const CLI = join(ROOT, 'bin', 'mcp-policy.js');
const CALLS = Number(process.env.BENCH_PROXY_CALLS ?? 4000);
const WARMUP = 200;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function connect(command: string, args: string[]): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command, args, stderr: 'ignore' }));
  return client;
}

async function timeCalls(client: Client, file: string, n: number, into: number[]): Promise<void> {
  for (let k = 0; k < n; k++) {
    const start = performance.now();
    const r = await client.callTool({ name: 'read_text_file', arguments: { path: file } });
    into.push(performance.now() - start);
    if (r.isError) throw new Error(`bench call failed: ${JSON.stringify(r.content)}`);
  }
}

/** Runs the section and returns its Markdown. */
export async function benchProxy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-bench-proxy-'));
  try {
    const file = join(dir, 'small.txt');
    await writeFile(file, 'a small file read on every call\n');
    const bundle = join(dir, 'bundle.tar.gz');
    const { policy } = await loadPolicyFile(join(ROOT, 'examples', 'block-tools.json'));
    const compiled = await compilePolicy(policy);
    await writeFile(bundle, compiled.bundle);
    const gate = new PolicyGate(await WasmEngine.load(compiled.bundle), { server: 'filesystem', transport: 'stdio' });
    const checks: number[] = [];
    for (let k = 0; k < 20_000; k++) {
      const start = performance.now();
      await gate.checkCall('read_text_file', undefined);
      if (k >= 2_000) checks.push(performance.now() - start);
    }
    const direct = await connect(process.execPath, [FILESYSTEM, dir]);
    const proxied = await connect(process.execPath, [CLI, 'proxy', bundle, '--', process.execPath, FILESYSTEM, dir]);
    const times = { direct: [] as number[], proxy: [] as number[] };
    try {
      await timeCalls(direct, file, WARMUP, []);
      await timeCalls(proxied, file, WARMUP, []);
      process.stderr.write(`bench: proxy, ${CALLS} calls each way\n`);
      for (let k = 0; k < CALLS; k++) {
        await timeCalls(direct, file, 1, times.direct);
        await timeCalls(proxied, file, 1, times.proxy);
      }
    } finally {
      await Promise.allSettled([direct.close(), proxied.close()]);
    }
    const stats = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    };
    const d = stats(times.direct);
    const p = stats(times.proxy);
    const ms = (x: number) => x.toFixed(3);
    const c = stats(checks);
    return [
      '',
      '## Proxy: latency added per tools/call',
      '',
      `Real \`@modelcontextprotocol/server-filesystem\` over stdio, \`read_text_file\` of a small file, ` +
        `${CALLS} sequential calls each way, alternating call by call, after ${WARMUP} warm-up calls; ` +
        'the proxy runs the wasm engine on the block-tools example bundle (each call decides `load` and `invoke`).',
      '',
      '| path | p50 ms | p99 ms |',
      '| --- | ---: | ---: |',
      `| client → server | ${ms(d.p50)} | ${ms(d.p99)} |`,
      `| client → mcp-policy proxy → server | ${ms(p.p50)} | ${ms(p.p99)} |`,
      `| added by the proxy | ${ms(p.p50 - d.p50)} | ${ms(p.p99 - d.p99)} |`,
      `| of which the policy check (in process, ${checks.length} calls) | ${ms(c.p50)} | ${ms(c.p99)} |`,
      '',
    ].join('\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
