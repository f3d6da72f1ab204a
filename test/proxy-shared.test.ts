/**
 * One server shared by many HTTP sessions (`upstreamSharing: 'shared'`), in
 * process: real SDK clients over streamable HTTP to `startProxy`, and behind
 * it one child process, either the real filesystem server (two users with
 * different rights through one child) or a hand-written stdio server that
 * tells what it saw (progress, cancellation, sampling, subscriptions, a crash).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NativeEngine } from '../src/engines/native.js';
import { McpPolicyError } from '../src/core/errors.js';
import { type Policy } from '../src/policy/model.js';
import { parseProxyConfig } from '../src/proxy/config.js';
import { serverFacts, type ServerTarget } from '../src/proxy/facts.js';
import { type HttpAuthOptions, type HttpOptions } from '../src/proxy/http.js';
import { type RunningProxy, startProxy } from '../src/proxy/proxy.js';
import { SharedUpstream } from '../src/proxy/shared.js';
import { FILESYSTEM, startHttpProxy, stop, tempDir, text } from './proxy/helpers.js';

const SHARED_SERVER = join(import.meta.dirname, 'proxy', 'shared-server.mjs');
const ISSUER = 'https://issuer.example';
const AUDIENCE = 'mcp-shared-test';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The live child processes of this test process whose command line holds `marker`. */
function children(marker: string): number {
  return execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(marker)).length;
}

async function sharedProxy(
  target: ServerTarget,
  policy: Policy,
  extra: { auth?: HttpAuthOptions; http?: HttpOptions } = {},
): Promise<{ proxy: RunningProxy; url: URL; notes: string[] }> {
  const notes: string[] = [];
  const proxy = await startProxy({
    engine: new NativeEngine(policy),
    target,
    facts: serverFacts(target, { server: 'upstream' }),
    listen: new URL('http://127.0.0.1:0/mcp'),
    ...(extra.auth && { auth: extra.auth }),
    http: { upstreamSharing: 'shared', ...extra.http },
    onerror: (e) => void notes.push(e.message),
  });
  cleanup.push(() => proxy.close());
  return { proxy, url: proxy.url!, notes };
}

async function connect(
  url: URL,
  options: { bearer?: string; capabilities?: Record<string, unknown>; setup?: (c: Client) => void } = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'shared-test', version: '1.0.0' }, { capabilities: options.capabilities ?? {} });
  options.setup?.(client);
  // What the server sends on its own travels on the session's GET stream, which the client opens after connect
  // resolves: the session is ready for it once that stream's response has arrived.
  let streamOpen!: () => void;
  const opened = new Promise<void>((resolve) => (streamOpen = resolve));
  const transport = new StreamableHTTPClientTransport(url, {
    ...(options.bearer !== undefined && { requestInit: { headers: { authorization: `Bearer ${options.bearer}` } } }),
    fetch: async (input, init) => {
      const response = await fetch(input, init);
      if (init?.method === 'GET' && response.ok) streamOpen();
      return response;
    },
  });
  await client.connect(transport);
  await opened;
  cleanup.push(() => client.close());
  return { client, transport };
}

