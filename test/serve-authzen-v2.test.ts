/**
 * AuthZEN on version 2 policies: the subject as the principal, the
 * resource's arguments and annotations, the `resource` action for
 * `resources/read` and `resources/subscribe`, version 1 answering as before,
 * the log and metrics of batches, and a generated set of version 2 requests
 * decided alike by the Docker endpoint, OPA's API, AuthZEN and `mcp-policy eval`.
 *
 * The equality run decides {@link EQUALITY_COUNT} requests per policy (10,000 in all); set
 * `MCP_POLICY_AUTHZEN_EQUALITY` to decide more (docs/serve.md shows the run of 10,000).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, nativeBundle } from '../src/server/active-bundle.js';
import { mcpRequest } from '../src/server/authzen-mcp.js';
import { startServe, type ServeHandle } from '../src/server/service.js';
import { compilePolicy } from '../src/pipeline/build.js';
import { cli, EXAMPLES, mustParse } from './helpers.js';
import { call, tempDir, type Target } from './serve-helpers.js';

const EQUALITY_COUNT = Number(process.env.MCP_POLICY_AUTHZEN_EQUALITY ?? 5000);

/** Who may delete, where files are read, what is destructive, which resources are readable. */
const POLICY_A = {
  version: 2,
  default: 'deny',
  rules: [
    { action: 'invoke', tools: ['delete_*'], groups: ['platform', 'sre-*'], allow: true, reason: 'platform deletes' },
    { action: 'invoke', tools: ['delete_*'], allow: false, reason: 'only platform deletes' },
    {
      action: 'invoke',
      tools: ['read_file'],
      arguments: [{ path: '/path', match: ['/srv/projects/*'], normalize: 'path' }],
      allow: true,
      reason: 'reads under /srv/projects',
    },
    { action: 'invoke', tools: ['read_file'], allow: false, reason: 'reads elsewhere' },
    {
      action: 'invoke',
      arguments: [{ path: '/files/*', match: ['/tmp/*'], not: true }],
      allow: false,
      reason: 'a file outside /tmp',
    },
    { action: 'invoke', annotations: { destructiveHint: true }, allow: false, reason: 'destructive tools' },
    {
      action: 'invoke',
      users: ['*@example.com'],
      claims: { tenant: ['acme', 'acme-*'] },
      allow: true,
      reason: 'acme staff',
    },
    {
      action: 'invoke',
      arguments: [
        { path: '/count', min: 0, max: 100 },
        { path: '/mode', in: ['fast', 'slow', 1, true, null] },
      ],
      allow: true,
      reason: 'bounded',
    },
    { action: 'invoke', arguments: [{ path: '/limit', equals: 9007199254740992 }], allow: true, reason: 'two to 53' },
    { action: 'resource', resources: ['file:///srv/docs/*'], allow: true, reason: 'docs are readable' },
    { action: 'resource', users: ['admin'], allow: true, reason: 'admin reads anything' },
    {
      action: 'prompt',
      tools: ['summar*'],
      arguments: [{ path: '/lang', present: true }],
      allow: true,
      reason: 'prompts with a language',
    },
    { action: 'load', server: 'fs*', allow: true, reason: 'filesystem servers' },
  ],
};

/** Allows by default; denies by group, resource, argument and annotation. */
const POLICY_B = {
  version: 2,
  default: 'allow',
  rules: [
    { action: 'invoke', groups: ['blocked'], allow: false, reason: 'blocked group' },
    { action: 'resource', resources: ['file:///etc/*', '*secret*'], allow: false, reason: 'no secrets' },
    { action: 'invoke', arguments: [{ path: '/*/path', match: ['*..*'] }], allow: false, reason: 'dot-dot' },
    {
      action: 'invoke',
      claims: { role: ['admin'] },
      arguments: [{ path: '/force', equals: true }],
      allow: true,
      reason: 'admins may force',
    },
    { action: 'invoke', arguments: [{ path: '/force', equals: true }], allow: false, reason: 'force needs admin' },
    {
      action: 'invoke',
      tools: ['web_*'],
      annotations: { readOnlyHint: false, openWorldHint: true },
      allow: false,
      reason: 'writes to the open world',
    },
    { action: 'prompt', users: ['admin'], allow: false, reason: 'admins write their own prompts' },
    { action: 'load', serverType: 'remote', allow: false, reason: 'no remote servers' },
  ],
};

