/**
 * How the proxy's HTTP side reaches a server and reads its clients' bodies:
 * `nodeFetch` (Node's HTTP client on kept-alive connections, in place of
 * undici's `fetch`) against a small loopback server, and the listener's own
 * reading of a JSON POST body, which must refuse what the SDK refused the
 * same way.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES } from './helpers.js';
import { nodeFetch, upstreamFetch } from '../src/proxy/downstream.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { NativeEngine } from '../src/engines/native.js';
import { PolicyGate } from '../src/proxy/enforce.js';
import { Relay } from '../src/proxy/relay.js';
import { mustParse } from './helpers.js';
import { startHttpProxy, stop } from './proxy/helpers.js';
import { type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A loopback server whose answer each test sets, counting the connections it accepts. */
async function upstream(): Promise<{ server: Server; url: URL; connections: () => number; on: (h: Handler) => void }> {
  let handler: Handler = (_req, _body, res) => res.end();
  let connections = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: new URL(`http://127.0.0.1:${port}/mcp`),
    connections: () => connections,
    on: (h) => (handler = h),
  };
}

describe('nodeFetch', () => {
  let up: Awaited<ReturnType<typeof upstream>>;
  beforeAll(async () => {
    up = await upstream();
  });
  afterAll(async () => {
    up.server.closeAllConnections();
    await new Promise((resolve) => up.server.close(resolve));
  });

  it('sends the method, headers and body, and answers status and every header value', async () => {
    let seen: { method?: string; type?: string; session?: string; body?: string } = {};
    up.on((req, body, res) => {
      seen = {
        method: req.method,
        type: req.headers['content-type'],
        session: req.headers['mcp-session-id'] as string,
        body,
      };
      res.writeHead(202, [
        ['x-several', 'one'],
        ['x-several', 'two'],
        ['mcp-session-id', 's-1'],
      ]);
      res.end();
    });
    const answer = await nodeFetch(up.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'mcp-session-id': 'abc' },
      body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    });
    expect(seen).toEqual({
      method: 'POST',
      type: 'application/json',
      session: 'abc',
      body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
    });
    expect(answer.status).toBe(202);
    expect(answer.headers.get('x-several')).toBe('one, two');
    expect(answer.headers.get('mcp-session-id')).toBe('s-1');
  });

  it('hands over an SSE answer event by event, before the server ends it', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    up.on((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('id: 1\ndata: {"first":true}\n\n');
      // The second event is written only once the client has read the first: a buffered body would hang here.
      void released.then(() => res.end('id: 2\ndata: {"second":true}\n\n'));
    });
    const answer = await nodeFetch(up.url, { method: 'POST', body: '{}' });
    const reader = answer.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    expect(first.value).toBe('id: 1\ndata: {"first":true}\n\n');
    release();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += r.value;
    expect(rest).toBe('id: 2\ndata: {"second":true}\n\n');
  });

  it('keeps one connection open for requests one after another', async () => {
    up.on((_req, body, res) => res.end(body));
    const before = up.connections();
    for (let k = 0; k < 5; k++) {
      const answer = await nodeFetch(up.url, { method: 'POST', body: `{"k":${k}}` });
      expect(await answer.json()).toEqual({ k });
    }
    expect(up.connections() - before).toBeLessThanOrEqual(1);
  });

  it('stops a request and its answer when the signal is aborted', async () => {
    up.on((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
    });
    const controller = new AbortController();
    const answer = await nodeFetch(up.url, { method: 'GET', signal: controller.signal });
    const reader = answer.body!.getReader();
    await reader.read();
    controller.abort();
    await expect(reader.read()).rejects.toThrow();
    await expect(nodeFetch(up.url, { method: 'GET', signal: controller.signal })).rejects.toThrow();
  });

  /** The server side of the next request's connection, resolved once that connection is closed. */
  function closedOnServer(): Promise<void> {
    return new Promise((resolve) =>
      up.server.once('request', (req: IncomingMessage) => req.socket.once('close', resolve)),
    );
  }

  it('gives up on a server that never sends headers, and closes the connection', async () => {
    up.on(() => {});
    const closed = closedOnServer();
    const fetch = upstreamFetch({ headersMs: 30, bodyIdleMs: 60_000 });
    await expect(fetch(up.url, { method: 'POST', body: '{}' })).rejects.toThrow(/sent no answer in 0.03 s/);
    await closed;
  });

  it('ends a stalled SSE answer to a POST with the error answer to its request', async () => {
    up.on((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"');
    });
    const closed = closedOnServer();
    const fetch = upstreamFetch({ headersMs: 60_000, bodyIdleMs: 30 });
    const answer = await fetch(up.url, { method: 'POST', body: '{"jsonrpc":"2.0","id":7,"method":"tools/call"}' });
    const text = await answer.text();
    const events = text.split('\n\n').filter((e) => e.includes('"id":7'));
    expect(events).toHaveLength(1);
    expect(JSON.parse(events[0]!.replace(/^event: message\ndata: /, ''))).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: {
        code: -32603,
        message: 'the server sent nothing more of its answer in 0.03 s',
        data: { code: 'server_failed' },
      },
    });
    await closed;
  });

  it('fails a stalled JSON answer to a POST', async () => {
    up.on((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"jsonrpc":');
    });
    const closed = closedOnServer();
    const fetch = upstreamFetch({ headersMs: 60_000, bodyIdleMs: 30 });
    const answer = await fetch(up.url, { method: 'POST', body: '{"jsonrpc":"2.0","id":8,"method":"tools/call"}' });
    await expect(answer.json()).rejects.toThrow();
    await closed;
  });

  it('keeps a quiet GET stream open past the body idle timeout', async () => {
    const fetch = upstreamFetch({ headersMs: 60_000, bodyIdleMs: 30 });
    let later!: ServerResponse;
    up.on((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': open\n\n');
      later = res;
    });
    const controller = new AbortController();
    const stream = await fetch(up.url, { method: 'GET', signal: controller.signal });
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    expect((await reader.read()).value).toBe(': open\n\n');
    const quiet = later;
    // A POST stalled meanwhile times out, so the GET stream has been quiet longer than the timeout too.
    up.on((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
    });
    const stalled = await fetch(up.url, { method: 'POST', body: '{"jsonrpc":"2.0","id":9,"method":"ping"}' });
    await expect(stalled.text()).rejects.toThrow();
    quiet.write('data: {"later":true}\n\n');
    expect((await reader.read()).value).toBe('data: {"later":true}\n\n');
    controller.abort();
  });

  it('refuses a URL that is not http or https', async () => {
    await expect(nodeFetch('ftp://127.0.0.1/mcp')).rejects.toThrow(/only http and https/);
  });
});

