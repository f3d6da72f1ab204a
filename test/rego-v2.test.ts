/**
 * Version 2 policies in Rego: lowered to data.json, decided by v2.rego in
 * WebAssembly (the bundle compilePolicy builds, in opa-wasm) and in OPA's
 * interpreter, case by case as docs/semantics.md states them; every request
 * error text; numbers at the edges of doubles; hostile strings that only
 * ever reach Rego as data; and version 1 bundles unchanged to the byte.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { type Engine } from '../src/engines/engine.js';
import { OpaEngine, opaEvalValue } from '../src/engines/opa.js';
import { BASE_REQUEST_COST, lengthFactor, patternWeight, requestCost } from '../src/engines/wasm-cost.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { readBundleFiles } from '../src/bundle/read.js';
import {
  compilePolicy,
  type CompiledPolicy,
  generatePolicy,
  LIB_REGO_PATH,
  V2_REGO_PATH,
  WASM_CAPABILITIES_PATH,
  writeSources,
} from '../src/pipeline/build.js';
import { runOpa } from '../src/opa/cli.js';
import { makeTempDir } from '../src/core/temp-dirs.js';
import { lower } from '../src/pipeline/lower.js';
import { emitRego } from '../src/pipeline/emit.js';
import { type Decision, type Policy } from '../src/policy/model.js';
import { EXAMPLES, mustParse } from './helpers.js';

const policyOf = (value: unknown): Policy => mustParse(JSON.stringify(value));

/** A rule per feature, each on its own tool so that the index, not luck, finds it. */
const HAND_POLICY = {
  version: 2,
  default: 'deny',
  rules: [
    { action: 'resource', resources: ['file:///srv/docs/*', 'https://example.com/x'], allow: true },
    { action: 'resource', deny: true },
    { tools: ['t_users'], users: ['ada', '*@acme.com'], allow: true },
    { tools: ['t_groups'], groups: ['platform', 'ops-*'], allow: true },
    { tools: ['t_claims'], claims: { org: ['acme'], teams: ['red', 'blue-*'] }, allow: true },
    { tools: ['t_annotations'], annotations: { destructiveHint: true }, deny: true },
    { tools: ['t_annotations'], annotations: { readOnlyHint: false, openWorldHint: false }, allow: true },
    { tools: ['t_annotations'], allow: true, reason: 'read-only or declared not destructive' },
    { tools: ['t_path'], arguments: [{ path: '/path', match: ['/srv/projects/*'], normalize: 'path' }], allow: true },
    { tools: ['t_raw'], arguments: [{ path: '/path', match: ['/srv/projects/*'] }], allow: true },
    { tools: ['t_list'], arguments: [{ path: '/xs/*', equals: 'bad' }], deny: true, reason: 'a bad element' },
    { tools: ['t_list'], arguments: [{ path: '/xs/*', match: ['ok-*'], not: true }], deny: true, reason: 'not ok' },
    { tools: ['t_list'], allow: true },
    { tools: ['t_range'], arguments: [{ path: '/n', min: 0, max: 10 }], allow: true },
    { tools: ['t_in'], arguments: [{ path: '/v', in: [1, '1', true, null] }], allow: true },
    { tools: ['t_present'], arguments: [{ path: '/a~1b/~0c', present: true }], allow: true },
    { tools: ['t_absent'], arguments: [{ path: '/x', present: false }], allow: true },
    { tools: ['t_index'], arguments: [{ path: '/list/1', equals: 'second' }], allow: true },
    { tools: ['t_star_object'], arguments: [{ path: '/*', equals: 7 }], allow: true },
    { tools: ['t_empty_value'], arguments: [{ path: '/s', match: ['*'] }], allow: true },
    { tools: ['t_not_range'], arguments: [{ path: '/n', max: 5, not: true }], allow: true },
    { tools: ['t_root'], arguments: [{ path: '', present: true }], allow: true },
  ],
};

type Expect = number | null | { error: string };

