/**
 * The native evaluator on version 2 policies: each new rule key, the
 * annotation defaults, every argument test with and without `not`, pointer
 * lookup, path cleaning, numbers at the edges, every request error text, the
 * rule index over groups, resources and subjects, and version 1 policies
 * ignoring the new request fields.
 */
import { describe, expect, it } from 'vitest';
import { type EnterpriseConfig } from '../src/enterprise/model.js';
import { cleanPath, scalarEquals, valuesAt } from '../src/native/arguments.js';
import { evaluatePolicy, readRequest } from '../src/native/evaluate.js';
import { planOf } from '../src/native/plan.js';
import { NativeEngine } from '../src/engines/native.js';
import { parsePolicy } from '../src/policy/validate.js';
import { type ArgumentCondition, type Policy, type Rule } from '../src/policy/model.js';

/** A version 2 policy that allows with rule 0 when it matches, else denies. */
function policyOf(...rules: Omit<Rule, 'allow'>[]): Policy {
  return { version: 2, default: 'deny', rules: rules.map((r) => ({ ...r, allow: true })) };
}

/** The index of the deciding rule, or null; throws on an invalid request. */
function ruleFor(policy: Policy, request: unknown): number | null {
  const decision = evaluatePolicy(policy, request);
  if (decision.error !== undefined) throw new Error(`unexpected invalid request: ${decision.error}`);
  return decision.rule;
}

const matches = (rule: Omit<Rule, 'allow'>, request: unknown): boolean => ruleFor(policyOf(rule), request) === 0;

/** Whether one argument condition holds for `args` (a request's `arguments`, or absent). */
const holds = (condition: ArgumentCondition, args?: unknown): boolean =>
  matches({ arguments: [condition] }, args === undefined ? { tool: 't' } : { tool: 't', arguments: args });

describe('version 2 rule keys', () => {
  it('resources match the request resource; none or "" matches nothing', () => {
    const rule = { action: 'resource', resources: ['file:///srv/docs/*', 'https://x.test/a'] } as const;
    expect(matches(rule, { action: 'resource', resource: 'file:///srv/docs/a/b.md' })).toBe(true);
    expect(matches(rule, { action: 'resource', resource: 'https://x.test/a' })).toBe(true);
    expect(matches(rule, { action: 'resource', resource: 'https://x.test/ab' })).toBe(false);
    expect(matches(rule, { action: 'resource' })).toBe(false);
    expect(matches(rule, { action: 'resource', resource: '' })).toBe(false);
    expect(matches(rule, { action: 'invoke', resource: 'https://x.test/a' })).toBe(false);
    expect(matches({ resources: ['*'] }, { resource: '' })).toBe(false);
  });

  it('users match principal.sub; no principal, no sub or "" matches nothing', () => {
    const rule = { users: ['alice@example.com', '*@ops.example.com'] };
    expect(matches(rule, { principal: { sub: 'alice@example.com' } })).toBe(true);
    expect(matches(rule, { principal: { sub: 'bob@ops.example.com' } })).toBe(true);
    expect(matches(rule, { principal: { sub: 'bob@example.com' } })).toBe(false);
    expect(matches({ users: ['*'] }, {})).toBe(false);
    expect(matches({ users: ['*'] }, { principal: null })).toBe(false);
    expect(matches({ users: ['*'] }, { principal: {} })).toBe(false);
    expect(matches({ users: ['*'] }, { principal: { sub: '' } })).toBe(false);
  });

  it('groups: some non-empty group matches some pattern', () => {
    const rule = { groups: ['platform', 'eng-*'] };
    expect(matches(rule, { principal: { groups: ['x', 'platform'] } })).toBe(true);
    expect(matches(rule, { principal: { groups: ['eng-web'] } })).toBe(true);
    expect(matches(rule, { principal: { groups: ['x', 'y'] } })).toBe(false);
    expect(matches(rule, { principal: { groups: [] } })).toBe(false);
    expect(matches({ groups: ['*'] }, { principal: { groups: ['', ''] } })).toBe(false);
    expect(matches({ groups: ['*'] }, { principal: { sub: 'a' } })).toBe(false);
    expect(matches({ groups: ['*'] }, {})).toBe(false);
  });

  it('claims: every listed claim has a non-empty string or element matching one of its patterns', () => {
    const rule = { claims: { org: ['acme'], role: ['admin', 'owner-*'] } };
    expect(matches(rule, { principal: { claims: { org: 'acme', role: ['x', 'owner-1'] } } })).toBe(true);
    expect(matches(rule, { principal: { claims: { org: ['acme'], role: 'admin' } } })).toBe(true);
    expect(matches(rule, { principal: { claims: { org: 'acme' } } })).toBe(false);
    expect(matches(rule, { principal: { claims: { org: 'acme', role: [] } } })).toBe(false);
    expect(matches(rule, { principal: { claims: { org: 'other', role: 'admin' } } })).toBe(false);
    expect(matches({ claims: { org: ['*'] } }, { principal: { claims: { org: '' } } })).toBe(false);
    expect(matches({ claims: { org: ['*'] } }, { principal: { claims: { org: ['', 'a'] } } })).toBe(true);
    expect(matches({ claims: { org: ['*'] } }, { principal: { claims: { org: [''] } } })).toBe(false);
    expect(matches({ claims: { org: ['*'] } }, {})).toBe(false);
    expect(matches({ claims: { org: ['*'] } }, { principal: {} })).toBe(false);
  });

  it('claims named __proto__ and toString are own members, never inherited ones', () => {
    const claims = Object.create(null) as Record<string, string[]>;
    claims.__proto__ = ['p'];
    const rule = { claims };
    expect(matches(rule, JSON.parse('{"principal": {"claims": {"__proto__": "p"}}}'))).toBe(true);
    expect(matches(rule, { principal: { claims: {} } })).toBe(false);
    expect(matches({ claims: { toString: ['*'] } }, { principal: { claims: {} } })).toBe(false);
    expect(matches({ claims: { toString: ['x'] } }, { principal: { claims: { toString: 'x' } } })).toBe(true);
  });

  it('action resource is an action of version 2', () => {
    expect(matches({ action: 'resource' }, { action: 'resource' })).toBe(true);
    expect(matches({ action: 'resource' }, { action: 'invoke' })).toBe(false);
    expect(matches({ action: 'invoke' }, { action: 'resource' })).toBe(false);
  });

  it('keys are AND-ed: each must hold', () => {
    const rule = { tools: ['delete_*'], groups: ['platform'], annotations: { destructiveHint: true } };
    expect(matches(rule, { tool: 'delete_repo', principal: { groups: ['platform'] } })).toBe(true);
    expect(matches(rule, { tool: 'delete_repo', principal: { groups: ['web'] } })).toBe(false);
    expect(matches(rule, { tool: 'list_repos', principal: { groups: ['platform'] } })).toBe(false);
    const declared = { tool: 'delete_repo', principal: { groups: ['platform'] }, annotations: { readOnlyHint: true } };
    expect(matches(rule, declared)).toBe(false);
  });
});