/** Polls until a condition holds, failing after a deadline. */
async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function sample(metrics: string, name: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

const ALLOW_ALL: Policy = { version: 1, default: 'allow', rules: [] };
const FIXTURE: ServerTarget = { kind: 'command', command: process.execPath, args: [SHARED_SERVER] };

describe('one filesystem server shared by many sessions', () => {
  it('serves two users with different rights through one child, which outlives a DELETE and is reaped at close', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'hello.txt'), 'hi\n');
    const pair = await generateKeyPair('ES256');
    const jwks = join(tempDir(), 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    const token = (sub: string, groups: string[]) =>
      new SignJWT({ groups })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(sub)
        .setExpirationTime('10m')
        .sign(pair.privateKey);
    const inside = [`${dir}/*`, dir];
    const policy: Policy = {
      version: 2,
      default: 'deny',
      rules: [
        {
          action: 'invoke',
          annotations: { destructiveHint: true },
          groups: ['writers'],
          arguments: [{ path: '/path', match: inside, normalize: 'path' }],
          allow: true,
          reason: 'writers may change files in the folder',
        },
        {
          action: 'invoke',
          annotations: { destructiveHint: true },
          allow: false,
          reason: 'destructive tools need the writers group',
        },
        { action: 'invoke', allow: true, reason: 'the rest' },
        { action: 'load', tools: ['move_file'], users: ['alice'], allow: false, reason: 'alice does not move files' },
        { action: 'load', allow: true },
      ],
    } as Policy;
    const target: ServerTarget = { kind: 'command', command: process.execPath, args: [FILESYSTEM, dir] };
    const { proxy, url } = await sharedProxy(target, policy, {
      auth: {
        jwt: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksFile: jwks, groupsClaim: 'groups' },
      },
    });
    const marker = 'server-filesystem';
    expect(children(marker)).toBe(0);
    const aliceToken = await token('alice', ['readers']);
    const bobToken = await token('bob', ['writers']);
    const sessions = await Promise.all([
      ...Array.from({ length: 4 }, () => connect(url, { bearer: aliceToken })),
      ...Array.from({ length: 4 }, () => connect(url, { bearer: bobToken })),
    ]);
    const [alice, , , , bob] = sessions.map((s) => s.client);
    expect(proxy.http!.status()).toMatchObject({ sessions: 8, children: 1, upstreamSharing: 'shared' });
    expect(children(marker)).toBe(1);
    const health = (await (await fetch(new URL('/health', url))).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ sessions: 8, children: 1, upstreamSharing: 'shared', limits: { maxChildren: 1 } });
    expect(sample(await proxy.http!.metrics(), 'mcp_policy_proxy_children')).toBe(1);

    const aliceTools = (await alice!.listTools()).tools.map((t) => t.name);
    const bobTools = (await bob!.listTools()).tools.map((t) => t.name);
    expect(bobTools).toContain('move_file');
    expect(aliceTools).not.toContain('move_file');
    const file = join(dir, 'new.txt');
    const aliceWrite = await alice!.callTool({ name: 'write_file', arguments: { path: file, content: 'a' } });
    expect(aliceWrite.isError).toBe(true);
    expect(text(aliceWrite)).toContain('destructive tools need the writers group');
    const bobWrite = await bob!.callTool({ name: 'write_file', arguments: { path: file, content: 'b' } });
    expect(bobWrite.isError).toBeFalsy();
    // Every session reads through the one child, each answer to its own request (a tool's annotations come from
    // the session's own listing: unlisted, a tool counts as destructive).
    await Promise.all(sessions.map((s) => s.client.listTools()));
    const reads = await Promise.all(
      sessions.map((s) => s.client.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'hello.txt') } })),
    );
    expect(reads.map(text)).toEqual(Array.from({ length: 8 }, () => 'hi\n'));

    await sessions[0]!.transport.terminateSession();
    await sessions[1]!.client.close();
    expect(proxy.http!.status()).toMatchObject({ children: 1 });
    expect(children(marker)).toBe(1);
    expect(text(await bob!.callTool({ name: 'read_text_file', arguments: { path: file } }))).toBe('b');

    await proxy.close();
    expect(proxy.http!.status()).toMatchObject({ sessions: 0, children: 0 });
    expect(children(marker)).toBe(0);
  });
});

