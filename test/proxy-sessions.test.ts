/**
 * The proxy's HTTP sessions and its denial shapes, in process: real SDK
 * clients over streamable HTTP to `startProxy`, and behind it a real SDK
 * server over streamable HTTP that records every session it sees end, or the
 * recording stdio server as one child process per session. Everything listens
 * on loopback, on ports the kernel picks.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NativeEngine } from '../src/engines/native.js';
import { type Policy } from '../src/policy/model.js';
import { serverFacts, type ServerTarget } from '../src/proxy/facts.js';
import { BoundedEventStore } from '../src/proxy/event-store.js';
import { BUSY_RETRY_AFTER_SECONDS, type HttpOptions, type SessionEnd } from '../src/proxy/http.js';
import { type RunningProxy, startProxy } from '../src/proxy/proxy.js';
import { DENIAL_META, POLICY_DENIED } from '../src/proxy/relay.js';
import { runProxyToExit } from './proxy/helpers.js';
import { RAW_SERVER } from './proxy/raw.js';

const POLICY: Policy = {
  version: 1,
  default: 'allow',
  rules: [
    {
      action: 'invoke',
      server: 'upstream',
      tools: ['secret_tool', 'secret_typed'],
      allow: false,
      reason: 'No secrets',
    },
    { action: 'prompt', server: 'upstream', tools: ['secret'], allow: false, reason: 'No secret prompts' },
  ],
};

/** A streamable HTTP MCP server built with the SDK: one McpServer per session, each session's end recorded. */
class Upstream {
  readonly events = new EventEmitter();
  readonly deleted: string[] = [];
  /** Resolves the `slow` tool's calls that are waiting. */
  readonly release: (() => void)[] = [];
  private readonly transports = new Map<string, StreamableHTTPServerTransport>();
  private server!: Server;
  url!: URL;