describe('annotations', () => {
  const effective = (annotations: unknown): Record<string, boolean> => {
    const read = readRequest(annotations === undefined ? {} : { annotations }, 2);
    if ('error' in read) throw new Error(read.error);
    return read.facts.annotations;
  };

  it("take MCP's defaults for hints the request does not declare", () => {
    const defaults = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true };
    expect(effective(undefined)).toEqual(defaults);
    expect(effective(null)).toEqual(defaults);
    expect(effective({})).toEqual(defaults);
    expect(effective({ title: 'x', readOnlyHint: false })).toEqual(defaults);
    expect(effective({ idempotentHint: true, openWorldHint: false })).toEqual({
      ...defaults,
      idempotentHint: true,
      openWorldHint: false,
    });
  });

  it('a tool declaring only readOnlyHint: true is not destructive; a declared destructiveHint wins', () => {
    expect(effective({ readOnlyHint: true }).destructiveHint).toBe(false);
    expect(effective({ readOnlyHint: true, destructiveHint: true }).destructiveHint).toBe(true);
    expect(effective({ readOnlyHint: false }).destructiveHint).toBe(true);
    expect(effective({ destructiveHint: false }).destructiveHint).toBe(false);
  });

  it('rules compare every listed hint with its effective value', () => {
    const destructive = { annotations: { destructiveHint: true } };
    expect(matches(destructive, { tool: 't' })).toBe(true);
    expect(matches(destructive, { tool: 't', annotations: { readOnlyHint: true } })).toBe(false);
    expect(matches(destructive, { tool: 't', annotations: { destructiveHint: false } })).toBe(false);
    const both = { annotations: { readOnlyHint: false, openWorldHint: true } };
    expect(matches(both, {})).toBe(true);
    expect(matches(both, { annotations: { openWorldHint: false } })).toBe(false);
    expect(matches({ annotations: { idempotentHint: true } }, { annotations: { idempotentHint: true } })).toBe(true);
    expect(matches({ annotations: { idempotentHint: true } }, {})).toBe(false);
  });
});

