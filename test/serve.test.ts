/**
 * The decision service over a real unix socket and loopback TCP: Docker's
 * gateway protocol (every point of docs/serve.md's list), OPA's data API,
 * limits and connection handling, and decisions equal to `mcp-policy eval`.
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type ServeHandle } from '../src/server/service.js';
import { cli, EXAMPLES, examplePolicies, tempFile } from './helpers.js';
import { call, tempDir, type Target } from './serve-helpers.js';
import { parseCaseFile } from '../src/testing/cases.js';

const dir = tempDir();
const socket = join(dir, 'policy.sock');
let handle: ServeHandle;
let targets: Record<'unix' | 'tcp', Target>;

beforeAll(async () => {
  handle = await startServe({
    sources: { file: join(EXAMPLES, 'production.json') },
    socket,
    tcp: { host: '127.0.0.1', port: 0 },
    limits: { maxBodyBytes: 64 * 1024, maxBatch: 500 },
    idleTimeoutMs: 400,
  });
  targets = { unix: { socket }, tcp: { port: handle.port! } };
});

afterAll(async () => {
  await handle.close();
});

const DELETE = {
  server: 'fs',
  serverType: 'registry',
  action: 'invoke',
  tool: 'delete_file',
  target: { type: 'tool', name: 'delete_file' },
};
const LOAD_OK = {
  catalog: 'docker-mcp',
  server: 'duckduckgo',
  serverType: 'registry',
  serverSource: 'mcp/duckduckgo@sha256:5d3c1e8f9a0b7c6d4e2f1a3b5c7d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f809',
  transport: 'stdio',
  action: 'load',
  target: { type: 'server', name: 'duckduckgo' },
};

describe.each(['unix', 'tcp'] as const)('gateway protocol over %s', (kind) => {
  const t = () => targets[kind];

  it('answers /ping and /features with JSON the gateway accepts (points 1, 2)', async () => {
    const ping = await call(t(), 'GET', '/ping');
    expect(ping.status).toBe(200);
    expect(ping.json()).toEqual({});
    const features = await call(t(), 'GET', '/features');
    expect(features.status).toBe(200);
    expect(features.json()).toEqual({ MCPGovernance: { enabled: true } });
  });

  it('decides with exact lowercase keys, a boolean allowed and no trailing bytes (point 3)', async () => {
    const allow = await call(t(), 'POST', '/mcp/policy/evaluate', LOAD_OK);
    expect(allow.status).toBe(200);
    expect(allow.headers['content-type']).toBe('application/json');
    expect(allow.text).toBe('{"allowed":true,"reason":"Allow official Docker MCP servers"}');
    const deny = await call(t(), 'POST', '/mcp/policy/evaluate', DELETE);
    expect(deny.json()).toEqual({ allowed: false, reason: 'Block destructive operations across all servers' });
  });

  it('answers a batch with one decision per request, in order (point 5)', async () => {
    const requests = Array.from({ length: 120 }, (_, k) =>
      k % 3 === 0 ? LOAD_OK : k % 3 === 1 ? DELETE : { action: 'nope' },
    );
    const reply = await call(t(), 'POST', '/mcp/policy/evaluate/batch', { requests });
    expect(reply.status).toBe(200);
    const { decisions } = reply.json() as { decisions: { allowed: boolean; error?: string }[] };
    expect(decisions).toHaveLength(120);
    decisions.forEach((d, k) => {
      expect(d.allowed).toBe(k % 3 === 0);
      expect(d.error !== undefined).toBe(k % 3 === 2);
    });
  });

  it('denies unknown actions and target types per item, never failing the batch (points 4, 5, 12)', async () => {
    const reply = await call(t(), 'POST', '/mcp/policy/evaluate/batch', {
      requests: [
        LOAD_OK,
        { ...LOAD_OK, action: 'delete' },
        { ...LOAD_OK, target: { type: 'prompt', name: 'x' } },
        7,
        LOAD_OK,
      ],
    });
    const { decisions } = reply.json() as { decisions: { allowed: boolean; error?: string }[] };
    expect(decisions.map((d) => d.allowed)).toEqual([true, false, false, false, true]);
    expect(decisions[1]!.error).toBe('unknown action "delete"');
    expect(decisions[2]!.error).toBe('unknown target type "prompt"');
    expect(decisions[3]!.error).toBeDefined();
    for (const d of decisions) if (d.error !== undefined) expect(d.allowed).toBe(false);
  });

  it('treats missing fields as normal and an empty action as invoke (point 7)', async () => {
    const degraded = {
      catalog: 'docker-mcp',
      workingSet: 'default',
      server: 'fs',
      tool: 'delete_file',
      action: 'invoke',
    };
    expect((await call(t(), 'POST', '/mcp/policy/evaluate', degraded)).json()).toEqual({
      allowed: false,
      reason: 'Block destructive operations across all servers',
    });
    const emptyAction = await call(t(), 'POST', '/mcp/policy/evaluate', { ...degraded, action: '' });
    expect(emptyAction.json()).toEqual({ allowed: false, reason: 'Block destructive operations across all servers' });
    const catalogOnly = await call(t(), 'POST', '/mcp/policy/evaluate', {
      catalog: 'c',
      action: 'load',
      target: { type: 'catalog', name: 'c' },
    });
    expect(catalogOnly.status).toBe(200);
    expect((catalogOnly.json() as { error?: string }).error).toBeUndefined();
    const prompt = await call(t(), 'POST', '/mcp/policy/evaluate', {
      server: 'fs',
      tool: 'summarise',
      action: 'prompt',
      target: { type: 'tool', name: 'summarise' },
    });
    expect(prompt.json()).toEqual({ allowed: false, reason: 'no rule matched; default deny' });
  });

  it('rejects bad JSON and wrong shapes with {"message"} and a non-2xx status (point 4)', async () => {
    for (const [path, body] of [
      ['/mcp/policy/evaluate', '{"server": '],
      ['/mcp/policy/evaluate/batch', '{"requests": 5}'],
      ['/mcp/policy/evaluate/batch', '[]'],
      ['/mcp/audit', '"x"'],
    ] as const) {
      const reply = await call(t(), 'POST', path, body);
      expect(reply.status).toBe(400);
      expect(typeof (reply.json() as { message: unknown }).message).toBe('string');
    }
    expect((await call(t(), 'GET', '/mcp/policy/evaluate')).status).toBe(405);
    expect((await call(t(), 'GET', '/nope')).json()).toEqual({ message: 'no endpoint /nope' });
  });

  it('refuses huge bodies (413) and batches beyond the limit', async () => {
    const huge = await call(t(), 'POST', '/mcp/policy/evaluate', { server: 'x'.repeat(100 * 1024) });
    expect(huge.status).toBe(413);
    expect(huge.json()).toEqual({ message: 'request body exceeds 65536 bytes' });
    const many = await call(t(), 'POST', '/mcp/policy/evaluate/batch', {
      requests: Array.from({ length: 501 }, () => ({})),
    });
    expect(many.status).toBe(413);
    // The connection is still usable afterwards for new clients.
    expect((await call(t(), 'GET', '/ping')).status).toBe(200);
  });

  it('accepts audit events with 2xx JSON (point 10)', async () => {
    const reply = await call(t(), 'POST', '/mcp/audit', {
      trigger: 'invoke',
      target_type: 'tool',
      server_name: 'fs',
      tool_name: 'delete_file',
      result: 'denied',
      outcome_reason: 'policy_rule',
      reason: 'Block destructive operations across all servers',
      timestamp: '2026-11-23T19:51:41Z',
    });
    expect(reply.status).toBe(200);
    expect(reply.json()).toEqual({ accepted: true });
  });

  it('serves concurrent clients (a gateway audit burst holds 100+ connections, point 9)', async () => {
    const replies = await Promise.all(
      Array.from({ length: 150 }, (_, k) =>
        call(t(), 'POST', k % 2 ? '/mcp/audit' : '/mcp/policy/evaluate', k % 2 ? { result: 'allowed' } : DELETE),
      ),
    );
    for (const [k, r] of replies.entries()) {
      expect(r.status).toBe(200);
      expect(r.json()).toEqual(
        k % 2 ? { accepted: true } : { allowed: false, reason: 'Block destructive operations across all servers' },
      );
    }
  });
});

describe('OPA REST data API', () => {
  it('answers POST /v1/data/mcp_policy/decision(s) with {"result"} and errors as {"code","message"}', async () => {
    const t = targets.tcp;
    const one = await call(t, 'POST', '/v1/data/mcp_policy/decision', { input: DELETE });
    expect(one.json()).toEqual({
      result: { allowed: false, reason: 'Block destructive operations across all servers', rule: 2 },
    });
    const many = await call(t, 'POST', '/v1/data/mcp_policy/decisions', { input: { requests: [LOAD_OK, DELETE] } });
    expect(many.json()).toEqual({
      result: [
        { allowed: true, reason: 'Allow official Docker MCP servers', rule: 0 },
        { allowed: false, reason: 'Block destructive operations across all servers', rule: 2 },
      ],
    });
    expect((await call(t, 'POST', '/v1/data/mcp_policy/decisions', { input: {} })).json()).toEqual({});
    const bad = await call(t, 'POST', '/v1/data/mcp_policy/decision', '{"input": ');
    expect(bad.status).toBe(400);
    expect((bad.json() as { code: string }).code).toBe('invalid_parameter');
    const missing = await call(t, 'POST', '/v1/data/other', { input: {} });
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ code: 'resource_not_found', message: 'no endpoint /v1/data/other' });
  });

  it('reports health and Prometheus metrics', async () => {
    const health = await call(targets.unix, 'GET', '/health?bundles');
    expect(health.status).toBe(200);
    expect(health.json()).toEqual({});
    const metrics = await call(targets.unix, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toMatch(
      /^mcp_policy_decisions_total\{endpoint="\/mcp\/policy\/evaluate",result="denied"\} \d+$/m,
    );
    expect(metrics.text).toMatch(/^mcp_policy_bundle_info\{revision="[0-9a-f]{64}"\} 1$/m);
    expect(metrics.text).toMatch(/^mcp_policy_audit_events_total\{result="denied"\} \d+$/m);
    expect(metrics.text).toMatch(
      /^mcp_policy_decision_duration_seconds_bucket\{le="0.001",endpoint="\/mcp\/policy\/evaluate"\} \d+$/m,
    );
  });
});

describe('sockets and connections', () => {
  it('creates the socket owner-only', () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('closes idle connections the gateway leaves open (point 9)', async () => {
    const conn = connect(socket);
    await new Promise((r) => conn.once('connect', r));
    conn.resume();
    conn.write('GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n');
    const started = Date.now();
    await new Promise((r) => conn.once('close', r));
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  }, 15_000);

  it('refuses a socket a live server answers on, and a path beyond 107 bytes', async () => {
    await expect(startServe({ sources: { file: join(EXAMPLES, 'production.json') }, socket })).rejects.toMatchObject({
      code: 'socket_in_use',
    });
    await expect(
      startServe({ sources: { file: join(EXAMPLES, 'production.json') }, socket: `/tmp/${'s'.repeat(110)}.sock` }),
    ).rejects.toMatchObject({ code: 'socket_path_too_long' });
    await expect(
      startServe({
        sources: { file: join(EXAMPLES, 'production.json') },
        tcp: { host: '127.0.0.1', port: handle.port! },
      }),
    ).rejects.toMatchObject({ code: 'address_in_use' });
  });

  it('replaces a stale socket left by a dead server, and refuses a file that is not a socket', async () => {
    const stale = join(tempDir(), 'stale.sock');
    const holder = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`,
    ]);
    await new Promise((r) => holder.stdout.once('data', r));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    expect(statSync(stale).isSocket()).toBe(true);
    const second = await startServe({ sources: { file: join(EXAMPLES, 'block-server.json') }, socket: stale });
    expect((await call({ socket: stale }, 'GET', '/ping')).status).toBe(200);
    await second.close();
    const plain = tempFile('not-a-socket', '');
    await expect(
      startServe({ sources: { file: join(EXAMPLES, 'block-server.json') }, socket: plain }),
    ).rejects.toMatchObject({
      code: 'socket_in_use',
    });
  });
});

describe('decisions equal mcp-policy eval on every example table', () => {
  for (const { name, policyFile, casesFile } of examplePolicies()) {
    it(name, async () => {
      const table = parseCaseFile(readFileSync(casesFile, 'utf8'), casesFile);
      const requests = (table.requests ?? []).map((c) => c.request);
      const input = tempFile(`${name}.jsonl`, requests.map((r) => JSON.stringify(r)).join('\n'));
      const evaluated = await cli(['eval', policyFile, '--input', input]);
      expect(evaluated.code).toBe(0);
      const expected = evaluated.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);
      await handle.slot.offer(new Uint8Array(readFileSync(await compiledBundle(policyFile))));
      const opa = await call(targets.tcp, 'POST', '/v1/data/mcp_policy/decisions', { input: { requests } });
      expect((opa.json() as { result: unknown[] }).result).toEqual(expected);
      const gateway = await call(targets.unix, 'POST', '/mcp/policy/evaluate/batch', { requests });
      const decisions = (gateway.json() as { decisions: { allowed: boolean; error?: string }[] }).decisions;
      expect(decisions.map((d) => d.allowed)).toEqual(expected.map((d) => (d as { allowed: boolean }).allowed));
      for (const [k, r] of requests.entries()) {
        expect((await call(targets.tcp, 'POST', '/v1/data/mcp_policy/decision', { input: r })).json()).toEqual({
          result: expected[k],
        });
      }
    });
  }
});

async function compiledBundle(policyFile: string): Promise<string> {
  const out = join(tempDir(), 'out');
  const compiled = await cli(['compile', policyFile, '-o', out]);
  expect(compiled.code).toBe(0);
  return join(out, 'bundle.tar.gz');
}
