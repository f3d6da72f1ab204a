/**
 * The request boundary: JavaScript values that are not plain JSON reach every
 * engine through the library API hosts use (decide, decideSync, decideBatch,
 * decideBatchSync) and get the same decision from each, and no decide call
 * throws.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_NAMES, type Engine, type EngineName } from '../src/engines/engine.js';
import { NativeEngine } from '../src/engines/native.js';
import {
  MAX_REQUEST_DEPTH,
  MAX_REQUEST_SIZE,
  NOT_AN_OBJECT,
  readRequestValue,
} from '../src/engines/request-boundary.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { readRequest } from '../src/native/evaluate.js';
import { type Decision } from '../src/policy/model.js';
import { hostileRequests } from '../src/difftest/generators.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { engineFor, mustParse } from './helpers.js';

const POLICY = mustParse(
  JSON.stringify({
    version: 1,
    default: 'allow',
    rules: [{ action: 'invoke', tools: ['delete_*'], deny: true, reason: 'no deleting' }],
  }),
);

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let k = 0; k < depth; k++) v = { x: v };
  return v;
}

function cyclic(): Record<string, unknown> {
  const c: Record<string, unknown> = { tool: 'read' };
  c.self = c;
  return c;
}

const notPlain = (pointer: string, what: string) =>
  `request is not plain JSON: the value at ${JSON.stringify(pointer)} is ${what}`;

/** A hostile value, and the decision every engine must give. */
const CASES: { note: string; request: () => unknown; expect: Partial<Decision> }[] = [
  {
    note: 'undefined in a known field',
    request: () => ({ tool: undefined }),
    expect: { error: notPlain('/tool', 'undefined') },
  },
  {
    note: 'undefined in an ignored field',
    request: () => ({ tool: 'read', catalog: undefined }),
    expect: { error: notPlain('/catalog', 'undefined') },
  },
  {
    note: 'an inherited known field is not read',
    request: () => Object.assign(Object.create({ tool: 'delete_all' }) as object, { action: 'invoke' }),
    expect: { error: NOT_AN_OBJECT },
  },
  {
    note: 'a getter is never called',
    request: () => ({
      action: 'invoke',
      get tool(): string {
        throw new Error('boom');
      },
    }),
    expect: { error: notPlain('/tool', 'a getter') },
  },
  {
    note: 'toJSON is not applied',
    request: () => ({ tool: 'read', target: { toJSON: () => 'x' } }),
    expect: { error: notPlain('/target/toJSON', 'a function') },
  },
  {
    note: 'a String object in a known field',
    request: () => ({ tool: new String('delete_all') }),
    expect: { error: notPlain('/tool', 'a String object, not a plain object') },
  },
  {
    note: 'a BigInt in an ignored field',
    request: () => ({ tool: 'read', n: 10n }),
    expect: { error: notPlain('/n', 'a bigint') },
  },
  {
    note: 'a cycle in an ignored field',
    request: cyclic,
    expect: { error: notPlain('/self', 'a cycle back to an object that contains it') },
  },
  {
    note: 'a hole in an ignored array',
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    request: () => ({ tool: 'read', list: [1, , 3] }),
    expect: { error: notPlain('/list/1', 'a hole in the array') },
  },
  {
    note: 'NaN in an ignored field',
    request: () => ({ tool: 'read', n: Number.NaN }),
    expect: { error: notPlain('/n', 'the number NaN') },
  },
  {
    note: 'a Date in an ignored field',
    request: () => ({ tool: 'read', when: new Date(0) }),
    expect: { error: notPlain('/when', 'a Date object, not a plain object') },
  },
  {
    note: 'deep nesting in an ignored field, at the limit',
    request: () => ({ tool: 'read', deep: nested(MAX_REQUEST_DEPTH - 1) }),
    expect: { allowed: true, rule: null },
  },
  {
    note: 'deep nesting in an ignored field, past the limit',
    request: () => ({ tool: 'read', deep: nested(MAX_REQUEST_DEPTH) }),
    expect: {
      error: `request nests deeper than ${MAX_REQUEST_DEPTH} levels at "${'/deep' + '/x'.repeat(MAX_REQUEST_DEPTH - 1)}"`,
    },
  },
  {
    note: 'a null-prototype object is plain',
    request: () => Object.assign(Object.create(null) as object, { tool: 'delete_all' }),
    expect: { allowed: false, rule: 0 },
  },
  {
    note: 'symbol keys and non-enumerable properties are not data',
    request: () =>
      Object.defineProperty({ tool: 'read', [Symbol('s')]: 1 }, 'hidden', { value: 10n, enumerable: false }),
    expect: { allowed: true, rule: null },
  },
  {
    note: 'a "__proto__" key from JSON.parse is an ordinary field',
    request: () => JSON.parse('{"__proto__": {"tool": "delete_all"}, "tool": "read"}') as unknown,
    expect: { allowed: true, rule: null },
  },
  {
    note: 'a proxy whose traps throw',
    request: () =>
      new Proxy(
        {},
        {
          ownKeys() {
            throw new Error('trap');
          },
        },
      ),
    expect: { error: 'request cannot be read: trap' },
  },
  { note: 'undefined as the request', request: () => undefined, expect: { error: NOT_AN_OBJECT } },
  { note: 'a BigInt as the request', request: () => 1n, expect: { error: NOT_AN_OBJECT } },
];