const dir = tempDir();
const files = {
  a: join(dir, 'a.json'),
  b: join(dir, 'b.json'),
};
writeFileSync(files.a, JSON.stringify(POLICY_A, null, 2));
writeFileSync(files.b, JSON.stringify(POLICY_B, null, 2));
const LOG = join(dir, 'decisions.jsonl');
const LOG_WITH_ARGUMENTS = join(dir, 'decisions-with-arguments.jsonl');
const LIMITS = {
  maxBatch: 20_000,
  maxBodyBytes: 256 * 1024 * 1024,
  maxWork: 1e12,
  maxPendingWork: 4e12,
  maxItemWork: 1e12,
};

let wasmA: ServeHandle;
let wasmB: ServeHandle;
let nativeA: ServeHandle;
let version1: ServeHandle;

beforeAll(async () => {
  [wasmA, wasmB, nativeA, version1] = await Promise.all([
    startServe({
      sources: { file: files.a },
      socket: join(dir, 'a.sock'),
      tcp: { host: '127.0.0.1', port: 0 },
      decisionLog: LOG,
      limits: LIMITS,
    }),
    startServe({ sources: { file: files.b }, tcp: { host: '127.0.0.1', port: 0 }, limits: LIMITS }),
    startServe({
      sources: { file: files.a, engine: 'native' },
      tcp: { host: '127.0.0.1', port: 0 },
      limits: LIMITS,
      decisionLog: LOG_WITH_ARGUMENTS,
      logArguments: true,
    }),
    startServe({ sources: { file: join(EXAMPLES, 'production.json') }, tcp: { host: '127.0.0.1', port: 0 } }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([wasmA, wasmB, nativeA, version1].map((h) => h?.close()));
});

const tcp = (h: ServeHandle): Target => ({ port: h.port! });

interface Answer {
  decision: boolean;
  context: { reason: string; rule: number | null; error?: { status: number; message: string } };
}

async function evaluate(target: Target, body: unknown): Promise<Answer> {
  const reply = await call(target, 'POST', '/access/v1/evaluation', body);
  expect(reply.status, reply.text).toBe(200);
  return reply.json() as Answer;
}

const user = (id: string, properties?: Record<string, unknown>) => ({
  type: 'user',
  id,
  ...(properties !== undefined && { properties }),
});
const tool = (id: string, properties: Record<string, unknown> = {}) => ({ type: 'tool', id, properties });
const CALL = { name: 'tools/call' };
const READ = { name: 'resources/read' };
const verdict = (a: Answer) => [a.decision, a.context.rule, a.context.reason];

/** `{"a": {"a": … {}}}`, `depth` objects deep. */
function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let k = 1; k < depth; k++) value = { a: value };
  return value;
}

describe('the MCP mapping for each policy version', () => {
  const base = {
    subject: user('alice@example.com', { groups: ['platform'], claims: { tenant: 'acme' }, email: 'x' }),
    action: CALL,
    resource: tool('delete_repo', {
      server: 'github',
      serverType: 'remote',
      arguments: { repo: 'a/b' },
      annotations: { readOnlyHint: true },
    }),
    context: { agent: 'https://agent.example.com' },
  };

  it('maps a version 2 evaluation to principal, arguments, annotations and the server facts', () => {
    expect(mcpRequest(base, 2)).toEqual({
      request: {
        action: 'invoke',
        tool: 'delete_repo',
        server: 'github',
        serverType: 'remote',
        principal: { sub: 'alice@example.com', groups: ['platform'], claims: { tenant: 'acme' } },
        arguments: { repo: 'a/b' },
        annotations: { readOnlyHint: true },
      },
    });
    // Version 1 requests are exactly what they were: no principal, arguments or annotations.
    expect(mcpRequest(base, 1)).toEqual({
      request: { action: 'invoke', tool: 'delete_repo', server: 'github', serverType: 'remote' },
    });
  });

  it('decides resources/read, subscribe and unsubscribe as the resource action in version 2 only', () => {
    for (const name of ['resources/read', 'resources/subscribe', 'resources/unsubscribe']) {
      const evaluation = {
        subject: user('bob'),
        action: { name },
        resource: { type: 'resource', id: 'file:///srv/docs/a.md', properties: { server: 'fs' } },
      };
      expect(mcpRequest(evaluation, 2)).toEqual({
        request: { action: 'resource', resource: 'file:///srv/docs/a.md', server: 'fs', principal: { sub: 'bob' } },
      });
      const denied = mcpRequest(evaluation, 1);
      expect(denied).toEqual({
        denial: {
          allowed: false,
          rule: null,
          reason: `${name} is decided by rules on resources, which need policy version 2; denied until then`,
        },
      });
      expect(mcpRequest({ ...evaluation, resource: tool('x') }, 2)).toEqual({
        denial: {
          allowed: false,
          reason: 'invalid request',
          rule: null,
          error: `${name} does not take a resource of type "tool" (it takes "resource")`,
        },
      });
    }
  });

  it('asks about each resource of a resource listing in version 2, and keeps listings of servers as load', () => {
    const item = { type: 'resource', id: 'file:///srv/docs/{name}', properties: { server: 'fs' } };
    for (const name of ['resources/list', 'resources/templates/list']) {
      expect(mcpRequest({ subject: user('bob'), action: { name }, resource: item }, 2)).toEqual({
        request: { action: 'resource', resource: 'file:///srv/docs/{name}', server: 'fs', principal: { sub: 'bob' } },
      });
      expect(mcpRequest({ subject: user('bob'), action: { name }, resource: item }, 1)).toEqual({
        denial: {
          allowed: false,
          reason: 'invalid request',
          rule: null,
          error: `${name} does not take a resource of type "resource" (it takes "mcp_server", "tool" or "prompt")`,
        },
      });
      const server = { type: 'mcp_server', id: 'fs', properties: { serverType: 'registry' } };
      expect(mcpRequest({ subject: user('bob'), action: { name }, resource: server }, 2)).toEqual({
        request: { action: 'load', server: 'fs', serverType: 'registry', principal: { sub: 'bob' } },
      });
    }
  });

  it('learns the policy version of a bundle by asking its engine', async () => {
    const v2 = mustParse(JSON.stringify(POLICY_A));
    const v1 = mustParse(readFileSync(join(EXAMPLES, 'production.json'), 'utf8'));
    expect((await loadBundle((await compilePolicy(v2)).bundle)).policyVersion).toBe(2);
    expect((await loadBundle((await compilePolicy(v1)).bundle)).policyVersion).toBe(1);
    expect(nativeBundle(v2).policyVersion).toBe(2);
    expect(nativeBundle(v1).policyVersion).toBe(1);
  }, 60_000);
});

describe.each([
  ['wasm', () => wasmA],
  ['native', () => nativeA],
] as const)('AuthZEN on a version 2 policy (%s engine)', (_name, handle) => {
  const t = () => tcp(handle());

  it('decides by the subject: groups, sub and claims from subject.properties', async () => {
    const deleteRepo = { action: CALL, resource: tool('delete_repo', { annotations: { readOnlyHint: true } }) };
    expect(
      verdict(await evaluate(t(), { subject: user('ann', { groups: ['dev', 'sre-eu'] }), ...deleteRepo })),
    ).toEqual([true, 0, 'platform deletes']);
    expect(verdict(await evaluate(t(), { subject: user('ann', { groups: ['dev'] }), ...deleteRepo }))).toEqual([
      false,
      1,
      'only platform deletes',
    ]);
    const search = { action: CALL, resource: tool('search', { annotations: { readOnlyHint: true } }) };
    const acme = user('carol@example.com', { claims: { tenant: ['other', 'acme-eu'] } });
    expect(verdict(await evaluate(t(), { subject: acme, ...search }))).toEqual([true, 6, 'acme staff']);
    const stranger = user('carol@example.org', { claims: { tenant: 'acme' } });
    expect(verdict(await evaluate(t(), { subject: stranger, ...search }))).toEqual([
      false,
      null,
      'no rule matched; default deny',
    ]);
  });

  it('decides by the resource arguments, cleaning paths where the policy says', async () => {
    const read = (path: unknown) => ({
      subject: user('ann'),
      action: CALL,
      resource: tool('read_file', { server: 'fs', arguments: { path } }),
    });
    expect(verdict(await evaluate(t(), read('/srv/projects/a/../b.txt')))).toEqual([
      true,
      2,
      'reads under /srv/projects',
    ]);
    expect(verdict(await evaluate(t(), read('/srv/projects/../../etc/passwd')))).toEqual([false, 3, 'reads elsewhere']);
    expect(verdict(await evaluate(t(), read(42)))).toEqual([false, 3, 'reads elsewhere']);
  });

  it('takes MCP annotation defaults when a tool declares none', async () => {
    const body = (annotations?: unknown) => ({
      subject: user('ann'),
      action: CALL,
      resource: tool('make_thing', annotations === undefined ? {} : { annotations }),
    });
    expect(verdict(await evaluate(t(), body()))).toEqual([false, 5, 'destructive tools']);
    expect(verdict(await evaluate(t(), body({ readOnlyHint: true })))).toEqual([
      false,
      null,
      'no rule matched; default deny',
    ]);
  });

  it('decides resources/read and resources/subscribe on the resource URI', async () => {
    for (const name of ['resources/read', 'resources/subscribe']) {
      const body = (id: string, sub = 'ann') => ({
        subject: user(sub),
        action: { name },
        resource: { type: 'resource', id },
      });
      expect(verdict(await evaluate(t(), body('file:///srv/docs/guide.md')))).toEqual([true, 9, 'docs are readable']);
      expect(verdict(await evaluate(t(), body('file:///etc/passwd')))).toEqual([
        false,
        null,
        'no rule matched; default deny',
      ]);
      expect(verdict(await evaluate(t(), body('file:///etc/passwd', 'admin')))).toEqual([
        true,
        10,
        'admin reads anything',
      ]);
    }
  });

  it('denies a malformed principal or arguments as an invalid request, with the message eval gives', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ subject: user('ann', { groups: 'platform' }) }, 'field "principal.groups" must be an array of strings'],
      [{ subject: user('ann', { claims: { tenant: 5 } }) }, 'field "principal.claims" must map each claim to'],
      [{ resource: tool('read_file', { arguments: ['/srv'] }) }, 'field "arguments" must be an object'],
      [{ resource: tool('read_file', { annotations: { readOnlyHint: 'yes' } }) }, 'field "annotations.readOnlyHint"'],
      [
        { subject: user('ann', { groups: Array.from({ length: 5000 }, (_, k) => `g${k}`) }) },
        'field "principal.groups" has more than 4096 entries',
      ],
      // Deeper than the request boundary allows, counted from the request the mapping builds.
      [
        { resource: tool('read_file', { arguments: nested(40) }) },
        'request nests deeper than 32 levels at "/arguments/a/a',
      ],
    ];
    for (const [over, message] of cases) {
      const answer = await evaluate(t(), { subject: user('ann'), action: CALL, resource: tool('read_file'), ...over });
      expect(answer.decision).toBe(false);
      expect(answer.context.reason).toBe('invalid request');
      expect(answer.context.error?.status).toBe(400);
      expect(answer.context.error?.message).toContain(message);
    }
  });
});