/** Requests and the rule that decides each (null: the default; error: invalid). */
const HAND_CASES: [string, Record<string, unknown>, Expect][] = [
  ['resource under the prefix', { action: 'resource', resource: 'file:///srv/docs/a.md' }, 0],
  ['resource literal', { action: 'resource', resource: 'https://example.com/x' }, 0],
  ['resource elsewhere', { action: 'resource', resource: 'file:///etc/passwd' }, 1],
  ['no resource never matches resources', { action: 'resource' }, 1],
  ['an empty resource is absent', { action: 'resource', resource: '' }, 1],
  ['user by name', { tool: 't_users', principal: { sub: 'ada' } }, 2],
  ['user by pattern', { tool: 't_users', principal: { sub: 'bob@acme.com' } }, 2],
  ['other user', { tool: 't_users', principal: { sub: 'eve' } }, null],
  ['no principal', { tool: 't_users' }, null],
  ['null principal', { tool: 't_users', principal: null }, null],
  ['empty sub is absent', { tool: 't_users', principal: { sub: '' } }, null],
  ['group literal', { tool: 't_groups', principal: { groups: ['dev', 'platform'] } }, 3],
  ['group pattern', { tool: 't_groups', principal: { groups: ['ops-eu'] } }, 3],
  ['no group matches', { tool: 't_groups', principal: { groups: ['dev', ''] } }, null],
  ['no groups', { tool: 't_groups', principal: { sub: 'ada' } }, null],
  ['every claim matches', { tool: 't_claims', principal: { claims: { org: 'acme', teams: ['x', 'blue-2'] } } }, 4],
  ['a claim missing', { tool: 't_claims', principal: { claims: { org: 'acme' } } }, null],
  ['a claim not matching', { tool: 't_claims', principal: { claims: { org: 'evil', teams: 'red' } } }, null],
  ['an empty claim value', { tool: 't_claims', principal: { claims: { org: ['', 'acme'], teams: [''] } } }, null],
  ['no annotations: destructive by default', { tool: 't_annotations' }, 5],
  ['readOnlyHint true: not destructive', { tool: 't_annotations', annotations: { readOnlyHint: true } }, 7],
  [
    'readOnlyHint true and destructiveHint true',
    { tool: 't_annotations', annotations: { readOnlyHint: true, destructiveHint: true } },
    5,
  ],
  [
    'declared not destructive, closed world',
    { tool: 't_annotations', annotations: { destructiveHint: false, openWorldHint: false, title: 5 } },
    6,
  ],
  [
    'declared not destructive, open world by default',
    { tool: 't_annotations', annotations: { destructiveHint: false } },
    7,
  ],
  ['cleaned path inside', { tool: 't_path', arguments: { path: '//srv/./projects/a/' } }, 8],
  ['cleaned path climbing out', { tool: 't_path', arguments: { path: '/srv/projects/../../etc/passwd' } }, null],
  ['raw path climbing out matches', { tool: 't_raw', arguments: { path: '/srv/projects/../../etc/passwd' } }, 9],
  [
    'more than 512 parts is not a path',
    { tool: 't_path', arguments: { path: `/srv/projects/${'a/'.repeat(511)}` } },
    null,
  ],
  ['512 parts is a path', { tool: 't_path', arguments: { path: `/srv/projects/${'a/'.repeat(508)}b` } }, 8],
  ['a number is not a string', { tool: 't_path', arguments: { path: 5 } }, null],
  ['no arguments', { tool: 't_path' }, null],
  ['null arguments', { tool: 't_path', arguments: null }, null],
  ['some element equals', { tool: 't_list', arguments: { xs: ['ok-1', 'bad'] } }, 10],
  // With `not`, the test must fail for every value found: one ok element is enough to make it not hold.
  ['one element ok, one not', { tool: 't_list', arguments: { xs: ['ok-1', 'nope'] } }, 12],
  ['no element ok', { tool: 't_list', arguments: { xs: ['nope', 'no'] } }, 11],
  ['no element ok, one of the wrong type', { tool: 't_list', arguments: { xs: [3, 'no'] } }, 11],
  ['every element ok', { tool: 't_list', arguments: { xs: ['ok-1', 'ok-2'] } }, 12],
  ['an empty list: not fails on nothing', { tool: 't_list', arguments: { xs: [] } }, 12],
  ['a scalar under *: nothing found', { tool: 't_list', arguments: { xs: 'bad' } }, 12],
  ['* over an object', { tool: 't_list', arguments: { xs: { a: 'ok-1', b: 'bad' } } }, 10],
  ['in range', { tool: 't_range', arguments: { n: 10 } }, 13],
  ['below range', { tool: 't_range', arguments: { n: -0.5 } }, null],
  ['a numeric string is no number', { tool: 't_range', arguments: { n: '5' } }, null],
  ['in: number', { tool: 't_in', arguments: { v: 1.0 } }, 14],
  ['in: string', { tool: 't_in', arguments: { v: '1' } }, 14],
  ['in: boolean', { tool: 't_in', arguments: { v: true } }, 14],
  ['in: null', { tool: 't_in', arguments: { v: null } }, 14],
  ['in: false is none of them', { tool: 't_in', arguments: { v: false } }, null],
  ['in: an array never equals', { tool: 't_in', arguments: { v: [1] } }, null],
  ['present through escaped segments', { tool: 't_present', arguments: { 'a/b': { '~c': false } } }, 15],
  ['present: the unescaped name differs', { tool: 't_present', arguments: { 'a/b': { '~0c': 1 } } }, null],
  ['present false: absent', { tool: 't_absent', arguments: {} }, 16],
  ['present false: null is a value', { tool: 't_absent', arguments: { x: null } }, null],
  ['present false without arguments', { tool: 't_absent' }, 16],
  ['an array index', { tool: 't_index', arguments: { list: ['first', 'second'] } }, 17],
  ['an index past the end', { tool: 't_index', arguments: { list: ['first'] } }, null],
  ['an index segment on an object is a name', { tool: 't_index', arguments: { list: { '1': 'second' } } }, 17],
  ['* over member values', { tool: 't_star_object', arguments: { a: 1, b: 7 } }, 18],
  ['* over member values, none equal', { tool: 't_star_object', arguments: { a: '7' } }, null],
  ['an empty string is a value * matches', { tool: 't_empty_value', arguments: { s: '' } }, 19],
  ['not max: above', { tool: 't_not_range', arguments: { n: 6 } }, 20],
  ['not max: wrong type holds', { tool: 't_not_range', arguments: { n: 'x' } }, 20],
  ['not max: within', { tool: 't_not_range', arguments: { n: 5 } }, null],
  ['not: nothing found fails', { tool: 't_not_range', arguments: {} }, null],
  ['the empty pointer is the arguments', { tool: 't_root', arguments: {} }, 21],
  ['the empty pointer without arguments', { tool: 't_root' }, null],
];

