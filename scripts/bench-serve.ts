/**
 * The decision service under load (`npm run bench`, or `BENCH_ONLY=serve`):
 * autocannon against `mcp-policy serve` and, in the same run, against
 * `opa run --server` on the same generated Rego and the same requests, over
 * loopback TCP and a unix socket, at concurrency 1, 16 and 100; then a soak
 * with RSS before and after; then AuthZEN single and batch evaluations against
 * the gateway endpoint and OPA's server, on the generated policy and on a
 * version 2 example with a subject and arguments, in interleaved rounds (and on
 * `serve --engine native`, which shows what the wasm evaluation costs).
 *
 *   BENCH_SERVE_SECONDS   seconds per measurement (default 3)
 *   BENCH_SERVE_SOAK      soak seconds (default 10; the soak is 60)
 *   BENCH_SERVE_RULES     policy size (default 100)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compilePolicy, loadPolicyText, NativeEngine } from '../src/index.js';
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
    // The AuthZEN rows reuse this run's servers for the generated policy and add a version 2 pair.
    const policyFile = join(dir, 'policy.json');
    await writeFile(policyFile, JSON.stringify(generated.policy));
    const nativeServe = await startServeTcp(policyFile, 'native');
    children.push(nativeServe.child);
    const authzen = await benchAuthzen({
      dir,
      opa,
      seconds,
      children,
      generated: {
        label: `${rules}-rule generated policy (version 1)`,
        servePort,
        nativePort: nativeServe.port,
        opaPort,
        native: new NativeEngine(loadPolicyText(JSON.stringify(generated.policy)).policy),
        requests,
        subject: { type: 'identity', id: 'alice@example.com' },
      },
    });
    return report({ rows, rules, seconds, soakSeconds, soak, rssBefore, rssAfter }) + authzen;
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

/** The version 2 example served next to the generated policy: arguments with paths to clean, a full subject. */
const V2_EXAMPLE = fileURLToPath(new URL('../../examples/v2/filesystem-folder.json', import.meta.url));
const AUTHZEN_BATCH = 100;
const AUTHZEN_CONNECTIONS = [1, 16] as const;
const FACT_FIELDS = ['serverType', 'serverSource', 'transport'] as const;

type Json = Record<string, unknown>;

/** A policy's servers and requests for the AuthZEN rows. */
interface AuthzenPolicy {
  readonly label: string;
  readonly servePort: number;
  /** `serve --engine native` on the same policy. */
  readonly nativePort: number;
  readonly opaPort: number;
  /** Decides what every endpoint must answer, before anything is timed. */
  readonly native: NativeEngine;
  /** Docker gateway requests; the AuthZEN evaluations are made from them. */
  readonly requests: readonly unknown[];
  /** The subject of a version 1 request, which has no principal (AuthZEN requires one). */
  readonly subject: Json;
}

/** A port the kernel picked, for `opa run`, which does not print the port it bound. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `mcp-policy serve` on a kernel-chosen loopback port, read back from its start line. */
async function startServeTcp(
  source: string,
  engine: 'wasm' | 'native' = 'wasm',
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [BIN, 'serve', source, '--engine', engine, '--addr', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString();
      const m = /listening on .*http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (m?.[1] !== undefined) resolve(Number(m[1]));
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${text.slice(-500)}`)));
  });
  return { child, port };
}

/** The AuthZEN evaluation a PEP following the MCP profile sends for a gateway request. */
function authzenEvaluation(request: Json, fallbackSubject: Json): Json {
  const properties: Json = {};
  if (request.server !== undefined) properties.server = request.server;
  for (const f of FACT_FIELDS) if (request[f] !== undefined) properties[f] = request[f];
  if (request.arguments !== undefined) properties.arguments = request.arguments;
  if (request.annotations !== undefined) properties.annotations = request.annotations;
  let action: string;
  let resource: Json;
  switch (request.action) {
    case 'invoke':
      action = 'tools/call';
      resource = { type: 'tool', id: request.tool };
      break;
    case 'prompt':
      action = 'prompts/get';
      resource = { type: 'prompt', id: request.tool };
      break;
    case 'resource':
      action = 'resources/read';
      resource = { type: 'resource', id: request.resource };
      break;
    default:
      action = 'tools/list';
      resource = { type: 'mcp_server', id: request.server };
      delete properties.server;
  }
  const principal = request.principal as Json | undefined;
  const subject =
    principal === undefined
      ? fallbackSubject
      : {
          type: 'identity',
          id: principal.sub,
          properties: { groups: principal.groups, claims: principal.claims },
        };
  return { subject, action: { name: action }, resource: { ...resource, properties } };
}

interface Seen {
  allowed: unknown;
  reason: unknown;
  rule?: unknown;
}

async function postJson(port: number, path: string, body: unknown): Promise<Json> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path} answered ${r.status}: ${await r.text()}`);
  return (await r.json()) as Json;
}

