/**
 * The n-gram index of the generated Rego: rules whose patterns have no
 * literal start or end are filed under an n-gram of a literal piece once a
 * field has NGRAM_MIN_RULES of them, the bundle then carries ngram.rego, and
 * the opa and wasm engines decide exactly as the native engine does; below
 * the threshold the bundle is byte for byte what it was before the index.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleFiles } from '../src/bundle/read.js';
import { type Engine } from '../src/engines/engine.js';
import { NativeEngine } from '../src/engines/native.js';
import {
  BASE_REQUEST_COST,
  CHARACTERS_PER_CHECK,
  cutsManyValues,
  lengthFactor,
  NGRAM_PASS_COST,
  requestCost,
  requestWork,
} from '../src/engines/wasm-cost.js';
import { OpaEngine } from '../src/engines/opa.js';
import { WasmEngine } from '../src/engines/wasm.js';
import {
  compilePolicy,
  type CompiledPolicy,
  NGRAM_REGO_PATH,
  OUTPUT_FILES,
  regoSources,
  WASM_CAPABILITIES_PATH,
  writeOutput,
  writeSources,
} from '../src/pipeline/build.js';
import { makeTempDir } from '../src/core/temp-dirs.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { runOpa } from '../src/opa/cli.js';
import { lower, NGRAM_MIN_RULES } from '../src/pipeline/lower.js';
import { type Decision, type Policy } from '../src/policy/model.js';
import { EXAMPLES, mustParse } from './helpers.js';
import { nativeDiffEngine } from '../src/difftest/engines.js';
import { comparable, type DifftestResult } from '../src/difftest/run.js';
import { mutatedCopy, REGO_NGRAM_MUTANTS, REGO_NGRAM_VALUE_MUTANTS, type SourceMutant } from './source-mutants.js';

const id = (i: number): string => String(i).padStart(3, '0');

/**
 * `n` rules on each of server, tools and serverSource whose patterns have no
 * literal start or end (the tools lists also hold a literal), so each field
 * is at the threshold when `n` is.
 */
function shaped(n: number): Policy {
  return mustParse(
    JSON.stringify({
      version: 1,
      default: 'deny',
      rules: [
        ...Array.from({ length: n }, (_, i) => ({ server: `*-svc${id(i)}-*`, allow: i % 2 === 0 })),
        ...Array.from({ length: n }, (_, i) => ({ tools: [`*purge${id(i)}*`, 'wipe'], allow: false })),
        ...Array.from({ length: n }, (_, i) => ({ action: 'load', serverSource: `*/team${id(i)}/*`, allow: true })),
      ],
    }),
  );
}

/**
 * Rules of every kind the index files under n-grams, overlapping on purpose:
 * pieces of 3 characters (3-grams) beside longer ones (4-grams), several
 * pieces, patterns that share grams, a tools list mixing an affix with an
 * infix, `*x*` behind an action, and rules the index cannot narrow.
 */
function mixed(): Policy {
  const words = ['abc', 'bca', 'cab', 'xyz', 'a-b', 'é-a', '😀ab', 'abcabc', 'bcab-x', 'zz/yy'];
  const rules: unknown[] = [];
  for (let i = 0; i < 200; i++) {
    const w = words[i % words.length]!;
    const v = words[(i * 7 + 3) % words.length]!;
    const k = id(i % 17);
    switch (i % 6) {
      case 0:
        rules.push({ server: `*${w}*`, allow: i % 4 === 0 });
        break;
      case 1:
        rules.push({ server: `*${w}*${k}*`, allow: true });
        break;
      case 2:
        rules.push({ tools: [`*${v}${k}*`, `del_${w}*`], allow: false });
        break;
      case 3:
        rules.push({ action: 'invoke', tools: [`*${w}*`], allow: i % 3 === 0 });
        break;
      case 4:
        rules.push({ serverSource: `*${v}*${w}*`, allow: true });
        break;
      default:
        rules.push(i % 12 === 5 ? { server: `*${k}*`, allow: false } : { tools: [`*${w}-${k}*`], allow: true });
    }
  }
  rules.push({ tools: ['*a*'], allow: false });
  return mustParse(JSON.stringify({ version: 1, default: 'allow', rules }));
}