const LONG = 'a'.repeat(65_537);

/** Every request error of a version 2 policy, in the order they are checked. */
const ERROR_CASES: [unknown, string][] = [
  [[], 'request must be a JSON object'],
  ['x', 'request must be a JSON object'],
  [{ resource: 1 }, 'field "resource" must be a string'],
  [{ tool: null, resource: 1 }, 'field "tool" must be a string'],
  [{ resource: LONG }, 'field "resource" is longer than 65536 characters'],
  [{ action: 'subscribe', principal: 1 }, 'unknown action "subscribe"'],
  [{ target: [], principal: 1 }, 'field "target" must be an object'],
  [{ target: { type: 1 } }, 'field "target.type" must be a string'],
  [{ target: { type: 'prompt' }, principal: 1 }, 'unknown target type "prompt"'],
  [{ principal: 'ada', arguments: 1 }, 'field "principal" must be an object'],
  [{ principal: [] }, 'field "principal" must be an object'],
  [{ principal: { sub: 1, groups: 1 } }, 'field "principal.sub" must be a string'],
  [{ principal: { sub: LONG } }, 'field "principal.sub" is longer than 65536 characters'],
  [{ principal: { groups: 'ops' } }, 'field "principal.groups" must be an array of strings'],
  [{ principal: { groups: ['ops', null] } }, 'field "principal.groups" must be an array of strings'],
  [{ principal: { groups: Array(4097).fill('g') } }, 'field "principal.groups" has more than 4096 entries'],
  [{ principal: { groups: ['g', LONG] } }, 'field "principal.groups" has an entry longer than 65536 characters'],
  [{ principal: { claims: ['a'] } }, 'field "principal.claims" must be an object'],
  [
    { principal: { claims: Object.fromEntries(Array.from({ length: 65 }, (_, k) => [`c${k}`, 'v'])) } },
    'field "principal.claims" has more than 64 claims',
  ],
  [
    { principal: { claims: { a: Array(300).fill('v'), b: 1 } } },
    'field "principal.claims" must map each claim to a string or an array of strings',
  ],
  [
    { principal: { claims: { a: ['v', 2] } } },
    'field "principal.claims" must map each claim to a string or an array of strings',
  ],
  [
    { principal: { claims: { a: Array(257).fill('v'), b: LONG } } },
    'field "principal.claims" has a claim with more than 256 values',
  ],
  [{ principal: { claims: { a: ['v', LONG] } } }, 'field "principal.claims" has a value longer than 65536 characters'],
  [{ arguments: 'x', annotations: 1 }, 'field "arguments" must be an object'],
  [{ arguments: [] }, 'field "arguments" must be an object'],
  [{ annotations: [] }, 'field "annotations" must be an object'],
  [
    { annotations: { openWorldHint: 'yes', idempotentHint: 1 } },
    'field "annotations.idempotentHint" must be a boolean',
  ],
  [{ annotations: { readOnlyHint: null } }, 'field "annotations.readOnlyHint" must be a boolean'],
];