function fromAuthzen(answer: Json): Seen {
  const context = (answer.context ?? {}) as Json;
  return { allowed: answer.decision, reason: context.reason, rule: context.rule };
}

/** Every endpoint must answer what the native engine decides, or the numbers mean nothing. */
async function checkAnswers(p: AuthzenPolicy, batchRequests: readonly unknown[]): Promise<void> {
  const expected = (request: unknown) => {
    const d = p.native.decideSync(request);
    if (d.error !== undefined) throw new Error(`${p.label}: the bench request ${JSON.stringify(request)} is invalid`);
    return d;
  };
  const agree = (where: string, request: unknown, seen: Seen) => {
    const want = expected(request);
    const same =
      seen.allowed === want.allowed && seen.reason === want.reason && (!('rule' in seen) || seen.rule === want.rule);
    if (!same) {
      throw new Error(
        `${p.label}, ${where}: answered ${JSON.stringify(seen)} for ${JSON.stringify(request)}, native ${JSON.stringify(want)}`,
      );
    }
  };
  for (const request of p.requests) {
    const docker = await postJson(p.servePort, '/mcp/policy/evaluate', request);
    agree('gateway endpoint', request, { allowed: docker.allowed, reason: docker.reason });
    const single = await postJson(p.servePort, '/access/v1/evaluation', authzenEvaluation(request as Json, p.subject));
    agree('AuthZEN evaluation', request, fromAuthzen(single));
    const nativeSingle = await postJson(
      p.nativePort,
      '/access/v1/evaluation',
      authzenEvaluation(request as Json, p.subject),
    );
    agree('AuthZEN evaluation (native engine)', request, fromAuthzen(nativeSingle));
    const opa = await postJson(p.opaPort, '/v1/data/mcp_policy/decision', { input: request });
    const result = (opa.result ?? {}) as Json;
    agree('opa run --server', request, { allowed: result.allowed, reason: result.reason, rule: result.rule });
  }
  for (const port of [p.servePort, p.nativePort]) {
    const batch = await postJson(port, '/access/v1/evaluations', authzenBatch(p, batchRequests));
    const answers = batch.evaluations as Json[];
    if (answers.length !== batchRequests.length)
      throw new Error(`${p.label}: AuthZEN batch answered ${answers.length}`);
    answers.forEach((a, k) => agree(`AuthZEN batch item ${k}`, batchRequests[k], fromAuthzen(a)));
  }
  const gateway = await postJson(p.servePort, '/mcp/policy/evaluate/batch', { requests: batchRequests });
  const decisions = gateway.decisions as Json[];
  if (decisions.length !== batchRequests.length)
    throw new Error(`${p.label}: gateway batch answered ${decisions.length}`);
  decisions.forEach((d, k) =>
    agree(`gateway batch item ${k}`, batchRequests[k], { allowed: d.allowed, reason: d.reason }),
  );
}

/** One `/access/v1/evaluations` body: the subject once as the default when every item shares it, as a PEP filtering for one user does. */
function authzenBatch(p: AuthzenPolicy, requests: readonly unknown[]): Json {
  const evaluations = requests.map((r) => authzenEvaluation(r as Json, p.subject));
  const subjects = new Set(evaluations.map((e) => JSON.stringify(e.subject)));
  if (subjects.size !== 1) return { evaluations };
  return { subject: evaluations[0]?.subject, evaluations: evaluations.map(({ subject: _, ...rest }) => rest) };
}

interface AuthzenRow {
  policy: string;
  target: string;
  connections: number;
  perRequest: number;
  result: CannonResult;
}

const AUTHZEN_TARGETS = [
  'gateway',
  'AuthZEN',
  'gateway batch',
  'AuthZEN batch',
  'opa',
  'AuthZEN native',
  'AuthZEN batch native',
] as const;
type AuthzenTarget = (typeof AUTHZEN_TARGETS)[number];

/**
 * AuthZEN single and batch evaluations against the gateway endpoint (single
 * and batch) and `opa run --server`, on the generated policy's servers and on
 * a version 2 example with a subject and arguments; returns the Markdown.
 */