const engines = {} as Record<EngineName, Engine>;

beforeAll(async () => {
  for (const name of ENGINE_NAMES) engines[name] = await engineFor(name, POLICY);
});
afterAll(async () => {
  for (const name of ENGINE_NAMES) await engines[name].close();
});

/** Every entry point hosts call, on every engine: decide, decideBatch and the synchronous forms. */
async function allAnswers(request: unknown): Promise<Record<string, Decision>> {
  const out: Record<string, Decision> = {};
  for (const name of ENGINE_NAMES) {
    out[`${name}.decide`] = await engines[name].decide(request);
    out[`${name}.decideBatch`] = (await engines[name].decideBatch([request]))[0]!;
  }
  out['native.decideSync'] = (engines.native as NativeEngine).decideSync(request);
  out['wasm.decideSync'] = (engines.wasm as WasmEngine).decideSync(request);
  out['wasm.decideBatchSync'] = (engines.wasm as WasmEngine).decideBatchSync([request])[0]!;
  return out;
}

describe('the request boundary', () => {
  it.each(CASES)('$note: every engine and entry point gives the same decision', async (c) => {
    const answers = await allAnswers(c.request());
    const expected = {
      allowed: false,
      reason: c.expect.error !== undefined ? 'invalid request' : undefined,
      rule: null,
      ...c.expect,
    };
    for (const [where, decision] of Object.entries(answers)) {
      expect(decision, where).toMatchObject(
        Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined)),
      );
      expect(decision, where).toEqual(answers['native.decide']);
    }
  });

  it('copies into objects that inherit nothing, nested ones too, with "__proto__" an ordinary key', () => {
    const read = readRequestValue(JSON.parse('{"tool": "x", "local": {"__proto__": {"a": 1}}, "list": [{"b": 2}]}'));
    if (!('request' in read)) throw new Error(read.error);
    const nested = read.request.local as Record<string, unknown>;
    const inList = (read.request.list as Record<string, unknown>[])[0]!;
    const proto = Object.prototype as Record<string, unknown>;
    proto.server = 'polluted';
    try {
      for (const o of [read.request, nested, inList]) {
        for (const inherited of ['server', 'toString', 'constructor', 'hasOwnProperty', '__defineGetter__']) {
          expect(inherited in o, inherited).toBe(false);
        }
      }
    } finally {
      delete proto.server;
    }
    expect(Object.keys(nested)).toEqual(['__proto__']);
    expect(nested['__proto__']).toEqual({ a: 1 });
    expect(JSON.stringify(read.request)).toBe('{"tool":"x","local":{"__proto__":{"a":1}},"list":[{"b":2}]}');
  });

  it('never reads a polluted Object.prototype as a request field', async () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.tool = 'delete_all';
    let answers: Record<string, Decision>;
    try {
      answers = await allAnswers({ action: 'invoke' });
    } finally {
      delete proto.tool;
    }
    for (const [where, d] of Object.entries(answers)) {
      expect(d, where).toEqual({ allowed: true, reason: 'no rule matched; default allow', rule: null });
    }
  });

  it('gives a batch with holes one decision per element, in order, on every engine', async () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    const batch = [{ tool: 'delete_x' }, , { tool: 'read' }];
    const expected = [
      { allowed: false, reason: 'no deleting', rule: 0 },
      { allowed: false, reason: 'invalid request', rule: null, error: NOT_AN_OBJECT },
      { allowed: true, reason: 'no rule matched; default allow', rule: null },
    ];
    for (const name of ENGINE_NAMES) {
      const decided = await engines[name].decideBatch(batch);
      expect(decided.length, name).toBe(3);
      expect(decided, name).toEqual(expected);
    }
    expect((engines.wasm as WasmEngine).decideBatchSync(batch)).toEqual(expected);
  });

  it('answers a batch that is not an array with a failed decision instead of throwing', async () => {
    for (const name of ENGINE_NAMES) {
      const decided = await engines[name].decideBatch(42 as unknown as unknown[]);
      expect(decided, name).toEqual([
        { allowed: false, reason: 'evaluation failed', rule: null, error: 'requests must be an array' },
      ]);
    }
  });

  it('rejects requests over the size limit before any engine runs', async () => {
    const big = { tool: 'read', blob: Array.from({ length: 5 }, () => 'x'.repeat(MAX_REQUEST_SIZE / 4)) };
    const answers = await allAnswers(big);
    for (const [where, d] of Object.entries(answers)) {
      expect(d.error, where).toMatch(/^request is larger than/);
      expect(d.allowed, where).toBe(false);
    }
  });

  it('copies, so a request changed after the call cannot change what an engine read', () => {
    const request = { tool: 'read', list: [1] };
    const read = readRequestValue(request);
    request.list.push(2);
    expect('request' in read && JSON.stringify(read.request)).toBe('{"tool":"read","list":[1]}');
  });

  it('has generators that produce every kind of hostile value', () => {
    const kinds = new Set(
      hostileRequests(12345, 400)
        .map((r) => readRequestValue(r))
        .map((r) => ('error' in r ? r.error.replace(/".*"/, '') : 'plain')),
    );
    expect(kinds.size).toBeGreaterThanOrEqual(8);
    expect([...kinds]).toContain('plain');
  });
});

