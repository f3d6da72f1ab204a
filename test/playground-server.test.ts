/**
 * The playground's local server (src/playground/server.ts) and its command:
 * compile and decide agree with `mcp-policy compile` and `eval`, and every
 * request that is not from its own page on loopback is refused with a code.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWasmBundle } from '../src/bundle/read.js';
import { type PlaygroundServer, startPlayground } from '../src/playground/server.js';
import { toAdminSettings } from '../src/playground/model/index.js';
import { parseCaseFile } from '../src/testing/cases.js';
import { cli, EXAMPLES, ROOT, tempFile } from './helpers.js';

const BIN = join(ROOT, 'bin', 'mcp-policy.js');
const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
const productionFile = join(EXAMPLES, 'production.json');
const production = readFileSync(productionFile, 'utf8');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

/** One HTTP request with exactly the headers given (fetch would not let a test set Host). */
function call(
  server: PlaygroundServer,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const { hostname, port } = server.url;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: hostname,
        port,
        method,
        path,
        headers: {
          host: `${hostname}:${port}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as Record<string, unknown>,
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let app: string;
let withInitial: PlaygroundServer;
let bare: PlaygroundServer;

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'mcp-policy-playground-'));
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>playground</title>');
  mkdirSync(join(app, 'assets'));
  writeFileSync(join(app, 'assets', 'app.js'), 'export {};\n');
  withInitial = await startPlayground({
    host: '127.0.0.1',
    port: 0,
    staticDir: app,
    initial: { name: 'examples/production.json', text: production },
  });
  bare = await startPlayground({ host: '127.0.0.1', port: 0, staticDir: join(app, 'missing') });
});

afterAll(async () => {
  await withInitial?.close();
  await bare?.close();
});

describe('the playground API', () => {
  it('status says whether opa is there, and gives the initial policy when it was started with one', async () => {
    const a = await call(withInitial, 'GET', '/api/status');
    expect(a.status).toBe(200);
    expect(a.json()).toEqual({
      opa: true,
      opaVersion: '1.22.2',
      initial: { name: 'examples/production.json', text: production },
    });
    expect((await call(bare, 'GET', '/api/status')).json()).toEqual({ opa: true, opaVersion: '1.22.2' });
  });

  it('compile gives the bundle mcp-policy compile builds from the same text, revision and all', async () => {
    const reply = await call(withInitial, 'POST', '/api/compile', JSON.stringify({ text: production }));
    expect(reply.status, reply.text).toBe(200);
    const { revision, bundle } = reply.json() as { revision: string; bundle: string };
    const out = mkdtempSync(join(tmpdir(), 'mcp-policy-compile-'));
    const compiled = JSON.parse(run(['compile', productionFile, '-o', out, '--format', 'json']).stdout) as {
      revision: string;
    };
    expect(revision).toBe(compiled.revision);
    const bytes = Buffer.from(bundle, 'base64');
    expect(bytes.equals(readFileSync(join(out, 'bundle.tar.gz')))).toBe(true);
    expect(readWasmBundle(bytes).manifest.revision).toBe(revision);
  });

  it('compile layers admin settings as compile does for a file of the same name', async () => {
    const text = toAdminSettings(JSON.parse(production), { locked: false });
    const file = tempFile('admin-settings.json', text);
    const reply = await call(withInitial, 'POST', '/api/compile', JSON.stringify({ text, name: file }));
    const out = mkdtempSync(join(tmpdir(), 'mcp-policy-compile-'));
    const compiled = JSON.parse(run(['compile', file, '-o', out, '--format', 'json']).stdout) as { revision: string };
    expect((reply.json() as { revision: string }).revision).toBe(compiled.revision);
  });

  it('decide answers what mcp-policy eval answers on the bundle', async () => {
    const cases = parseCaseFile(readFileSync(join(EXAMPLES, 'production.cases.json'), 'utf8'));
    const requests: unknown[] = [
      ...cases.requests!.map((c) => c.request),
      'not a request',
      { action: 'invoke', server: 'github', tool: 'remove_repo' },
      { action: 'load', serverType: 'remote', server: 'x', serverSource: 'https://x.example/mcp' },
    ];
    const reply = await call(withInitial, 'POST', '/api/decide', JSON.stringify({ text: production, requests }));
    expect(reply.status, reply.text).toBe(200);
    const { revision, decisions } = reply.json() as { revision: string; decisions: unknown[] };
    const compiled = (await call(withInitial, 'POST', '/api/compile', JSON.stringify({ text: production }))).json();
    expect(revision).toBe(compiled.revision);
    const bundleFile = tempFile('bundle.tar.gz', '');
    writeFileSync(bundleFile, Buffer.from(compiled.bundle as string, 'base64'));
    const input = tempFile('requests.jsonl', requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const evaluated = run(['eval', bundleFile, '--input', input]);
    const expected = evaluated.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(decisions).toEqual(expected);
    expect(decisions).toHaveLength(requests.length);
  });

  it('without opa, status says so and compile and decide answer opa_not_found, the rest still works', async () => {
    const saved = process.env.OPA_BIN;
    process.env.OPA_BIN = join(app, 'no-opa-here');
    try {
      expect((await call(bare, 'GET', '/api/status')).json()).toEqual({ opa: false });
      for (const path of ['/api/compile', '/api/decide']) {
        const reply = await call(bare, 'POST', path, JSON.stringify({ text: production, requests: [{}] }));
        expect([reply.status, reply.json().code], path).toEqual([503, 'opa_not_found']);
      }
    } finally {
      if (saved === undefined) delete process.env.OPA_BIN;
      else process.env.OPA_BIN = saved;
    }
    expect((await call(bare, 'GET', '/api/status')).json()).toMatchObject({ opa: true });
  });

  it('answers an invalid policy with its coded issues and pointers', async () => {
    const text = '{"default": "deny", "rules": [{"sever": "x", "allow": true}]}';
    for (const path of ['/api/compile', '/api/decide']) {
      const reply = await call(withInitial, 'POST', path, JSON.stringify({ text, requests: [] }));
      expect(reply.status).toBe(400);
      expect(reply.json()).toMatchObject({
        code: 'invalid_policy',
        errors: [{ code: 'unknown_field', path: '/rules/0/sever', line: 1, column: 32 }],
      });
    }
  });

  it('refuses bad bodies with codes: not JSON, not an object, wrong types, too large, too many requests', async () => {
    const cases: [string, string, number, string][] = [
      ['/api/compile', '{"text": ', 400, 'invalid_json'],
      ['/api/compile', '[]', 400, 'invalid_type'],
      ['/api/compile', '{"text": 1}', 400, 'invalid_type'],
      ['/api/decide', JSON.stringify({ text: production, requests: {} }), 400, 'invalid_requests'],
      [
        '/api/decide',
        JSON.stringify({ text: production, requests: new Array(1001).fill({}) }),
        413,
        'too_many_entries',
      ],
      ['/api/compile', JSON.stringify({ text: ' '.repeat(2 * 1024 * 1024) }), 413, 'too_large'],
    ];
    for (const [path, body, status, code] of cases) {
      const reply = await call(withInitial, 'POST', path, body);
      expect([reply.status, reply.json().code], `${path} ${body.slice(0, 40)}`).toEqual([status, code]);
      expect(reply.text).not.toMatch(/\n\s+at /);
    }
    const form = await call(withInitial, 'POST', '/api/compile', '{"text": ""}', { 'content-type': 'text/plain' });
    expect([form.status, form.json().code]).toEqual([415, 'unsupported_media_type']);
    const get = await call(withInitial, 'GET', '/api/compile');
    expect([get.status, get.json().code]).toEqual([405, 'method_not_allowed']);
    const nothing = await call(withInitial, 'GET', '/api/nothing');
    expect([nothing.status, nothing.json().code]).toEqual([404, 'not_found']);
  });

  it('refuses a foreign Host and a cross-site Origin, and takes its own page', async () => {
    const port = withInitial.url.port;
    for (const host of ['evil.example', `evil.example:${port}`, '127.0.0.1:1', `192.168.1.5:${port}`]) {
      const reply = await call(withInitial, 'GET', '/api/status', undefined, { host });
      expect([reply.status, reply.json().code], host).toEqual([403, 'forbidden_host']);
    }
    const body = JSON.stringify({ text: production });
    for (const origin of ['https://evil.example', `http://evil.example:${port}`, 'http://127.0.0.1:1', 'null']) {
      const reply = await call(withInitial, 'POST', '/api/compile', body, { origin });
      expect([reply.status, reply.json().code], origin).toEqual([403, 'forbidden_origin']);
    }
    for (const [host, origin] of [
      [`127.0.0.1:${port}`, `http://127.0.0.1:${port}`],
      [`localhost:${port}`, `http://localhost:${port}`],
    ] as const) {
      const reply = await call(withInitial, 'GET', '/api/status', undefined, { host, origin });
      expect(reply.status, host).toBe(200);
    }
  });
});