describe('a relay in front of a server that stops answering', () => {
  let up: Awaited<ReturnType<typeof upstream>>;
  beforeAll(async () => {
    up = await upstream();
  });
  afterAll(async () => {
    up.server.closeAllConnections();
    await new Promise((resolve) => up.server.close(resolve));
  });

  /** The answer the client gets to one ping relayed to the server with small timeouts. */
  async function ping(): Promise<JSONRPCMessage> {
    const [client, inner] = InMemoryTransport.createLinkedPair();
    const gate = new PolicyGate(new NativeEngine(mustParse('{"default":"allow","rules":[]}')), {
      server: 's',
      transport: 'streamable',
    });
    const server = new StreamableHTTPClientTransport(up.url, {
      fetch: upstreamFetch({ headersMs: 30, bodyIdleMs: 30 }),
    });
    const relay = new Relay(inner, server, gate);
    const errors: string[] = [];
    relay.onerror = (e) => errors.push(e.message);
    await relay.start();
    const answered = new Promise<JSONRPCMessage>((resolve) => (client.onmessage = resolve));
    await client.start();
    await client.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const answer = await answered;
    await relay.close();
    return answer;
  }

  it('answers the client with an error when the server sends no headers', async () => {
    up.on(() => {});
    expect(await ping()).toMatchObject({
      id: 1,
      error: { message: expect.stringMatching(/cannot reach the server: the server sent no answer/) },
    });
  });

  it('answers the client with an error when the server stalls its SSE answer', async () => {
    up.on((req, _body, res) => {
      if (req.method !== 'POST') return res.writeHead(405).end();
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': working\n\n');
    });
    expect(await ping()).toMatchObject({
      id: 1,
      error: { code: -32603, message: expect.stringMatching(/sent nothing more of its answer/) },
    });
  });
});

/** A raw POST to the listener, its status and JSON body. */
function post(
  url: URL,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: { error?: unknown } }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as { error?: unknown } }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('the listener reading a JSON body', () => {
  let proxy: { url: URL; child: ChildProcess };
  beforeAll(async () => {
    // No server is ever reached: every request here is refused before anything is relayed.
    proxy = await startHttpProxy([
      join(EXAMPLES, 'block-tools.json'),
      '--server',
      'nowhere',
      '--upstream-url',
      'http://127.0.0.1:9/mcp',
    ]);
  });
  afterAll(async () => {
    await stop(proxy.child);
  });

  it('answers a body that is not JSON 400 with -32700, as the SDK does', async () => {
    const answer = await post(proxy.url, '{"jsonrpc":"2.0",');
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({
      jsonrpc: '2.0',
      error: { code: -32700, message: 'Parse error: Invalid JSON' },
      id: null,
    });
  });

  it('answers a body past the limit 413 without reading it', async () => {
    // The declared length alone decides: the listener answers before any more of the body arrives.
    const answer = await post(proxy.url, '{}', { 'content-length': String(4 * 1024 * 1024 + 1) });
    expect(answer.status).toBe(413);
    expect(answer.json.error).toEqual({
      code: -32000,
      message: 'Payload Too Large: Request body must not exceed 4194304 bytes',
    });
  });

  it('still asks for both JSON and SSE in Accept before reading the body', async () => {
    const answer = await post(proxy.url, 'not json', { accept: 'application/json' });
    expect(answer.status).toBe(406);
  });
});
