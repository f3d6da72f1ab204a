/**
 * Bench section `proxy`: the latency `mcp-policy proxy` adds to each
 * `tools/call`, measured with the real filesystem server over stdio. The same
 * SDK client calls the server directly, through the proxy over stdio (wasm
 * engine, block-tools example policy), through the proxy's HTTP listener, and
 * through the HTTP listener with bearer JWTs (jose-signed, a JWKS file) on a
 * version 2 policy whose rule checks the caller's group and the call's path
 * argument; the paths alternate call by call so machine load affects all alike.
 * The table gives p50 and p99 of each and their difference to the direct path.
 *
 *   BENCH_ONLY=proxy node dist/scripts/bench.js
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { loadPolicyText } from '../src/policy/validate.js';
import { compilePolicy } from '../src/pipeline/build.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { loadPolicyFile } from '../src/policy/file.js';
import { PolicyGate } from '../src/proxy/enforce.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FILESYSTEM = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');
const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
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

const ISSUER = 'https://issuer.bench.example';
const AUDIENCE = 'mcp-policy-bench';

/** `mcp-policy proxy --listen` on a kernel-chosen loopback port, read back from its start line. */
function startHttpProxy(args: readonly string[]): Promise<{ url: URL; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'proxy', '--listen', 'http://127.0.0.1:0/mcp', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1] !== undefined) resolve({ url: new URL(m[1]), child });
    });
    child.once('exit', (code, signal) => reject(new Error(`proxy exited (${code ?? signal}): ${stderr.slice(-500)}`)));
  });
}

/** A port the kernel picked, for the everything server, which does not print the port it bound. */
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

/** `@modelcontextprotocol/server-everything` over streamable HTTP, once it says it listens. */
async function startEverything(): Promise<{ url: URL; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/listening on port/.test(stderr)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server-everything exited ${code}: ${stderr.slice(-500)}`)));
  });
  return { url: new URL(`http://127.0.0.1:${port}/mcp`), child };
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function connectHttp(url: URL, bearer?: string): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1.0.0' });
  const headers: Record<string, string> = bearer === undefined ? {} : { authorization: `Bearer ${bearer}` };
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }));
  return client;
}

/**
 * The filesystem-folder example with its folder moved to the bench's, and the
 * caller's group added to every rule that allows a call on its arguments: the
 * timed call is decided by the principal from the token and a cleaned path.
 */
async function version2Policy(dir: string): Promise<string> {
  const text = await readFile(join(ROOT, 'examples', 'v2', 'filesystem-folder.json'), 'utf8');
  const policy = JSON.parse(text.replaceAll('/srv/projects', dir)) as { rules: Record<string, unknown>[] };
  for (const rule of policy.rules) {
    if (rule.action === 'invoke' && rule.allow === true && rule.arguments !== undefined) rule.groups = ['engineering'];
  }
  const file = join(dir, 'policy-v2.json');
  await writeFile(file, JSON.stringify(policy, null, 2));
  return file;
}