describe('routing through one shared server', () => {
  it('initializes the server once and answers every session with the version it negotiated', async () => {
    const target = FIXTURE;
    const previous = process.env.PROTOCOL;
    process.env.PROTOCOL = '2025-06-18';
    cleanup.push(() => {
      if (previous === undefined) delete process.env.PROTOCOL;
      else process.env.PROTOCOL = previous;
      return Promise.resolve();
    });
    const { url } = await sharedProxy(target, ALLOW_ALL);
    const sessions = await Promise.all(Array.from({ length: 3 }, () => connect(url)));
    const who = await Promise.all(sessions.map(async (s) => text(await s.client.callTool({ name: 'whoami' }))));
    const pids = new Set(who.map((w) => (JSON.parse(w) as { pid: number }).pid));
    expect(pids.size).toBe(1);
    expect(JSON.parse(who[0]!)).toMatchObject({ initializations: 1 });
    // The server speaks 2025-06-18 only; a client asking for the latest version is offered that one.
    const raw = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      }),
    });
    const body = await raw.text();
    expect(body).toContain('"protocolVersion":"2025-06-18"');
    expect(sessions[0]!.transport.protocolVersion).toBe('2025-06-18');
  });

  it('sends progress to the session that asked, and cancels only the request its session cancelled', async () => {
    const { url } = await sharedProxy(FIXTURE, ALLOW_ALL);
    const a = await connect(url);
    const b = await connect(url);
    const progressA: number[] = [];
    const progressB: number[] = [];
    const abort = new AbortController();
    // Both clients number their requests alike, so only rewritten ids keep the answers apart upstream.
    const callA = a.client.callTool({ name: 'slow', arguments: { name: 'a' } }, undefined, {
      onprogress: (p) => progressA.push(p.progress),
      signal: abort.signal,
    });
    const callB = b.client.callTool({ name: 'slow', arguments: { name: 'b' } }, undefined, {
      onprogress: (p) => progressB.push(p.progress),
    });
    await until('both sessions got progress', () => progressA.length > 0 && progressB.length > 0);
    expect(progressA).toEqual([1]);
    expect(progressB).toEqual([1]);
    abort.abort('no longer needed');
    await expect(callA).rejects.toThrow();
    const c = await connect(url);
    // The cancellation reaches the server before the session's next request does.
    let cancelled: string[] = [];
    const deadline = Date.now() + 20_000;
    while (cancelled.length === 0 && Date.now() < deadline) {
      cancelled = JSON.parse(text(await c.client.callTool({ name: 'cancelled' }))) as string[];
    }
    expect(cancelled).toEqual(['a']);
    expect(text(await c.client.callTool({ name: 'release' }))).toBe('released');
    expect(text(await callB)).toBe('done b');
  });

  it('hands a sampling request to the one session with a request in flight, and refuses it when that is ambiguous', async () => {
    const { url } = await sharedProxy(FIXTURE, ALLOW_ALL);
    const withSampling = (answer: string) => ({
      capabilities: { sampling: {} },
      setup: (c: Client) =>
        c.setRequestHandler(CreateMessageRequestSchema, () => ({
          role: 'assistant' as const,
          model: 'test',
          content: { type: 'text' as const, text: answer },
        })),
    });
    const a = await connect(url, withSampling('from a'));
    const b = await connect(url, withSampling('from b'));
    expect(text(await a.client.callTool({ name: 'sample' }))).toBe('sampled: from a');
    expect(text(await b.client.callTool({ name: 'sample' }))).toBe('sampled: from b');
    const held = a.client.callTool({ name: 'slow', arguments: { name: 'held' } });
    const ambiguous = text(await b.client.callTool({ name: 'sample' }));
    expect(ambiguous).toMatch(/^error: the proxy shares this server among its client sessions and cannot tell/);
    expect(ambiguous).toContain('2 client sessions have requests in flight');
    await b.client.callTool({ name: 'release' });
    expect(text(await held)).toBe('done held');
  });

  it('sends resources/updated to subscribers only, list changes to everyone, and unsubscribes when the last one leaves', async () => {
    const { url } = await sharedProxy(FIXTURE, ALLOW_ALL);
    const updates = { a: [] as string[], b: [] as string[] };
    const changes = { a: 0, b: 0 };
    const observe = (who: 'a' | 'b') => ({
      setup: (c: Client) => {
        c.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates[who].push(n.params.uri));
        c.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes[who]++);
      },
    });
    const a = await connect(url, observe('a'));
    const b = await connect(url, observe('b'));
    await a.client.subscribeResource({ uri: 'file:///a' });
    await b.client.subscribeResource({ uri: 'file:///b' });
    expect(text(await b.client.callTool({ name: 'touch', arguments: { uri: 'file:///a' } }))).toBe('touched');
    await b.client.callTool({ name: 'change' });
    await until('both sessions heard of the change', () => changes.a === 1 && changes.b === 1);
    // The update was sent before the change, on the same streams.
    expect(updates).toEqual({ a: ['file:///a'], b: [] });
    expect(changes).toEqual({ a: 1, b: 1 });
    await b.transport.terminateSession();
    const subscribed = async () => JSON.parse(text(await a.client.callTool({ name: 'subscriptions' }))) as string[];
    let now = await subscribed();
    const deadline = Date.now() + 20_000;
    while (now.length > 1 && Date.now() < deadline) now = await subscribed();
    expect(now).toEqual(['file:///a']);
  });

  it('sends a log message to the session whose request it came with, at or above the level that session set', async () => {
    const { url } = await sharedProxy(FIXTURE, ALLOW_ALL);
    const logs = { a: [] as unknown[], b: [] as unknown[] };
    const observe = (who: 'a' | 'b') => ({
      setup: (c: Client) =>
        c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs[who].push(n.params.data)),
    });
    const a = await connect(url, observe('a'));
    const b = await connect(url, observe('b'));
    await a.client.setLoggingLevel('warning');
    await a.client.callTool({ name: 'log', arguments: { level: 'info' } });
    await a.client.callTool({ name: 'log', arguments: { level: 'error' } });
    await b.client.callTool({ name: 'log', arguments: { level: 'debug' } });
    await until('both sessions got their messages', () => logs.a.length > 0 && logs.b.length > 0);
    expect(logs).toEqual({ a: ['error'], b: ['debug'] });
  });

  it('restarts a crashed server, failing the request in flight, and counts the restart', async () => {
    const { proxy, url } = await sharedProxy(FIXTURE, ALLOW_ALL);
    const a = await connect(url);
    const b = await connect(url);
    const before = JSON.parse(text(await a.client.callTool({ name: 'whoami' }))) as { pid: number };
    await expect(a.client.callTool({ name: 'die' })).rejects.toThrow(/the server closed the connection/);
    const after = JSON.parse(text(await b.client.callTool({ name: 'whoami' }))) as { pid: number };
    expect(after.pid).not.toBe(before.pid);
    expect(text(await a.client.callTool({ name: 'whoami' }))).toContain(`"pid":${after.pid}`);
    expect(proxy.http!.status()).toMatchObject({ sessions: 2, children: 1, restarts: 1 });
    expect(sample(await proxy.http!.metrics(), 'mcp_policy_proxy_upstream_restarts_total')).toBe(1);
  });
});

