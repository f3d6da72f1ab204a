/**
 * serve as an OpenID AuthZEN 1.0 PDP, over a real unix socket and loopback
 * TCP: the evaluation and evaluations shapes, defaults, the three batch
 * semantics, the MCP mapping, errors, X-Request-ID, the metadata, the
 * endpoint family in logs and metrics, and one generated set of requests
 * decided alike by the Docker endpoint, OPA's API, AuthZEN and `mcp-policy eval`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestFor } from '../src/difftest/generators.js';
import { startServe, type ServeHandle } from '../src/server/service.js';
import { cli, EXAMPLES, mustParse, tempFile } from './helpers.js';
import { tempDir, type Target } from './serve-helpers.js';

const POLICY = join(EXAMPLES, 'production.json');
const dir = tempDir();
const socket = join(dir, 'policy.sock');
const LOG = join(dir, 'decisions.jsonl');
const MAX_BATCH = 5000;
let handle: ServeHandle;
let targets: Record<'unix' | 'tcp', Target>;

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  readonly body: unknown;
}

/** One HTTP request with the headers a PEP sends. */
function ask(
  target: Target,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        ...('socket' in target ? { socketPath: target.socket } : { port: target.port, host: '127.0.0.1' }),
        headers: {
          ...headers,
          ...(text !== undefined && { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }),
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const out = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(out) as unknown;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: out, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (text !== undefined) req.write(text);
    req.end();
  });
}

beforeAll(async () => {
  handle = await startServe({
    sources: { file: POLICY },
    socket,
    tcp: { host: '127.0.0.1', port: 0 },
    decisionLog: LOG,
    limits: { maxBatch: MAX_BATCH, maxBodyBytes: 256 * 1024 * 1024, maxWork: 1e9, maxPendingWork: 4e9 },
  });
  targets = { unix: { socket }, tcp: { port: handle.port! } };
});

afterAll(async () => {
  await handle?.close();
});

const ALICE = { type: 'user', id: 'alice@example.com' };
const OFFICIAL = {
  type: 'mcp_server',
  id: 'duckduckgo',
  properties: { serverType: 'registry', serverSource: 'docker.io/mcp/duckduckgo', transport: 'stdio' },
};
const REMOTE = { type: 'mcp_server', id: 'far', properties: { serverType: 'remote' } };
const DELETE = { type: 'tool', id: 'delete_file', properties: { server: 'fs' } };
const READ = { type: 'tool', id: 'read_file', properties: { server: 'fs' } };
const LIST = { name: 'tools/list' };
const CALL = { name: 'tools/call' };

const allowed = (rule: number, reason: string) => ({ decision: true, context: { reason, rule } });
const denied = (rule: number | null, reason: string) => ({ decision: false, context: { reason, rule } });
const OFFICIAL_OK = allowed(0, 'Allow official Docker MCP servers');
const REMOTE_NO = denied(3, 'Block remote servers for security');
const DELETE_NO = denied(2, 'Block destructive operations across all servers');
const DEFAULT_NO = denied(null, 'no rule matched; default deny');