/** A small seeded generator (mulberry32), so the requests are the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * Values aimed at the patterns' pieces: a piece alone, at the very start or
 * end of a value, inside one, cut by one character, with a gram of it but
 * not all of it, beside characters of two UTF-16 units, and long values.
 */
function values(next: () => number, pieces: readonly string[]): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const piece = pick(pieces);
  const cs = [...piece];
  const fill = pick(['', 'x', 'é', '😀', '-', 'ab', 'abc', 'zz/']);
  switch (Math.floor(next() * 9)) {
    case 0:
      return piece;
    case 1:
      return `${piece}${fill}`;
    case 2:
      return `${fill}${piece}`;
    case 3:
      return `${fill}${piece}${fill}${pick(pieces)}`;
    case 4:
      return cs.slice(1).join('');
    case 5:
      return cs.slice(0, -1).join('') + fill;
    case 6:
      return `${pick(pieces)}${fill}${piece}`;
    case 7:
      return `${'q'.repeat(Math.floor(next() * 400))}${piece}`;
    default:
      return cs.reverse().join('');
  }
}

function requests(seed: number, count: number, pieces: readonly string[], version: 1 | 2 = 1): unknown[] {
  const next = random(seed);
  const actions = ['load', 'invoke', 'prompt', ...(version === 2 ? ['resource', 'resource'] : []), undefined];
  return Array.from({ length: count }, () => {
    const request: Record<string, unknown> = {};
    const action = actions[Math.floor(next() * actions.length)];
    if (action !== undefined) request.action = action;
    if (next() < 0.7) request.server = values(next, pieces);
    if (next() < 0.7) request.tool = values(next, pieces);
    if (next() < 0.5) request.serverSource = values(next, pieces);
    if (version === 2 && action === 'resource') request.resource = values(next, pieces);
    if (version === 2 && next() < 0.7) request.principal = { sub: values(next, pieces) };
    return request;
  });
}

/** Version 2: `resources` and `users` patterns with no literal start or end, beside a tools list. */
function version2(): Policy {
  const rules = Array.from({ length: 80 }, (_, i) =>
    i % 2 === 0
      ? { action: 'resource', resources: [`*/doc${id(i)}/*`, 'file:///etc/passwd'], allow: i % 4 === 0 }
      : { users: [`*u${id(i)}@*`], tools: ['*'], allow: i % 3 === 0 },
  );
  return mustParse(JSON.stringify({ version: 2, default: 'deny', rules }));
}

/**
 * Version 2: `groups`, claims and argument `match` patterns with no literal
 * start or end, each past the threshold on its own field (an argument field
 * is its pointer, cleaned as a path or not), beside literals and affixes on
 * the same fields, and negated and presence tests, which nothing files.
 */
function version2Values(): Policy {
  const rules: unknown[] = [];
  for (let i = 0; i < 36; i++) {
    rules.push({ groups: [`*team${id(i)}-*`, ...(i % 5 === 0 ? ['admins', 'ops-*'] : [])], allow: i % 2 === 0 });
    rules.push({
      claims: { dept: [`*dep${id(i)}x*`], ...(i % 4 === 0 && { org: ['acme', '*cme-*'] }) },
      allow: i % 3 === 0,
    });
    rules.push({ tools: ['*'], arguments: [{ path: '/cmd', match: [`*rm-${id(i)}*`, 'rm -rf'] }], allow: false });
    rules.push({
      tools: ['*'],
      arguments: [
        { path: '/paths/*', match: [`*/proj${id(i)}/*`, ...(i % 6 === 0 ? ['/srv'] : [])], normalize: 'path' },
      ],
      allow: i % 2 === 1,
    });
    if (i % 9 === 0) {
      rules.push({ tools: ['*'], arguments: [{ path: '/cmd', match: [`*rm-${id(i + 1)}*`], not: true }], allow: true });
      rules.push({ tools: ['*'], arguments: [{ path: '/paths/1', present: true }], groups: ['*zz*'], allow: false });
    }
  }
  return mustParse(JSON.stringify({ version: 2, default: 'deny', rules }));
}

const V2_VALUE_PIECES = Array.from({ length: 38 }, (_, i) => [
  `team${id(i)}-`,
  `dep${id(i)}x`,
  `rm-${id(i)}`,
  `/proj${id(i)}/`,
]).flat();