describe('argument conditions', () => {
  const args = {
    path: '/srv/projects/a.txt',
    count: 3,
    flag: true,
    none: null,
    list: ['a', 'b', 7],
    obj: { x: 'one', y: 'two' },
    nested: [{ name: 'n1' }, { name: 'n2' }],
    empty: '',
  };

  it('match: a string matching one pattern; other types fail the test; not negates', () => {
    expect(holds({ path: '/path', match: ['/srv/projects/*'] }, args)).toBe(true);
    expect(holds({ path: '/path', match: ['/etc/*', '/srv/*.txt'] }, args)).toBe(true);
    expect(holds({ path: '/path', match: ['/etc/*'] }, args)).toBe(false);
    expect(holds({ path: '/path', match: ['/etc/*'], not: true }, args)).toBe(true);
    expect(holds({ path: '/path', match: ['/srv/*'], not: true }, args)).toBe(false);
    expect(holds({ path: '/count', match: ['*'] }, args)).toBe(false);
    expect(holds({ path: '/count', match: ['*'], not: true }, args)).toBe(true);
    expect(holds({ path: '/obj', match: ['*'] }, args)).toBe(false);
    expect(holds({ path: '/empty', match: ['*'] }, args)).toBe(true);
    expect(holds({ path: '/empty', match: ['a*'], not: true }, args)).toBe(true);
    expect(holds({ path: '/path', match: ['/srv/projects/a.txt'], not: false }, args)).toBe(true);
  });

  it('match with normalize "path" cleans the string first; without it ".." passes a prefix pattern', () => {
    const sneaky = { path: '/srv/projects/../../etc/passwd' };
    expect(holds({ path: '/path', match: ['/srv/projects/*'] }, sneaky)).toBe(true);
    expect(holds({ path: '/path', match: ['/srv/projects/*'], normalize: 'path' }, sneaky)).toBe(false);
    expect(holds({ path: '/path', match: ['/srv/projects/*'], normalize: 'path', not: true }, sneaky)).toBe(true);
    expect(holds({ path: '/path', match: ['/etc/passwd'], normalize: 'path' }, sneaky)).toBe(true);
    expect(holds({ path: '/path', match: ['/a/b'], normalize: 'path' }, { path: '//a/./b/' })).toBe(true);
    expect(holds({ path: '/path', match: ['*'], normalize: 'path' }, { path: 7 })).toBe(false);
    expect(holds({ path: '/path', match: ['*'], normalize: 'path', not: true }, { path: 7 })).toBe(true);
  });

  it('match with normalize fails on a string of more than 512 parts, so not holds', () => {
    const at = (n: number): string => Array.from({ length: n }, () => 'a').join('/');
    expect(holds({ path: '/p', match: ['*'], normalize: 'path' }, { p: at(512) })).toBe(true);
    expect(holds({ path: '/p', match: ['*'], normalize: 'path' }, { p: at(513) })).toBe(false);
    expect(holds({ path: '/p', match: ['*'], normalize: 'path', not: true }, { p: at(513) })).toBe(true);
    expect(holds({ path: '/p', match: ['*'] }, { p: at(513) })).toBe(true);
    expect(holds({ path: '/p', match: ['/'], normalize: 'path' }, { p: '/'.repeat(511) })).toBe(true);
    expect(holds({ path: '/p', match: ['/'], normalize: 'path' }, { p: '/'.repeat(512) })).toBe(false);
  });

  it('equals: same JSON type and equal; objects and arrays never equal', () => {
    expect(holds({ path: '/count', equals: 3 }, args)).toBe(true);
    expect(holds({ path: '/count', equals: '3' }, args)).toBe(false);
    expect(holds({ path: '/count', equals: '3', not: true }, args)).toBe(true);
    expect(holds({ path: '/count', equals: 3, not: true }, args)).toBe(false);
    expect(holds({ path: '/flag', equals: true }, args)).toBe(true);
    expect(holds({ path: '/flag', equals: 1 }, args)).toBe(false);
    expect(holds({ path: '/none', equals: null }, args)).toBe(true);
    expect(holds({ path: '/none', equals: false }, args)).toBe(false);
    expect(holds({ path: '/empty', equals: null }, args)).toBe(false);
    expect(holds({ path: '/empty', equals: '' }, args)).toBe(true);
    expect(holds({ path: '/list', equals: 'a' }, args)).toBe(false);
    expect(holds({ path: '/obj', equals: null, not: true }, args)).toBe(true);
    expect(scalarEquals({}, null)).toBe(false);
    expect(scalarEquals([], null)).toBe(false);
    expect(scalarEquals(null, null)).toBe(true);
  });

  it('in: equals one of the scalars', () => {
    expect(holds({ path: '/count', in: ['a', 3, null] }, args)).toBe(true);
    expect(holds({ path: '/none', in: ['a', 3, null] }, args)).toBe(true);
    expect(holds({ path: '/flag', in: ['a', 3, null] }, args)).toBe(false);
    expect(holds({ path: '/flag', in: ['a', 3, null], not: true }, args)).toBe(true);
    expect(holds({ path: '/count', in: [3], not: true }, args)).toBe(false);
    expect(holds({ path: '/obj', in: ['one'] }, args)).toBe(false);
  });

  it('min and max: a number within inclusive bounds; other types fail the test', () => {
    expect(holds({ path: '/count', min: 3 }, args)).toBe(true);
    expect(holds({ path: '/count', min: 3.0000001 }, args)).toBe(false);
    expect(holds({ path: '/count', max: 3 }, args)).toBe(true);
    expect(holds({ path: '/count', max: 2.9 }, args)).toBe(false);
    expect(holds({ path: '/count', min: 0, max: 10 }, args)).toBe(true);
    expect(holds({ path: '/count', min: 4, max: 10 }, args)).toBe(false);
    expect(holds({ path: '/count', min: 4, max: 10, not: true }, args)).toBe(true);
    expect(holds({ path: '/count', min: 0, max: 10, not: true }, args)).toBe(false);
    expect(holds({ path: '/path', min: 0 }, args)).toBe(false);
    expect(holds({ path: '/path', min: 0, not: true }, args)).toBe(true);
    expect(holds({ path: '/flag', max: 1 }, args)).toBe(false);
    expect(holds({ path: '/p', min: 0 }, { p: '5' })).toBe(false);
  });

  it('present: whether anything is found at the path', () => {
    expect(holds({ path: '/path', present: true }, args)).toBe(true);
    expect(holds({ path: '/path', present: false }, args)).toBe(false);
    expect(holds({ path: '/missing', present: true }, args)).toBe(false);
    expect(holds({ path: '/missing', present: false }, args)).toBe(true);
    expect(holds({ path: '/none', present: true }, args)).toBe(true);
    expect(holds({ path: '/path/x', present: false }, args)).toBe(true);
    expect(holds({ path: '', present: true }, args)).toBe(true);
    expect(holds({ path: '', present: true })).toBe(false);
    expect(holds({ path: '', present: false })).toBe(true);
    expect(holds({ path: '/a', present: false })).toBe(true);
    expect(holds({ path: '/list/*', present: true }, { list: [] })).toBe(false);
    expect(holds({ path: '/list/*', present: false }, { list: [] })).toBe(true);
  });

  it('nothing found fails every other test, with or without not', () => {
    for (const test of [{ match: ['*'] }, { equals: null }, { in: [1] }, { min: 0 }, { max: 0 }] as Omit<
      ArgumentCondition,
      'path'
    >[]) {
      for (const not of [false, true]) {
        expect(holds({ path: '/missing', ...test, not }, args)).toBe(false);
        expect(holds({ path: '/path/deeper', ...test, not }, args)).toBe(false);
        expect(holds({ path: '/obj/*', ...test, not }, { obj: {} })).toBe(false);
        expect(holds({ path: '', ...test, not })).toBe(false);
        expect(holds({ path: '', ...test, not }, null)).toBe(false);
      }
    }
  });

  it('the pointer "" is the arguments object itself', () => {
    expect(holds({ path: '', equals: null, not: true }, {})).toBe(true);
    expect(valuesAt({ a: 1 }, '')).toEqual([{ a: 1 }]);
    expect(valuesAt(undefined, '')).toEqual([]);
  });

  it('* stands for every element of an array and every member value of an object; some value suffices', () => {
    expect(valuesAt(args, '/list/*')).toEqual(['a', 'b', 7]);
    expect(valuesAt(args, '/obj/*')).toEqual(['one', 'two']);
    expect(valuesAt(args, '/nested/*/name')).toEqual(['n1', 'n2']);
    expect(valuesAt(args, '/path/*')).toEqual([]);
    expect(valuesAt({ a: [[1, 2], { b: 3 }, 4] }, '/a/*/*')).toEqual([1, 2, 3]);
    expect(holds({ path: '/list/*', equals: 'b' }, args)).toBe(true);
    expect(holds({ path: '/list/*', match: ['*'] }, args)).toBe(true);
    // A deny rule on a list needs not: "some element is outside" is `not` on "some element is inside"
    // only when there is one element; with several, some element passing makes the negation fail.
    expect(holds({ path: '/list/*', match: ['a'], not: true }, args)).toBe(false);
    expect(holds({ path: '/list/*', match: ['z'], not: true }, args)).toBe(true);
    expect(holds({ path: '/obj/*', equals: 'two' }, args)).toBe(true);
    expect(holds({ path: '/obj/*', equals: 'three' }, args)).toBe(false);
    expect(holds({ path: '/nested/*/name', in: ['n2'] }, args)).toBe(true);
    expect(holds({ path: '/nested/*/missing', present: true }, args)).toBe(false);
    expect(holds({ path: '/*', equals: 3 }, args)).toBe(true);
  });

  it('keys with / and ~ are read from ~1 and ~0; * is a key only where no wildcard is meant', () => {
    const odd = { 'a/b': { 'c~d': 1 }, '~1': 2, '': { '': 3 } };
    expect(valuesAt(odd, '/a~1b/c~0d')).toEqual([1]);
    expect(valuesAt(odd, '/~01')).toEqual([2]);
    expect(valuesAt(odd, '/~1')).toEqual([]);
    expect(valuesAt(odd, '//')).toEqual([3]);
    expect(holds({ path: '/a~1b/c~0d', equals: 1 }, odd)).toBe(true);
    expect(holds({ path: '/a/b', present: true }, odd)).toBe(false);
  });

  it('array indexes are 0 or digits without a leading 0, below the length', () => {
    const list = { l: ['x', 'y'] };
    expect(valuesAt(list, '/l/0')).toEqual(['x']);
    expect(valuesAt(list, '/l/1')).toEqual(['y']);
    expect(valuesAt(list, '/l/2')).toEqual([]);
    expect(valuesAt(list, '/l/01')).toEqual([]);
    expect(valuesAt(list, '/l/00')).toEqual([]);
    expect(valuesAt(list, '/l/-')).toEqual([]);
    expect(valuesAt(list, '/l/-0')).toEqual([]);
    expect(valuesAt(list, '/l/1.0')).toEqual([]);
    expect(valuesAt(list, '/l/ 1')).toEqual([]);
    expect(valuesAt(list, '/l/length')).toEqual([]);
    expect(valuesAt(list, '/l/99999999999999999999')).toEqual([]);
    // On an object, digits are just a key.
    expect(valuesAt({ o: { '01': 'a', '1': 'b' } }, '/o/01')).toEqual(['a']);
    expect(holds({ path: '/l/01', equals: 'y', not: true }, list)).toBe(false);
  });

  it('inherited members are never found', () => {
    expect(valuesAt({ a: {} }, '/a/toString')).toEqual([]);
    expect(valuesAt({ a: {} }, '/a/__proto__')).toEqual([]);
    expect(valuesAt(JSON.parse('{"__proto__": 5}') as Record<string, unknown>, '/__proto__')).toEqual([5]);
    expect(holds({ path: '/constructor', present: false }, {})).toBe(true);
  });

  it('every condition of a rule must hold', () => {
    const rule = {
      arguments: [
        { path: '/path', match: ['/srv/*'], normalize: 'path' },
        { path: '/count', max: 5 },
      ] as ArgumentCondition[],
    };
    expect(matches(rule, { arguments: { path: '/srv/x', count: 5 } })).toBe(true);
    expect(matches(rule, { arguments: { path: '/srv/x', count: 6 } })).toBe(false);
    expect(matches(rule, { arguments: { path: '/etc/x', count: 1 } })).toBe(false);
    expect(matches(rule, { arguments: { path: '/srv/x' } })).toBe(false);
  });
});