describe('AuthZEN on a version 1 policy', () => {
  it('answers as before: resources/read denied with its reason, the subject and arguments not used', async () => {
    const answer = await evaluate(tcp(version1), {
      subject: user('alice', { groups: 5 }),
      action: READ,
      resource: { type: 'resource', id: 'file:///srv/docs/a.md' },
    });
    expect(answer).toEqual({
      decision: false,
      context: {
        reason: 'resources/read is decided by rules on resources, which need policy version 2; denied until then',
        rule: null,
      },
    });
    // Malformed version 2 fields cannot make a version 1 request invalid: they are not in it.
    const call1 = await evaluate(tcp(version1), {
      subject: user('alice', { groups: 5 }),
      action: CALL,
      resource: tool('delete_file', { arguments: 'x', annotations: [] }),
    });
    expect(verdict(call1)).toEqual([false, 2, 'Block destructive operations across all servers']);
  });
});

/** The records of `log` that mention `marker`, once there are `count` of them (the log is written after the reply). */
async function recordsWith(log: string, marker: string, count: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 10_000;
  let records: Record<string, unknown>[] = [];
  while (Date.now() < deadline) {
    records = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes(marker))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    if (records.length >= count) break;
    await new Promise((r) => setImmediate(r));
  }
  return records;
}