/** Requests for {@link version2Values}: principals with several groups and claims, commands and path lists. */
function valueRequests(seed: number, count: number): unknown[] {
  const next = random(seed);
  const some = (n: number) => Array.from({ length: Math.floor(next() * n) }, () => values(next, V2_VALUE_PIECES));
  const dotted = (v: string) => [v, `/a/..${v}`, `//x/.${v}/..`, `${v}/../..`][Math.floor(next() * 4)]!;
  return Array.from({ length: count }, () => {
    const request: Record<string, unknown> = { action: next() < 0.9 ? 'invoke' : 'load', tool: 'run' };
    if (next() < 0.8) {
      const claims: Record<string, unknown> = {};
      if (next() < 0.6) claims.dept = next() < 0.5 ? values(next, V2_VALUE_PIECES) : some(4);
      if (next() < 0.3) claims.org = ['acme', 'xacme-', 'cme-', 'acme-1'][Math.floor(next() * 4)];
      request.principal = { sub: 'u', groups: [...some(5), ...(next() < 0.1 ? ['admins', 'ops-x', ''] : [])], claims };
    }
    const args: Record<string, unknown> = {};
    if (next() < 0.6) args.cmd = next() < 0.1 ? 'rm -rf' : values(next, V2_VALUE_PIECES);
    if (next() < 0.6) args.paths = some(4).map(dotted);
    if (next() < 0.1) args.cmd = 7;
    request.arguments = args;
    return request;
  });
}

const SHAPED_PIECES = Array.from({ length: 34 }, (_, i) => [`-svc${id(i)}-`, `purge${id(i)}`, `/team${id(i)}/`]).flat();
const MIXED_PIECES = ['abc', 'bca', 'cab', 'xyz', 'a-b', 'é-a', '😀ab', 'abcabc', 'bcab-x', 'zz/yy', 'del_', '007'];
const V2_PIECES = Array.from({ length: 82 }, (_, i) => [`/doc${id(i)}/`, `u${id(i)}@`]).flat();

interface Engines {
  readonly version: 1 | 2;
  readonly compiled: CompiledPolicy;
  readonly wasm: Engine;
  readonly opa: Engine;
  readonly native: Engine;
}

async function engines(policy: Policy): Promise<Engines> {
  const compiled = await compilePolicy(policy);
  return {
    version: policy.version,
    compiled,
    wasm: await WasmEngine.load(compiled.bundle),
    opa: await OpaEngine.create(await regoSources(policy)),
    native: new NativeEngine(policy),
  };
}

