/**
 * Raw JSON-RPC through `mcp-policy proxy`: messages no SDK client would send,
 * written straight to the proxy's stdin, with a recording server behind it.
 * Every denial is answered by the proxy and the server never sees it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NativeEngine } from '../src/engines/native.js';
import { serverFacts, type ServerTarget } from '../src/proxy/facts.js';
import { startProxy } from '../src/proxy/proxy.js';
import { DENIAL_META } from '../src/proxy/relay.js';
import { mustParse } from './helpers.js';
import { tempDir } from './proxy/helpers.js';
import { type Message, RAW_SERVER, RawStdioProxy, received } from './proxy/raw.js';

const POLICY = {
  version: 1,
  default: 'allow',
  rules: [
    { action: 'load', server: 'raw', tools: ['hidden_*'], deny: true, reason: 'Hidden' },
    { action: 'invoke', server: 'raw', tools: ['write_file'], deny: true, reason: 'No writes' },
    { action: 'prompt', server: 'raw', tools: ['secret'], deny: true, reason: 'No secrets' },
  ],
};

let policy: string;
beforeAll(() => {
  policy = join(tempDir(), 'policy.json');
  writeFileSync(policy, JSON.stringify(POLICY));
});

const open: RawStdioProxy[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((p) => p.close()));
});

async function proxy(serverEnv: Record<string, string> = {}, ...flags: string[]): Promise<RawStdioProxy> {
  const p = new RawStdioProxy([policy, '--engine', 'native', ...flags], serverEnv);
  open.push(p);
  await p.initialize();
  return p;
}

const methods = (p: RawStdioProxy) => received(p.record).map((m) => m.method);
const calls = (p: RawStdioProxy) => received(p.record).filter((m) => m.method === 'tools/call');
const toolNames = (m: Message) => ((m.result?.tools ?? []) as { name: string }[]).map((t) => t.name);
const resultText = (m: Message) => ((m.result?.content ?? []) as { text?: string }[]).map((c) => c.text ?? '').join('');

describe('requests the proxy cannot decide are denied', () => {
  it('a tools/call without a string name is answered as an error and never forwarded', async () => {
    const p = await proxy();
    for (const [id, params] of [
      ['no-name', {}],
      ['number-name', { name: 42 }],
      ['no-params', undefined],
    ] as const) {
      const r = await p.request(id, 'tools/call', params);
      expect(r.result?.isError).toBe(true);
      expect(resultText(r)).toBe('tools/call without a tool name');
    }
    await p.sync('sync');
    expect(calls(p)).toEqual([]);
  });

  it('a prompts/get without a name is refused with invalid params and never forwarded', async () => {
    const p = await proxy();
    const r = await p.request('no-name', 'prompts/get', { arguments: {} });
    expect(r.error).toMatchObject({ code: -32602, message: 'prompts/get without a prompt name' });
    const denied = await p.request('secret', 'prompts/get', { name: 'secret' });
    expect(denied.error?.message).toBe('policy denied prompt "secret" on server "raw": No secrets');
    const allowed = await p.request('greeting', 'prompts/get', { name: 'greeting' });
    expect(allowed.result?.messages).toBeDefined();
    await p.sync('sync');
    expect(received(p.record).filter((m) => m.method === 'prompts/get')).toEqual([
      expect.objectContaining({ id: 'greeting', params: { name: 'greeting' } }),
    ]);
  });

  it('a completion for a denied prompt is refused; one for an allowed prompt or a resource passes', async () => {
    const p = await proxy();
    const argument = { name: 'a', value: '' };
    const denied = await p.request('c1', 'completion/complete', {
      ref: { type: 'ref/prompt', name: 'secret' },
      argument,
    });
    expect(denied.error?.message).toBe('policy denied prompt "secret" on server "raw": No secrets');
    const malformed = await p.request('c2', 'completion/complete', { ref: { type: 'ref/other' }, argument });
    expect(malformed.error?.code).toBe(-32602);
    const prompt = await p.request('c3', 'completion/complete', {
      ref: { type: 'ref/prompt', name: 'greeting' },
      argument,
    });
    expect(prompt.result?.completion).toBeDefined();
    const resource = await p.request('c4', 'completion/complete', {
      ref: { type: 'ref/resource', uri: 'x://y' },
      argument,
    });
    expect(resource.result?.completion).toBeDefined();
    expect(
      received(p.record)
        .filter((m) => m.method === 'completion/complete')
        .map((m) => m.id),
    ).toEqual(['c3', 'c4']);
  });
});

describe('only governed and passed methods reach the server', () => {
  it('drops a tools/call sent as a notification and refuses near-spellings and unknown methods', async () => {
    const p = await proxy();
    p.send({ method: 'tools/call', params: { name: 'write_file', arguments: {} } });
    p.send({ method: 'prompts/get', params: { name: 'secret' } });
    for (const [id, method] of [
      ['upper', 'Tools/Call'],
      ['space', 'tools/call '],
      ['nul', 'tools/call\u0000'],
      ['unknown', 'tools/execute'],
      ['notification-as-request', 'notifications/initialized'],
    ] as const) {
      const r = await p.request(id, method, { name: 'write_file', arguments: {} });
      expect(r.error).toEqual({
        code: -32601,
        message: `method ${JSON.stringify(method)} is not one the proxy forwards`,
        data: { code: 'method_refused' },
      });
    }
    await p.sync('sync');
    expect(methods(p)).toEqual(['initialize', 'notifications/initialized', 'ping']);
    // Standard error is another pipe, so its line may come after the ping's answer.
    await p.stderrMatching(/dropped the client's notification "tools\/call": not one the proxy forwards/);
  });

  it('passes resources, pings and cancellations by design', async () => {
    const p = await proxy();
    expect((await p.request('r', 'resources/list')).result).toEqual({ resources: [] });
    p.send({ method: 'notifications/cancelled', params: { requestId: 'gone' } });
    await p.sync('sync');
    expect(methods(p)).toEqual([
      'initialize',
      'notifications/initialized',
      'resources/list',
      'notifications/cancelled',
      'ping',
    ]);
  });

  it('refuses a request whose id is already in flight', async () => {
    const p = await proxy({ HANG_LIST: '1' });
    p.send({ id: 'same', method: 'tools/list' });
    const r = await p.request('same', 'prompts/list');
    expect(r.error?.message).toBe('request id "same" is already in flight');
    await p.sync('sync');
    expect(methods(p)).toEqual(['initialize', 'notifications/initialized', 'tools/list', 'ping']);
  });
});

describe("the server's answers", () => {
  it('a duplicated tools/list answer reaches the client once, filtered', async () => {
    const p = await proxy({ DUPLICATE_LIST: '1' });
    const r = await p.request('list', 'tools/list');
    expect(toolNames(r)).toEqual(['echo', 'write_file', 'die', 'mutate']);
    // The server sent both copies before it read the ping.
    await p.sync('sync');
    expect(p.answers('list')).toHaveLength(1);
    await p.stderrMatching(/dropped the server's answer to "list": no such request in flight/);
  });

  it('refuses a listing past the limit with listing_too_large, and the session goes on', async () => {
    const p = await proxy({ EXTRA_TOOLS: '80000' });
    const r = await p.request('list', 'tools/list');
    expect(r.error).toEqual({
      code: -32603,
      message: 'the server listed 80005 tools; the proxy decides at most 10000 in one listing',
      data: { code: 'listing_too_large' },
    });
    await p.sync('sync');
  });

  it('filters a listing at the limit', async () => {
    const p = await proxy({ EXTRA_TOOLS: String(10_000 - 5) });
    const r = await p.request('list', 'tools/list');
    expect(toolNames(r)).toHaveLength(10_000 - 1);
    expect(toolNames(r)).not.toContain('hidden_tool');
  });

  it('answers a tools/list over 10 MiB with server_failed and exits non-zero', async () => {
    const p = await proxy({ HUGE_LIST: String(11 * 1024 * 1024) });
    const r = await p.request('list', 'tools/list');
    expect(r.error).toEqual({
      code: -32603,
      message: 'the server sent a message over 10 MiB; the session is closed',
      data: { code: 'server_failed' },
    });
    expect(await p.exited).toBe(2);
    expect(p.stderr).toContain('mcp-policy: the server sent a message over 10 MiB (server_failed)');
  });

  it('answers a call the server dies in with server_failed and exits non-zero', async () => {
    const p = await proxy();
    const denied = await p.request('write', 'tools/call', { name: 'write_file', arguments: {} });
    expect(resultText(denied)).toBe('policy denied tool "write_file" on server "raw": No writes');
    const r = await p.request('die', 'tools/call', { name: 'die', arguments: {} });
    expect(r.error).toEqual({
      code: -32603,
      message: 'the server closed the connection; the session is closed',
      data: { code: 'server_failed' },
    });
    expect(await p.exited).toBe(2);
    expect(p.stderr).toContain('mcp-policy: the server closed the connection (server_failed)');
    expect(calls(p).map((m) => m.params?.name)).toEqual(['die']);
  });
});

describe('pinning over paginated listings', () => {
  type Lock = { servers: Record<string, Record<string, string>> };
  const lockOf = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Lock;

  it('records every page of the first listing and nothing after it', async () => {
    const lock = join(tempDir(), 'tools.lock');
    const p = await proxy({ PAGE_SIZE: '2' }, '--pin', lock);
    const pages: string[][] = [];
    let cursor: unknown;
    do {
      const r = await p.request(`page-${pages.length}`, 'tools/list', cursor === undefined ? {} : { cursor });
      pages.push(toolNames(r));
      cursor = r.result?.nextCursor;
    } while (cursor !== undefined);
    expect(pages).toEqual([['echo', 'write_file'], ['die'], ['mutate']]);
    const first = lockOf(lock).servers.raw ?? {};
    expect(Object.keys(first).sort()).toEqual(['die', 'echo', 'mutate', 'write_file']);

    expect(resultText(await p.request('mutate', 'tools/call', { name: 'mutate', arguments: {} }))).toBe(
      'called mutate',
    );
    const again = await p.request('again', 'tools/list');
    expect(toolNames(again)).toEqual(['write_file']);
    const echo = await p.request('echo', 'tools/call', { name: 'echo', arguments: {} });
    expect(resultText(echo)).toBe(
      `tool "echo" changed since it was pinned in ${lock}; review it and run with --pin-update`,
    );
    expect(lockOf(lock).servers.raw).toEqual(first);
    expect(calls(p).map((m) => m.params?.name)).toEqual(['mutate']);
  });

  it('lists every page itself when the client calls before finishing the first listing', async () => {
    const lock = join(tempDir(), 'tools.lock');
    const p = await proxy({ PAGE_SIZE: '2' }, '--pin', lock);
    expect(toolNames(await p.request('page-0', 'tools/list'))).toEqual(['echo', 'write_file']);
    // mutate is on the last page, which the client never asked for.
    expect(resultText(await p.request('mutate', 'tools/call', { name: 'mutate', arguments: {} }))).toBe(
      'called mutate',
    );
    expect(Object.keys(lockOf(lock).servers.raw ?? {}).sort()).toEqual(['die', 'echo', 'mutate', 'write_file']);
    const echo = await p.request('echo', 'tools/call', { name: 'echo', arguments: {} });
    expect(resultText(echo)).toMatch(/^tool "echo" changed since it was pinned/);
    expect(calls(p).map((m) => m.params?.name)).toEqual(['mutate']);
  });
});

/** POSTs JSON-RPC to a streamable HTTP endpoint; returns the status and the messages of its SSE answer. */
async function post(
  url: URL,
  body: unknown,
  session?: string,
): Promise<{ status: number; session?: string; messages: Message[] }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
      ...(session !== undefined && { 'mcp-session-id': session }),
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const messages = text
    .split('\n')
    // Priming events (an id and empty data) mark where a stream can resume; they carry no message.
    .filter((l) => l.startsWith('data: ') && l.trim() !== 'data:')
    .map((l) => JSON.parse(l.slice(6)) as Message);
  const id = res.headers.get('mcp-session-id');
  return { status: res.status, ...(id !== null && { session: id }), messages };
}