describe('a reload that changes the policy version', () => {
  it('maps the next evaluation for the bundle just activated, both ways', async () => {
    const file = join(dir, 'switching.json');
    writeFileSync(file, readFileSync(join(EXAMPLES, 'production.json')));
    const service = await startServe({ sources: { file, engine: 'native' }, tcp: { host: '127.0.0.1', port: 0 } });
    try {
      const read = {
        subject: user('ann'),
        action: READ,
        resource: { type: 'resource', id: 'file:///srv/docs/guide.md' },
      };
      expect((await evaluate(tcp(service), read)).context.reason).toContain('need policy version 2');
      writeFileSync(file, JSON.stringify(POLICY_A));
      await service.reload();
      expect(verdict(await evaluate(tcp(service), read))).toEqual([true, 9, 'docs are readable']);
      writeFileSync(file, readFileSync(join(EXAMPLES, 'production.json')));
      await service.reload();
      expect((await evaluate(tcp(service), read)).context.reason).toContain('need policy version 2');
    } finally {
      await service.close();
    }
  });
});

describe('a shadow of another policy version', () => {
  it('is asked the evaluation mapped for its own version', async () => {
    const log = join(dir, 'shadow.jsonl');
    const service = await startServe({
      sources: { file: join(EXAMPLES, 'production.json'), engine: 'native' },
      shadow: { file: files.a },
      tcp: { host: '127.0.0.1', port: 0 },
      decisionLog: log,
    });
    try {
      const served = await evaluate(tcp(service), {
        subject: user('ann', { groups: ['platform'] }),
        action: CALL,
        resource: tool('delete_repo'),
      });
      expect(verdict(served)).toEqual([false, 2, 'Block destructive operations across all servers']);
      const read = await evaluate(tcp(service), {
        subject: user('ann'),
        action: READ,
        resource: { type: 'resource', id: 'file:///srv/docs/guide.md' },
      });
      expect(read.context.reason).toContain('need policy version 2');
      // The served (version 1) requests carry neither the subject nor the URI: every record of this log is ours.
      const records = await recordsWith(log, '"kind":"decision"', 2);
      expect(records.map((r) => (r.shadow as { decision: unknown } | undefined)?.decision)).toEqual([
        { allowed: true, reason: 'platform deletes', rule: 0 },
        { allowed: true, reason: 'docs are readable', rule: 9 },
      ]);
    } finally {
      await service.close();
    }
  }, 60_000);
});