describe('the n-gram index threshold', () => {
  it('a field with one rule fewer than the threshold keeps the bundle byte for byte as it was', async () => {
    const below = shaped(NGRAM_MIN_RULES - 1);
    expect(lower(below).data.index.ngram).toBeUndefined();
    const compiled = await compilePolicy(below);
    // The revision this policy's bundle had before the n-gram index existed.
    expect(compiled.revision).toBe('ca74bc03c89721c0bc990ba08c065b6d99f5f835c2b8af625c542efff8fbc2d6');
    expect(compiled.ngram).toBeUndefined();
    expect(compiled.policy).not.toContain('ngram');
    expect([...readBundleFiles(compiled.bundle).keys()].filter((p) => p.endsWith('.rego')).sort()).toEqual([
      'mcp_policy/lib.rego',
      'mcp_policy/policy.rego',
    ]);
  }, 120_000);

  it('at the threshold the rules are filed under n-grams and the bundle carries ngram.rego as written', async () => {
    const at = shaped(NGRAM_MIN_RULES);
    const { index } = lower(at).data;
    // Every rule is found by a lookup now; none is checked on every request.
    expect(index.always).toEqual([]);
    expect(index.ngramLengths).toEqual({ server: [4], tool: [4], source: [4] });
    expect(index.ngramRules).toEqual({ server: NGRAM_MIN_RULES, tool: NGRAM_MIN_RULES, source: NGRAM_MIN_RULES });
    // Each rule is filed under one 4-gram of its piece, the one the fewest rules share.
    const filed = (field: string, rule: number) =>
      Object.entries(index.ngram![field]![0]!).filter(([, rules]) => rules.includes(rule));
    const [[gram]] = filed('server', 5) as [[string, number[]]];
    expect('-svc005-').toContain(gram);
    expect(filed('server', 5)).toHaveLength(1);
    // The literal of the tools list keeps its exact entry beside the n-gram.
    expect(index.equals.tool!.wipe).toHaveLength(NGRAM_MIN_RULES);
    const compiled = await compilePolicy(at);
    expect(compiled.ngram).toBe(readFileSync(NGRAM_REGO_PATH, 'utf8'));
    const files = readBundleFiles(compiled.bundle);
    expect(new TextDecoder().decode(files.get('mcp_policy/ngram.rego'))).toBe(readFileSync(NGRAM_REGO_PATH, 'utf8'));
    expect(compiled.policy).toContain('import data.mcp_policy.ngram\n');
    for (const f of ['server', 'tool', 'source']) {
      expect(compiled.policy).toContain(`\tsome i in data.mcp_policy.lowered.index.ngram.${f}[k][g]\n`);
    }
  }, 120_000);

  it('an output folder holds ngram.rego beside the module, and is replaced by the next compile', async () => {
    const dir = await makeTempDir('rego-ngram-out');
    try {
      const out = join(dir, 'out');
      await writeOutput(await compilePolicy(shaped(NGRAM_MIN_RULES)), out);
      expect(readdirSync(out).sort()).toEqual([...OUTPUT_FILES, 'ngram.rego'].sort());
      expect(readFileSync(join(out, 'ngram.rego'), 'utf8')).toBe(readFileSync(NGRAM_REGO_PATH, 'utf8'));
      await writeOutput(await compilePolicy(shaped(NGRAM_MIN_RULES - 1)), out);
      expect(readdirSync(out).sort()).toEqual([...OUTPUT_FILES].sort());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('each field counts alone: a field below the threshold keeps its rules in always', () => {
    const policy = mustParse(
      JSON.stringify({
        version: 1,
        default: 'deny',
        rules: [
          ...Array.from({ length: NGRAM_MIN_RULES }, (_, i) => ({ server: `*-svc${id(i)}-*`, allow: true })),
          { tools: ['*purge*'], allow: false },
          // Pieces of one or two characters have no n-gram: the rule stays where every request checks it.
          { server: '*ab*c*', allow: false },
        ],
      }),
    );
    const { index } = lower(policy).data;
    expect(Object.keys(index.ngramLengths!)).toEqual(['server']);
    expect(index.always).toEqual([NGRAM_MIN_RULES, NGRAM_MIN_RULES + 1]);
  });
});

describe('generated modules with the n-gram index', () => {
  it('are opa fmt clean and strict clean with the wasm capabilities, in versions 1 and 2 and with directives', async () => {
    const { value: enterprise } = parseEnterpriseConfig(
      readFileSync(join(EXAMPLES, 'enterprise', 'advisory-block.yaml'), 'utf8'),
    );
    for (const [policy, extras] of [
      [shaped(NGRAM_MIN_RULES), {}],
      [shaped(NGRAM_MIN_RULES), { enterprise }],
      [version2(), {}],
    ] as const) {
      const dir = await makeTempDir('rego-ngram');
      try {
        const sources = await regoSources(policy, extras);
        expect(sources.ngram).toBeDefined();
        await writeSources(dir, sources);
        expect((await runOpa(['fmt', '--list', join(dir, 'mcp_policy', 'policy.rego')])).trim()).toBe('');
        await runOpa(['check', '--strict', '--capabilities', WASM_CAPABILITIES_PATH, join(dir, 'mcp_policy')]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }, 120_000);
});

describe('values of the longest length', () => {
  it('are checked against every rule of the field, not cut into n-grams, and decide as native does', async () => {
    const policy = shaped(NGRAM_MIN_RULES);
    const e = await engines(policy);
    const long = (piece: string) => `${'a-svc'.repeat(13_106)}${piece}`.slice(-65_536);
    const batch = [
      { server: long('x-svc031-') },
      { server: long('-svc031-') },
      { server: long('-svc03-') },
      { tool: long('purge007') },
      { action: 'load', serverSource: long('/team012/') },
    ];
    expect(batch.every((r) => Object.values(r).some((v) => v.length === 65_536))).toBe(true);
    const want = await e.native.decideBatch(batch);
    expect(want.map((d) => d.rule)).toEqual([31, 31, null, 39, 76]);
    expect(await e.wasm.decideBatch(batch)).toEqual(want);
    expect(await e.opa.decideBatch(batch)).toEqual(want);
  }, 120_000);
});

describe('what serve prices a request at', () => {
  it('counts every rule an n-gram tier holds, and the cutting of each value into n-grams', () => {
    const data = (policy: Policy) => ({ mcp_policy: { lowered: lower(policy).data } });
    // Below the threshold: the rules no lookup finds, as before.
    expect(requestCost(data(shaped(NGRAM_MIN_RULES - 1)))).toBe(BASE_REQUEST_COST + 3 * (NGRAM_MIN_RULES - 1));
    // At it: every rule (a long value can name them all), and one pass per tier of server and tool, two of source.
    expect(requestCost(data(shaped(NGRAM_MIN_RULES)))).toBe(
      BASE_REQUEST_COST + 3 * NGRAM_MIN_RULES + 4 * NGRAM_PASS_COST,
    );
    // The pass is priced by the value's length like every rule check.
    const cost = requestCost(data(shaped(NGRAM_MIN_RULES)));
    expect(requestWork({ server: 'x'.repeat(65_536) }, cost)).toBe(cost * (1 + 65_536 / CHARACTERS_PER_CHECK));
  });
});

describe('policies above the threshold decide as the native engine does', () => {
  const cases: [string, () => Policy, readonly string[], number][] = [
    ['one n-gram tier per field, three fields', () => shaped(34), SHAPED_PIECES, 20261206],
    ['3-grams and 4-grams, shared grams, several pieces', mixed, MIXED_PIECES, 20261207],
    ['version 2 resources and users', version2, V2_PIECES, 20261208],
  ];
  for (const [name, policyOf, pieces, seed] of cases) {
    describe(name, () => {
      let e: Engines;
      beforeAll(async () => {
        e = await engines(policyOf());
      }, 120_000);
      afterAll(async () => {
        await e?.opa.close();
      });

      it('uses the n-gram index', () => {
        expect(e.compiled.ngram).toBeDefined();
      });

      it('wasm and opa agree with native on 600 generated requests', async () => {
        const batch = requests(seed, 600, pieces, e.version);
        const want = await e.native.decideBatch(batch);
        const got: Record<string, Decision[]> = {
          wasm: await e.wasm.decideBatch(batch),
          opa: await e.opa.decideBatch(batch),
        };
        for (const [engine, decisions] of Object.entries(got)) {
          const wrong = batch.flatMap((r, k) =>
            JSON.stringify(decisions[k]) === JSON.stringify(want[k])
              ? []
              : [{ request: r, native: want[k], [engine]: decisions[k] }],
          );
          expect(wrong.slice(0, 3), engine).toEqual([]);
        }
        // The requests reach rules of every kind, not just the default.
        expect(new Set(want.map((d) => d.rule)).size).toBeGreaterThan(12);
      }, 120_000);
    });
  }
});

/** The decisions of wasm and opa that differ from native's on `batch` (the first three of each). */
async function disagreements(e: Engines, batch: readonly unknown[]): Promise<unknown[]> {
  const want = await e.native.decideBatch(batch);
  const wrong: unknown[] = [];
  for (const engine of [e.wasm, e.opa]) {
    const got = await engine.decideBatch(batch);
    wrong.push(
      ...batch
        .flatMap((r, k) =>
          JSON.stringify(got[k]) === JSON.stringify(want[k]) ? [] : [{ request: r, native: want[k], got: got[k] }],
        )
        .slice(0, 3),
    );
  }
  return wrong;
}

describe('version 2 groups, claims and argument match patterns', () => {
  let e: Engines;
  beforeAll(async () => {
    e = await engines(version2Values());
  }, 120_000);
  afterAll(async () => {
    await e?.opa.close();
  });

  it('are filed under n-grams per field (a claim by its name, an argument by its pointer); negated and presence tests are not', () => {
    const { index } = lower(version2Values()).data;
    expect(index.ngramLengths).toEqual({
      groups: [4],
      'claim:dept': [4],
      'arg:"cmd"': [4],
      'argpath:["paths","*"]': [4],
    });
    expect(index.ngramRules).toEqual({
      groups: 36,
      'claim:dept': 36,
      'arg:"cmd"': 36,
      'argpath:["paths","*"]': 36,
    });
    // The literals and affixes of a field that is on are looked up too.
    expect(index.equals['arg:"cmd"']!['rm -rf']).toHaveLength(36);
    expect(index.equals['argpath:["paths","*"]']!['/srv']).toHaveLength(6);
    expect(Object.keys(index.prefix.groups![0]!)).toEqual(['ops-']);
    // Only the negated command and the presence tests (whose groups field has no piece of 3) are left to every request.
    const negated = [4, 42, 80, 118];
    const present = negated.map((k) => k + 1);
    expect(index.always).toEqual(negated.flatMap((k, j) => [k, present[j]]));
    expect(e.compiled.policy).toContain('\tsome v in v2.claim_values(r.request.principal.claims["dept"])\n');
    expect(e.compiled.policy).toContain(
      '\tsome x in v2.found(r, ["paths", "*"])\n\tis_string(x)\n\tv := v2.clean_path(x)\n',
    );
  });

  it('one rule fewer than the threshold on each field keeps the version 2 bundle byte for byte as it was', async () => {
    const policy = version2Values();
    const few = mustParse(JSON.stringify({ ...policy, rules: policy.rules.filter((_, k) => k < 4 * 31 + 8) }));
    expect(lower(few).data.index.ngram).toBeUndefined();
    const compiled = await compilePolicy(few);
    // The revision this policy's bundle had before claims, groups and arguments were indexed.
    expect(compiled.revision).toBe('bd6ab671f810a0d634b5be9fecfe0f05e9ea0f856157c939144dbe89d158375a');
    expect(compiled.ngram).toBeUndefined();
  }, 120_000);

  it('wasm and opa agree with native on 600 generated requests', async () => {
    const batch = valueRequests(20261209, 600);
    expect(await disagreements(e, batch)).toEqual([]);
    const want = await e.native.decideBatch(batch);
    expect(new Set(want.map((d) => d.rule)).size).toBeGreaterThan(40);
  }, 120_000);

  it('agree on 4,096 groups, values of the longest length and many argument strings', async () => {
    const long = (piece: string) => `${'q'.repeat(65_536)}${piece}`.slice(-65_536);
    // Groups that no rule's n-gram is cut from: only the rules filed under the last one's are checked against all.
    const groups = Array.from({ length: 4096 }, (_, k) => `g${k}-team`);
    const batch = [
      { action: 'invoke', tool: 'run', principal: { groups } },
      { action: 'invoke', tool: 'run', principal: { groups: [...groups.slice(0, 4095), 'xteam035-'] } },
      { action: 'invoke', tool: 'run', principal: { groups: [long('team033-')] } },
      { action: 'invoke', tool: 'run', principal: { groups: [long('team033')], claims: { dept: long('dep021x') } } },
      { action: 'invoke', tool: 'run', arguments: { cmd: long('rm-001') } },
      { action: 'invoke', tool: 'run', arguments: { paths: [long('/proj030/'), `/a/..${long('/proj029/x')}`] } },
      {
        action: 'invoke',
        tool: 'run',
        arguments: {
          paths: [...Array.from({ length: 2000 }, (_, k) => `/x/../y/proj${id(k % 40)}/../z`), '/x/../proj007/./z'],
        },
      },
    ];
    const want = await e.native.decideBatch(batch);
    // Rules 4i to 4i+3 are i's groups, claims, command and paths (plus two rules after every ninth i).
    expect(want.map((d) => d.rule)).toEqual([null, 148, 140, 91, 8, 127, 33]);
    expect(await disagreements(e, batch)).toEqual([]);
  }, 120_000);

  it('serve prices the cutting of every group, claim value and argument string by their total length', () => {
    const data = { mcp_policy: { lowered: lower(version2Values()).data } };
    expect(cutsManyValues(data)).toBe(true);
    expect(cutsManyValues({ mcp_policy: { lowered: lower(version2()).data } })).toBe(false);
    const request = { principal: { groups: Array.from({ length: 1000 }, () => 'x'.repeat(1000)) } };
    // Not only the longest (1,000 characters): all 1,000,000 are cut.
    expect(lengthFactor(request, 1, false)).toBe(1 + Math.floor(1000 / CHARACTERS_PER_CHECK) + Math.floor(1000 / 16));
    expect(lengthFactor(request, 1, true)).toBe(
      1 + Math.floor(1_000_000 / CHARACTERS_PER_CHECK) + Math.floor(1000 / 16),
    );
    const cost = requestCost(data);
    expect(requestWork(request, cost, 1, true)).toBe(cost * lengthFactor(request, 1, true));
    const args = { arguments: { cmd: 'x'.repeat(600), paths: ['y'.repeat(600)] } };
    expect(lengthFactor(args, 1, true)).toBe(1 + Math.floor(1200 / CHARACTERS_PER_CHECK));
  });
});

type RunModule = typeof import('../src/difftest/run.js');
type EnginesModule = typeof import('../src/difftest/engines.js');

/** A fixed seed and one round of the differential tester: each mutant must be caught within it on every run. */
const MUTANT_SEED = 20261206;
const MUTANT_CASES = 400;

/** One seeded round of the copy's opa and wasm engines (built by the copy's pipeline) against the real native engine. */
async function difftestThroughCopy(mutant: SourceMutant | undefined): Promise<DifftestResult> {
  const copy = await mutatedCopy(mutant);
  try {
    const { runDifftest } = await copy.load<RunModule>('src/difftest/run.ts');
    const { opaDiffEngine, wasmDiffEngine } = await copy.load<EnginesModule>('src/difftest/engines.ts');
    return await runDifftest({
      cases: MUTANT_CASES,
      seed: MUTANT_SEED,
      engines: [nativeDiffEngine, wasmDiffEngine, opaDiffEngine],
      shrink: false,
      maxMismatches: 1,
      version: 1,
      // Every policy dominated by patterns with no literal start or end, past the threshold on one field.
      shape: 'patterns',
      raw: false,
    });
  } finally {
    await copy.dispose();
  }
}

// The unmutated sources agree with the native engine on these policies: see the tests above and `npm run difftest:ci`.
describe('mutants of the n-gram index of the generated Rego', () => {
  for (const mutant of REGO_NGRAM_MUTANTS) {
    it(`the differential tester catches ${mutant.name} through the opa and wasm engines: ${mutant.why}`, async () => {
      const result = await difftestThroughCopy(mutant);
      expect(result.mismatches).toHaveLength(1);
      const { decisions } = result.mismatches[0]!.found;
      const native = comparable(decisions.native!);
      expect(comparable(decisions.wasm!), 'wasm').not.toBe(native);
      expect(comparable(decisions.opa!), 'opa').not.toBe(native);
    }, 300_000);
  }
});

type BuildModule = typeof import('../src/pipeline/build.js');
type WasmModule = typeof import('../src/engines/wasm.js');
type OpaModule = typeof import('../src/engines/opa.js');

// The unmutated sources agree with the native engine on these requests: see 'version 2 groups, claims and argument
// match patterns' above.
describe('mutants of the n-gram index on version 2 groups, claims and arguments', () => {
  for (const mutant of REGO_NGRAM_VALUE_MUTANTS) {
    it(`300 seeded requests catch ${mutant.name} through the opa and wasm engines: ${mutant.why}`, async () => {
      const copy = await mutatedCopy(mutant);
      try {
        const policy = version2Values();
        const { compilePolicy: compile, regoSources: sources } = await copy.load<BuildModule>('src/pipeline/build.ts');
        const { WasmEngine: Wasm } = await copy.load<WasmModule>('src/engines/wasm.ts');
        const { OpaEngine: Opa } = await copy.load<OpaModule>('src/engines/opa.ts');
        const wasm = await Wasm.load((await compile(policy)).bundle);
        const opa = await Opa.create(await sources(policy));
        try {
          const batch = valueRequests(MUTANT_SEED, 300);
          const want = (await new NativeEngine(policy).decideBatch(batch)).map((d) => JSON.stringify(d));
          for (const [name, engine] of [
            ['wasm', wasm],
            ['opa', opa],
          ] as const) {
            const got = (await engine.decideBatch(batch)).map((d) => JSON.stringify(d));
            expect(
              got.some((d, k) => d !== want[k]),
              name,
            ).toBe(true);
          }
        } finally {
          await opa.close();
        }
      } finally {
        await copy.dispose();
      }
    }, 300_000);
  }
});
