/**
 * The decision service under load (`npm run bench`, or `BENCH_ONLY=serve`):
 * autocannon against `mcp-policy serve` and, in the same run, against
 * `opa run --server` on the same generated Rego and the same requests, over
 * loopback TCP and a unix socket, at concurrency 1, 16 and 100; then a soak
 * with RSS before and after.
 *
 *   BENCH_SERVE_SECONDS   seconds per measurement (default 3)
 *   BENCH_SERVE_SOAK      soak seconds (default 10; the soak is 60)
 *   BENCH_SERVE_RULES     policy size (default 100)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compilePolicy, loadPolicyText } from '../src/index.js';
import { resolveOpa } from '../src/opa/cli.js';
import { writeSources } from '../src/pipeline/build.js';
import { benchPolicy, MATCH_CASES } from './bench-policies.js';

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

const BIN = fileURLToPath(new URL('../../bin/mcp-policy.js', import.meta.url));
const CONCURRENCY = [1, 16, 100] as const;

function envNumber(name: string, fallback: number): number {
  const v = process.env[name];
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not "${v}"`);
  return n;
}

function startProcess(cmd: string, args: readonly string[], ready: RegExp): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString();
      if (ready.test(text)) resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${text.slice(-500)}`)));
  });
}

async function waitHealthy(url: string): Promise<void> {
  for (let k = 0; k < 200; k++) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never became healthy`);
}

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

interface Row {
  server: string;
  transport: string;
  endpoint: string;
  connections: number;
  result: CannonResult;
}

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** Runs the service benchmark and returns its Markdown section. */
export async function benchServe(): Promise<string> {
  const seconds = envNumber('BENCH_SERVE_SECONDS', 3);
  const soakSeconds = envNumber('BENCH_SERVE_SOAK', 10);
  const rules = envNumber('BENCH_SERVE_RULES', 100);
  const opa = await resolveOpa();
  const generated = benchPolicy(rules);
  const compiled = await compilePolicy(loadPolicyText(JSON.stringify(generated.policy)).policy);
  const dir = await mkdtemp(join(tmpdir(), 'mcp-bench-serve-'));
  const children: ChildProcess[] = [];
  try {
    const bundle = join(dir, 'bundle.tar.gz');
    await writeFile(bundle, compiled.bundle);
    await writeSources(join(dir, 'rego'), compiled);
    const [servePort, opaPort] = [18_181 + (process.pid % 1000), 19_181 + (process.pid % 1000)];
    const serveSock = join(dir, 'serve.sock');
    const opaSock = join(dir, 'opa.sock');
    const serve = await startProcess(
      process.execPath,
      [BIN, 'serve', bundle, '--socket', serveSock, '--addr', `127.0.0.1:${servePort}`],
      /listening on/,
    );
    children.push(serve);
    const opaServer = spawn(
      opa,
      [
        'run',
        '--server',
        '--log-level',
        'error',
        '--addr',
        `127.0.0.1:${opaPort}`,
        '--addr',
        `unix://${opaSock}`,
        // The folder holding data.json is the root: its content already names mcp_policy.
        join(dir, 'rego', 'mcp_policy'),
      ],
      { stdio: 'ignore' },
    );
    children.push(opaServer);
    await waitHealthy(`http://127.0.0.1:${opaPort}/health`);

    // The same requests for both: each match case, in turn.
    const requests = MATCH_CASES.map((c) => generated.requests[c]);
    const expectedBodies = await Promise.all(
      requests.map((input) =>
        fetch(`http://127.0.0.1:${opaPort}/v1/data/mcp_policy/decision`, {
          method: 'POST',
          body: JSON.stringify({ input }),
        }).then((r) => r.text()),
      ),
    );
    for (const [k, input] of requests.entries()) {
      const ours = await fetch(`http://127.0.0.1:${servePort}/v1/data/mcp_policy/decision`, {
        method: 'POST',
        body: JSON.stringify({ input }),
      }).then((r) => r.json() as Promise<unknown>);
      if (JSON.stringify(ours) !== JSON.stringify(JSON.parse(expectedBodies[k] ?? 'null'))) {
        throw new Error(
          `serve and opa disagree on ${JSON.stringify(input)}: ${JSON.stringify(ours)} vs ${expectedBodies[k]}`,
        );
      }
    }
    const opaBodies = requests.map((input) => ({
      method: 'POST',
      path: '/v1/data/mcp_policy/decision',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input }),
    }));
    const gatewayBodies = requests.map((input) => ({
      method: 'POST',
      path: '/mcp/policy/evaluate',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input),
    }));
    const targets = [
      {
        server: 'mcp-policy serve',
        transport: 'tcp',
        endpoint: 'gateway',
        url: `http://127.0.0.1:${servePort}`,
        reqs: gatewayBodies,
      },
      {
        server: 'mcp-policy serve',
        transport: 'tcp',
        endpoint: 'OPA API',
        url: `http://127.0.0.1:${servePort}`,
        reqs: opaBodies,
      },
      {
        server: 'opa run --server',
        transport: 'tcp',
        endpoint: 'OPA API',
        url: `http://127.0.0.1:${opaPort}`,
        reqs: opaBodies,
      },
      {
        server: 'mcp-policy serve',
        transport: 'unix',
        endpoint: 'gateway',
        url: 'http://localhost',
        socketPath: serveSock,
        reqs: gatewayBodies,
      },
      {
        server: 'mcp-policy serve',
        transport: 'unix',
        endpoint: 'OPA API',
        url: 'http://localhost',
        socketPath: serveSock,
        reqs: opaBodies,
      },
      {
        server: 'opa run --server',
        transport: 'unix',
        endpoint: 'OPA API',
        url: 'http://localhost',
        socketPath: opaSock,
        reqs: opaBodies,
      },
    ];
    // Warm-up, not reported: JIT and connection set-up of both servers before the first measured row.
    for (const t of targets.filter((x) => x.transport === 'tcp' && x.endpoint === 'OPA API')) {
      await autocannon({ url: t.url, connections: 16, duration: 2, requests: t.reqs });
    }
    const rows: Row[] = [];
    for (const connections of CONCURRENCY) {
      for (const t of targets) {
        process.stderr.write(
          `bench serve: ${t.server} ${t.endpoint} over ${t.transport}, ${connections} connections\n`,
        );
        const result = await autocannon({
          url: t.url,
          ...(t.socketPath !== undefined && { socketPath: t.socketPath }),
          connections,
          duration: seconds,
          requests: t.reqs,
        });
        rows.push({ server: t.server, transport: t.transport, endpoint: t.endpoint, connections, result });
      }
    }

    // Soak: the gateway endpoint at 16 connections; RSS of the service process before and after.
    process.stderr.write(`bench serve: soak ${soakSeconds} s\n`);
    const rssBefore = await rssKiB(serve.pid!);
    const soak = await autocannon({
      url: `http://127.0.0.1:${servePort}`,
      connections: 16,
      duration: soakSeconds,
      requests: gatewayBodies,
    });
    const rssAfter = await rssKiB(serve.pid!);
    return report({ rows, rules, seconds, soakSeconds, soak, rssBefore, rssAfter });
  } finally {
    await Promise.all(children.map(stop));
    await rm(dir, { recursive: true, force: true });
  }
}