describe('every endpoint family counts one decision per batch item', () => {
  it('docker, opa and authzen batches', async () => {
    const count = async (family: string) => {
      const text = (await call(tcp(nativeA), 'GET', '/metrics')).text;
      const lines = text
        .split('\n')
        .filter((l) => l.startsWith(`mcp_policy_family_decisions_total{family="${family}"`));
      return lines.reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    };
    const before = { docker: await count('docker'), opa: await count('opa'), authzen: await count('authzen') };
    const request = { action: 'resource', resource: 'file:///srv/docs/a', principal: { sub: 'ann' } };
    await call(tcp(nativeA), 'POST', '/mcp/policy/evaluate/batch', { requests: [request, request, 7] });
    await call(tcp(nativeA), 'POST', '/v1/data/mcp_policy/decisions', { input: { requests: [request, request] } });
    await call(tcp(nativeA), 'POST', '/access/v1/evaluations', {
      subject: user('ann'),
      action: READ,
      evaluations: [1, 2, 3, 4, 5].map((k) => ({ resource: { type: 'resource', id: `file:///srv/docs/${k}` } })),
    });
    expect({ docker: await count('docker'), opa: await count('opa'), authzen: await count('authzen') }).toEqual({
      docker: before.docker + 3,
      opa: before.opa + 2,
      authzen: before.authzen + 5,
    });
  });
});

describe('argument values in the decision log', () => {
  it('are replaced by their JSON types unless the service keeps them', async () => {
    const marker = `arguments-marker-${process.pid}`;
    const body = {
      subject: user(marker),
      action: CALL,
      resource: tool('read_file', { arguments: { path: '/srv/projects/secret.txt', options: { depth: 2 } } }),
    };
    await evaluate(tcp(wasmA), body);
    await evaluate(tcp(nativeA), body);
    const [redacted] = await recordsWith(LOG, marker, 1);
    expect((redacted?.request as Record<string, unknown>).arguments).toEqual({
      path: 'string',
      options: { depth: 'number' },
    });
    const [kept] = await recordsWith(LOG_WITH_ARGUMENTS, marker, 1);
    expect((kept?.request as Record<string, unknown>).arguments).toEqual({
      path: '/srv/projects/secret.txt',
      options: { depth: 2 },
    });
  });
});