describe('the work one decide call asks for', () => {
  it('is priced on the policy and refused past the budget, a single short request always decided', async () => {
    const server = await startPlayground({ host: '127.0.0.1', port: 0, staticDir: app, maxWork: 1 });
    try {
      const decide = (requests: unknown[]) =>
        call(server, 'POST', '/api/decide', JSON.stringify({ text: production, requests }));
      const request = { action: 'invoke', server: 'github', tool: 'get_issue' };
      const one = await decide([request]);
      expect(one.status, one.text).toBe(200);
      const two = await decide([request, request]);
      expect([two.status, two.json().code, two.json().pointer]).toEqual([413, 'work_too_large', '/requests']);
      expect(two.json().message).toMatch(/^2 requests need about \d+ rule checks on this policy; the limit is 1$/);
      const long = await decide([{ ...request, tool: 'x'.repeat(100_000) }]);
      expect([long.status, long.json().code]).toEqual([413, 'work_too_large']);
      expect(long.json().message).toMatch(/^the request needs about \d+ rule checks/);
    } finally {
      await server.close();
    }
  });
});

describe('compiles that time out', () => {
  it('end their opa at the deadline, so the next compile runs its own while the first would still hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-playground-opa-'));
    const lock = join(dir, 'lock');
    const log = join(dir, 'log');
    // An opa whose build holds until the test lets go of the lock, and logs when it starts and ends.
    const opa = join(dir, 'opa');
    writeFileSync(
      opa,
      `#!/bin/sh\nif [ "$1" = version ]; then echo "Version: 1.22.2"; exit 0; fi\n` +
        `echo start >> "${log}"\nflock "${lock}" true\necho end >> "${log}"\nexit 1\n`,
      { mode: 0o755 },
    );
    writeFileSync(log, '');
    const holder = spawn('flock', [lock, 'sh', '-c', 'echo locked; cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    const saved = process.env.OPA_BIN;
    process.env.OPA_BIN = opa;
    const server = await startPlayground({ host: '127.0.0.1', port: 0, staticDir: app, compileTimeoutMs: 100 });
    try {
      const compile = () => call(server, 'POST', '/api/compile', JSON.stringify({ text: production }));
      const first = await compile();
      expect([first.status, first.json().code]).toEqual([504, 'opa_timeout']);
      // The lock is still held: the second compile runs (and is answered) only once the first one's opa is gone.
      const second = await compile();
      expect([second.status, second.json().code]).toEqual([504, 'opa_timeout']);
      // No opa got past the lock: the first was killed, not ended by itself.
      expect(readFileSync(log, 'utf8')).toMatch(/^start\n/);
      expect(readFileSync(log, 'utf8')).not.toMatch(/end/);
    } finally {
      holder.stdin.end();
      if (saved === undefined) delete process.env.OPA_BIN;
      else process.env.OPA_BIN = saved;
      await server.close();
    }
  });
});