function expected(e: Expect): Partial<Decision> {
  if (e === null) return { allowed: false, rule: null };
  if (typeof e === 'number') return { rule: e };
  return { allowed: false, reason: 'invalid request', rule: null, error: e.error };
}

/** The fields of a decision an expectation names. */
function pick(d: Decision | undefined, e: Partial<Decision>): Partial<Decision> {
  return Object.fromEntries(Object.keys(e).map((k) => [k, d?.[k as keyof Decision]]));
}

interface Engines {
  readonly compiled: CompiledPolicy;
  readonly engines: Engine[];
}

async function enginesFor(policy: Policy, extras = {}, goWasm = false): Promise<Engines> {
  const compiled = await compilePolicy(policy, extras);
  const engines: Engine[] = [await WasmEngine.load(compiled.bundle), await OpaEngine.create(compiled, 'rego')];
  if (goWasm) engines.push(await OpaEngine.create(compiled, 'wasm'));
  return { compiled, engines };
}

const opened: Engine[] = [];
afterAll(async () => {
  for (const e of opened) await e.close?.();
});

/** Decides every request on every engine; per engine, its answers. */
async function decideEverywhere(policy: Policy, requests: readonly unknown[], extras = {}, goWasm = false) {
  const { engines } = await enginesFor(policy, extras, goWasm);
  opened.push(...engines);
  const out: Record<string, Decision[]> = {};
  for (const e of engines) out[e.name] = await e.decideBatch(requests);
  return out;
}