describe('path cleaning', () => {
  it.each([
    ['/srv/projects/../../etc/passwd', '/etc/passwd'],
    ['//a/./b/', '/a/b'],
    ['a/../../b', '../b'],
    ['', '.'],
    ['/..', '/'],
    ['/', '/'],
    ['//', '/'],
    ['.', '.'],
    ['./', '.'],
    ['..', '..'],
    ['../..', '../..'],
    ['../../a/..', '../..'],
    ['a/..', '.'],
    ['a/b/..', 'a'],
    ['/a/b/../../..', '/'],
    ['/../a', '/a'],
    ['a//b', 'a/b'],
    ['a/./b/.', 'a/b'],
    ['abc', 'abc'],
    ['/abc/', '/abc'],
    ['...', '...'],
    ['/a/.../b', '/a/.../b'],
    ['..a/b', '..a/b'],
    ['a/..b', 'a/..b'],
    ['../a/../../b', '../../b'],
    ['x/../../..', '../..'],
    ['\\a\\..\\b', '\\a\\..\\b'],
    ['a/b/c', 'a/b/c'],
    ['/a/b.c/.d/..e', '/a/b.c/.d/..e'],
    ['.a', '.a'],
    ['a/.', 'a'],
    ['a/..', '.'],
    ['/a/..', '/'],
    ['./a', 'a'],
    ['../a', '../a'],
    ['a/', 'a'],
    ['/a//', '/a'],
    ['😀/./é', '😀/é'],
  ])('%j cleans to %j', (input, expected) => {
    expect(cleanPath(input)).toBe(expected);
  });

  it('agrees with the algorithm as written on every string of up to 8 characters over a, ., /', () => {
    const reference = (input: string): string => {
      const rooted = input.startsWith('/');
      const stack: string[] = [];
      for (const p of input.split('/')) {
        if (p === '' || p === '.') continue;
        if (p !== '..') stack.push(p);
        else if (stack.length > 0 && stack[stack.length - 1] !== '..') stack.pop();
        else if (!rooted) stack.push('..');
      }
      const result = (rooted ? '/' : '') + stack.join('/');
      return result === '' ? '.' : result;
    };
    let strings = [''];
    let checked = 0;
    for (let length = 0; length <= 8; length++) {
      for (const input of strings) {
        if (cleanPath(input) !== reference(input)) expect.fail(`${JSON.stringify(input)}: ${cleanPath(input)}`);
        checked++;
      }
      strings = strings.flatMap((t) => [`${t}a`, `${t}.`, `${t}/`]);
    }
    expect(checked).toBe((3 ** 9 - 1) / 2);
  });

  it('a string of more than 512 parts is not a path', () => {
    expect(cleanPath('a/'.repeat(511) + 'a')).toBe('a/'.repeat(511) + 'a');
    expect(cleanPath('a/'.repeat(512) + 'a')).toBeUndefined();
    expect(cleanPath('/'.repeat(511))).toBe('/');
    expect(cleanPath('/'.repeat(512))).toBeUndefined();
  });
});