describe.each(['unix', 'tcp'] as const)('AuthZEN over %s', (kind) => {
  const t = () => targets[kind];
  const evaluation = (body: unknown, headers?: Record<string, string>) =>
    ask(t(), 'POST', '/access/v1/evaluation', body, headers);
  const evaluations = (body: unknown, headers?: Record<string, string>) =>
    ask(t(), 'POST', '/access/v1/evaluations', body, headers);

  it('answers one evaluation with the decision, its reason and rule, as JSON', async () => {
    const ok = await evaluation({ subject: ALICE, action: LIST, resource: OFFICIAL, context: { time: 'now' } });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('application/json');
    expect(ok.body).toEqual(OFFICIAL_OK);
    expect((await evaluation({ subject: ALICE, action: LIST, resource: REMOTE })).body).toEqual(REMOTE_NO);
    expect((await evaluation({ subject: ALICE, action: CALL, resource: DELETE })).body).toEqual(DELETE_NO);
    expect((await evaluation({ subject: ALICE, action: CALL, resource: READ })).body).toEqual(DEFAULT_NO);
  });

  it('maps prompts/get to the prompt action and listings, one item at a time, to load', async () => {
    const prompt = { type: 'prompt', id: 'delete_everything', properties: { server: 'fs' } };
    // Rule 2 constrains invoke only: a prompt of the same name falls through to the default.
    expect((await evaluation({ subject: ALICE, action: { name: 'prompts/get' }, resource: prompt })).body).toEqual(
      DEFAULT_NO,
    );
    for (const name of ['prompts/list', 'resources/list', 'resources/templates/list']) {
      expect((await evaluation({ subject: ALICE, action: { name }, resource: OFFICIAL })).body).toEqual(OFFICIAL_OK);
    }
    const item = { type: 'tool', id: 'search', properties: { ...OFFICIAL.properties, server: 'duckduckgo' } };
    expect((await evaluation({ subject: ALICE, action: LIST, resource: item })).body).toEqual(OFFICIAL_OK);
  });

  it('denies resources/read and resources/subscribe until policy version 2, never allowing', async () => {
    for (const name of ['resources/read', 'resources/subscribe']) {
      const reply = await evaluation({
        subject: ALICE,
        action: { name },
        resource: { type: 'resource', id: 'file:///a' },
      });
      expect(reply.status).toBe(200);
      const body = reply.body as { decision: boolean; context: { reason: string; rule: null } };
      expect(body.decision).toBe(false);
      expect(body.context.rule).toBeNull();
      expect(body.context.reason).toContain(`${name} is decided by rules on resources, which need policy version 2`);
    }
  });

  it('denies an unknown action or a resource the action does not take, with the reason in context', async () => {
    const unknown = await evaluation({ subject: ALICE, action: { name: 'tools/delete' }, resource: DELETE });
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({
      decision: false,
      context: {
        reason: 'invalid request',
        rule: null,
        error: { status: 400, message: 'action "tools/delete" is not an MCP method this policy decides' },
      },
    });
    // The policy's own action names are not MCP methods either.
    expect(
      (
        (await evaluation({ subject: ALICE, action: { name: 'load' }, resource: OFFICIAL })).body as {
          decision: boolean;
        }
      ).decision,
    ).toBe(false);
    const wrongType = await evaluation({ subject: ALICE, action: CALL, resource: OFFICIAL });
    expect(wrongType.body).toEqual({
      decision: false,
      context: {
        reason: 'invalid request',
        rule: null,
        error: { status: 400, message: 'tools/call does not take a resource of type "mcp_server" (it takes "tool")' },
      },
    });
  });

  it('refuses bodies that break the specification with 400 and a code, echoing X-Request-ID', async () => {
    const cases: [unknown, string][] = [
      ['{"subject": ', 'request body is not valid JSON'],
      [[], 'the body must be a JSON object'],
      [{ action: LIST, resource: OFFICIAL }, 'subject is required'],
      [{ subject: 'alice', action: LIST, resource: OFFICIAL }, 'subject must be a JSON object'],
      [{ subject: { type: 'user' }, action: LIST, resource: OFFICIAL }, 'subject.id must be a string'],
      [{ subject: ALICE, resource: OFFICIAL }, 'action is required'],
      [{ subject: ALICE, action: { name: 5 }, resource: OFFICIAL }, 'action.name must be a string'],
      [{ subject: ALICE, action: LIST }, 'resource is required'],
      [{ subject: ALICE, action: LIST, resource: { ...OFFICIAL, properties: [] } }, 'resource.properties must be'],
      [{ subject: ALICE, action: LIST, resource: OFFICIAL, context: 'x' }, 'context must be a JSON object'],
    ];
    for (const [body, message] of cases) {
      const reply = await evaluation(body, { 'X-Request-ID': 'req-400' });
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.headers['x-request-id']).toBe('req-400');
      const error = reply.body as { code: string; message: string };
      expect(error.code).toBe('invalid_parameter');
      expect(error.message).toContain(message);
    }
    const wrongMethod = await ask(t(), 'GET', '/access/v1/evaluation', undefined, { 'X-Request-ID': 'req-405' });
    expect([wrongMethod.status, wrongMethod.headers['x-request-id']]).toEqual([405, 'req-405']);
    const unknownPath = await ask(t(), 'POST', '/access/v1/search/subject', {}, { 'X-Request-ID': 'req-404' });
    expect([unknownPath.status, unknownPath.headers['x-request-id']]).toEqual([404, 'req-404']);
  });

  it('echoes X-Request-ID on every answer, and sends none when none was asked', async () => {
    const one = await evaluation({ subject: ALICE, action: LIST, resource: OFFICIAL }, { 'X-Request-ID': 'abc-1' });
    expect(one.headers['x-request-id']).toBe('abc-1');
    const many = await evaluations({ evaluations: [] }, { 'X-Request-ID': 'abc-2' });
    expect(many.headers['x-request-id']).toBe('abc-2');
    const meta = await ask(t(), 'GET', '/.well-known/authzen-configuration', undefined, { 'X-Request-ID': 'abc-3' });
    expect(meta.headers['x-request-id']).toBe('abc-3');
    expect((await evaluation({ subject: ALICE, action: LIST, resource: OFFICIAL })).headers['x-request-id']).toBe(
      undefined,
    );
  });

  it('merges top-level defaults into each evaluation, an entry member replacing the default whole', async () => {
    const reply = await evaluations({
      subject: ALICE,
      action: LIST,
      resource: OFFICIAL,
      context: { time: 'now' },
      evaluations: [
        {},
        { resource: REMOTE },
        { action: CALL, resource: DELETE },
        { action: CALL, resource: READ, subject: { type: 'agent', id: 'bot' } },
        { subject: undefined },
      ],
    });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ evaluations: [OFFICIAL_OK, REMOTE_NO, DELETE_NO, DEFAULT_NO, OFFICIAL_OK] });
  });

  it('decides each evaluation alone: a broken entry is its own invalid-request denial', async () => {
    const reply = await evaluations({
      subject: ALICE,
      evaluations: [{ action: LIST, resource: OFFICIAL }, 5, { action: LIST }, { action: CALL, resource: DELETE }],
    });
    expect(reply.status).toBe(200);
    const invalid = (message: string) => ({
      decision: false,
      context: { reason: 'invalid request', rule: null, error: { status: 400, message } },
    });
    expect(reply.body).toEqual({
      evaluations: [
        OFFICIAL_OK,
        invalid('evaluation 1 must be a JSON object'),
        invalid('resource is required'),
        DELETE_NO,
      ],
    });
    const noSubject = await evaluations({ evaluations: [{ action: LIST, resource: OFFICIAL }] });
    expect(noSubject.body).toEqual({ evaluations: [invalid('subject is required')] });
  });

  it('follows the three evaluation semantics, stopping where the specification says', async () => {
    const four = [{ resource: OFFICIAL }, { resource: REMOTE }, { resource: OFFICIAL }, { resource: REMOTE }];
    const run = async (semantic?: string) =>
      (
        await evaluations({
          subject: ALICE,
          action: LIST,
          evaluations: four,
          ...(semantic !== undefined && { options: { evaluations_semantic: semantic, other: 1 } }),
        })
      ).body;
    const all = { evaluations: [OFFICIAL_OK, REMOTE_NO, OFFICIAL_OK, REMOTE_NO] };
    expect(await run()).toEqual(all);
    expect(await run('execute_all')).toEqual(all);
    expect(await run('deny_on_first_deny')).toEqual({ evaluations: [OFFICIAL_OK, REMOTE_NO] });
    expect(await run('permit_on_first_permit')).toEqual({ evaluations: [OFFICIAL_OK] });
    const late = await evaluations({
      subject: ALICE,
      action: LIST,
      evaluations: [{ resource: REMOTE }, { resource: { type: 'resource', id: 'x' } }, { resource: OFFICIAL }, {}],
      options: { evaluations_semantic: 'permit_on_first_permit' },
    });
    expect((late.body as { evaluations: { decision: boolean }[] }).evaluations.map((e) => e.decision)).toEqual([
      false,
      false,
      true,
    ]);
    // An invalid entry is a denial for deny_on_first_deny too.
    const broken = await evaluations({
      subject: ALICE,
      action: LIST,
      evaluations: [{ resource: OFFICIAL }, 7, { resource: OFFICIAL }],
      options: { evaluations_semantic: 'deny_on_first_deny' },
    });
    expect((broken.body as { evaluations: unknown[] }).evaluations).toHaveLength(2);
  });

  it('answers a body without an evaluations array as one evaluation, and an empty array with none', async () => {
    const single = await evaluations({ subject: ALICE, action: LIST, resource: OFFICIAL });
    expect(single.body).toEqual(OFFICIAL_OK);
    expect((await evaluations({ evaluations: [] })).body).toEqual({ evaluations: [] });
  });

  it('refuses a malformed batch as a whole: 400, or 413 past the batch limit', async () => {
    const cases: [unknown, string][] = [
      ['{"evaluations": [', 'request body is not valid JSON'],
      [{ evaluations: {} }, 'evaluations must be an array'],
      [{ evaluations: [], options: [] }, 'options must be a JSON object'],
      [
        { evaluations: [{}], options: { evaluations_semantic: 'first' } },
        'options.evaluations_semantic must be one of',
      ],
      [{ subject: 'alice', evaluations: [{}] }, 'the default subject must be a JSON object'],
    ];
    for (const [body, message] of cases) {
      const reply = await evaluations(body);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect((reply.body as { message: string }).message).toContain(message);
    }
    const over = await evaluations(
      {
        subject: ALICE,
        action: LIST,
        resource: OFFICIAL,
        evaluations: Array.from({ length: MAX_BATCH + 1 }, () => ({})),
      },
      { 'X-Request-ID': 'big' },
    );
    expect(over.status).toBe(413);
    expect(over.headers['x-request-id']).toBe('big');
    expect(over.body).toEqual({
      code: 'batch_too_large',
      message: `batch of ${MAX_BATCH + 1} evaluations exceeds ${MAX_BATCH}`,
    });
  });

  it('publishes the PDP metadata under the address the client used', async () => {
    const reply = await ask(t(), 'GET', '/.well-known/authzen-configuration');
    expect(reply.status).toBe(200);
    const base = kind === 'tcp' ? `http://127.0.0.1:${handle.port}` : 'http://localhost';
    expect(reply.body).toEqual({
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
    });
  });
});