describe('version 2 in wasm and in OPA', () => {
  let answers: Record<string, Decision[]> = {};
  beforeAll(async () => {
    answers = await decideEverywhere(
      policyOf(HAND_POLICY),
      HAND_CASES.map(([, r]) => r),
      {},
      true,
    );
  }, 120_000);

  it('decides the cases of the semantics on every engine that runs the Rego', () => {
    expect(Object.keys(answers).sort()).toEqual(['go-wasm', 'opa', 'wasm']);
    for (const [engine, decisions] of Object.entries(answers)) {
      const wrong = HAND_CASES.flatMap(([note, , e], k) => {
        const want = expected(e);
        const got = pick(decisions[k], want);
        return JSON.stringify(got) === JSON.stringify(want) ? [] : [{ engine, note, got, want }];
      });
      expect(wrong).toEqual([]);
    }
  });

  it('answers every request error with its text on both engines', async () => {
    const answers = await decideEverywhere(
      policyOf(HAND_POLICY),
      ERROR_CASES.map(([r]) => r),
    );
    for (const decisions of Object.values(answers)) {
      expect(decisions.map((d) => d.error)).toEqual(ERROR_CASES.map(([, text]) => text));
      expect(decisions.every((d) => !d.allowed && d.reason === 'invalid request')).toBe(true);
    }
  }, 120_000);

  it('compares numbers at the edges of doubles as JavaScript does', async () => {
    const policy = policyOf({
      version: 2,
      default: 'deny',
      rules: [
        { tools: ['big'], arguments: [{ path: '/n', equals: 9007199254740992 }], allow: true },
        { tools: ['zero'], arguments: [{ path: '/n', equals: 0 }], allow: true },
        { tools: ['huge'], arguments: [{ path: '/n', in: [1e21] }], allow: true },
        { tools: ['tiny'], arguments: [{ path: '/n', min: 5e-324 }], allow: true },
        { tools: ['max'], arguments: [{ path: '/n', min: 1.7976931348623157e308 }], allow: true },
        { tools: ['negzero'], arguments: [{ path: '/n', max: -0 }], allow: true },
      ],
    });
    // Request text as a host receives it, read by JSON.parse: 2^53+1 reads as 2^53.
    const texts: [string, boolean][] = [
      ['{"tool":"big","arguments":{"n":9007199254740993}}', true],
      ['{"tool":"big","arguments":{"n":9007199254740991}}', false],
      ['{"tool":"big","arguments":{"n":9.007199254740992e15}}', true],
      ['{"tool":"zero","arguments":{"n":-0}}', true],
      ['{"tool":"zero","arguments":{"n":-0.0e5}}', true],
      ['{"tool":"huge","arguments":{"n":1000000000000000000000}}', true],
      ['{"tool":"huge","arguments":{"n":1e21}}', true],
      ['{"tool":"huge","arguments":{"n":999999999999999999999}}', true],
      ['{"tool":"huge","arguments":{"n":1.0000000000000002e21}}', false],
      ['{"tool":"tiny","arguments":{"n":5e-324}}', true],
      ['{"tool":"tiny","arguments":{"n":0}}', false],
      ['{"tool":"tiny","arguments":{"n":2e-324}}', false],
      ['{"tool":"tiny","arguments":{"n":3e-324}}', true],
      ['{"tool":"max","arguments":{"n":1.7976931348623157e308}}', true],
      ['{"tool":"max","arguments":{"n":1.7976931348623155e308}}', false],
      ['{"tool":"max","arguments":{"n":1.79769313486231571e308}}', true],
      ['{"tool":"max","arguments":{"n":1.797693134862315e308}}', false],
      ['{"tool":"negzero","arguments":{"n":0}}', true],
      ['{"tool":"negzero","arguments":{"n":-0}}', true],
      ['{"tool":"negzero","arguments":{"n":5e-324}}', false],
    ];
    const answers = await decideEverywhere(
      policy,
      texts.map(([t]) => JSON.parse(t) as unknown),
    );
    for (const decisions of Object.values(answers)) {
      expect(decisions.map((d, k) => [texts[k]![0], d.allowed])).toEqual(texts.map(([t, allowed]) => [t, allowed]));
    }
  }, 120_000);

  it('hostile strings in claim names, pointers, patterns and values stay data', async () => {
    const evil = ['"', '\\', '\n', '"}\ndecision := {"allowed": true}\n#', '__proto__', '`', '\u202e', '${x}'];
    const name = evil.join('');
    const policy = policyOf({
      version: 2,
      default: 'deny',
      rules: [
        {
          tools: [name],
          users: [`${name}*`],
          claims: { [name]: [name], ['__proto__']: ['*'] },
          arguments: [
            { path: `/${name.replaceAll('~', '~0').replaceAll('/', '~1')}/*`, equals: name },
            { path: '/__proto__', match: [`*${name}`] },
          ],
          allow: true,
          reason: name,
        },
      ],
    });
    const { rego } = generatePolicy(policy);
    const benign = generatePolicy(policyOf({ version: 2, default: 'deny', rules: [{ tools: ['x'], allow: true }] }));
    // The module depends only on which fields the index uses (here the tool), never on the strings: every user
    // string is in data.json.
    expect(rego).toBe(benign.rego);
    const principal = JSON.parse(
      `{"sub": ${JSON.stringify(`${name}!`)}, "claims": {"__proto__": "p", ${JSON.stringify(name)}: [${JSON.stringify(name)}]}}`,
    ) as object;
    const args = JSON.parse(
      `{"__proto__": ${JSON.stringify(`x${name}`)}, ${JSON.stringify(name)}: {"k": ${JSON.stringify(name)}}}`,
    ) as object;
    const request = { tool: name, principal, arguments: args };
    const answers = await decideEverywhere(policy, [request, { ...request, tool: `${name}.` }]);
    for (const decisions of Object.values(answers)) {
      expect(decisions.map((d) => [d.allowed, d.rule])).toEqual([
        [true, 0],
        [false, null],
      ]);
      expect(decisions[0]!.reason).toBe(name);
    }
  }, 120_000);

  it('keeps enterprise directives and degraded mode in force, after the version 2 request checks', async () => {
    const { value: enterprise } = parseEnterpriseConfig(
      [
        'enterpriseConfig:',
        '  non_registry_servers:',
        '    value: false',
        '    enforcement: enforced',
        '  degraded_mode:',
        '    policy: block_new',
        '    grace_period: 1h',
      ].join('\n'),
    );
    expect(enterprise).toBeDefined();
    const policy = policyOf({ version: 2, default: 'allow', rules: [{ action: 'resource', deny: true }] });
    const answers = await decideEverywhere(
      policy,
      [
        { action: 'load', serverType: 'image', server: 's' },
        { action: 'load', serverType: 'registry', server: 's', unreachableSeconds: 7200, newInstall: true },
        { action: 'resource', resource: 'file:///x', principal: 1, local: 1 },
        { action: 'resource', resource: 'file:///x', local: 1 },
        { action: 'resource', resource: 'file:///x', unreachableSeconds: 7200 },
      ],
      { enterprise },
    );
    for (const decisions of Object.values(answers)) {
      expect(decisions.map((d) => [d.allowed, d.directive ?? d.error ?? d.rule])).toEqual([
        [false, 'non_registry_servers'],
        [false, 'degraded_mode'],
        [false, 'field "principal" must be an object'],
        [false, 'field "local" must be an object'],
        [false, 0],
      ]);
      expect(decisions[4]!.warning).toBeDefined();
    }
  }, 120_000);
});