describe('numbers at the edges', () => {
  /** Whether a condition holds for the request written as JSON text (numbers read as doubles). */
  const holdsText = (condition: ArgumentCondition, argumentsText: string): boolean =>
    matches({ arguments: [condition] }, JSON.parse(`{"arguments": ${argumentsText}}`));

  it('2^53+1 in the request text reads as 2^53', () => {
    expect(holdsText({ path: '/n', equals: 9007199254740992 }, '{"n": 9007199254740993}')).toBe(true);
    expect(holdsText({ path: '/n', max: 9007199254740992 }, '{"n": 9007199254740993}')).toBe(true);
    expect(holdsText({ path: '/n', min: 9007199254740994 }, '{"n": 9007199254740993}')).toBe(false);
    expect(holdsText({ path: '/n', in: [9007199254740992] }, '{"n": 9007199254740993}')).toBe(true);
  });

  it('-0 equals 0, in both directions and as a bound', () => {
    expect(holdsText({ path: '/n', equals: 0 }, '{"n": -0}')).toBe(true);
    expect(holdsText({ path: '/n', equals: -0 }, '{"n": 0}')).toBe(true);
    expect(holdsText({ path: '/n', max: -0 }, '{"n": 0}')).toBe(true);
    expect(holdsText({ path: '/n', min: 0 }, '{"n": -0.0}')).toBe(true);
    expect(holdsText({ path: '/n', in: [0] }, '{"n": -0e5}')).toBe(true);
  });

  it('exponents, the smallest subnormal and the largest double', () => {
    expect(holdsText({ path: '/n', equals: 1e21 }, '{"n": 1000000000000000000000}')).toBe(true);
    expect(holdsText({ path: '/n', equals: 1e21 }, '{"n": 1E+21}')).toBe(true);
    expect(holdsText({ path: '/n', min: 1e21 }, '{"n": 999999999999999900000}')).toBe(false);
    expect(holdsText({ path: '/n', min: 5e-324 }, '{"n": 5e-324}')).toBe(true);
    expect(holdsText({ path: '/n', max: 0 }, '{"n": 5e-324}')).toBe(false);
    expect(holdsText({ path: '/n', min: 5e-324, not: true }, '{"n": 0}')).toBe(true);
    expect(holdsText({ path: '/n', equals: 1.7976931348623157e308 }, '{"n": 1.7976931348623157e308}')).toBe(true);
    expect(holdsText({ path: '/n', max: 1.7976931348623157e308 }, '{"n": 1.7976931348623157e308}')).toBe(true);
    expect(holdsText({ path: '/n', min: -1.7976931348623157e308 }, '{"n": -1.7976931348623157e308}')).toBe(true);
    expect(holdsText({ path: '/n', equals: 0.30000000000000004 }, '{"n": 0.30000000000000004}')).toBe(true);
    expect(holdsText({ path: '/n', equals: 0.3 }, '{"n": 0.30000000000000004}')).toBe(false);
  });
});