describe('a batch on a version 2 policy in the log and the metrics', () => {
  it('counts and logs one decision per evaluation decided, under the authzen family', async () => {
    const denied = async () => {
      const text = (await call(tcp(wasmA), 'GET', '/metrics')).text;
      const line = /^mcp_policy_family_decisions_total\{family="authzen",result="denied"\} (\d+)$/m.exec(text);
      return Number(line?.[1] ?? 0);
    };
    const before = await denied();
    const marker = `batch-marker-${process.pid}`;
    const reply = await call({ socket: join(dir, 'a.sock') }, 'POST', '/access/v1/evaluations', {
      subject: user(marker, { groups: ['dev'] }),
      action: CALL,
      evaluations: [
        { resource: tool('delete_a') },
        { resource: tool('delete_b') },
        { resource: tool('delete_c') },
        { resource: tool('delete_d') },
      ],
      options: { evaluations_semantic: 'deny_on_first_deny' },
    });
    expect(reply.status).toBe(200);
    expect((reply.json() as { evaluations: unknown[] }).evaluations).toHaveLength(1);
    const full = await call({ socket: join(dir, 'a.sock') }, 'POST', '/access/v1/evaluations', {
      subject: user(marker, { groups: ['dev'] }),
      action: CALL,
      evaluations: [{ resource: tool('delete_a') }, { resource: tool('delete_b') }, { resource: tool('delete_c') }],
    });
    expect((full.json() as { evaluations: unknown[] }).evaluations).toHaveLength(3);
    // The stopped batch decided one; the full one three.
    expect(await denied()).toBe(before + 4);
    const records = await recordsWith(LOG, marker, 4);
    expect(records).toHaveLength(4);
    for (const record of records) {
      expect(record).toMatchObject({
        endpoint: '/access/v1/evaluations',
        family: 'authzen',
        request: { action: 'invoke', principal: { sub: marker, groups: ['dev'] } },
      });
    }
    expect(records.slice(1).map((r) => r.batch)).toEqual([
      { index: 0, size: 3 },
      { index: 1, size: 3 },
      { index: 2, size: 3 },
    ]);
  });
});

/* ------------------------------------------------------------------------------------------------------------ */
/* One generated set, four dialects                                                                              */
/* ------------------------------------------------------------------------------------------------------------ */

/** Number texts JSON.stringify cannot write; the generated text carries them as these markers. */
const RAW_NUMBERS: Record<string, string> = {
  '"<2^53+1>"': '9007199254740993',
  '"<1e21>"': '1e21',
  '"<-0>"': '-0',
  '"<5e-324>"': '5e-324',
  '"<max>"': '1.7976931348623157e308',
};
const rawNumber = fc.constantFrom(...Object.keys(RAW_NUMBERS).map((k) => JSON.parse(k) as string));

/** JSON text with the markers replaced by their numbers, so every dialect reads the same digits. */
function jsonText(value: unknown): string {
  let text = JSON.stringify(value);
  for (const [marker, digits] of Object.entries(RAW_NUMBERS)) text = text.replaceAll(marker, digits);
  return text;
}