describe('version 2 bundles and version 1 bytes', () => {
  it('a version 1 bundle is byte for byte what it was: same revision, no v2.rego', async () => {
    const policy = mustParse(readFileSync(join(EXAMPLES, 'production.json'), 'utf8'));
    const compiled = await compilePolicy(policy);
    expect(compiled.revision).toBe('8615b11d4c41d891406e010e3bd34bfb4fccc117ad58b968c2cb6a054e9e6aae');
    expect(compiled.v2).toBeUndefined();
    expect([...readBundleFiles(compiled.bundle).keys()].filter((p) => p.endsWith('.rego')).sort()).toEqual([
      'mcp_policy/lib.rego',
      'mcp_policy/policy.rego',
    ]);
  }, 120_000);

  it('a version 2 bundle carries v2.rego as written, and the module imports it', async () => {
    const compiled = await compilePolicy(policyOf(HAND_POLICY));
    const files = readBundleFiles(compiled.bundle);
    expect(new TextDecoder().decode(files.get('mcp_policy/v2.rego'))).toBe(readFileSync(V2_REGO_PATH, 'utf8'));
    expect(compiled.policy).toContain('import data.mcp_policy.v2\n');
    expect(compiled.policy).toContain('v2.request_error(req)');
    expect(compiled.policy).not.toMatch(/lib\.(request_error|facts|index_fields|affix_fields|field_values)\b/);
    // A rule's version 1 conditions go to lib.rego, its version 2 ones to v2.rego.
    expect(compiled.policy).toContain('every c in w[0] {\n\t\t\tlib.holds(c, r)\n\t\t}');
    expect(compiled.policy).toContain('every c in w[1] {\n\t\t\tv2.holds(c, r)\n\t\t}');
    // A header is the policy's text: it is printed as given, even where it names a helper.
    const header = emitRego(lower(policyOf(HAND_POLICY)), { header: 'from lib.facts(x).json' });
    expect(header).toContain('# "from lib.facts(x).json"\n');
  }, 120_000);

  it('generated version 2 modules are opa fmt clean and strict clean with the wasm capabilities', async () => {
    const { value: enterprise } = parseEnterpriseConfig(
      readFileSync(join(EXAMPLES, 'enterprise', 'advisory-block.yaml'), 'utf8'),
    );
    for (const extras of [{}, { enterprise }]) {
      const compiled = await compilePolicy(policyOf(HAND_POLICY), extras);
      const dir = await makeTempDir('rego-v2');
      await writeSources(dir, compiled);
      expect((await runOpa(['fmt', '--list', join(dir, 'mcp_policy', 'policy.rego')])).trim()).toBe('');
      await runOpa(['check', '--strict', '--capabilities', WASM_CAPABILITIES_PATH, join(dir, 'mcp_policy')]);
    }
  }, 120_000);
});

