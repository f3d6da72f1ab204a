/**
 * `mcp-policy proxy` over HTTP, end to end: a real SDK client over streamable
 * HTTP to the proxy, and the proxy to a real server over streamable HTTP.
 * Everything listens on loopback.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES, mustParse } from './helpers.js';
import {
  bundleFile,
  deniedServerArgs,
  type Connected,
  EVERYTHING,
  FILESYSTEM,
  runProxyToExit,
  startHttpProxy,
  stop,
  tempDir,
  text,
  viaHttp,
  viaStdioProxy,
} from './proxy/helpers.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function status(url: URL, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end('{}');
  });
}

describe('listening on streamable HTTP in front of a stdio server', () => {
  let dir: string;
  let proxy: { url: URL; child: ChildProcess };
  beforeAll(async () => {
    dir = tempDir();
    writeFileSync(join(dir, 'hello.txt'), 'hi\n');
    const bundle = await bundleFile(mustParse(readFileSync(join(EXAMPLES, 'block-tools.json'), 'utf8')));
    proxy = await startHttpProxy([bundle, '--', process.execPath, FILESYSTEM, dir]);
  });
  afterAll(() => stop(proxy.child));

  it('enforces the policy for each of two concurrent sessions', async () => {
    const [a, b] = await Promise.all([viaHttp(proxy.url), viaHttp(proxy.url)]);
    try {
      for (const c of [a, b]) {
        expect((await c.client.listTools()).tools.map((t) => t.name)).toContain('write_file');
        const target = join(dir, `${c === a ? 'a' : 'b'}.txt`);
        const r = await c.client.callTool({ name: 'write_file', arguments: { path: target, content: 'x' } });
        expect(text(r)).toBe('policy denied tool "write_file" on server "filesystem": Prevent file modifications');
        expect(existsSync(target)).toBe(false);
        expect(
          text(await c.client.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'hello.txt') } })),
        ).toBe('hi\n');
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses foreign Host and Origin headers and other paths', async () => {
    expect(await status(proxy.url, { host: 'attacker.example' })).toBe(403);
    expect(await status(proxy.url, { origin: 'https://attacker.example' })).toBe(403);
    expect(await status(new URL('/other', proxy.url), {})).toBe(404);
    expect(await status(proxy.url, { 'mcp-session-id': 'no-such-session' })).toBe(404);
  });
});

describe('session refusal over HTTP', () => {
  it('refuses new sessions with the reason when the server may not load', async () => {
    const proxy = await startHttpProxy(deniedServerArgs(tempDir()));
    try {
      const err = await viaHttp(proxy.url).catch((e: unknown) => e);
      expect(String(err)).toContain('This server is not approved for organizational use');
    } finally {
      await stop(proxy.child);
    }
  });

  it('refuses to listen on a non-loopback address unless asked', async () => {
    const r = await runProxyToExit([
      join(EXAMPLES, 'block-server.json'),
      '--engine',
      'native',
      '--listen',
      'http://0.0.0.0:0/mcp',
      '--',
      process.execPath,
      FILESYSTEM,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refusing to listen on "0.0.0.0" without authentication');
    expect(r.stderr).toContain('(auth_required)');
  });
});

/**
 * Starts server-everything on a free loopback port in the given mode; resolves when it listens, and fails at once
 * with its output when it exits first (a port taken meanwhile, a broken install).
 */
async function everything(mode: 'streamableHttp' | 'sse', path: string): Promise<{ server: ChildProcess; url: URL }> {
  const port = await freePort();
  const server = spawn(process.execPath, [EVERYTHING, mode], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    server.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on port|running on port/.test(err)) resolve();
    });
    server.once('exit', (code, signal) =>
      reject(new Error(`server-everything exited (${code ?? signal}) before listening: ${err}`)),
    );
  });
  return { server, url: new URL(`http://127.0.0.1:${port}${path}`) };
}