describe('requests to a version 2 policy', () => {
  const v2 = policyOf({ tool: 't' } as Omit<Rule, 'allow'>);
  const errorOf = (request: unknown): string | undefined => evaluatePolicy(v2, request).error;
  const long = 'x'.repeat(65_537);
  const longest = 'x'.repeat(65_536);

  it.each([
    [[], 'request must be a JSON object'],
    [null, 'request must be a JSON object'],
    ['x', 'request must be a JSON object'],
    [{ resource: 1 }, 'field "resource" must be a string'],
    [{ tool: 1, resource: 1 }, 'field "tool" must be a string'],
    [{ resource: null }, 'field "resource" must be a string'],
    [{ resource: long }, 'field "resource" is longer than 65536 characters'],
    [{ resource: long, tool: 1 }, 'field "tool" must be a string'],
    [{ tool: long, resource: long }, 'field "tool" is longer than 65536 characters'],
    [{ resource: long, action: 'nope' }, 'field "resource" is longer than 65536 characters'],
    [{ action: 'nope' }, 'unknown action "nope"'],
    [{ action: 'nope', principal: 1 }, 'unknown action "nope"'],
    [{ target: { type: 'x' }, principal: 1 }, 'unknown target type "x"'],
    [{ principal: 1 }, 'field "principal" must be an object'],
    [{ principal: [] }, 'field "principal" must be an object'],
    [{ principal: 'alice' }, 'field "principal" must be an object'],
    [{ principal: { sub: 1 } }, 'field "principal.sub" must be a string'],
    [{ principal: { sub: null } }, 'field "principal.sub" must be a string'],
    [{ principal: { sub: long } }, 'field "principal.sub" is longer than 65536 characters'],
    [{ principal: { sub: long, groups: 1 } }, 'field "principal.sub" is longer than 65536 characters'],
    [{ principal: { groups: 'g' } }, 'field "principal.groups" must be an array of strings'],
    [{ principal: { groups: null } }, 'field "principal.groups" must be an array of strings'],
    [{ principal: { groups: ['a', 1] } }, 'field "principal.groups" must be an array of strings'],
    [{ principal: { groups: { 0: 'a' } } }, 'field "principal.groups" must be an array of strings'],
    [{ principal: { groups: Array(4097).fill('g') } }, 'field "principal.groups" has more than 4096 entries'],
    [{ principal: { groups: [...Array(4097).fill('g'), 1] } }, 'field "principal.groups" must be an array of strings'],
    [
      { principal: { groups: [...Array(4097).fill('g'), long] } },
      'field "principal.groups" has more than 4096 entries',
    ],
    [{ principal: { groups: ['a', long] } }, 'field "principal.groups" has an entry longer than 65536 characters'],
    [
      { principal: { groups: [long], claims: 1 } },
      'field "principal.groups" has an entry longer than 65536 characters',
    ],
    [{ principal: { claims: 'c' } }, 'field "principal.claims" must be an object'],
    [{ principal: { claims: ['c'] } }, 'field "principal.claims" must be an object'],
    [{ principal: { claims: null } }, 'field "principal.claims" must be an object'],
    [
      { principal: { claims: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`c${i}`, 'v'])) } },
      'field "principal.claims" has more than 64 claims',
    ],
    [
      { principal: { claims: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`c${i}`, 1])) } },
      'field "principal.claims" has more than 64 claims',
    ],
    [
      { principal: { claims: { a: 1 } } },
      'field "principal.claims" must map each claim to a string or an array of strings',
    ],
    [
      { principal: { claims: { a: ['x', null] } } },
      'field "principal.claims" must map each claim to a string or an array of strings',
    ],
    [
      { principal: { claims: { a: { b: 'c' } } } },
      'field "principal.claims" must map each claim to a string or an array of strings',
    ],
    [
      { principal: { claims: { a: Array(257).fill('v'), b: 1 } } },
      'field "principal.claims" must map each claim to a string or an array of strings',
    ],
    [
      { principal: { claims: { a: Array(257).fill('v') } } },
      'field "principal.claims" has a claim with more than 256 values',
    ],
    [
      { principal: { claims: { a: long, b: Array(257).fill('v') } } },
      'field "principal.claims" has a claim with more than 256 values',
    ],
    [{ principal: { claims: { a: long } } }, 'field "principal.claims" has a value longer than 65536 characters'],
    [
      { principal: { claims: { a: ['x', long] } } },
      'field "principal.claims" has a value longer than 65536 characters',
    ],
    [
      { principal: { claims: { a: long } }, arguments: 1 },
      'field "principal.claims" has a value longer than 65536 characters',
    ],
    [{ arguments: 1 }, 'field "arguments" must be an object'],
    [{ arguments: [] }, 'field "arguments" must be an object'],
    [{ arguments: 'x' }, 'field "arguments" must be an object'],
    [{ arguments: [], annotations: 1 }, 'field "arguments" must be an object'],
    [{ annotations: 1 }, 'field "annotations" must be an object'],
    [{ annotations: [] }, 'field "annotations" must be an object'],
    [{ annotations: { readOnlyHint: 'yes' } }, 'field "annotations.readOnlyHint" must be a boolean'],
    [{ annotations: { destructiveHint: null } }, 'field "annotations.destructiveHint" must be a boolean'],
    [{ annotations: { idempotentHint: 0 } }, 'field "annotations.idempotentHint" must be a boolean'],
    [{ annotations: { openWorldHint: {} } }, 'field "annotations.openWorldHint" must be a boolean'],
    [{ annotations: { openWorldHint: 1, readOnlyHint: 1 } }, 'field "annotations.readOnlyHint" must be a boolean'],
  ])('request %# is invalid', (request, error) => {
    expect(evaluatePolicy(v2, request)).toEqual({ allowed: false, reason: 'invalid request', rule: null, error });
  });

  it('accepts the limits themselves, null principal, arguments and annotations, and ignores other members', () => {
    for (const request of [
      { resource: longest, principal: { sub: longest, groups: Array(4096).fill(longest.slice(0, 8)) } },
      { principal: { groups: [longest], claims: { a: longest, b: Array(256).fill(longest) } } },
      { principal: { claims: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`c${i}`, []])) } },
      { principal: null, arguments: null, annotations: null },
      { principal: { name: 1, email: [] }, arguments: {}, annotations: { title: 1, readOnlyHint: true } },
      { resource: '', action: 'resource', annotations: {} },
      { action: '', principal: { sub: '', groups: [''], claims: { a: '' } } },
    ]) {
      expect(errorOf(request)).toBeUndefined();
    }
  });

  it('counts characters in code points, as version 1 does', () => {
    const astral = '😀'.repeat(65_536);
    expect(errorOf({ resource: astral, principal: { sub: astral, groups: [astral], claims: { a: astral } } })).toBe(
      undefined,
    );
  });

  it('reads principal sub and groups as facts, dropping empty groups', () => {
    const read = readRequest({ principal: { sub: 'a', groups: ['', 'g', 'h', ''] }, resource: 'r' }, 2);
    expect(read).toMatchObject({ facts: { sub: 'a', groups: ['g', 'h'], resource: 'r', principal: true } });
    expect(readRequest({}, 2)).toMatchObject({ facts: { principal: false, groups: [], arguments: undefined } });
  });
});

describe('version 1 policies', () => {
  const v1: Policy = { version: 1, default: 'deny', rules: [{ tools: ['t'], allow: true }] };

  it('ignore the request fields version 2 adds, whatever they hold', () => {
    for (const request of [
      { tool: 't', principal: 5, arguments: [], resource: 7, annotations: 'x' },
      { tool: 't', principal: { groups: 1, claims: [], sub: 2 }, annotations: { readOnlyHint: 'no' } },
    ]) {
      expect(evaluatePolicy(v1, request)).toEqual({ allowed: true, reason: 'allowed by rule 0', rule: 0 });
      expect(readRequest(request)).not.toHaveProperty('error');
    }
  });

  it('know no action resource', () => {
    expect(evaluatePolicy(v1, { action: 'resource', tool: 't' }).error).toBe('unknown action "resource"');
    expect(readRequest({ action: 'resource' })).toEqual({ error: 'unknown action "resource"' });
    expect(readRequest({ action: 'resource' }, 1)).toEqual({ error: 'unknown action "resource"' });
  });
});