  private mcp(): McpServer {
    const s = new McpServer({ name: 'upstream', version: '1.0.0' });
    s.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
      content: [{ type: 'text', text }],
    }));
    s.registerTool('secret_tool', {}, () => ({ content: [{ type: 'text', text: 'the secret' }] }));
    s.registerTool('secret_typed', { outputSchema: { value: z.string() } }, () => ({
      content: [{ type: 'text', text: 'the secret' }],
      structuredContent: { value: 'the secret' },
    }));
    s.registerTool('slow', {}, async (extra) => {
      const token = extra._meta?.progressToken;
      if (token !== undefined) {
        await extra.sendNotification({
          method: 'notifications/progress',
          params: { progressToken: token, progress: 1 },
        });
      }
      await new Promise<void>((resolve) => {
        this.release.push(resolve);
        this.events.emit('slow');
      });
      return { content: [{ type: 'text', text: 'slow done' }] };
    });
    s.registerPrompt('greeting', {}, () => ({
      messages: [{ role: 'user', content: { type: 'text', text: 'hello' } }],
    }));
    s.registerPrompt('secret', {}, () => ({
      messages: [{ role: 'user', content: { type: 'text', text: 'the secret' } }],
    }));
    s.registerResource('readme', 'file:///readme.txt', {}, (uri) => ({
      contents: [{ uri: uri.href, text: 'read me' }],
    }));
    return s;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const sid = req.headers['mcp-session-id'];
      const existing = typeof sid === 'string' ? this.transports.get(sid) : undefined;
      if (existing) return void existing.handleRequest(req, res);
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void this.transports.set(id, transport),
        onsessionclosed: (id) => {
          this.transports.delete(id);
          this.deleted.push(id);
          this.events.emit('deleted', id);
        },
      });
      void this.mcp()
        .connect(transport)
        .then(() => transport.handleRequest(req, res));
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = new URL(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/mcp`);
  }

  get live(): number {
    return this.transports.size;
  }

  async stop(): Promise<void> {
    for (const r of this.release.splice(0)) r();
    await Promise.allSettled([...this.transports.values()].map((t) => t.close()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Counts the ends of sessions by reason, with the ids of those evicted; `reached` waits for a count. */
class Ends {
  readonly counts: Record<SessionEnd, number> = { deleted: 0, expired: 0, evicted: 0, closed: 0, shutdown: 0 };
  readonly evicted: string[] = [];
  private readonly events = new EventEmitter();
  readonly hook: HttpOptions['onSessionEnd'] = ({ id, reason }) => {
    this.counts[reason]++;
    if (reason === 'evicted') this.evicted.push(id);
    this.events.emit('end');
  };
  async reached(reason: SessionEnd, count: number): Promise<void> {
    while (this.counts[reason] < count) await once(this.events, 'end');
  }
}

async function proxyTo(
  target: ServerTarget,
  http: HttpOptions = {},
): Promise<{ proxy: RunningProxy; url: URL; ends: Ends; notes: string[] }> {
  const ends = new Ends();
  const notes: string[] = [];
  const proxy = await startProxy({
    engine: new NativeEngine(POLICY),
    target,
    facts: serverFacts(target, { server: 'upstream' }),
    listen: new URL('http://127.0.0.1:0/mcp'),
    http: { ...http, onSessionEnd: ends.hook },
    onerror: (e) => void notes.push(e.message),
  });
  cleanup.push(() => proxy.close());
  return { proxy, url: proxy.url!, ends, notes };
}

/** Polls a condition of the proxy's state until it holds, failing after a deadline. */
async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function upstream(): Promise<Upstream> {
  const u = new Upstream();
  await u.start();
  cleanup.push(() => u.stop());
  return u;
}

async function connect(url: URL): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'sessions-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(url);
  await client.connect(transport);
  return { client, transport };
}

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 'init',
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

function headers(session?: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': '2025-11-25',
    ...(session !== undefined && { 'mcp-session-id': session }),
    ...extra,
  };
}

/** Reads SSE events from a response body until `until` says stop; returns them with their ids. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  until: (event: { id?: string; data: Record<string, unknown> }) => boolean,
): Promise<{ id?: string; data: Record<string, unknown> }[]> {
  const events: { id?: string; data: Record<string, unknown> }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return events;
    buffer += decoder.decode(value, { stream: true });
    let cut: number;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const id = /^id: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (data === undefined) continue; // a priming event: an id to resume from, no message
      const event = { ...(id !== undefined && { id }), data: JSON.parse(data) as Record<string, unknown> };
      events.push(event);
      if (until(event)) {
        await reader.cancel();
        return events;
      }
    }
  }
}

describe('HTTP sessions', () => {
  it('1,000 sessions left without DELETE expire, free their slots and end upstream; then more work', async () => {
    const up = await upstream();
    const { proxy, url, ends } = await proxyTo(
      { kind: 'url', url: up.url, transport: 'streamable' },
      { sessionIdleMs: 3_000, maxSessionsPerClient: 1_000 },
    );
    // Connected SDK clients hold their SSE stream open, so none of these is idle yet.
    const clients: Client[] = [];
    for (let k = 0; k < 1_000; k += 50) {
      clients.push(...(await Promise.all(Array.from({ length: 50 }, () => connect(url).then((c) => c.client)))));
    }
    expect(proxy.http!.status()).toMatchObject({ sessions: 1_000, clients: 1 });
    // Each client opens its stream just after connecting; with every stream open none may be evicted.
    await until('every session holds its stream', () => proxy.http!.status().idle === 0);
    const refused = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(INITIALIZE) });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await refused.body?.cancel();
    // Abandoned: the SDK's close() drops the streams and sends no DELETE.
    await Promise.all(clients.map((c) => c.close()));
    await ends.reached('expired', 1_000);
    expect(ends.counts.deleted).toBe(0);
    expect(proxy.http!.status()).toMatchObject({ sessions: 0, clients: 0 });
    // Each expired session was ended upstream too.
    expect(up.deleted).toHaveLength(1_000);
    const after = await Promise.all(Array.from({ length: 5 }, () => connect(url)));
    for (const { client } of after) {
      const r = await client.callTool({ name: 'echo', arguments: { text: 'still here' } });
      expect(r.content).toEqual([{ type: 'text', text: 'still here' }]);
    }
    await Promise.all(after.map((c) => c.client.close()));
  }, 120_000);

  it('a client past its limit with every session busy gets 429 with Retry-After; DELETE frees a slot and ends the upstream session', async () => {
    const up = await upstream();
    const { proxy, url, ends } = await proxyTo(
      { kind: 'url', url: up.url, transport: 'streamable' },
      { maxSessionsPerClient: 2, sessionIdleMs: 3_600_000 },
    );
    const a = await connect(url);
    const b = await connect(url);
    await until('both sessions hold their streams', () => proxy.http!.status().idle === 0);
    const refused = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(INITIALIZE) });
    expect(refused.status).toBe(429);
    // Any busy session may turn idle (and evictable) at any moment, so the wait is short, not an idle time.
    expect(refused.headers.get('retry-after')).toBe(String(BUSY_RETRY_AFTER_SECONDS));
    expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
      'too many sessions for this client (2), each with a request or stream open; end one with DELETE or wait',
    );
    expect(ends.counts.evicted).toBe(0);
    await a.transport.terminateSession();
    // The proxy's session ends only after the upstream acknowledged its DELETE.
    await ends.reached('deleted', 1);
    expect(up.deleted).toHaveLength(1);
    const c = await connect(url);
    expect((await c.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    await Promise.all([a.client.close(), b.client.close(), c.client.close()]);
  });

  it('DELETE ends the session child of a stdio server; the live children are counted and bounded', async () => {
    const { proxy, url, ends } = await proxyTo(
      { kind: 'command', command: process.execPath, args: [RAW_SERVER] },
      { maxChildren: 1 },
    );
    const children = () =>
      execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes('raw-server.mjs')).length;
    const a = await connect(url);
    expect(proxy.http!.status()).toMatchObject({ sessions: 1, children: 1, limits: { maxChildren: 1 } });
    expect(children()).toBe(1);
    const refused = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(INITIALIZE) });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    await refused.body?.cancel();
    const health = await fetch(new URL('/health', url));
    expect(await health.json()).toMatchObject({ status: 'ok', sessions: 1, children: 1 });
    await a.transport.terminateSession();
    await ends.reached('deleted', 1);
    expect(proxy.http!.status()).toMatchObject({ sessions: 0, children: 0 });
    expect(children()).toBe(0);
    await a.client.close();
    const b = await connect(url);
    expect((await b.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    await b.client.close();
  });

  it('a stream cut in the middle of a call resumes through the proxy with Last-Event-ID', async () => {
    const up = await upstream();
    const { url } = await proxyTo({ kind: 'url', url: up.url, transport: 'streamable' });
    const init = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(INITIALIZE) });
    const session = init.headers.get('mcp-session-id')!;
    await readEvents(init.body!, (e) => e.data.id === 'init');
    const initialized = await fetch(url, {
      method: 'POST',
      headers: headers(session),
      body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    });
    expect(initialized.status).toBe(202);
    const waiting = once(up.events, 'slow');
    const call = await fetch(url, {
      method: 'POST',
      headers: headers(session),
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 'slow-1',
        method: 'tools/call',
        params: { name: 'slow', arguments: {}, _meta: { progressToken: 'p1' } },
      }),
    });
    // The first message is the progress notification; the stream is then dropped before the result.
    const [progress] = await readEvents(call.body!, (e) => e.data.method === 'notifications/progress');
    expect(progress?.id).toBeDefined();
    await waiting;
    up.release.splice(0).forEach((r) => r());
    // Until the proxy has seen the cut, the stream still counts as connected (409): poll, with a deadline.
    const deadline = Date.now() + 10_000;
    let resumed: Response;
    for (;;) {
      resumed = await fetch(url, {
        method: 'GET',
        headers: headers(session, { accept: 'text/event-stream', 'last-event-id': progress!.id! }),
      });
      if (resumed.status !== 409 || Date.now() > deadline) break;
      await resumed.body?.cancel();
    }
    expect(resumed.status).toBe(200);
    const replayed = await readEvents(resumed.body!, (e) => e.data.id === 'slow-1');
    expect(replayed.map((e) => e.data)).toEqual([
      { jsonrpc: '2.0', id: 'slow-1', result: { content: [{ type: 'text', text: 'slow done' }] } },
    ]);
  });

  it('on shutdown a call in flight is answered, then the upstream session is ended', async () => {
    const up = await upstream();
    const { proxy, url } = await proxyTo({ kind: 'url', url: up.url, transport: 'streamable' });
    const { client } = await connect(url);
    const waiting = once(up.events, 'slow');
    const call = client.callTool({ name: 'slow', arguments: {} });
    await waiting;
    const closing = proxy.close();
    // New sessions are refused while the call drains.
    const refused = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(INITIALIZE) }).then(
      (r) => r.status,
      () => 'closed',
    );
    expect([503, 'closed']).toContain(refused);
    up.release.splice(0).forEach((r) => r());
    expect((await call).content).toEqual([{ type: 'text', text: 'slow done' }]);
    await closing;
    expect(up.deleted).toHaveLength(1);
    expect(up.live).toBe(0);
    await client.close();
  });
});

/** Opens a session with raw requests, which hold nothing open once answered (unlike an SDK client's stream). */
async function rawSession(url: URL): Promise<string> {
  const init = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(INITIALIZE) });
  expect(init.status).toBe(200);
  const session = init.headers.get('mcp-session-id')!;
  await readEvents(init.body!, (e) => e.data.id === 'init');
  const initialized = await fetch(url, {
    method: 'POST',
    headers: headers(session),
    body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
  });
  expect(initialized.status).toBe(202);
  return session;
}

/** Calls the upstream's `slow` tool in `session` and waits until the call is held upstream. */
async function slowCall(up: Upstream, url: URL, session: string, id: string): Promise<Promise<Response>> {
  const held = once(up.events, 'slow');
  const response = fetch(url, {
    method: 'POST',
    headers: headers(session),
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: {} } }),
  });
  await held;
  return response;
}

/** A tools/list in `session` by raw request: the HTTP status, and the tool names when answered. */
async function rawList(url: URL, session: string): Promise<{ status: number; tools?: string[] }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: headers(session),
    body: JSON.stringify({ jsonrpc: '2.0', id: 'list', method: 'tools/list', params: {} }),
  });
  if (res.status !== 200) {
    await res.body?.cancel();
    return { status: res.status };
  }
  const [answer] = await readEvents(res.body!, (e) => e.data.id === 'list');
  const tools = (answer?.data.result as { tools: { name: string }[] }).tools.map((t) => t.name);
  return { status: res.status, tools };
}

describe('sessions past a client limit', () => {
  it('sessions left without DELETE never use the limit up: each new one ends the least recently used idle one, upstream too', async () => {
    const up = await upstream();
    const { proxy, url, ends, notes } = await proxyTo(
      { kind: 'url', url: up.url, transport: 'streamable' },
      { maxSessionsPerClient: 3, sessionIdleMs: 3_600_000 },
    );
    // Abandoned one after another, the way the conformance suite's clients leave them: no DELETE.
    const abandoned: string[] = [];
    for (let k = 0; k < 8; k++) {
      const { client, transport } = await connect(url);
      const r = await client.callTool({ name: 'echo', arguments: { text: `session ${k}` } });
      expect(r.content).toEqual([{ type: 'text', text: `session ${k}` }]);
      abandoned.push(transport.sessionId!);
      await client.close();
      await until(`session ${k} is idle`, () => proxy.http!.status().idle === Math.min(k + 1, 3));
      // Each session past the third ended the oldest idle one, upstream before it counts as ended.
      await ends.reached('evicted', Math.max(0, k - 2));
      expect(ends.evicted).toEqual(abandoned.slice(0, Math.max(0, k - 2)));
      expect(up.deleted).toHaveLength(Math.max(0, k - 2));
    }
    expect(proxy.http!.status()).toMatchObject({ sessions: 3, clients: 1, ended: { evicted: 5, expired: 0 } });
    // An evicted session is gone; the three most recent still answer.
    expect((await rawList(url, abandoned[4]!)).status).toBe(404);
    for (const session of abandoned.slice(5)) expect((await rawList(url, session)).tools).toContain('echo');
    expect(up.live).toBe(3);
    const text = await proxy.http!.metrics();
    expect(text).toContain('mcp_policy_proxy_sessions_closed_total{reason="evicted"} 5');
    expect(text).toContain('mcp_policy_proxy_sessions_refused_total{reason="client_limit"} 0');
    expect(notes.filter((n) => n.includes('its client is at its limit of 3 sessions'))).toHaveLength(5);
  }, 60_000);

  it('a session with a request in flight is never evicted, even as the least recently used', async () => {
    const up = await upstream();
    const { proxy, url, ends } = await proxyTo(
      { kind: 'url', url: up.url, transport: 'streamable' },
      { maxSessionsPerClient: 2, sessionIdleMs: 3_600_000 },
    );
    const a = await rawSession(url);
    const b = await rawSession(url);
    expect(proxy.http!.status().idle).toBe(2);
    // The older session is busy: its call is held upstream.
    const call = await slowCall(up, url, a, 'slow-a');
    await until('a is busy', () => proxy.http!.status().idle === 1);
    // A third session ends b, the idle one, though a was used longer ago.
    const c = await connect(url);
    await ends.reached('evicted', 1);
    expect(ends.evicted).toEqual([b]);
    expect((await rawList(url, b)).status).toBe(404);
    // The busy session's call is answered in full.
    up.release.splice(0).forEach((r) => r());
    const [answer] = await readEvents((await call).body!, (e) => e.data.id === 'slow-a');
    expect(answer?.data).toEqual({
      jsonrpc: '2.0',
      id: 'slow-a',
      result: { content: [{ type: 'text', text: 'slow done' }] },
    });
    // Now a is idle and c holds its stream: a fourth session ends a.
    await until('a is idle and c holds its stream', () => proxy.http!.status().idle === 1);
    const d = await connect(url);
    await ends.reached('evicted', 2);
    expect(ends.evicted).toEqual([b, a]);
    expect((await c.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect((await d.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    await Promise.all([c.client.close(), d.client.close()]);
  }, 30_000);

  it('answers 429 with Retry-After only when every session of the client is busy', async () => {
    const up = await upstream();
    const { proxy, url, ends } = await proxyTo(
      { kind: 'url', url: up.url, transport: 'streamable' },
      { maxSessionsPerClient: 2, sessionIdleMs: 3_600_000 },
    );
    const a = await rawSession(url);
    const b = await rawSession(url);
    const calls = [await slowCall(up, url, a, 'slow-a'), await slowCall(up, url, b, 'slow-b')];
    await until('both sessions are busy', () => proxy.http!.status().idle === 0);
    const refused = await fetch(url, { method: 'POST', headers: headers(), body: JSON.stringify(INITIALIZE) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe(String(BUSY_RETRY_AFTER_SECONDS));
    await refused.body?.cancel();
    expect(ends.counts.evicted).toBe(0);
    expect(await proxy.http!.metrics()).toContain('mcp_policy_proxy_sessions_refused_total{reason="client_limit"} 1');
    // Once a call is answered its session is idle again, and the next new session takes its place.
    up.release.splice(0, 1).forEach((r) => r());
    await readEvents((await calls[0]!).body!, (e) => e.data.id === 'slow-a');
    await until('a is idle', () => proxy.http!.status().idle === 1);
    const c = await rawSession(url);
    expect(ends.evicted).toEqual([a]);
    expect((await rawList(url, c)).tools).toContain('echo');
    up.release.splice(0).forEach((r) => r());
    await readEvents((await calls[1]!).body!, (e) => e.data.id === 'slow-b');
  }, 30_000);

  it('a stdio server at its live children bound: the evicted session child is reaped before the new one starts', async () => {
    const { proxy, url, ends } = await proxyTo(
      { kind: 'command', command: process.execPath, args: [RAW_SERVER] },
      { maxSessionsPerClient: 1, maxChildren: 1 },
    );
    const first = await rawSession(url);
    const second = await rawSession(url);
    expect(ends.evicted).toEqual([first]);
    expect(proxy.http!.status()).toMatchObject({ sessions: 1, children: 1 });
    expect((await rawList(url, second)).tools).toContain('echo');
  }, 30_000);
});

describe('denials clients can tell apart', () => {
  it('a denied tools/call is an isError result marked as a denial; other denials use one JSON-RPC code', async () => {
    const up = await upstream();
    const { url } = await proxyTo({ kind: 'url', url: up.url, transport: 'streamable' });
    const { client } = await connect(url);
    await client.listTools();
    const denial = { denied: true, reason: 'No secrets', rule: 0 };
    const denied = await client.callTool({ name: 'secret_tool', arguments: {} });
    expect(denied).toEqual({
      content: [{ type: 'text', text: 'policy denied tool "secret_tool" on server "upstream": No secrets' }],
      structuredContent: denial,
      _meta: { [DENIAL_META]: denial },
      isError: true,
    });
    // A tool with an output schema: clients check structuredContent against it, so the mark is in _meta only.
    const typed = await client.callTool({ name: 'secret_typed', arguments: {} });
    expect(typed.isError).toBe(true);
    expect(typed.structuredContent).toBeUndefined();
    expect(typed._meta).toEqual({ [DENIAL_META]: denial });
    // A tool's own failure carries no mark.
    const failed = await client.callTool({ name: 'echo', arguments: {} });
    expect(failed.isError).toBe(true);
    expect(failed._meta?.[DENIAL_META]).toBeUndefined();

    const prompt = await client.getPrompt({ name: 'secret' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(prompt).toBeInstanceOf(McpError);
    expect(prompt).toMatchObject({
      code: POLICY_DENIED,
      data: { reason: 'No secret prompts', rule: 1 },
    });
    const completion = await client
      .complete({ ref: { type: 'ref/prompt', name: 'secret' }, argument: { name: 'a', value: '' } })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(completion).toMatchObject({ code: POLICY_DENIED, data: { reason: 'No secret prompts', rule: 1 } });
    // An unknown prompt is the server's error, with its own code.
    const unknown = await client.getPrompt({ name: 'nothing' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(unknown).toBeInstanceOf(McpError);
    expect((unknown as McpError).code).not.toBe(POLICY_DENIED);
    expect((await client.getPrompt({ name: 'greeting' })).messages).toHaveLength(1);
    await client.close();
  });

  it('resources are decided as the server load: allowed servers list and read them', async () => {
    const up = await upstream();
    const { url } = await proxyTo({ kind: 'url', url: up.url, transport: 'streamable' });
    const { client } = await connect(url);
    expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(['file:///readme.txt']);
    expect((await client.readResource({ uri: 'file:///readme.txt' })).contents).toEqual([
      { uri: 'file:///readme.txt', text: 'read me' },
    ]);
    await client.close();
  });
});

describe('the session event store', () => {
  const note = (n: number) => ({ jsonrpc: '2.0' as const, method: 'notifications/message', params: { n } });

  it('replays the events after an id on its own stream only, and forgets the oldest past its bound', async () => {
    const store = new BoundedEventStore(3, 1_000_000);
    const a1 = await store.storeEvent('a', note(1));
    await store.storeEvent('b', note(2));
    await store.storeEvent('a', note(3));
    const replayed: unknown[] = [];
    expect(await store.replayEventsAfter(a1, { send: async (_id, m) => void replayed.push(m) })).toBe('a');
    expect(replayed).toEqual([note(3)]);
    await store.storeEvent('a', note(4));
    expect(store.size).toBe(3);
    expect(await store.getStreamIdForEventId(a1)).toBeUndefined();
    await expect(store.replayEventsAfter(a1, { send: async () => undefined })).rejects.toThrow('no longer kept');
  });

  it('is bounded by size as well as count', async () => {
    const store = new BoundedEventStore(1_000, 200);
    for (let k = 0; k < 10; k++) await store.storeEvent('a', note(k));
    expect(store.size).toBeLessThan(10);
    expect(store.size).toBeGreaterThan(0);
  });
});

describe('session flags', () => {
  it('refuses a session idle time, client share or child bound that is not a whole number of at least 1', async () => {
    for (const [flag, value] of [
      ['--session-idle', '0'],
      ['--max-sessions-per-client', '-3'],
      ['--max-children', '1.5'],
    ] as const) {
      const r = await runProxyToExit(['policy.json', flag, value, '--', 'true']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${flag} must be a whole number of at least 1, not "${value}"`);
    }
  });
});