describe('AuthZEN behind authentication', () => {
  it('answers 401 without a token, echoing X-Request-ID, and decides with one', async () => {
    const token = 'a-token-of-at-least-thirty-two-characters';
    const file = join(tempDir(), 'tokens');
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    const guarded = await startServe({
      sources: { file: POLICY, engine: 'native' },
      tcp: { host: '127.0.0.1', port: 0 },
      auth: { tokenFile: file },
    });
    try {
      const target = { port: guarded.port! };
      const body = { subject: ALICE, action: LIST, resource: OFFICIAL };
      const refused = await ask(target, 'POST', '/access/v1/evaluation', body, { 'X-Request-ID': 'no-token' });
      expect(refused.status).toBe(401);
      expect(refused.headers['x-request-id']).toBe('no-token');
      const meta = await ask(target, 'GET', '/.well-known/authzen-configuration', undefined, { 'X-Request-ID': 'm' });
      expect([meta.status, meta.headers['x-request-id']]).toEqual([401, 'm']);
      const allowedReply = await ask(target, 'POST', '/access/v1/evaluation', body, {
        'X-Request-ID': 'with-token',
        Authorization: `Bearer ${token}`,
      });
      expect([allowedReply.status, allowedReply.headers['x-request-id']]).toEqual([200, 'with-token']);
      expect(allowedReply.body).toEqual(OFFICIAL_OK);
    } finally {
      await guarded.close();
    }
  });
});