describe('the rule index over the new keys', () => {
  /** Filler rules the index files under other keys, so the rule under test is the only candidate of its kind. */
  const filler = (n: number): Omit<Rule, 'allow'>[] =>
    Array.from({ length: n }, (_, i) => ({ server: `server-${i}`, tools: [`tool-${i}`] }));

  it('finds a rule filed only under groups, through any one of thousands of groups', () => {
    const groups = ['platform', 'eng-*', '*-admins'];
    const policy = policyOf(...filler(50), { groups }, ...filler(5));
    const many = Array.from({ length: 4095 }, (_, i) => `team-${i}`);
    expect(ruleFor(policy, { principal: { groups: [...many, 'platform'] } })).toBe(50);
    expect(ruleFor(policy, { principal: { groups: ['eng-web', ...many] } })).toBe(50);
    expect(ruleFor(policy, { principal: { groups: [...many.slice(0, 2000), 'db-admins', ...many.slice(2000)] } })).toBe(
      50,
    );
    expect(ruleFor(policy, { principal: { groups: ['platform'] } })).toBe(50);
    expect(ruleFor(policy, { principal: { groups: many } })).toBeNull();
    expect(ruleFor(policy, { principal: { groups: ['engineering'] } })).toBeNull();
  });

  it('keeps first match when a group rule is a candidate through several of its keys and fails', () => {
    // The rule's keys are `a` (prefix) and `b` (prefix); each group reaches it, and its pattern never matches.
    const policy = policyOf(...filler(3), { groups: ['a*z', 'b*z'] }, { groups: ['a*', 'q'] }, { groups: ['b*'] });
    expect(ruleFor(policy, { principal: { groups: ['a1', 'b1', 'a2', 'b2'] } })).toBe(4);
    expect(ruleFor(policy, { principal: { groups: ['b1', 'b2'] } })).toBe(5);
    expect(ruleFor(policy, { principal: { groups: ['b1', 'az'] } })).toBe(3);
    expect(ruleFor(policy, { principal: { groups: ['q', 'q'] } })).toBe(4);
  });

  it('finds a rule filed only under resources, by exact value, prefix and suffix', () => {
    const rule = { action: 'resource', resources: ['file:///srv/docs/*', '*.md', 'https://x.test/a'] } as const;
    const policy = policyOf(...filler(40), rule, ...filler(3));
    expect(ruleFor(policy, { action: 'resource', resource: 'file:///srv/docs/x' })).toBe(40);
    expect(ruleFor(policy, { action: 'resource', resource: 'https://y.test/readme.md' })).toBe(40);
    expect(ruleFor(policy, { action: 'resource', resource: 'https://x.test/a' })).toBe(40);
    expect(ruleFor(policy, { action: 'resource', resource: 'https://x.test/b' })).toBeNull();
    expect(ruleFor(policy, { action: 'invoke', resource: 'https://x.test/a' })).toBeNull();
  });

  it('finds a rule filed only under users, by exact value, prefix and suffix', () => {
    const policy = policyOf(...filler(40), { users: ['alice', 'svc-*', '*@example.com'] }, ...filler(3));
    for (const sub of ['alice', 'svc-ci', 'bob@example.com']) {
      expect(ruleFor(policy, { principal: { sub } })).toBe(40);
    }
    expect(ruleFor(policy, { principal: { sub: 'bob' } })).toBeNull();
    expect(ruleFor(policy, { principal: { groups: ['alice'] } })).toBeNull();
  });

  it('checks conditions on candidates: an indexed rule whose other keys fail does not match', () => {
    const policy = policyOf(
      { users: ['alice'], arguments: [{ path: '/repo', match: ['acme/*'] }] },
      { users: ['alice'] },
    );
    expect(ruleFor(policy, { principal: { sub: 'alice' }, arguments: { repo: 'acme/x' } })).toBe(0);
    expect(ruleFor(policy, { principal: { sub: 'alice' }, arguments: { repo: 'other/x' } })).toBe(1);
    expect(ruleFor(policy, { principal: { sub: 'alice' } })).toBe(1);
  });

  it('agrees with a walk over every rule, one rule at a time', () => {
    const rules: Omit<Rule, 'allow'>[] = [
      { groups: ['g1', 'g*'] },
      { users: ['u1'], groups: ['x*'] },
      { resources: ['r*'], action: 'resource' },
      { users: ['*1'], claims: { org: ['acme'] } },
      { groups: ['*-admins'], annotations: { destructiveHint: false } },
      { tools: ['t*'], arguments: [{ path: '/a/*', min: 2 }] },
      { claims: { org: ['*'] } },
    ];
    const policy = policyOf(...rules);
    const requests: unknown[] = [];
    for (const sub of [undefined, 'u1', 'v1', 'u2'])
      for (const groups of [undefined, [], ['g1'], ['x9', 'db-admins'], ['db-admins'], ['h']])
        for (const extra of [
          {},
          { action: 'resource', resource: 'rx' },
          { tool: 'tt', arguments: { a: [1, 3] } },
          { tool: 'tt', arguments: { a: { b: 1 } } },
          { annotations: { readOnlyHint: true } },
        ])
          for (const claims of [undefined, { org: 'acme' }, { org: ['x', 'acme'] }, { org: '' }]) {
            const principal =
              sub === undefined && groups === undefined && claims === undefined
                ? undefined
                : { ...(sub !== undefined && { sub }), ...(groups && { groups }), ...(claims && { claims }) };
            requests.push({ ...extra, ...(principal && { principal }) });
          }
    let matched = 0;
    for (const request of requests) {
      const walk = rules.findIndex((rule) => matches(rule, request));
      const got = ruleFor(policy, request);
      expect(got, JSON.stringify(request)).toBe(walk < 0 ? null : walk);
      if (got !== null) matched++;
    }
    expect(matched).toBeGreaterThan(requests.length / 2);
  });
});