async function benchAuthzen(o: {
  dir: string;
  opa: string;
  seconds: number;
  children: ChildProcess[];
  generated: AuthzenPolicy;
}): Promise<string> {
  const { policy } = loadPolicyText(await readFile(V2_EXAMPLE, 'utf8'));
  const compiled = await compilePolicy(policy);
  const v2dir = join(o.dir, 'v2');
  const bundle = join(v2dir, 'bundle.tar.gz');
  await writeSources(join(v2dir, 'rego'), compiled);
  await writeFile(bundle, compiled.bundle);
  const serve = await startServeTcp(bundle);
  o.children.push(serve.child);
  const nativeServe = await startServeTcp(V2_EXAMPLE, 'native');
  o.children.push(nativeServe.child);
  const opaPort = await freePort();
  const opaServer = spawn(
    o.opa,
    ['run', '--server', '--log-level', 'error', '--addr', `127.0.0.1:${opaPort}`, join(v2dir, 'rego', 'mcp_policy')],
    { stdio: 'ignore' },
  );
  o.children.push(opaServer);
  await waitHealthy(`http://127.0.0.1:${opaPort}/health`);
  const principal = { sub: 'alice@example.com', groups: ['engineering', 'platform'], claims: { amr: ['pwd', 'mfa'] } };
  const call = (tool: string, args: Json) => ({
    action: 'invoke',
    server: 'filesystem',
    serverType: 'registry',
    serverSource: 'docker.io/mcp/filesystem:latest',
    transport: 'stdio',
    tool,
    principal,
    arguments: args,
    annotations: { readOnlyHint: true, openWorldHint: false },
  });
  const version2: AuthzenPolicy = {
    label: 'examples/v2/filesystem-folder.json (version 2)',
    servePort: serve.port,
    nativePort: nativeServe.port,
    opaPort,
    native: new NativeEngine(policy),
    requests: [
      call('read_text_file', { path: '/srv/projects/site/index.md' }),
      call('read_text_file', { path: '/srv/projects/../../etc/passwd' }),
      call('read_multiple_files', { paths: ['/srv/projects/a.md', '/srv/projects/b/../c.md', '/etc/shadow'] }),
    ],
    subject: {},
  };

  const rows: AuthzenRow[] = [];
  for (const p of [o.generated, version2]) {
    const batchRequests = Array.from({ length: AUTHZEN_BATCH }, (_, k) => p.requests[k % p.requests.length]);
    await checkAnswers(p, batchRequests);
    const post = (path: string, body: unknown) => ({
      method: 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const targets: Record<AuthzenTarget, { port: number; reqs: unknown[]; perRequest: number }> = {
      gateway: {
        port: p.servePort,
        reqs: p.requests.map((r) => post('/mcp/policy/evaluate', r)),
        perRequest: 1,
      },
      AuthZEN: {
        port: p.servePort,
        reqs: p.requests.map((r) => post('/access/v1/evaluation', authzenEvaluation(r as Json, p.subject))),
        perRequest: 1,
      },
      'gateway batch': {
        port: p.servePort,
        reqs: [post('/mcp/policy/evaluate/batch', { requests: batchRequests })],
        perRequest: AUTHZEN_BATCH,
      },
      'AuthZEN batch': {
        port: p.servePort,
        reqs: [post('/access/v1/evaluations', authzenBatch(p, batchRequests))],
        perRequest: AUTHZEN_BATCH,
      },
      opa: {
        port: p.opaPort,
        reqs: p.requests.map((r) => post('/v1/data/mcp_policy/decision', { input: r })),
        perRequest: 1,
      },
      'AuthZEN native': {
        port: p.nativePort,
        reqs: p.requests.map((r) => post('/access/v1/evaluation', authzenEvaluation(r as Json, p.subject))),
        perRequest: 1,
      },
      'AuthZEN batch native': {
        port: p.nativePort,
        reqs: [post('/access/v1/evaluations', authzenBatch(p, batchRequests))],
        perRequest: AUTHZEN_BATCH,
      },
    };
    // Warm-up of every path (JIT, connections) before the first measured row.
    for (const name of AUTHZEN_TARGETS) {
      const t = targets[name];
      await autocannon({ url: `http://127.0.0.1:${t.port}`, connections: 16, duration: 1, requests: t.reqs });
    }
    // One-second rounds, the endpoints in turn, so a change in the machine's load falls on all of them alike
    // and the ratios compare like with like.
    const rounds = Math.max(1, Math.round(o.seconds));
    for (const connections of AUTHZEN_CONNECTIONS) {
      process.stderr.write(`bench serve: ${p.label}, AuthZEN rows, ${connections} connections\n`);
      const results = new Map<AuthzenTarget, CannonResult[]>(AUTHZEN_TARGETS.map((n) => [n, []]));
      for (let round = 0; round < rounds; round++) {
        for (const name of AUTHZEN_TARGETS) {
          const t = targets[name];
          const result = await autocannon({
            url: `http://127.0.0.1:${t.port}`,
            connections,
            duration: 1,
            requests: t.reqs,
          });
          results.get(name)!.push(result);
        }
      }
      for (const name of AUTHZEN_TARGETS) {
        rows.push({
          policy: p.label,
          target: name,
          connections,
          perRequest: targets[name].perRequest,
          result: mergeRounds(results.get(name)!),
        });
      }
    }
  }
  return authzenReport(rows, o.seconds, version2.requests.length);
}

/** Rounds as one result: requests per second over all of them, the median p50 and the worst p99. */
function mergeRounds(results: readonly CannonResult[]): CannonResult {
  const total = results.reduce((n, r) => n + r.requests.total, 0);
  const p50s = results.map((r) => r.latency.p50).sort((a, b) => a - b);
  const sum = (f: (r: CannonResult) => number) => results.reduce((n, r) => n + f(r), 0);
  return {
    requests: { total, average: sum((r) => r.requests.average) / results.length },
    latency: {
      p50: p50s[p50s.length >> 1] ?? NaN,
      p99: Math.max(...results.map((r) => r.latency.p99)),
      average: sum((r) => r.latency.average) / results.length,
    },
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
  };
}

function authzenReport(rows: readonly AuthzenRow[], seconds: number, v2Requests: number): string {
  const rate = (r: AuthzenRow) => r.result.requests.average * r.perRequest;
  const find = (policy: string, target: AuthzenTarget, connections: number) =>
    rows.find((r) => r.policy === policy && r.target === target && r.connections === connections);
  const labels: Record<AuthzenTarget, string> = {
    gateway: '`serve` gateway endpoint, single',
    AuthZEN: '`serve` AuthZEN `/access/v1/evaluation`',
    'gateway batch': `\`serve\` gateway batch of ${AUTHZEN_BATCH}`,
    'AuthZEN batch': `\`serve\` AuthZEN \`/access/v1/evaluations\`, ${AUTHZEN_BATCH} items`,
    opa: '`opa run --server`, data API, single',
    'AuthZEN native': '`serve --engine native` AuthZEN `/access/v1/evaluation`',
    'AuthZEN batch native': `\`serve --engine native\` AuthZEN \`/access/v1/evaluations\`, ${AUTHZEN_BATCH} items`,
  };
  const out: string[] = [];
  out.push('### AuthZEN against the gateway endpoint and `opa run --server`');
  out.push('');
  out.push(
    `Loopback TCP, autocannon, ${Math.max(1, Math.round(seconds))} rounds of 1 s per row, the endpoints in turn ` +
      "in each round, after a warm-up of every path (p50: the rounds' median; p99: their worst); every endpoint's answers " +
      'checked against the native engine before timing. The version 2 requests (' +
      `${v2Requests}, in turn) carry a subject with groups and claims, tool arguments (paths cleaned before ` +
      'matching) and annotations; the AuthZEN evaluations are their MCP-profile mapping (`tools/call`, the subject ' +
      `as the batch's default). Decisions/s counts ${AUTHZEN_BATCH} per batch request.`,
  );
  out.push('');
  out.push('| policy | endpoint | connections | decisions/s | p50 ms | p99 ms | errors |');
  out.push('| :--- | :--- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const errors = r.result.errors + r.result.timeouts + r.result.non2xx;
    out.push(
      `| ${r.policy} | ${labels[r.target as AuthzenTarget]} | ${r.connections} | ${fmt.format(rate(r))} | ${r.result.latency.p50} | ${r.result.latency.p99} | ${errors} |`,
    );
  }
  out.push('');
  out.push(
    '| policy | connections | AuthZEN ÷ gateway, single (goal ≥ 0.9) | AuthZEN batch ÷ AuthZEN single (goal ≥ 10) | AuthZEN single ÷ opa | native: batch ÷ single |',
  );
  out.push('| :--- | ---: | ---: | ---: | ---: | ---: |');
  for (const policy of [...new Set(rows.map((r) => r.policy))]) {
    for (const connections of AUTHZEN_CONNECTIONS) {
      const [g, a, b, o, n, nb] = (
        ['gateway', 'AuthZEN', 'AuthZEN batch', 'opa', 'AuthZEN native', 'AuthZEN batch native'] as const
      ).map((t) => {
        const row = find(policy, t, connections);
        return row === undefined ? NaN : rate(row);
      }) as [number, number, number, number, number, number];
      out.push(
        `| ${policy} | ${connections} | ${(a / g).toFixed(2)} | ${(b / a).toFixed(1)} | ${(a / o).toFixed(1)}× | ${(nb / n).toFixed(1)} |`,
      );
    }
  }
  out.push('');
  return out.join('\n');
}