describe('local settings given to config', () => {
  const enterprise = parseEnterpriseConfig('playground: { value: true, enforcement: default }\n').value!;

  it('cross the same boundary on every engine: a plain object is used, anything else is invalid_local_settings', async () => {
    const answers: unknown[] = [];
    for (const name of ENGINE_NAMES) {
      const engine = await engineFor(name, POLICY, { enterprise });
      try {
        answers.push(await engine.config(Object.assign(Object.create(null) as object, { playground: false })));
        for (const [local, message] of [
          [
            { playground: undefined },
            'the local settings object is not plain JSON: the value at "/playground" is undefined',
          ],
          [{ n: 1n }, 'the local settings object is not plain JSON: the value at "/n" is a bigint'],
          [new Map(), 'the local settings must be a JSON object'],
        ] as const) {
          await expect(engine.config(local as never), `${name} ${message}`).rejects.toMatchObject({
            code: 'invalid_local_settings',
            message,
          });
        }
      } finally {
        await engine.close();
      }
    }
    for (const a of answers) expect(a).toEqual(answers[0]);
    expect(answers[0]).toMatchObject({ directives: { playground: { value: false, source: 'local' } } });
  });
});

describe('the native reader without the boundary', () => {
  it('reads own fields only when a prototype has request fields, and an own undefined field is not a string', () => {
    const proto = { tool: 'delete_all', server: 'inherited' };
    const withInherited = Object.assign(Object.create(proto) as object, { action: 'invoke', transport: 'stdio' });
    const read = readRequest(withInherited);
    expect(read).toEqual({
      facts: {
        action: 'invoke',
        server: undefined,
        serverType: undefined,
        serverSource: undefined,
        transport: 'stdio',
        tool: undefined,
      },
    });
    // Own fields win over the prototype's, and are read through the same slow path.
    const own = Object.assign(Object.create(proto) as object, { tool: 'list_issues' });
    expect(readRequest(own)).toMatchObject({ facts: { action: 'invoke', tool: 'list_issues', server: undefined } });
    for (const base of [{}, Object.create(proto) as object, Object.create(null) as object]) {
      expect(readRequest(Object.assign(base, { action: 'load', server: undefined }))).toEqual({
        error: 'field "server" must be a string',
      });
    }
    // Type errors are reported before length errors, in field order.
    expect(readRequest({ server: 'x'.repeat(70_000), tool: 7 })).toEqual({ error: 'field "tool" must be a string' });
  });
});
