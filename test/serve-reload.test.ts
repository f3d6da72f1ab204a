/**
 * Bundles changing under a running service: file reloads under load,
 * corrupt and self-test-failing candidates, a bundle URL with ETags that
 * goes away, failing closed before any bundle, and shadow differences.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { replaceFolder } from '../src/bundle/output-folder.js';
import { type ServeHandle, startServe } from '../src/server/service.js';
import { bundleOf, call, tempDir } from './serve-helpers.js';

const ALLOW_ALL =
  '{"version":1,"default":"allow","rules":[{"tools":["secret_*"],"allow":false,"reason":"no secrets"}]}';
const DENY_ALL = '{"version":1,"default":"deny","rules":[{"tools":["public_*"],"allow":true,"reason":"public"}]}';
const CANDIDATE =
  '{"version":1,"default":"allow","rules":[{"tools":["secret_*"],"allow":false,"reason":"no secrets"},{"tools":["drop_*"],"allow":false,"reason":"no drops"}]}';
const REQ = { server: 'a', action: 'invoke', tool: 'read_file' };

const handles: ServeHandle[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const h of handles.splice(0)) await h.close();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function serve(options: Parameters<typeof startServe>[0]): Promise<ServeHandle> {
  const h = await startServe(options);
  handles.push(h);
  return h;
}

/** Replaces a file atomically, as a deployment would. */
function replace(path: string, bytes: Uint8Array): void {
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function metric(handle: ServeHandle, pattern: RegExp): Promise<number> {
  return handle.metrics.registry.metrics().then((text) => Number(pattern.exec(text)?.[1] ?? 0));
}

describe('hot reload', () => {
  it('swaps bundles under load without a failed or wrong answer, and keeps the last good one on a corrupt bundle', async () => {
    const dir = tempDir();
    const file = join(dir, 'bundle.tar.gz');
    const [allow, deny] = await Promise.all([bundleOf(ALLOW_ALL), bundleOf(DENY_ALL)]);
    writeFileSync(file, allow);
    const h = await serve({ sources: { file }, watch: true, tcp: { host: '127.0.0.1', port: 0 } });
    const target = { port: h.port! };
    const valid = new Set([
      JSON.stringify({ allowed: true, reason: 'no rule matched; default allow' }),
      JSON.stringify({ allowed: false, reason: 'no rule matched; default deny' }),
    ]);
    let stop = false;
    let answered = 0;
    const bad: string[] = [];
    const clients = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const r = await call(target, 'POST', '/mcp/policy/evaluate', REQ);
        answered++;
        if (r.status !== 200 || !valid.has(r.text)) bad.push(`${r.status} ${r.text}`);
      }
    });
    for (let swap = 0; swap < 6; swap++) {
      const next = swap % 2 === 0 ? deny : allow;
      const want = swap % 2 === 0 ? false : true;
      replace(file, next);
      await waitFor(
        async () =>
          ((await call(target, 'POST', '/mcp/policy/evaluate', REQ)).json() as { allowed: boolean }).allowed === want,
        `swap ${swap}`,
      );
    }
    replace(file, new TextEncoder().encode('not a bundle at all'));
    await waitFor(
      async () => (await metric(h, /mcp_policy_bundle_loads_total\{outcome="rejected"\} (\d+)/)) >= 1,
      'rejection',
    );
    replace(file, Uint8Array.from([0x1f, 0x8b, 1, 2, 3]));
    await waitFor(
      async () => (await metric(h, /mcp_policy_bundle_loads_total\{outcome="rejected"\} (\d+)/)) >= 2,
      'second rejection',
    );
    stop = true;
    await Promise.all(clients);
    expect(bad).toEqual([]);
    expect(answered).toBeGreaterThan(50);
    expect((await call(target, 'POST', '/mcp/policy/evaluate', REQ)).json()).toEqual({
      allowed: true,
      reason: 'no rule matched; default allow',
    });
    expect(await metric(h, /mcp_policy_bundle_loads_total\{outcome="activated"\} (\d+)/)).toBe(7);
  });

  it('rejects a bundle that fails its embedded self-test and keeps serving the last good one', async () => {
    const dir = tempDir();
    const file = join(dir, 'bundle.tar.gz');
    const cases = (allowed: boolean) => [{ name: 't.cases.json', requests: [{ request: REQ, expect: { allowed } }] }];
    writeFileSync(file, await bundleOf(ALLOW_ALL, { cases: cases(true) }));
    const h = await serve({ sources: { file }, watch: true, socket: join(dir, 's.sock') });
    expect(h.slot.current?.selfTestCases).toBe(1);
    const revision = h.slot.current?.revision;
    // A deny-all bundle whose own table says the request must be allowed.
    const failing = await bundleOf(DENY_ALL, { cases: cases(true) });
    const offered = await h.slot.offer(failing);
    expect(offered.activated).toBe(false);
    if (!offered.activated) {
      expect(offered.error.code).toBe('self_test_failed');
      expect(offered.error.message).toMatch(/t\.cases\.json \/requests\/0: allowed is false, expected true/);
    }
    expect(h.slot.current?.revision).toBe(revision);
    await expect(
      startServe({ sources: { file: writeTemp(failing) }, socket: join(dir, 't.sock') }),
    ).rejects.toMatchObject({
      code: 'self_test_failed',
    });
  });
});