function report(r: {
  rows: Row[];
  rules: number;
  seconds: number;
  soakSeconds: number;
  soak: CannonResult;
  rssBefore: number;
  rssAfter: number;
}): string {
  const opaRate = (transport: string, connections: number) =>
    r.rows.find((x) => x.server.startsWith('opa') && x.transport === transport && x.connections === connections)?.result
      .requests.average ?? NaN;
  const out: string[] = [];
  out.push('### Decision service (`mcp-policy serve`) against `opa run --server`');
  out.push('');
  out.push(
    `${r.rules}-rule generated policy; the same Rego in both servers; requests cycle through the early, late and ` +
      `no-match cases; autocannon, ${r.seconds} s per row, keep-alive connections. ` +
      'Latency in ms as autocannon reports it. "vs opa" is decisions/s over OPA server\'s on the same transport and concurrency.',
  );
  out.push('');
  out.push('| server | endpoint | transport | connections | decisions/s | vs opa | p50 ms | p99 ms | errors |');
  out.push('| :--- | :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of r.rows) {
    const rate = row.result.requests.average;
    const errors = row.result.errors + row.result.timeouts + row.result.non2xx;
    out.push(
      `| ${row.server} | ${row.endpoint} | ${row.transport} | ${row.connections} | ${fmt.format(rate)} | ${(rate / opaRate(row.transport, row.connections)).toFixed(2)}× | ${row.result.latency.p50} | ${row.result.latency.p99} | ${errors} |`,
    );
  }
  out.push('');
  const soakErrors = r.soak.errors + r.soak.timeouts + r.soak.non2xx;
  out.push(
    `Soak: ${r.soakSeconds} s at 16 connections on the gateway endpoint, ${fmt.format(r.soak.requests.total)} decisions, ` +
      `${soakErrors} errors, p99 ${r.soak.latency.p99} ms; service RSS ${fmt.format(r.rssBefore / 1024)} MiB before, ` +
      `${fmt.format(r.rssAfter / 1024)} MiB after.`,
  );
  out.push('');
  return out.join('\n');
}