describe('raw JSON-RPC over the HTTP listener', () => {
  it("denies a call when the server never answers the proxy's own listing, within the proxy's timeout", async () => {
    const dir = tempDir();
    const lock = join(dir, 'tools.lock');
    writeFileSync(lock, JSON.stringify({ version: 1, servers: { raw: { echo: `sha256:${'0'.repeat(64)}` } } }));
    const record = join(dir, 'received.jsonl');
    const target: ServerTarget = { kind: 'command', command: process.execPath, args: [RAW_SERVER] };
    const errors: string[] = [];
    Object.assign(process.env, { HANG_LIST: '1', RECORD: record });
    const proxy = await startProxy({
      engine: new NativeEngine(mustParse(JSON.stringify(POLICY))),
      target,
      facts: serverFacts(target),
      listen: new URL('http://127.0.0.1:0/mcp'),
      pin: { path: lock, update: false },
      relay: { ownRequestTimeoutMs: 300 },
      onerror: (e) => errors.push(e.message),
    });
    try {
      const url = proxy.url!;
      const init = await post(url, {
        jsonrpc: '2.0',
        id: 'init',
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
      });
      expect(init.status).toBe(200);
      const session = init.session!;
      expect((await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session)).status).toBe(202);
      // A governed method as a notification is accepted by HTTP and dropped by the proxy.
      const note = { jsonrpc: '2.0', method: 'tools/call', params: { name: 'echo', arguments: {} } };
      expect((await post(url, note, session)).status).toBe(202);
      const upper = await post(url, { jsonrpc: '2.0', id: 1, method: 'Tools/Call', params: { name: 'echo' } }, session);
      expect(upper.messages[0]?.error?.data).toEqual({ code: 'method_refused' });

      const call = await post(
        url,
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: {} } },
        session,
      );
      expect(call.messages).toEqual([
        {
          jsonrpc: '2.0',
          id: 2,
          result: {
            content: [{ type: 'text', text: 'tool "echo" is not in the server\'s tool list' }],
            // A pin withholding the tool is a denial too, with no rule behind it.
            structuredContent: { denied: true, reason: 'tool "echo" is not in the server\'s tool list', rule: null },
            _meta: {
              [DENIAL_META]: { denied: true, reason: 'tool "echo" is not in the server\'s tool list', rule: null },
            },
            isError: true,
          },
        },
      ]);
      expect(errors).toContain('the server did not answer tools/list in 0.3 s');
      const seen = received(record).map((m) => m.method);
      expect(seen).toContain('tools/list');
      expect(seen).not.toContain('tools/call');
      expect(seen).not.toContain('Tools/Call');
    } finally {
      delete process.env.HANG_LIST;
      delete process.env.RECORD;
      await proxy.close();
    }
  });
});