const pathValue = fc.constantFrom(
  '/srv/projects/a',
  '/srv/projects/../../etc/passwd',
  '//srv/projects/./b/',
  '/srv/projectsX/a',
  'srv/projects/a',
  '/srv/projects',
  '/tmp/x',
  '/tmp/../etc',
  '',
  '..',
);
const scalar = fc.oneof(
  fc.constantFrom<unknown>('fast', 'slow', 'FAST', 1, 1.0, 0, -1, 100, 100.5, true, false, null, '50', 'true'),
  rawNumber,
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const argumentValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: pathValue },
  { weight: 3, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(pathValue, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('a', 'b', '~', 'x/y'), pathValue, { maxKeys: 3 }) },
);
const argumentsValue: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record(
      {
        path: argumentValue,
        files: fc.oneof(fc.array(pathValue, { maxLength: 5 }), fc.dictionary(fc.string(), pathValue), argumentValue),
        count: scalar,
        mode: scalar,
        limit: fc.oneof(rawNumber, fc.constantFrom(9007199254740992, '9007199254740992', 2 ** 53 - 1)),
        lang: argumentValue,
        force: fc.constantFrom<unknown>(true, false, 'true', 1),
        nested: fc.record({ path: pathValue }, { requiredKeys: [] }),
        other: fc.record({ path: pathValue, x: scalar }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([], 'x', 5, null, [{ path: '/srv' }]) },
);
const hint = fc.constantFrom('readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint', 'title');
const annotationsValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.dictionary(hint, fc.boolean(), { maxKeys: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(hint, fc.constantFrom<unknown>('yes', 1, null, true), { maxKeys: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>([], 'x', null) },
);
const groupName = fc.constantFrom('platform', 'sre-oncall', 'sre-', 'sre', 'blocked', 'dev', '', 'Platform');
const groupsValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 40, arbitrary: fc.array(groupName, { maxLength: 4 }) },
  // A long list whose last entry decides.
  { weight: 1, arbitrary: groupName.map((last) => [...Array.from({ length: 3000 }, () => 'dev'), last]) },
  { weight: 3, arbitrary: fc.constantFrom<unknown>('platform', [1], null, {}) },
);
const claimValue = fc.oneof(
  fc.constantFrom('acme', 'acme-eu', 'other', 'admin', 'user', ''),
  fc.array(fc.constantFrom('acme', 'acme-eu', 'other', 'admin', ''), { maxLength: 3 }),
);
const claimsValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ tenant: claimValue, role: claimValue }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>({ tenant: 5 }, [], 'acme', { role: [1] }) },
);
const subjectValue = fc.record(
  {
    id: fc.constantFrom('alice@example.com', 'bob@example.org', 'admin', 'Admin', '', 'carol@example.com'),
    groups: groupsValue,
    claims: claimsValue,
  },
  { requiredKeys: ['id'] },
);
const facts = fc.record(
  {
    server: fc.constantFrom('fs', 'fs-2', 'github', 'web', ''),
    serverType: fc.constantFrom('registry', 'remote', 'image'),
    transport: fc.constantFrom('stdio', 'sse', 'streamable'),
  },
  { requiredKeys: [] },
);
const toolName = fc.constantFrom('delete_repo', 'delete_', 'read_file', 'write_file', 'web_search', 'search', 'x');
const promptName = fc.constantFrom('summarize', 'summary', 'review');
const uri = fc.constantFrom(
  'file:///srv/docs/a.md',
  'file:///srv/docs/../secret',
  'file:///etc/passwd',
  'https://example.com/secret/1',
  'file:///srv/docsX',
  '',
);

/** One generated case: the policy request and the AuthZEN evaluation the mapping reads back to it. */
interface Case {
  readonly request: Record<string, unknown>;
  readonly evaluation: Record<string, unknown>;
}

const caseOf: fc.Arbitrary<Case> = fc
  .record({
    kind: fc.constantFrom('call', 'prompt', 'list-server', 'list-tool', 'read', 'subscribe', 'list-resource'),
    subject: subjectValue,
    facts,
    tool: toolName,
    prompt: promptName,
    uri,
    arguments: fc.option(argumentsValue, { nil: undefined, freq: 4 }),
    annotations: fc.option(annotationsValue, { nil: undefined, freq: 3 }),
  })
  .map((g): Case => {
    const { server, ...serverFacts } = g.facts;
    const properties: Record<string, unknown> = { ...serverFacts };
    const request: Record<string, unknown> = {};
    let action: string;
    let resource: Record<string, unknown>;
    switch (g.kind) {
      case 'call':
      case 'prompt': {
        const name = g.kind === 'call' ? g.tool : g.prompt;
        action = g.kind === 'call' ? 'tools/call' : 'prompts/get';
        Object.assign(request, { action: g.kind === 'call' ? 'invoke' : 'prompt', tool: name });
        resource = { type: g.kind === 'call' ? 'tool' : 'prompt', id: name };
        if (server !== undefined) [properties.server, request.server] = [server, server];
        break;
      }
      case 'list-server':
        action = 'tools/list';
        Object.assign(request, { action: 'load', server: server ?? 'fs' });
        resource = { type: 'mcp_server', id: server ?? 'fs' };
        break;
      case 'list-tool':
        action = 'tools/list';
        Object.assign(request, { action: 'load', tool: g.tool });
        resource = { type: 'tool', id: g.tool };
        if (server !== undefined) [properties.server, request.server] = [server, server];
        break;
      default:
        action =
          g.kind === 'read' ? 'resources/read' : g.kind === 'subscribe' ? 'resources/subscribe' : 'resources/list';
        Object.assign(request, { action: 'resource', resource: g.uri });
        resource = { type: 'resource', id: g.uri };
        if (server !== undefined) [properties.server, request.server] = [server, server];
    }
    Object.assign(request, serverFacts);
    const { id, ...subjectProperties } = g.subject;
    request.principal = { sub: id, ...subjectProperties };
    if (g.arguments !== undefined) [properties.arguments, request.arguments] = [g.arguments, g.arguments];
    if (g.annotations !== undefined) [properties.annotations, request.annotations] = [g.annotations, g.annotations];
    return {
      request,
      evaluation: {
        subject: {
          type: 'user',
          id,
          ...(Object.keys(subjectProperties).length > 0 && { properties: subjectProperties }),
        },
        action: { name: action },
        resource: { ...resource, properties },
      },
    };
  });

