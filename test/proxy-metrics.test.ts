/**
 * `GET /metrics` on the proxy's HTTP listener, in process: real SDK clients
 * over streamable HTTP to `startProxy`, the recording stdio server behind it
 * as one child process per session, real signed JWTs for authentication.
 * The counters are read as Prometheus text, the way a scraper reads them.
 */
import { EventEmitter, once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { NativeEngine } from '../src/engines/native.js';
import { type Policy } from '../src/policy/model.js';
import { serverFacts, type ServerTarget } from '../src/proxy/facts.js';
import { type HttpAuthOptions, type HttpOptions, type SessionEnd } from '../src/proxy/http.js';
import { type RunningProxy, startProxy } from '../src/proxy/proxy.js';
import { tempDir } from './proxy/helpers.js';
import { RAW_SERVER } from './proxy/raw.js';

const POLICY: Policy = {
  version: 1,
  default: 'allow',
  rules: [
    { action: 'load', server: 'raw', tools: ['hidden_tool'], allow: false, reason: 'Not for clients' },
    { action: 'invoke', server: 'raw', tools: ['write_file'], allow: false, reason: 'Read only' },
  ],
};

const RAW: ServerTarget = { kind: 'command', command: process.execPath, args: [RAW_SERVER] };

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Counts the ends of sessions by reason; `reached` waits for a count. */
class Ends {
  readonly counts: Record<SessionEnd, number> = { deleted: 0, expired: 0, evicted: 0, closed: 0, shutdown: 0 };
  private readonly events = new EventEmitter();
  readonly hook: HttpOptions['onSessionEnd'] = ({ reason }) => {
    this.counts[reason]++;
    this.events.emit('end');
  };
  async reached(reason: SessionEnd, count: number): Promise<void> {
    while (this.counts[reason] < count) await once(this.events, 'end');
  }
}

async function proxyTo(
  http: Omit<NonNullable<Parameters<typeof startProxy>[0]['http']>, 'onSessionEnd'> = {},
  auth?: HttpAuthOptions,
  decisionLog?: string,
): Promise<{ proxy: RunningProxy; url: URL; ends: Ends }> {
  const ends = new Ends();
  const proxy = await startProxy({
    engine: new NativeEngine(POLICY),
    target: RAW,
    facts: serverFacts(RAW, { server: 'raw' }),
    listen: new URL('http://127.0.0.1:0/mcp'),
    ...(auth && { auth }),
    ...(decisionLog !== undefined && { decisionLog }),
    http: { ...http, onSessionEnd: ends.hook },
  });
  cleanup.push(() => proxy.close());
  return { proxy, url: proxy.url!, ends };
}

async function connect(
  url: URL,
  headers: Record<string, string> = {},
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'metrics-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  await client.connect(transport);
  return { client, transport };
}

/** One sample of a scrape: the value of `name` with exactly these labels, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    const wanted = Object.entries(labels);
    if (Object.keys(got).length === wanted.length && wanted.every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** GET /metrics as a scraper does; a refusal is returned as its status and body. */
async function scrape(url: URL, token?: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(new URL('/metrics', url), {
    ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

async function metrics(url: URL, token?: string): Promise<string> {
  const { status, type, text } = await scrape(url, token);
  expect(status, text).toBe(200);
  expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
  return text;
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 'init',
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

/** A bare initialize POST, answered with its status (the body is not read further). */
async function initialize(url: URL, headers: Record<string, string> = {}): Promise<Response> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: INITIALIZE,
  });
  await res.body?.cancel();
  return res;
}

describe('proxy /metrics', () => {
  it('counts sessions as they open and close by reason, live children, and decisions by method and result', async () => {
    const { proxy, url, ends } = await proxyTo({ sessionIdleMs: 2_000 });
    let text = await metrics(url);
    expect(sample(text, 'mcp_policy_proxy_sessions')).toBe(0);
    expect(sample(text, 'mcp_policy_proxy_children')).toBe(0);
    expect(sample(text, 'mcp_policy_proxy_sessions_opened_total')).toBe(0);
    for (const reason of ['delete', 'idle', 'evicted', 'upstream', 'shutdown']) {
      expect(sample(text, 'mcp_policy_proxy_sessions_closed_total', { reason })).toBe(0);
    }
    // prom-client's process metrics are there too.
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);

    const a = await connect(url);
    text = await metrics(url);
    expect(sample(text, 'mcp_policy_proxy_sessions')).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_clients')).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_children')).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_sessions_opened_total')).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_decisions_total', { method: 'initialize', result: 'allowed' })).toBe(1);

    // Five tools listed, one of them hidden: each entry is one decision.
    expect((await a.client.listTools()).tools).toHaveLength(4);
    await a.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    await a.client.callTool({ name: 'write_file', arguments: {} });
    // Denied at load already: the call counts once, not once per check.
    await a.client.callTool({ name: 'hidden_tool', arguments: {} });
    // Past the request boundary's field length: the engine cannot decide it, which is an error (and denies).
    const long = await a.client.callTool({ name: 'x'.repeat(70_000), arguments: {} });
    expect(long.isError).toBe(true);
    text = await metrics(url);
    const decisions = (method: string, result: string) =>
      sample(text, 'mcp_policy_proxy_decisions_total', { method, result });
    expect(decisions('tools/list', 'allowed')).toBe(4);
    expect(decisions('tools/list', 'denied')).toBe(1);
    expect(decisions('tools/call', 'allowed')).toBe(1);
    expect(decisions('tools/call', 'denied')).toBe(2);
    expect(decisions('tools/call', 'error')).toBe(1);

    await a.transport.terminateSession();
    await ends.reached('deleted', 1);
    text = await metrics(url);
    expect(sample(text, 'mcp_policy_proxy_sessions_closed_total', { reason: 'delete' })).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_sessions')).toBe(0);
    expect(sample(text, 'mcp_policy_proxy_children')).toBe(0);
    await a.client.close();

    // Abandoned without DELETE: the session expires.
    const b = await connect(url);
    await b.client.close();
    await ends.reached('expired', 1);
    // The server goes away in the middle of a call.
    const c = await connect(url);
    await c.client.callTool({ name: 'die', arguments: {} }).catch(() => undefined);
    await ends.reached('closed', 1);
    await c.client.close();
    text = await metrics(url);
    expect(sample(text, 'mcp_policy_proxy_sessions_closed_total', { reason: 'idle' })).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_sessions_closed_total', { reason: 'upstream' })).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_sessions_opened_total')).toBe(3);

    // A session still open at shutdown; the registry outlives the listener.
    await connect(url);
    await proxy.close();
    text = await proxy.http!.metrics();
    expect(sample(text, 'mcp_policy_proxy_sessions_closed_total', { reason: 'shutdown' })).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_sessions_opened_total')).toBe(4);
    expect(sample(text, 'mcp_policy_proxy_sessions')).toBe(0);
    expect(sample(text, 'mcp_policy_proxy_children')).toBe(0);
    expect(sample(text, 'mcp_policy_proxy_decisions_total', { method: 'initialize', result: 'allowed' })).toBe(4);
  }, 60_000);

  it('counts sessions refused past a client share (429) and past the live children (503)', async () => {
    const { proxy, url } = await proxyTo({
      maxSessionsPerClient: 1,
      maxChildren: 2,
      clientKey: (req) => String(req.headers['x-client']),
    });
    const a = await connect(url, { 'x-client': 'a' });
    // An idle session would be evicted instead: wait until the client's stream holds it busy.
    for (const deadline = Date.now() + 20_000; proxy.http!.status().idle > 0 && Date.now() < deadline;) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await initialize(url, { 'x-client': 'a' })).status).toBe(429);
    const b = await connect(url, { 'x-client': 'b' });
    expect((await initialize(url, { 'x-client': 'c' })).status).toBe(503);
    const text = await metrics(url);
    expect(sample(text, 'mcp_policy_proxy_sessions_refused_total', { reason: 'client_limit' })).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_sessions_refused_total', { reason: 'children_limit' })).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_sessions')).toBe(2);
    expect(sample(text, 'mcp_policy_proxy_clients')).toBe(2);
    expect(sample(text, 'mcp_policy_proxy_children')).toBe(2);
    await Promise.all([a.client.close(), b.client.close()]);
  }, 30_000);

  it('with authentication, needs a token like MCP, counts refusals by code, and labels no subject or argument', async () => {
    const ISSUER = 'https://issuer.example';
    const AUDIENCE = 'mcp-metrics-test';
    const pair = await generateKeyPair('ES256');
    const forger = await generateKeyPair('ES256');
    const jwks = join(tempDir(), 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    const token = (sub: string, key = pair.privateKey) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(sub)
        .setExpirationTime('10m')
        .sign(key);
    const { url } = await proxyTo(
      {},
      { jwt: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['ES256'], jwksFile: jwks } },
    );
    const sub = 'subject-7d1f0c2e';
    const valid = await token(sub);

    const missing = await scrape(url);
    expect(missing.status).toBe(401);
    expect(missing.text).not.toContain('mcp_policy');
    expect((await scrape(url, await token(sub, forger.privateKey))).status).toBe(401);
    expect((await initialize(url)).status).toBe(401);

    let text = await metrics(url, valid);
    expect(sample(text, 'mcp_policy_auth_failures_total', { reason: 'missing_token' })).toBe(2);
    expect(sample(text, 'mcp_policy_auth_failures_total', { reason: 'invalid_token' })).toBe(1);
    // Every code is there from the start.
    expect(sample(text, 'mcp_policy_auth_failures_total', { reason: 'insufficient_scope' })).toBe(0);

    const secret = 'argument-value-5e0b9a';
    const { client } = await connect(url, { authorization: `Bearer ${valid}` });
    await client.callTool({ name: 'echo', arguments: { text: secret } });
    await client.callTool({ name: 'write_file', arguments: { path: secret } });
    text = await metrics(url, valid);
    expect(sample(text, 'mcp_policy_proxy_decisions_total', { method: 'tools/call', result: 'allowed' })).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_decisions_total', { method: 'tools/call', result: 'denied' })).toBe(1);
    expect(sample(text, 'mcp_policy_proxy_sessions')).toBe(1);
    expect(text).not.toContain(sub);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(valid);
    await client.close();
  }, 30_000);

  it("reports the decision log's written records", async () => {
    const log = join(tempDir(), 'decisions.jsonl');
    const { url } = await proxyTo({}, undefined, log);
    const { client } = await connect(url);
    await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    // The session check's record and the call's two (load and invoke); the file is written behind.
    const deadline = Date.now() + 10_000;
    let written: number | undefined;
    while ((written = sample(await metrics(url), 'mcp_policy_decision_log_written_total')) !== 3) {
      if (Date.now() > deadline) throw new Error(`the log's written count stayed at ${written}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(3);
    expect(sample(await metrics(url), 'mcp_policy_decision_log_dropped_total', { reason: 'queue_full' })).toBe(0);
    await client.close();
  });

  it('on a loopback listener keeps the Host check, and answers GET only', async () => {
    const { url } = await proxyTo();
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(new URL('/metrics', url), { headers: { host: 'attacker.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.once('error', reject);
      req.end();
    });
    expect(status).toBe(403);
    const post = await fetch(new URL('/metrics', url), { method: 'POST' });
    expect(post.status).toBe(405);
    await post.body?.cancel();
  });
});
