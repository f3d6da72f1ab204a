/**
 * The fleet section of `npm run bench` (alone: `BENCH_ONLY=fleet npm run bench`):
 * requests per second of the bundle service when clients already hold the
 * revision (ETag hit, 304) and when they download it (200), with OPA's own
 * `GET /health` on the same machine as the anchor; and the time three
 * `opa run --server` processes polling every second take to converge on a
 * recompiled bundle. Writes bench/fleet.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { compilePolicy, writeOutput } from '../src/pipeline/build.js';
import { readWasmBundle } from '../src/bundle/read.js';
import { opaConfig } from '../src/fleet/opa-config.js';
import { loadPolicyText } from '../src/policy/validate.js';
import { freePort, OpaServer } from './fleet-opa.js';

// autocannon ships no types; this is the one call used.
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
}) => Promise<unknown>;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RESULTS_PATH = join(ROOT, 'bench', 'fleet.md');
const DURATION_S = 5;
const CONNECTIONS = 10;
const ROUNDS = 5;

interface Cannon {
  requests: { average: number };
  errors: number;
  timeouts: number;
  statusCodeStats?: Record<string, { count: number }>;
}

async function cannon(url: string, headers: Record<string, string> = {}): Promise<Cannon> {
  return (await autocannon({ url, connections: CONNECTIONS, duration: DURATION_S, headers })) as unknown as Cannon;
}

function statuses(c: Cannon): string {
  const codes = Object.entries(c.statusCodeStats ?? {}).map(
    ([code, { count }]) => `${code} × ${count.toLocaleString('en-US')}`,
  );
  if (c.errors + c.timeouts > 0) codes.push(`errors × ${c.errors + c.timeouts}`);
  return codes.join(', ');
}

function startServiceProcess(dir: string, port: number): ChildProcess {
  return spawn(
    process.execPath,
    [join(ROOT, 'bin', 'mcp-policy.js'), 'bundles', 'serve', dir, '--addr', `127.0.0.1:${port}`],
    {
      stdio: 'ignore',
    },
  );
}

async function waitReady(url: string): Promise<void> {
  for (let t = 0; t < 200; t++) {
    if (
      (await fetch(url)
        .then((r) => r.ok)
        .catch(() => false)) === true
    )
      return;
    await sleep(50);
  }
  throw new Error(`${url} never became ready`);
}

/** Runs the fleet benchmark; returns its Markdown section. */
export async function benchFleet(): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'mcp-policy-bench-fleet-'));
  const served = join(work, 'bundles');
  await mkdir(served);
  const { generateKeyPairSync } = await import('node:crypto');
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const text = await readFile(join(ROOT, 'examples', 'production.json'), 'utf8');
  const policies = [text, text.replace('"default": "deny"', '"default": "allow"')].map((t) => loadPolicyText(t).policy);
  const compiled = await Promise.all(policies.map((p) => compilePolicy(p, {}, { signingKey: keys.privateKey })));
  await writeOutput(compiled[0]!, join(served, 'prod'));

  const port = await freePort();
  const service = startServiceProcess(served, port);
  const url = `http://127.0.0.1:${port}`;
  const opas: OpaServer[] = [];
  try {
    await waitReady(`${url}/health`);
    const bundleUrl = `${url}/bundles/prod.tar.gz`;
    const hit = await cannon(bundleUrl, { 'if-none-match': `"${compiled[0]!.revision}"` });
    const miss = await cannon(bundleUrl);

    const config = opaConfig({
      serviceUrl: url,
      bundleName: 'prod',
      verificationKey: keys.publicKey,
      minDelaySeconds: 1,
      maxDelaySeconds: 1,
    });
    for (let k = 0; k < 3; k++) opas.push(await OpaServer.start(config, work, k));
    await Promise.all(opas.map((o) => o.waitForRevision('prod', compiled[0]!.revision, 30_000)));
    const anchor = await cannon(`${opas[0]!.url}/health`);

    const converge: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const next = compiled[round % 2]!;
      // Replace the served file as compile -o does (a rename), then time until all three have activated it.
      const tmp = join(served, 'prod', '.bundle.tmp');
      await writeFile(tmp, next.bundle);
      await rename(tmp, join(served, 'prod', 'bundle.tar.gz'));
      const start = performance.now();
      await Promise.all(
        opas.map((o) => o.waitForRevision('prod', readWasmBundle(next.bundle).manifest.revision!, 30_000)),
      );
      converge.push(performance.now() - start);
    }
    converge.sort((a, b) => a - b);
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    const lines = [
      '## Fleet',
      '',
      `Bundle service (\`mcp-policy bundles serve\`, its own process) under autocannon, ${CONNECTIONS} connections, ${DURATION_S} s each, on loopback; ` +
        `production example bundle (${(compiled[0]!.bundle.length / 1024).toFixed(1)} KiB, signed RS256).`,
      '',
      '| request | requests/s | answers |',
      '| :--- | ---: | :--- |',
      `| GET bundle, If-None-Match = revision | ${fmt(hit.requests.average)} | ${statuses(hit)} |`,
      `| GET bundle, no ETag (full body) | ${fmt(miss.requests.average)} | ${statuses(miss)} |`,
      `| anchor: OPA \`GET /health\` on the same machine | ${fmt(anchor.requests.average)} | ${statuses(anchor)} |`,
      '',
      `ETag hits: ${(hit.requests.average / anchor.requests.average).toFixed(2)}× the anchor's rate.`,
      '',
      `Convergence of three \`opa run --server\` polling every 1 s (min = max delay 1 s), from the atomic replacement of the ` +
        `served bundle until all three report the new revision, ${ROUNDS} rounds: median ${fmt(converge[converge.length >> 1]!)} ms, ` +
        `min ${fmt(converge[0]!)} ms, max ${fmt(converge[converge.length - 1]!)} ms.`,
      '',
    ];
    const markdown = `${lines.join('\n')}\n`;
    await writeFile(`${RESULTS_PATH}.tmp`, markdown);
    await rename(`${RESULTS_PATH}.tmp`, RESULTS_PATH);
    return markdown;
  } finally {
    await Promise.all(opas.map((o) => o.stop()));
    service.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}