/** Go's path.Clean as the semantics states it: the reference the Rego is checked against. */
function cleanPath(s: string): string {
  const rooted = s.startsWith('/');
  const stack: string[] = [];
  for (const p of s.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (stack.length > 0 && stack[stack.length - 1] !== '..') stack.pop();
      else if (!rooted) stack.push('..');
    } else stack.push(p);
  }
  const out = (rooted ? '/' : '') + stack.join('/');
  return out === '' ? '.' : out;
}

describe('path cleaning in Rego', () => {
  it('agrees with path.Clean on paths of every shape, up to 512 parts', async () => {
    // A fixed generator (no clock, no Math.random): the same paths on every run.
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pieces = ['a', 'b', '..', '.', '', '...', '.a'];
    const paths = Array.from({ length: 600 }, (_, k) => {
      const parts = 1 + (k < 20 ? 500 + next(13) : next(k < 300 ? 12 : 80));
      return Array.from({ length: parts }, () => pieces[next(pieces.length)]).join('/');
    });
    const dir = await makeTempDir('clean-path');
    await writeFile(join(dir, 'lib.rego'), readFileSync(LIB_REGO_PATH, 'utf8'));
    await writeFile(join(dir, 'v2.rego'), readFileSync(V2_REGO_PATH, 'utf8'));
    // Keyed by position: a path that is not one (more than 512 parts) has no entry. Both OPA's interpreter
    // and its WebAssembly compiler run the same Rego.
    for (const target of ['rego', 'wasm'] as const) {
      const got = (await opaEvalValue(
        dir,
        '{format_int(i, 10): data.mcp_policy.v2.clean_path(p) | some i, p in input}',
        paths,
        target,
      )) as Record<string, string>;
      expect(paths.map((_, k) => got[String(k)] ?? null)).toEqual(
        paths.map((p) => (p.split('/').length > 512 ? null : cleanPath(p))),
      );
    }
    expect(paths.filter((p) => p.split('/').length > 512).length).toBeGreaterThan(0);
  }, 120_000);
});

describe('the rule index of version 2 policies', () => {
  it('files a rule under a name before an identity shared by every rule, and under an identity before an enum', () => {
    const policy = policyOf({
      version: 2,
      default: 'deny',
      rules: [
        { server: 'team-a-*', users: ['*@example.com'], allow: true },
        { resources: ['file:///srv/*'], action: 'resource', groups: ['platform'], allow: true },
        { action: 'invoke', groups: ['platform', 'ops-*'], allow: true },
        { action: 'invoke', users: ['ada'], groups: ['ops-*'], allow: true },
        { users: ['*'], allow: true },
      ],
    });
    const { index } = lower(policy).data;
    expect(index.prefix).toEqual({
      server: [{ 'team-a-': [0] }],
      resource: [{ 'file:///srv/': [1] }],
      groups: [{ 'ops-': [2] }],
    });
    expect(index.equals).toEqual({ groups: { platform: [2] }, sub: { ada: [3] } });
    expect(index.suffix).toEqual({});
    expect(index.always).toEqual([4]);
  });

  it('a module looks a request up only under the fields its index has entries for, and finds every rule', async () => {
    const policy = policyOf({
      version: 2,
      default: 'deny',
      rules: [
        { server: 'team-a', users: ['*@example.com'], allow: false },
        { groups: ['eng-*'], allow: true },
        { action: 'resource', server: '*.svc', resources: ['file:///srv/*'], allow: true },
        { users: ['ada'], allow: true },
      ],
    });
    const { rego } = generatePolicy(policy);
    expect(rego).toContain('index_fields := ["server", "sub"]');
    expect(rego).toContain('prefix_fields := ["groups", "resource"]');
    expect(rego).toContain('suffix_fields := []');
    const base = { tool: 't' };
    const answers = await decideEverywhere(policy, [
      { ...base, server: 'team-a', principal: { sub: 'x@example.com', groups: ['eng-a'] } },
      { ...base, server: 'team-b', principal: { sub: 'x@example.com', groups: ['', 'eng-a'] } },
      { ...base, action: 'resource', server: 'a.svc', resource: 'file:///srv/x', principal: { groups: ['eng'] } },
      { ...base, server: 'a.svc', resource: 'file:///etc', principal: { sub: 'ada' } },
      { ...base, server: 'a.svc', principal: { sub: '', groups: [''] } },
    ]);
    for (const decisions of Object.values(answers)) {
      expect(decisions.map((d) => d.rule)).toEqual([0, 1, 2, 3, null]);
    }
  }, 120_000);
});