describe('the endpoint family in metrics and the decision log', () => {
  it('counts and logs each decided evaluation of a batch under authzen', async () => {
    const family = async (name: string) => {
      const text = await (await ask(targets.tcp, 'GET', '/metrics')).text;
      const line = new RegExp(`^mcp_policy_family_decisions_total\\{family="${name}",result="denied"\\} (\\d+)$`, 'm');
      return Number(line.exec(text)?.[1] ?? 0);
    };
    const before = await family('authzen');
    const beforeDocker = await family('docker');
    const reply = await ask(targets.unix, 'POST', '/access/v1/evaluations', {
      subject: ALICE,
      action: LIST,
      evaluations: [{ resource: REMOTE }, { resource: REMOTE }, { resource: REMOTE }],
    });
    expect(reply.status).toBe(200);
    expect(await family('authzen')).toBe(before + 3);
    await ask(targets.unix, 'POST', '/mcp/policy/evaluate', { action: 'load', server: 'far', serverType: 'remote' });
    expect(await family('docker')).toBe(beforeDocker + 1);
    const marker = 'family-marker';
    await ask(targets.tcp, 'POST', '/access/v1/evaluation', {
      subject: ALICE,
      action: CALL,
      resource: { type: 'tool', id: marker },
    });
    // The log is written after the reply: wait for the line, within a deadline.
    const deadline = Date.now() + 10_000;
    let record: Record<string, unknown> | undefined;
    while (record === undefined && Date.now() < deadline) {
      record = readFileSync(LOG, 'utf8')
        .split('\n')
        .filter((l) => l.includes(marker))
        .map((l) => JSON.parse(l) as Record<string, unknown>)[0];
      if (record === undefined) await new Promise((r) => setImmediate(r));
    }
    expect(record).toMatchObject({
      endpoint: '/access/v1/evaluation',
      family: 'authzen',
      request: { action: 'invoke', tool: marker },
    });
  });
});