describe('enterprise directives on a version 2 policy', () => {
  const enterprise: EnterpriseConfig = {
    directives: { non_registry_servers: { value: false, enforcement: 'enforced' } },
    degradedMode: { policy: 'block_new', gracePeriodSeconds: 60, message: 'offline' },
  };
  const policy: Policy = { version: 2, default: 'allow', rules: [{ groups: ['blocked'], allow: false }] };

  it('deny by directive before any rule, and warn while degraded, as for version 1', () => {
    expect(evaluatePolicy(policy, { action: 'load', serverType: 'image' }, enterprise)).toMatchObject({
      allowed: false,
      rule: null,
      directive: 'non_registry_servers',
    });
    expect(
      evaluatePolicy(
        policy,
        { action: 'load', serverType: 'registry', newInstall: true, unreachableSeconds: 120 },
        enterprise,
      ),
    ).toMatchObject({ allowed: false, directive: 'degraded_mode', warning: 'offline' });
    expect(
      evaluatePolicy(policy, { action: 'resource', resource: 'r', principal: { groups: ['blocked'] } }, enterprise),
    ).toEqual({ allowed: false, reason: 'denied by rule 0', rule: 0 });
    expect(evaluatePolicy(policy, { action: 'resource', unreachableSeconds: 120 }, enterprise)).toMatchObject({
      allowed: true,
      warning: 'offline',
    });
  });

  it('report a malformed version 2 field before a malformed enterprise field', () => {
    expect(evaluatePolicy(policy, { principal: 1, local: 1 }, enterprise).error).toBe(
      'field "principal" must be an object',
    );
    expect(evaluatePolicy(policy, { principal: {}, local: 1 }, enterprise).error).toBe(
      'field "local" must be an object',
    );
  });
});

describe('where the index files version 2 rules', () => {
  it('passes over a users or groups key every rule shares for a shorter key of the rule’s own', () => {
    // `*@example.com` is the longer literal, and would be the strongest key of each rule on its own.
    const rules = Array.from({ length: 20 }, (_, i) => ({
      users: ['*@example.com'],
      groups: ['platform', 'eng-*'],
      tools: [`t${i}_*`],
    }));
    const policy = policyOf(...rules);
    const plan = planOf(policy);
    for (let i = 0; i < rules.length; i++) {
      expect(plan.filing(i)).toEqual([{ field: 'tool', kind: 'prefix', key: `t${i}_` }]);
    }
    const request = { tool: 't17_x', principal: { sub: 'a@example.com', groups: ['eng-x'] } };
    expect(ruleFor(policy, request)).toBe(17);
  });

  it('files a rule under its groups, users or resources when they are its own', () => {
    const policy = policyOf(
      { action: 'invoke', groups: ['platform', 'eng-*'] },
      { action: 'invoke', users: ['*@ops.example.com'] },
      { action: 'resource', resources: ['file:///srv/*'] },
      { action: 'invoke', groups: ['*'] },
    );
    const plan = planOf(policy);
    expect(plan.filing(0)).toEqual([
      { field: 'group', kind: 'exact', key: 'platform' },
      { field: 'group', kind: 'prefix', key: 'eng-' },
    ]);
    expect(plan.filing(1)).toEqual([{ field: 'sub', kind: 'suffix', key: '@ops.example.com' }]);
    expect(plan.filing(2)).toEqual([{ field: 'resource', kind: 'prefix', key: 'file:///srv/' }]);
    expect(plan.filing(3)).toEqual([{ field: 'action', kind: 'exact', key: 'invoke' }]);
  });
});

describe('the native engine on a validated version 2 policy', () => {
  it('decides through the request boundary as evaluatePolicy does on the request itself', () => {
    // As text: in an object literal, `__proto__` would set the prototype instead of naming a claim.
    const parsed = parsePolicy(`{
      "version": 2,
      "default": "deny",
      "rules": [
        {"claims": {"__proto__": ["p"]}, "tools": ["t"], "allow": true},
        {"groups": ["platform"], "tools": ["delete_*"], "allow": true},
        {"arguments": [{"path": "/a~1b/*", "match": ["/srv/*"], "normalize": "path"}], "allow": true},
        {"action": "resource", "resources": ["file:///srv/docs/*"], "annotations": {"readOnlyHint": true}, "allow": true}
      ]
    }`);
    const policy = parsed.value?.policy;
    if (policy === undefined) throw new Error(JSON.stringify(parsed));
    const engine = new NativeEngine(policy);
    const requests: [string, number | null][] = [
      ['{"tool": "t", "principal": {"claims": {"__proto__": "p"}}}', 0],
      ['{"tool": "t", "principal": {"claims": {"__proto__": ["x", "p"]}}}', 0],
      ['{"tool": "t", "principal": {"claims": {}}}', null],
      ['{"tool": "delete_repo", "principal": {"groups": ["", "platform"]}}', 1],
      ['{"tool": "x", "arguments": {"a/b": {"k": "/srv/x/../y"}}}', 2],
      ['{"tool": "x", "arguments": {"a/b": ["/srv/../etc"]}}', null],
      ['{"action": "resource", "resource": "file:///srv/docs/a", "annotations": {"readOnlyHint": true}}', 3],
      ['{"action": "resource", "resource": "file:///srv/docs/a"}', null],
    ];
    for (const [text, rule] of requests) {
      const request: unknown = JSON.parse(text);
      expect(engine.decideSync(request).rule, text).toBe(rule);
      expect(evaluatePolicy(policy, request).rule, text).toBe(rule);
    }
  });
});