describe('watching a folder that compile -o replaces', () => {
  const decided = async (target: { port: number }) =>
    ((await call(target, 'POST', '/mcp/policy/evaluate', REQ)).json() as { allowed: boolean }).allowed;

  it('loads or rejects every compile into the watched folder, not only the first', async () => {
    const out = join(tempDir(), 'out');
    const [allow, deny] = await Promise.all([bundleOf(ALLOW_ALL), bundleOf(DENY_ALL)]);
    // What compile -o does: the folder is replaced as a whole by two renames.
    await replaceFolder(out, { 'bundle.tar.gz': allow, 'policy.rego': 'x' });
    const h = await serve({
      sources: { file: join(out, 'bundle.tar.gz') },
      watch: true,
      tcp: { host: '127.0.0.1', port: 0 },
    });
    const target = { port: h.port! };
    const activated = () => metric(h, /mcp_policy_bundle_loads_total\{outcome="activated"\} (\d+)/);
    for (let k = 1; k <= 4; k++) {
      await replaceFolder(out, { 'bundle.tar.gz': k % 2 === 1 ? deny : allow, 'policy.rego': 'x' });
      await waitFor(async () => (await activated()) === 1 + k, `compile ${k} loaded`);
      expect(await decided(target), `compile ${k}`).toBe(k % 2 === 0);
    }
    await replaceFolder(out, { 'bundle.tar.gz': new TextEncoder().encode('not a bundle'), 'policy.rego': 'x' });
    await waitFor(
      async () => (await metric(h, /mcp_policy_bundle_loads_total\{outcome="rejected"\} (\d+)/)) === 1,
      'the broken compile rejected',
    );
    await replaceFolder(out, { 'bundle.tar.gz': deny, 'policy.rego': 'x' });
    await waitFor(async () => (await activated()) === 6, 'the next compile loaded');
    expect(await decided(target)).toBe(false);
    expect((await call(target, 'GET', '/health')).status).toBe(200);
  });

  it('answers /health 500 while the watched folder cannot be watched, and follows it again when it is back', async () => {
    const root = join(tempDir(), 'deploy');
    const out = join(root, 'out');
    const [allow, deny] = await Promise.all([bundleOf(ALLOW_ALL), bundleOf(DENY_ALL)]);
    await replaceFolder(out, { 'bundle.tar.gz': allow });
    const notes: string[] = [];
    const h = await serve({
      sources: { file: join(out, 'bundle.tar.gz') },
      watch: true,
      tcp: { host: '127.0.0.1', port: 0 },
      notify: (line) => notes.push(line),
    });
    const target = { port: h.port! };
    expect((await call(target, 'GET', '/health')).status).toBe(200);
    rmSync(root, { recursive: true });
    await waitFor(
      async () => (await call(target, 'GET', '/health')).status === 500,
      '/health reporting the lost watch',
    );
    expect((await call(target, 'GET', '/health')).json()).toEqual({
      error: `the folder "${out}" is gone; the watch is retried`,
    });
    // The last good bundle keeps deciding.
    expect(await decided(target)).toBe(true);
    expect(notes).toContain(`watch lost: the folder "${out}" is gone; the watch is retried; /health answers 500`);
    await replaceFolder(out, { 'bundle.tar.gz': deny });
    await waitFor(async () => (await call(target, 'GET', '/health')).status === 200, 'the watch set again');
    await waitFor(async () => !(await decided(target)), 'the new bundle loaded');
    expect(notes).toContain(`watching ${join(out, 'bundle.tar.gz')} again`);
  });
});