describe('a remote server over streamable HTTP (server-everything)', () => {
  let server: ChildProcess;
  let url: URL;
  let prompts: string;
  beforeAll(async () => {
    ({ server, url } = await everything('streamableHttp', '/mcp'));
    prompts = await bundleFile(
      mustParse(
        JSON.stringify({
          version: 1,
          default: 'allow',
          rules: [{ action: 'prompt', transport: 'streamable', serverType: 'remote', tools: ['simple-*'], deny: true }],
        }),
      ),
    );
  });
  afterAll(() => stop(server));

  it('derives remote/streamable facts, filters prompts and passes tools', async () => {
    const log = join(tempDir(), 'log.jsonl');
    const c: Connected = await viaStdioProxy([prompts, '--upstream-url', url.href, '--decision-log', log]);
    try {
      const names = (await c.client.listPrompts()).prompts.map((p) => p.name);
      expect(names).toContain('args-prompt');
      expect(names).not.toContain('simple-prompt');
      expect(text(await c.client.callTool({ name: 'echo', arguments: { message: 'over http' } }))).toContain(
        'over http',
      );
    } finally {
      await c.close();
    }
    const first = JSON.parse(readFileSync(log, 'utf8').split('\n')[0] ?? '') as { request: unknown };
    expect(first.request).toMatchObject({
      action: 'load',
      server: '127.0.0.1',
      serverType: 'remote',
      serverSource: url.href,
      transport: 'streamable',
    });
  });

  it('production example: remote servers are refused at start', async () => {
    const r = await runProxyToExit([
      join(EXAMPLES, 'production.json'),
      '--engine',
      'native',
      '--upstream-url',
      url.href,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('policy denied loading server "127.0.0.1": Block remote servers for security');
  });
});

describe('a remote server over SSE (server-everything)', () => {
  it('derives the sse transport from the URL and relays tools and resources', async () => {
    const { server, url } = await everything('sse', '/sse');
    const log = join(tempDir(), 'log.jsonl');
    try {
      const c = await viaStdioProxy([
        join(EXAMPLES, 'block-tools.json'),
        '--engine',
        'native',
        '--server',
        'everything',
        '--upstream-url',
        url.href,
        '--decision-log',
        log,
      ]);
      try {
        expect(text(await c.client.callTool({ name: 'echo', arguments: { message: 'over sse' } }))).toContain(
          'over sse',
        );
        expect((await c.client.listResources()).resources.length).toBeGreaterThan(0);
      } finally {
        await c.close();
      }
      const first = JSON.parse(readFileSync(log, 'utf8').split('\n')[0] ?? '') as { request: unknown };
      expect(first.request).toMatchObject({ server: 'everything', serverType: 'remote', transport: 'sse' });
    } finally {
      await stop(server);
    }
  });
});

describe("the server's requests and progress over the HTTP listener", () => {
  it('relays a sampling request to the HTTP client and progress to the calling request', async () => {
    const { CreateMessageRequestSchema } = await import('@modelcontextprotocol/sdk/types.js');
    const proxy = await startHttpProxy([
      join(EXAMPLES, 'block-tools.json'),
      '--engine',
      'native',
      '--',
      process.execPath,
      EVERYTHING,
      'stdio',
    ]);
    const c = await viaHttp(proxy.url, { sampling: {} }, (client) =>
      client.setRequestHandler(CreateMessageRequestSchema, () => ({
        model: 'test-model',
        role: 'assistant',
        content: { type: 'text', text: 'sampled over http' },
      })),
    );
    try {
      const sampled = await c.client.callTool({
        name: 'trigger-sampling-request',
        arguments: { prompt: 'hi', maxTokens: 5 },
      });
      expect(text(sampled)).toContain('sampled over http');
      const progress: number[] = [];
      await c.client.callTool(
        { name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress) },
      );
      expect(progress.slice(0, 2)).toEqual([1, 2]);
    } finally {
      await c.close();
      await stop(proxy.child);
    }
  });
});