describe('the work one version 2 request can ask for', () => {
  it('grows with the groups, the claim values and the size of the arguments', () => {
    expect(lengthFactor({ tool: 'x' })).toBe(1);
    expect(lengthFactor({ principal: { groups: Array(4096).fill('g') } })).toBeGreaterThan(16);
    expect(lengthFactor({ principal: { claims: { a: Array(256).fill('v') } } })).toBeGreaterThan(2);
    expect(lengthFactor({ arguments: { xs: Array(10_000).fill(1) } })).toBeGreaterThan(16);
    expect(lengthFactor({ arguments: { s: 'a'.repeat(65_536) } })).toBeGreaterThan(16);
    expect(lengthFactor({ principal: { sub: 'a'.repeat(65_536) } })).toBeGreaterThan(16);
  });

  it('prices the groups lookups of a request at every group bucket, not the largest one', () => {
    const policy = policyOf({
      version: 2,
      default: 'deny',
      rules: [...['a', 'b', 'c', 'd'].map((g) => ({ groups: [g], allow: true })), { tools: ['x'], allow: true }],
    });
    const data = JSON.parse(generatePolicy(policy).data) as unknown;
    // A request in all four groups makes the policy check all four rules, and the one under tool "x".
    expect(requestCost(data)).toBe(BASE_REQUEST_COST + 5);
  });

  it('weighs groups and argument values by the most patterns one rule tries on each', () => {
    const wide = policyOf({
      version: 2,
      default: 'deny',
      rules: [
        { groups: Array.from({ length: 256 }, (_, k) => `*g${k}*`), allow: true },
        { arguments: [{ path: '/x', match: ['a*', 'b*', 'c'] }], allow: true },
      ],
    });
    const literal = policyOf({ version: 2, default: 'deny', rules: [{ groups: ['a', 'b'], allow: true }] });
    const weightOf = (p: Policy) => patternWeight(JSON.parse(generatePolicy(p).data) as unknown);
    expect(weightOf(wide)).toBe(257);
    expect(weightOf(literal)).toBe(1);
    expect(patternWeight(JSON.parse(generatePolicy(mustParse('{"default":"allow","rules":[]}')).data))).toBe(1);
    // 4,096 groups against 256 patterns a rule cost far more than against literal groups.
    const request = { principal: { groups: Array(4096).fill('g') } };
    expect(lengthFactor(request, weightOf(wide))).toBeGreaterThan(256 * lengthFactor(request, weightOf(literal)) - 256);
  });

  it('reads arguments without running getters and without recursing', () => {
    let deep: unknown = 1;
    for (let k = 0; k < 100_000; k++) deep = [deep];
    expect(lengthFactor({ arguments: { deep } })).toBeGreaterThan(1);
    const trap = Object.defineProperty({}, 'x', {
      enumerable: true,
      get() {
        throw new Error('getter ran');
      },
    });
    expect(lengthFactor({ arguments: trap })).toBe(1);
  });
});