function writeTemp(bytes: Uint8Array): string {
  const path = join(tempDir(), 'bundle.tar.gz');
  writeFileSync(path, bytes);
  return path;
}

describe('bundle URL', () => {
  it('fails closed before the first bundle, polls with If-None-Match, and keeps serving when the URL goes away', async () => {
    const bundle = await bundleOf(DENY_ALL);
    let available = false;
    const seen: (string | undefined)[] = [];
    const bundleServer = createServer((req, res) => {
      seen.push(req.headers['if-none-match']);
      if (!available) return res.writeHead(404).end();
      if (req.headers['if-none-match'] === '"v1"') return res.writeHead(304).end();
      res.writeHead(200, { ETag: '"v1"', 'Content-Type': 'application/gzip' }).end(bundle);
    });
    servers.push(bundleServer);
    await new Promise<void>((r) => bundleServer.listen(0, '127.0.0.1', r));
    const port = (bundleServer.address() as { port: number }).port;
    const h = await serve({
      bundleUrl: `http://127.0.0.1:${port}/bundles/mcp.tar.gz`,
      pollIntervalMs: 100,
      socket: join(tempDir(), 's.sock'),
    });
    const target = { socket: h.socket! };
    const before = await call(target, 'POST', '/mcp/policy/evaluate', REQ);
    expect(before.json()).toEqual({ allowed: false, reason: 'evaluation failed', error: 'no policy bundle is active' });
    const batch = await call(target, 'POST', '/mcp/policy/evaluate/batch', { requests: [REQ, REQ] });
    expect((batch.json() as { decisions: { allowed: boolean; error: string }[] }).decisions).toEqual([
      { allowed: false, reason: 'evaluation failed', error: 'no policy bundle is active' },
      { allowed: false, reason: 'evaluation failed', error: 'no policy bundle is active' },
    ]);
    expect((await call(target, 'GET', '/health')).status).toBe(500);
    available = true;
    await waitFor(async () => (await call(target, 'GET', '/health')).status === 200, 'activation');
    await waitFor(() => seen.includes('"v1"'), 'a conditional poll');
    expect(await metric(h, /mcp_policy_bundle_loads_total\{outcome="activated"\} (\d+)/)).toBe(1);
    await new Promise((r) => bundleServer.close(r));
    bundleServer.closeAllConnections();
    await waitFor(async () => (await metric(h, /mcp_policy_bundle_fetch_errors_total (\d+)/)) >= 2, 'fetch errors');
    expect((await call(target, 'POST', '/mcp/policy/evaluate', REQ)).json()).toEqual({
      allowed: false,
      reason: 'no rule matched; default deny',
    });
    expect((await call(target, 'GET', '/health')).status).toBe(200);
  });
});

describe('a gzip bomb from the bundle URL', () => {
  /** 300 MiB of zeros in about 300 KB: past the 256 MiB bound on an inflated bundle. */
  const bomb = gzipSync(Buffer.alloc(300 * 2 ** 20));

  it('is inflated off the event loop: the service answers while it refuses it', async () => {
    const h = await serve({
      sources: { file: writeTemp(await bundleOf(ALLOW_ALL)) },
      tcp: { host: '127.0.0.1', port: 0 },
    });
    let refused = false;
    const offered = h.slot.offer(bomb).then((r) => {
      refused = true;
      return r;
    });
    let answered = 0;
    while (!refused) {
      const ping = await call({ port: h.port! }, 'GET', '/ping');
      if (!refused && ping.status === 200) answered++;
    }
    expect(answered).toBeGreaterThan(0);
    expect(await offered).toMatchObject({ activated: false, error: { code: 'bundle_too_large' } });
    expect((await call({ port: h.port! }, 'POST', '/mcp/policy/evaluate', REQ)).json()).toEqual({
      allowed: true,
      reason: 'no rule matched; default allow',
    });
  });

  it('is not inflated again on every poll when the server sends no ETag', async () => {
    let requests = 0;
    const bombServer = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'Content-Type': 'application/gzip' }).end(bomb);
    });
    servers.push(bombServer);
    await new Promise<void>((r) => bombServer.listen(0, '127.0.0.1', r));
    const notes: string[] = [];
    const h = await serve({
      bundleUrl: `http://127.0.0.1:${(bombServer.address() as { port: number }).port}/b.tar.gz`,
      pollIntervalMs: 50,
      socket: join(tempDir(), 's.sock'),
      notify: (line) => notes.push(line),
    });
    // Each poll waits for the previous one's offer: the fifth request means four polls were decided.
    await waitFor(() => requests >= 5, 'five polls');
    expect(await metric(h, /mcp_policy_bundle_loads_total\{outcome="rejected"\} (\d+)/)).toBe(1);
    expect(notes.filter((n) => n.startsWith('rejected bundle:'))).toEqual([
      'rejected bundle: bundle expands to more than 268435456 bytes (bundle_too_large); the last good bundle keeps serving',
    ]);
    expect(await metric(h, /mcp_policy_bundle_polls_total\{outcome="unchanged"\} (\d+)/)).toBeGreaterThanOrEqual(3);
  });
});