type Verdict = [boolean, number | null, string];

describe.each([
  ['A', files.a, () => wasmA, 20260206],
  ['B', files.b, () => wasmB, 20260207],
] as const)('one generated set of version 2 requests on policy %s', (_name, file, handle, seed) => {
  it('Docker endpoint, OPA data API, AuthZEN and mcp-policy eval agree on allowed, rule and reason', async () => {
    const cases = fc.sample(caseOf, { seed, numRuns: EQUALITY_COUNT });
    // The generated text, read back: the numbers every dialect sees are the ones written in it.
    const requests = cases.map((c) => JSON.parse(jsonText(c.request)) as Record<string, unknown>);
    const evaluations = cases.map((c) => JSON.parse(jsonText(c.evaluation)) as Record<string, unknown>);
    // The mapping reads each evaluation back to its request exactly.
    evaluations.forEach((e, k) => expect(mcpRequest(e, 2)).toEqual({ request: requests[k] }));

    const input = join(dir, `equality-${_name}.jsonl`);
    writeFileSync(input, cases.map((c) => jsonText(c.request)).join('\n'));
    const evaluated = await cli(['eval', file, '--input', input]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    const expected = evaluated.stdout
      .trim()
      .split('\n')
      .map((l) => {
        const d = JSON.parse(l) as { allowed: boolean; reason: string; rule: number | null };
        return [d.allowed, d.rule, d.reason] as Verdict;
      });
    expect(expected).toHaveLength(cases.length);

    const target = tcp(handle());
    const body = (key: string, items: string[]) => `{"${key}":[${items.join(',')}]}`;
    const opa = await call(
      target,
      'POST',
      '/v1/data/mcp_policy/decisions',
      `{"input":${body(
        'requests',
        cases.map((c) => jsonText(c.request)),
      )}}`,
    );
    const opaResult = (opa.json() as { result: { allowed: boolean; rule: number | null; reason: string }[] }).result;
    expect(opaResult.map((d): Verdict => [d.allowed, d.rule, d.reason])).toEqual(expected);

    const docker = await call(
      target,
      'POST',
      '/mcp/policy/evaluate/batch',
      body(
        'requests',
        cases.map((c) => jsonText(c.request)),
      ),
    );
    const gateway = (docker.json() as { decisions: { allowed: boolean; reason: string }[] }).decisions;
    expect(gateway.map((d) => [d.allowed, d.reason])).toEqual(expected.map(([allowed, , reason]) => [allowed, reason]));

    const authzen = await call(
      target,
      'POST',
      '/access/v1/evaluations',
      body(
        'evaluations',
        cases.map((c) => jsonText(c.evaluation)),
      ),
    );
    expect(authzen.status).toBe(200);
    const answers = (authzen.json() as { evaluations: Answer[] }).evaluations;
    expect(answers.map(verdict)).toEqual(expected);
    // The single endpoint agrees too, on a sample.
    for (let k = 0; k < cases.length; k += 101) {
      expect(verdict(await evaluate(target, jsonText(cases[k]!.evaluation)))).toEqual(expected[k]);
    }
    // The set reaches every outcome: allowed, denied by a rule, by the default, and invalid.
    const reasons = new Set(expected.map(([, rule, reason]) => (rule === null ? reason : 'rule')));
    expect(expected.filter(([allowed]) => allowed).length).toBeGreaterThan(cases.length / 50);
    expect(expected.filter(([allowed]) => !allowed).length).toBeGreaterThan(cases.length / 50);
    expect(reasons).toContain('invalid request');
    expect(new Set(expected.map(([, rule]) => rule)).size).toBeGreaterThan(5);
  }, 300_000);
});