/** Runs the section and returns its Markdown. */
export async function benchProxy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-bench-proxy-'));
  const children: ChildProcess[] = [];
  const clients: Client[] = [];
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

    const v2File = await version2Policy(dir);
    const v2Compiled = await compilePolicy(loadPolicyText(await readFile(v2File, 'utf8')).policy);
    const v2Bundle = join(dir, 'bundle-v2.tar.gz');
    await writeFile(v2Bundle, v2Compiled.bundle);
    const v2Gate = new PolicyGate(await WasmEngine.load(v2Compiled.bundle), {
      server: 'filesystem',
      transport: 'stdio',
    });
    const asking = {
      principal: { sub: 'alice@example.com', groups: ['engineering'] },
      arguments: { path: file },
    };
    const v2Checks: number[] = [];
    for (let k = 0; k < 20_000; k++) {
      const start = performance.now();
      const verdict = await v2Gate.checkCall('read_text_file', undefined, asking);
      if (k === 0 && !verdict.allowed) throw new Error(`the version 2 gate denies the bench call: ${verdict.reason}`);
      if (k >= 2_000) v2Checks.push(performance.now() - start);
    }

    const keys = await generateKeyPair('ES256');
    const jwks = join(dir, 'jwks.json');
    await writeFile(
      jwks,
      JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'bench', alg: 'ES256' }] }),
    );
    const token = (groups: string[]) =>
      new SignJWT({ groups })
        .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject('alice@example.com')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(keys.privateKey);
    const upstream = ['--server', 'filesystem', '--', process.execPath, FILESYSTEM, dir];
    const plainHttp = await startHttpProxy([bundle, ...upstream]);
    children.push(plainHttp.child);
    const authHttp = await startHttpProxy([
      v2Bundle,
      '--auth-issuer',
      ISSUER,
      '--auth-audience',
      AUDIENCE,
      '--auth-jwks',
      jwks,
      '--auth-groups-claim',
      'groups',
      ...upstream,
    ]);
    children.push(authHttp.child);

    const direct = await connect(process.execPath, [FILESYSTEM, dir]);
    clients.push(direct);
    const proxied = await connect(process.execPath, [CLI, 'proxy', bundle, '--', process.execPath, FILESYSTEM, dir]);
    clients.push(proxied);
    const viaHttp = await connectHttp(plainHttp.url);
    clients.push(viaHttp);
    const viaAuth = await connectHttp(authHttp.url, await token(['engineering']));
    clients.push(viaAuth);

    // The authenticated path must really decide on the token and the arguments before its time means anything.
    const outsider = await connectHttp(authHttp.url, await token(['contractors']));
    clients.push(outsider);
    const denied = (r: { _meta?: Record<string, unknown> }) =>
      (r._meta?.['io.github.mcp-policy/denial'] as { denied?: unknown } | undefined)?.denied === true;
    const refused = await outsider.callTool({ name: 'read_text_file', arguments: { path: file } });
    if (!denied(refused)) throw new Error('the authenticated proxy let a caller outside the group read the file');
    const escaped = await viaAuth.callTool({ name: 'read_text_file', arguments: { path: `${dir}/../etc/passwd` } });
    if (!denied(escaped)) throw new Error('the authenticated proxy let a path outside the folder through');
    const unauthenticated = await connectHttp(authHttp.url).then(
      () => true,
      () => false,
    );
    if (unauthenticated) throw new Error('the authenticated proxy accepted a session without a token');

    // The same authenticated proxy in front of a server that speaks streamable HTTP, so the direct path uses
    // the client's transport too and the difference is the proxy's hop alone.
    const everything = await startEverything();
    children.push(everything.child);
    const echoPolicy = join(dir, 'policy-echo.json');
    await writeFile(
      echoPolicy,
      JSON.stringify({
        version: 2,
        default: 'deny',
        rules: [
          { action: 'load', allow: true },
          {
            action: 'invoke',
            tools: ['echo'],
            groups: ['engineering'],
            arguments: [{ path: '/message', match: ['hello *'] }],
            allow: true,
          },
        ],
      }),
    );
    const echoCompiled = await compilePolicy(loadPolicyText(await readFile(echoPolicy, 'utf8')).policy);
    const echoBundle = join(dir, 'bundle-echo.tar.gz');
    await writeFile(echoBundle, echoCompiled.bundle);
    const authUpstream = await startHttpProxy([
      echoBundle,
      '--auth-issuer',
      ISSUER,
      '--auth-audience',
      AUDIENCE,
      '--auth-jwks',
      jwks,
      '--auth-groups-claim',
      'groups',
      '--upstream-url',
      everything.url.href,
    ]);
    children.push(authUpstream.child);
    const directHttp = await connectHttp(everything.url);
    clients.push(directHttp);
    const viaAuthUpstream = await connectHttp(authUpstream.url, await token(['engineering']));
    clients.push(viaAuthUpstream);
    const wrongMessage = await viaAuthUpstream.callTool({ name: 'echo', arguments: { message: 'goodbye' } });
    if (!denied(wrongMessage)) throw new Error('the authenticated proxy let an echo outside the argument rule through');

    const echo = async (client: Client, into: number[]) => {
      const start = performance.now();
      const r = await client.callTool({ name: 'echo', arguments: { message: 'hello world' } });
      into.push(performance.now() - start);
      if (r.isError) throw new Error(`bench call failed: ${JSON.stringify(r.content)}`);
    };
    const paths: Record<string, (into: number[]) => Promise<void>> = {
      direct: (into) => timeCalls(direct, file, 1, into),
      proxied: (into) => timeCalls(proxied, file, 1, into),
      viaHttp: (into) => timeCalls(viaHttp, file, 1, into),
      viaAuth: (into) => timeCalls(viaAuth, file, 1, into),
      directHttp: (into) => echo(directHttp, into),
      viaAuthUpstream: (into) => echo(viaAuthUpstream, into),
    };
    const times: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((n) => [n, []]));
    for (const call of Object.values(paths)) for (let k = 0; k < WARMUP; k++) await call([]);
    process.stderr.write(`bench: proxy, ${CALLS} calls on each of ${Object.keys(paths).length} paths\n`);
    for (let k = 0; k < CALLS; k++) {
      for (const [name, call] of Object.entries(paths)) await call(times[name]!);
    }
    const stats = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    };
    const d = stats(times.direct ?? []);
    const p = stats(times.proxied ?? []);
    const h = stats(times.viaHttp ?? []);
    const a = stats(times.viaAuth ?? []);
    const e = stats(times.directHttp ?? []);
    const u = stats(times.viaAuthUpstream ?? []);
    const ms = (x: number) => x.toFixed(3);
    const c = stats(checks);
    const c2 = stats(v2Checks);
    const added = (x: { p50: number; p99: number }, over = d) => `${ms(x.p50 - over.p50)} | ${ms(x.p99 - over.p99)}`;
    return [
      '',
      '## Proxy: latency added per tools/call',
      '',
      `Real \`@modelcontextprotocol/server-filesystem\` over stdio, \`read_text_file\` of a small file, ` +
        `${CALLS} sequential calls on each path, the paths in turn call by call, after ${WARMUP} warm-up calls ` +
        'each; the stdio and plain HTTP proxies run the wasm engine on the block-tools example bundle (each call ' +
        'decides `load` and `invoke`); the authenticated proxy checks an ES256 bearer JWT against a JWKS file and ' +
        'decides a version 2 policy (examples/v2/filesystem-folder.json on the bench folder, its allowing rules ' +
        "also asking for the token's group) on the call's cleaned `path` argument. Before timing, a token without " +
        'the group, a path outside the folder and a session without a token are checked to be refused. ' +
        'The last two rows: `@modelcontextprotocol/server-everything` over streamable HTTP, its `echo` tool, ' +
        'directly and through the authenticated proxy (`--upstream-url`) on a version 2 policy that asks for the ' +
        "token's group and matches the `message` argument (a message outside the rule checked to be refused).",
      '',
      '| path | p50 ms | p99 ms | added p50 ms | added p99 ms |',
      '| --- | ---: | ---: | ---: | ---: |',
      `| client → server (stdio) | ${ms(d.p50)} | ${ms(d.p99)} | | |`,
      `| client → mcp-policy proxy (stdio) → server | ${ms(p.p50)} | ${ms(p.p99)} | ${added(p)} |`,
      `| client → mcp-policy proxy (HTTP) → server | ${ms(h.p50)} | ${ms(h.p99)} | ${added(h)} |`,
      `| client → mcp-policy proxy (HTTP, JWT, version 2 arguments) → server | ${ms(a.p50)} | ${ms(a.p99)} | ${added(a)} |`,
      `| client → server-everything (HTTP) | ${ms(e.p50)} | ${ms(e.p99)} | | |`,
      `| client → mcp-policy proxy (HTTP, JWT, version 2 arguments) → server-everything (HTTP) | ${ms(u.p50)} | ${ms(u.p99)} | ${added(u, e)} |`,
      '',
      `Of which the policy check, in process (${checks.length} calls each): block-tools p50 ${ms(c.p50)} ms, ` +
        `p99 ${ms(c.p99)} ms; the version 2 policy with principal and arguments p50 ${ms(c2.p50)} ms, p99 ${ms(c2.p99)} ms.`,
      '',
    ].join('\n');
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.all(children.map(stopChild));
    await rm(dir, { recursive: true, force: true });
  }
}