describe('shadow mode', () => {
  it('serves the primary decision and logs and counts each difference', async () => {
    const dir = tempDir();
    const [primary, candidate] = [join(dir, 'p.tar.gz'), join(dir, 'c.tar.gz')];
    writeFileSync(primary, await bundleOf(ALLOW_ALL));
    writeFileSync(candidate, await bundleOf(CANDIDATE));
    const log = join(dir, 'decisions.jsonl');
    const h = await serve({
      sources: { file: primary },
      shadow: { file: candidate },
      decisionLog: log,
      tcp: { host: '127.0.0.1', port: 0 },
    });
    const target = { port: h.port! };
    const reply = await call(target, 'POST', '/mcp/policy/evaluate/batch', {
      requests: [REQ, { ...REQ, tool: 'drop_x' }, { ...REQ, tool: 'secret_x' }],
    });
    expect((reply.json() as { decisions: { allowed: boolean }[] }).decisions.map((d) => d.allowed)).toEqual([
      true,
      true,
      false,
    ]);
    expect(await metric(h, /mcp_policy_shadow_differences_total (\d+)/)).toBe(1);
    await h.close();
    const entries = readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toHaveLength(3);
    expect(entries.map((e) => e.shadow !== undefined)).toEqual([false, true, false]);
    expect(entries[1]).toMatchObject({
      kind: 'decision',
      endpoint: '/mcp/policy/evaluate/batch',
      request: { ...REQ, tool: 'drop_x' },
      decision: { allowed: true, rule: null },
      batch: { index: 1, size: 3 },
      shadow: { decision: { allowed: false, reason: 'no drops', rule: 1 } },
    });
  });
});

describe('fetching a bundle from a URL', () => {
  /** A loopback server that answers `body` in chunks, declaring its length only when asked to. */
  async function chunked(body: Uint8Array, declare: boolean): Promise<{ url: string; close: () => void }> {
    const server = createServer((_req, res) => {
      res.writeHead(200, declare ? { 'content-length': body.length } : {});
      const step = 64 * 1024;
      let at = 0;
      const more = (): void => {
        if (at >= body.length) return void res.end();
        const ok = res.write(body.subarray(at, at + step));
        at += step;
        if (ok) setImmediate(more);
        else res.once('drain', more);
      };
      more();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}/b.tar.gz`, close: () => server.close() };
  }

  it('holds to its size bound when the server does not declare a length, and when it declares too much', async () => {
    const { fetchBundle } = await import('../src/server/bundle-source.js');
    const big = new Uint8Array(3 * 1024 * 1024).fill(7);
    for (const declare of [false, true]) {
      const s = await chunked(big, declare);
      try {
        const refused = await fetchBundle(s.url, undefined, 10_000, 1024 * 1024);
        expect(refused.kind, `declare ${declare}`).toBe('failed');
        expect((refused as { error: string }).error).toMatch(/exceeds 1048576$/);
        const taken = await fetchBundle(s.url, undefined, 10_000, big.length);
        expect(taken.kind).toBe('bundle');
        expect(Buffer.from((taken as { bytes: Uint8Array }).bytes).equals(big)).toBe(true);
      } finally {
        s.close();
      }
    }
  });
});