describe('the playground app files', () => {
  it('serves the built app, and nothing outside its folder', async () => {
    const index = await call(withInitial, 'GET', '/');
    expect([index.status, index.headers['content-type'], index.text]).toEqual([
      200,
      'text/html; charset=utf-8',
      '<!doctype html><title>playground</title>',
    ]);
    expect(index.headers['content-security-policy']).toBe("frame-ancestors 'none'");
    const js = await call(withInitial, 'GET', '/assets/app.js');
    expect([js.status, js.headers['content-type']]).toEqual([200, 'text/javascript; charset=utf-8']);
    for (const path of ['/%2e%2e/%2e%2e/package.json', '/..%2fpackage.json', '/missing.js']) {
      const reply = await call(withInitial, 'GET', path);
      expect([reply.status, reply.json().code], path).toEqual([404, 'not_found']);
    }
    const post = await call(withInitial, 'POST', '/', '{}');
    expect([post.status, post.json().code]).toEqual([405, 'method_not_allowed']);
  });

  it('answers a coded 503 page that says how to build the app when dist/playground is missing', async () => {
    const reply = await call(bare, 'GET', '/');
    expect(reply.status).toBe(503);
    expect(reply.headers['x-error-code']).toBe('playground_not_built');
    expect(reply.text).toContain('npm run build:playground');
    expect(reply.text).toContain('playground_not_built');
  });
});

describe('mcp-policy playground', () => {
  it('refuses an address off loopback with a usage error', async () => {
    for (const addr of ['0.0.0.0:0', '192.168.1.5:8182', 'example.com:0']) {
      const r = await cli(['playground', '--addr', addr]);
      expect(r.code, addr).toBe(2);
      expect(r.stderr).toMatch(/^mcp-policy: --addr: the playground listens on loopback only .*\(usage\)\n$/);
    }
    await expect(startPlayground({ host: '0.0.0.0', port: 0 })).rejects.toMatchObject({ code: 'usage' });
  });

  it('prints its URL, serves the policy it was started with, and ends on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'playground', productionFile, '--addr', '127.0.0.1:0'], { cwd: ROOT });
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve) => lines.once('line', resolve));
    expect(first).toMatch(/^playground: http:\/\/127\.0\.0\.1:\d+\/$/);
    const url = new URL(first.slice('playground: '.length));
    const status = (await (await fetch(new URL('/api/status', url))).json()) as { initial: { name: string } };
    expect(status.initial).toEqual({ name: productionFile, text: production });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