/** A generated request as an AuthZEN evaluation the mapping reads back to the same request, or undefined. */
function toAuthzen(r: Record<string, unknown>): Record<string, unknown> | undefined {
  const { action, tool, server, serverType, serverSource, transport } = r;
  const facts = Object.fromEntries(
    Object.entries({ serverType, serverSource, transport }).filter(([, v]) => v !== undefined),
  );
  const given = (v: unknown) => v !== undefined && v !== '';
  const withTool = (type: string) => ({
    type,
    id: tool,
    properties: { ...facts, ...(server !== undefined && { server }) },
  });
  if (action === undefined || action === '' || action === 'invoke') {
    return given(tool) ? { action: CALL, resource: withTool('tool') } : undefined;
  }
  if (action === 'prompt')
    return given(tool) ? { action: { name: 'prompts/get' }, resource: withTool('prompt') } : undefined;
  if (action === 'load') {
    if (given(tool)) return { action: LIST, resource: withTool('tool') };
    if (typeof server === 'string' && server !== '') {
      return { action: LIST, resource: { type: 'mcp_server', id: server, properties: facts } };
    }
    return undefined;
  }
  // An action the policy does not know: as a method the mapping does not know (or a name of the wrong type).
  if (typeof action === 'string' && action.includes('/')) return undefined;
  return { action: { name: action }, resource: { type: 'tool', id: 'x' } };
}

describe('one generated set decided alike by all four dialects', () => {
  it('Docker endpoint, OPA data API, AuthZEN and mcp-policy eval agree on allowed, rule and reason', async () => {
    const policy = mustParse(readFileSync(POLICY, 'utf8'));
    const generated = fc.sample(requestFor(policy), { seed: 20260206, numRuns: 3000 });
    const requests: Record<string, unknown>[] = [];
    const asked: Record<string, unknown>[] = [];
    for (const g of generated) {
      if (typeof g !== 'object' || g === null || Array.isArray(g)) continue;
      // AuthZEN has no words for the gateway's target, catalog or working set: every dialect is asked without them.
      const { target: _t, catalog: _c, workingSet: _w, ...r } = g as Record<string, unknown>;
      const evaluation = toAuthzen(r);
      if (evaluation === undefined) continue;
      requests.push(r);
      asked.push(evaluation);
    }
    expect(requests.length).toBeGreaterThanOrEqual(2000);

    const input = tempFile('authzen-equality.jsonl', requests.map((r) => JSON.stringify(r)).join('\n'));
    const evaluated = await cli(['eval', POLICY, '--input', input]);
    expect(evaluated.code).toBe(0);
    const expected = evaluated.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { allowed: boolean; reason: string; rule: number | null });
    expect(expected).toHaveLength(requests.length);

    const opa = await ask(targets.tcp, 'POST', '/v1/data/mcp_policy/decisions', { input: { requests } });
    expect((opa.body as { result: unknown[] }).result).toEqual(expected);
    const docker = await ask(targets.unix, 'POST', '/mcp/policy/evaluate/batch', { requests });
    const gateway = (docker.body as { decisions: { allowed: boolean; reason: string }[] }).decisions;
    expect(gateway.map((d) => [d.allowed, d.reason])).toEqual(expected.map((d) => [d.allowed, d.reason]));
    const authzen = await ask(targets.tcp, 'POST', '/access/v1/evaluations', {
      subject: ALICE,
      evaluations: asked,
    });
    expect(authzen.status).toBe(200);
    const answers = (
      authzen.body as { evaluations: { decision: boolean; context: { reason: string; rule: unknown } }[] }
    ).evaluations;
    expect(answers.map((a) => [a.decision, a.context.rule, a.context.reason])).toEqual(
      expected.map((d) => [d.allowed, d.rule, d.reason]),
    );
    // The single endpoint agrees too, on a sample of them.
    for (let k = 0; k < asked.length; k += 97) {
      const one = await ask(targets.unix, 'POST', '/access/v1/evaluation', { subject: ALICE, ...asked[k] });
      const body = one.body as { decision: boolean; context: { reason: string; rule: unknown } } | { message: string };
      if ('decision' in body) {
        expect([body.decision, body.context.rule, body.context.reason]).toEqual([
          expected[k]!.allowed,
          expected[k]!.rule,
          expected[k]!.reason,
        ]);
      } else {
        // A shape the specification refuses is a 400 alone; the batch denied it as an invalid request.
        expect([one.status, expected[k]!.allowed, expected[k]!.reason]).toEqual([400, false, 'invalid request']);
      }
    }
    expect(answers.filter((a) => a.decision).length).toBeGreaterThan(100);
    expect(answers.filter((a) => !a.decision).length).toBeGreaterThan(100);
  });
});