describe('the shared child between sessions', () => {
  it('is stopped when no session is left for the idle time, and started afresh by the next session', async () => {
    const { proxy, url } = await sharedProxy(FIXTURE, ALLOW_ALL, { http: { sessionIdleMs: 200 } });
    const a = await connect(url);
    const first = JSON.parse(text(await a.client.callTool({ name: 'whoami' }))) as { pid: number };
    await a.transport.terminateSession();
    await until('the idle child is stopped', () => proxy.http!.status().children === 0);
    expect(proxy.http!.status()).toMatchObject({ sessions: 0, children: 0 });
    expect(children('shared-server.mjs')).toBe(0);
    const b = await connect(url);
    const second = JSON.parse(text(await b.client.callTool({ name: 'whoami' }))) as { pid: number };
    expect(second.pid).not.toBe(first.pid);
    // A stop for want of sessions is no crash.
    expect(proxy.http!.status()).toMatchObject({ children: 1, restarts: 0 });
  });
});

describe('restarts of a shared server', () => {
  it('wait 250 ms after a crash, doubling with each crash in a row up to 30 s, one child at a time', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const servers: InMemoryTransport[] = [];
      const upstream = new SharedUpstream(
        () => {
          const [client, server] = InMemoryTransport.createLinkedPair();
          server.onmessage = (m) => {
            if (!('id' in m) || !('method' in m)) return;
            const result =
              m.method === 'initialize'
                ? { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'fake', version: '1' } }
                : {};
            void server.send({ jsonrpc: '2.0', id: m.id, result });
          };
          servers.push(server);
          return client;
        },
        { clientInfo: { name: 'test', version: '1' } },
      );
      const link = upstream.attach();
      const answered: unknown[] = [];
      link.onmessage = (m) => void answered.push((m as { id?: unknown }).id);
      await link.send({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
      });
      expect(servers).toHaveLength(1);
      const waits: number[] = [];
      for (let crash = 1; crash <= 9; crash++) {
        await servers.at(-1)!.close();
        expect(upstream.children).toBe(0);
        const started = servers.length;
        const ping = link.send({ jsonrpc: '2.0', id: crash, method: 'ping' });
        let waited = 0;
        while (servers.length === started) {
          await vi.advanceTimersByTimeAsync(50);
          waited += 50;
        }
        await ping;
        expect(upstream.children).toBe(1);
        waits.push(waited);
      }
      expect(waits).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
      expect(answered).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(upstream.restarts).toBe(9);
      await upstream.close();
      expect(upstream.children).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('counts a server that goes away while it is being started as one crash, not two', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const starts: number[] = [];
      const upstream = new SharedUpstream(
        () => {
          const [client, server] = InMemoryTransport.createLinkedPair();
          // Exits as soon as it is asked to initialize.
          server.onmessage = (m) => {
            if ('method' in m && m.method === 'initialize') void server.close();
          };
          starts.push(Date.now());
          return client;
        },
        { clientInfo: { name: 'test', version: '1' } },
      );
      const link = upstream.attach();
      const answers: unknown[] = [];
      link.onmessage = (m) => void answers.push(m);
      for (let k = 1; k <= 4; k++) {
        const before = starts.length;
        const ping = link.send({ jsonrpc: '2.0', id: k, method: 'ping' });
        while (starts.length === before) await vi.advanceTimersByTimeAsync(50);
        await ping;
      }
      expect(starts.slice(1).map((t, k) => t - starts[k]!)).toEqual([250, 500, 1_000]);
      expect(answers).toHaveLength(4);
      expect(answers).toMatchObject(Array.from({ length: 4 }, () => ({ error: { data: { code: 'server_failed' } } })));
      await upstream.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers a request waiting out the restart delay when the proxy closes, leaving no timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const servers: InMemoryTransport[] = [];
      const upstream = new SharedUpstream(
        () => {
          const [client, server] = InMemoryTransport.createLinkedPair();
          server.onmessage = (m) => {
            if (!('id' in m) || !('method' in m)) return;
            const result =
              m.method === 'initialize'
                ? { protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'fake', version: '1' } }
                : {};
            void server.send({ jsonrpc: '2.0', id: m.id, result });
          };
          servers.push(server);
          return client;
        },
        { clientInfo: { name: 'test', version: '1' }, restartBaseMs: 3_600_000, restartMaxMs: 3_600_000 },
      );
      const link = upstream.attach();
      const answers: unknown[] = [];
      link.onmessage = (m) => void answers.push(m);
      await link.send({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } },
      });
      await servers[0]!.close();
      // Waits an hour for the restart.
      const ping = link.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
      await vi.advanceTimersByTimeAsync(0);
      await upstream.close();
      await vi.advanceTimersByTimeAsync(0);
      expect(answers.at(-1)).toMatchObject({ id: 1, error: { data: { code: 'server_failed' } } });
      expect(servers).toHaveLength(1);
      expect(vi.getTimerCount()).toBe(0);
      await ping;
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('the sharing option', () => {
  it('is taken from the config file by the command line proxy, which reports it in /health', async () => {
    const config = join(tempDir(), 'proxy.json');
    writeFileSync(config, JSON.stringify({ upstreamSharing: 'shared', command: [process.execPath, SHARED_SERVER] }));
    const policy = join(tempDir(), 'policy.json');
    writeFileSync(policy, JSON.stringify(ALLOW_ALL));
    const proxy = await startHttpProxy([policy, '--engine', 'native', '--config', config]);
    cleanup.push(() => stop(proxy.child));
    const sessions = await Promise.all(Array.from({ length: 3 }, () => connect(proxy.url)));
    const who = await Promise.all(sessions.map(async (s) => text(await s.client.callTool({ name: 'whoami' }))));
    expect(new Set(who).size).toBe(1);
    const health = (await (await fetch(new URL('/health', proxy.url))).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ sessions: 3, children: 1, upstreamSharing: 'shared' });
  });

  it('is a config file key with two values', () => {
    expect(parseProxyConfig('{"upstreamSharing":"shared"}', 'proxy.json')).toEqual({ upstreamSharing: 'shared' });
    let error: unknown;
    try {
      parseProxyConfig('{"upstreamSharing":"pooled"}', 'proxy.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(McpPolicyError);
    expect(error).toMatchObject({
      code: 'invalid_proxy_config',
      message: 'proxy.json: /upstreamSharing: must be "session" or "shared", not "pooled"',
    });
  });

  it('keeps a child per session by default', async () => {
    const notes: string[] = [];
    const proxy = await startProxy({
      engine: new NativeEngine(ALLOW_ALL),
      target: FIXTURE,
      facts: serverFacts(FIXTURE, { server: 'upstream' }),
      listen: new URL('http://127.0.0.1:0/mcp'),
      onerror: (e) => void notes.push(e.message),
    });
    cleanup.push(() => proxy.close());
    const a = await connect(proxy.url!);
    const b = await connect(proxy.url!);
    const pids = await Promise.all(
      [a, b].map(async (s) => (JSON.parse(text(await s.client.callTool({ name: 'whoami' }))) as { pid: number }).pid),
    );
    expect(new Set(pids).size).toBe(2);
    expect(proxy.http!.status()).toMatchObject({ children: 2, upstreamSharing: 'session' });
  });
});
