/**
 * Engines as the differential tester drives them: many policies at once.
 * Native and wasm are the shipped engines hosts use (NativeEngine, and
 * WasmEngine on a bundle `compilePolicy` built), each request decided both
 * alone (`decideSync`) and in a batch, as they arrive from the generators:
 * the engines' own request boundary reads them. OPA's interpreter and its Go
 * WebAssembly runtime would cost a process per policy that way, so they
 * decide a round: its policies in one folder of Rego (one package each, plus
 * an aggregate entry point), one `opa eval` for all; each package holds
 * exactly the module `mcp-policy compile` would generate, only under another
 * name.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compilePolicy, generatePolicy, readLibRego, readNgramRego, readV2Rego } from '../pipeline/build.js';
import { type CompileExtras } from '../core/contracts.js';
import { checkedBatch } from '../engines/engine.js';
import { NativeEngine } from '../engines/native.js';
import {
  batchOrLost,
  decideThroughGoWasm,
  GO_WASM_LIMITATION,
  goWasmLimitation,
  isGoWasmLimitation,
  JsonText,
  opaEvalValue,
} from '../engines/opa.js';
import { WasmEngine } from '../engines/wasm.js';
import { describeThrown, McpPolicyError } from '../core/errors.js';
import { type LoweredData, lower } from '../pipeline/lower.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { type Decision, failedDecision, type Policy } from '../policy/model.js';
import { bundleData, emitRego, usesNgrams } from '../pipeline/emit.js';
import { makeTempDir } from '../core/temp-dirs.js';

/** One policy and the requests to decide against it. */
export interface Group {
  readonly policy: Policy;
  readonly requests: readonly unknown[];
  /** Enterprise directives compiled in with the policy. */
  readonly enterprise?: EnterpriseConfig;
  /** Local settings to compute the effective configuration for (groups with an enterprise config). */
  readonly locals?: readonly Record<string, unknown>[];
}

/** The Rego of a round: one package per group and an aggregate, written to a folder. */
export interface Round {
  readonly groups: readonly Group[];
  readonly dir: string;
}

/**
 * An evaluator the differential tester can compare: decisions for every
 * group of a round. It throws when the round as a whole fails (a build or
 * process error); the tester then retries the groups one by one, so one bad
 * policy cannot make fifty look broken.
 */
export interface DiffEngine {
  readonly name: string;
  decide(round: Round): Promise<Decision[][]>;
  /** For each group with an enterprise config, the effective configuration for each of its `locals`. */
  configs(round: Round): Promise<unknown[][]>;
  /** True for a decision that reports a documented limitation of this engine rather than a policy answer; it is not compared. */
  isLimitation?(decision: Decision): boolean;
  /**
   * True for an engine that reads requests through the request boundary
   * itself (a shipped engine): it gets them as generated. The others get
   * them as the boundary reads them, and the tester puts its rejections back.
   */
  readonly ownBoundary?: boolean;
  /**
   * Decides raw inputs, JSON text as an OPA server receives it in `input`
   * (one list per group of the round), for an engine that reads JSON text
   * itself; hosts' engines get the text as JSON.parse reads it instead.
   */
  decideRaw?(round: Round, inputs: readonly (readonly string[])[]): Promise<Decision[][]>;
}

function packageOf(k: number): string {
  return `difftest.p${k}`;
}

/** Writes the Rego of a round: each policy's module, the helpers and an aggregate `all`. */
export async function prepareRound(groups: readonly Group[]): Promise<Round> {
  const dir = await makeTempDir('difftest');
  const src = join(dir, 'src');
  await mkdir(join(src, 'difftest'), { recursive: true });
  await mkdir(join(src, 'mcp_policy'), { recursive: true });
  await writeFile(join(src, 'mcp_policy', 'lib.rego'), await readLibRego());
  if (groups.some((g) => g.policy.version === 2)) {
    await writeFile(join(src, 'mcp_policy', 'v2.rego'), await readV2Rego());
  }
  let ngram = false;
  const entries: string[] = [];
  const configs: string[] = [];
  const data: { packageName: string; data: LoweredData }[] = [];
  for (const [k, g] of groups.entries()) {
    const lowered = lower(g.policy, g.enterprise && { enterprise: g.enterprise });
    data.push({ packageName: packageOf(k), data: lowered.data });
    ngram ||= usesNgrams(lowered.data);
    await writeFile(join(src, 'difftest', `p${k}.rego`), emitRego(lowered, { packageName: packageOf(k) }));
    entries.push(`\t"p${k}": [data.${packageOf(k)}.decide(req) | some req in input.p${k}],`);
    if (g.enterprise) {
      const p = `data.${packageOf(k)}`;
      configs.push(`\t"c${k}": [lib.effective_config(${p}.directives, ${p}.degraded, l) | some l in input.c${k}],`);
    }
  }
  const object = (lines: string[]) => (lines.length === 0 ? '{}' : `{\n${lines.join('\n')}\n}`);
  const aggregate = `package difftest\n\nimport data.mcp_policy.lib\n\nall := ${object(entries)}\n\nconfigs := ${object(configs)}\n\nlibrary_used := lib.actions\n`;
  await writeFile(join(src, 'difftest', 'all.rego'), aggregate);
  if (ngram) await writeFile(join(src, 'mcp_policy', 'ngram.rego'), await readNgramRego());
  await writeFile(join(src, 'data.json'), JSON.stringify(bundleData(data)));
  return { groups, dir };
}

/** Removes a round's files. */
export async function disposeRound(round: Round): Promise<void> {
  await rm(round.dir, { recursive: true, force: true });
}

function roundInput(round: Round, limit?: (request: unknown) => string | undefined): Record<string, unknown[]> {
  const input: Record<string, unknown[]> = {};
  round.groups.forEach((g, k) => {
    input[`p${k}`] = limit ? g.requests.filter((r) => limit(r) === undefined) : [...g.requests];
  });
  return input;
}

function configInput(round: Round): Record<string, unknown[]> {
  const input: Record<string, unknown[]> = {};
  round.groups.forEach((g, k) => {
    if (g.enterprise) input[`c${k}`] = [...(g.locals ?? [])];
  });
  return input;
}

function splitConfigs(round: Round, value: unknown): unknown[][] {
  const all = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  return round.groups.map((g, k) => {
    if (!g.enterprise) return [];
    const answer = all[`c${k}`];
    return Array.isArray(answer) ? answer : [];
  });
}

function splitAnswer(round: Round, value: unknown, limit?: (request: unknown) => string | undefined): Decision[][] {
  const all = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  return round.groups.map((g, k) => {
    const kept = limit ? g.requests.filter((r) => limit(r) === undefined) : g.requests;
    const decided = checkedBatch(all[`p${k}`], kept.length);
    if (!limit) return decided;
    let next = 0;
    return g.requests.map((r) => {
      const why = limit(r);
      return why === undefined ? (decided[next++] as Decision) : failedDecision(why);
    });
  });
}

/** A shipped engine for one group of a round. */
export type ShippedEngine = NativeEngine | WasmEngine;

/** What a group compiles with. */
export function extrasOf(g: Group): CompileExtras {
  return g.enterprise ? { enterprise: g.enterprise } : {};
}

/**
 * Each request decided alone (the hot path hosts take) and in one batch; the
 * two must agree, and a request where they do not is answered with an error
 * naming both, which no other engine gives, so it surfaces as a mismatch.
 */
function decideBothWays(engine: ShippedEngine, requests: readonly unknown[]): Decision[] {
  const batch = engine.decideBatchSync(requests);
  return requests.map((r, k) => {
    const alone = engine.decideSync(r);
    const together = batch[k]!;
    if (JSON.stringify(alone) === JSON.stringify(together)) return together;
    return failedDecision(`decideSync ${JSON.stringify(alone)} but decideBatch ${JSON.stringify(together)}`);
  });
}

/** What an engine's `config` answers, or the code of what it threw, so both can be compared. */
async function configOrError(engine: ShippedEngine, local: unknown): Promise<unknown> {
  try {
    return await engine.config(local as Record<string, unknown>);
  } catch (e) {
    return { error: e instanceof McpPolicyError ? e.code : describeThrown(e) };
  }
}

/** A diff engine over a shipped engine opened for each group (exported so tests can compare a broken one). */
export function shippedDiffEngine(name: string, open: (g: Group) => Promise<ShippedEngine>): DiffEngine {
  const each = async <T>(round: Round, use: (engine: ShippedEngine, g: Group) => Promise<T>): Promise<T[]> => {
    const out: T[] = [];
    for (const g of round.groups) {
      const engine = await open(g);
      try {
        out.push(await use(engine, g));
      } finally {
        await engine.close();
      }
    }
    return out;
  };
  return {
    name,
    ownBoundary: true,
    decide: (round) => each(round, (engine, g) => Promise.resolve(decideBothWays(engine, g.requests))),
    configs: (round) =>
      each(round, async (engine, g) => {
        if (!g.enterprise) return [];
        const out: unknown[] = [];
        for (const l of g.locals ?? []) out.push(await configOrError(engine, l));
        return out;
      }),
  };
}

/** The shipped TypeScript engine, policy by policy. */
export const nativeDiffEngine: DiffEngine = shippedDiffEngine('native', (g) =>
  Promise.resolve(new NativeEngine(g.policy, extrasOf(g))),
);

/**
 * Bundles by their Rego module: the rules are data, so policies share one
 * module (two with the enterprise entry point), and one `compilePolicy` build
 * serves them all; each group's own data.json goes in through the load.
 */
const bundlesByModule = new Map<string, Promise<Uint8Array>>();

/**
 * The shipped wasm engine for a group: the bundle `compilePolicy` builds for
 * its module, with the group's data.json (passed through `editData`, which
 * tests use to break it on purpose).
 */
export async function openShippedWasm(g: Group, editData?: (data: unknown) => unknown): Promise<WasmEngine> {
  const extras = extrasOf(g);
  const { rego, data } = generatePolicy(g.policy, extras);
  const key = `${g.enterprise !== undefined}\n${rego}`;
  let bundle = bundlesByModule.get(key);
  if (!bundle) {
    bundle = compilePolicy(g.policy, extras).then((c) => c.bundle);
    bundlesByModule.set(key, bundle);
    bundle.catch(() => bundlesByModule.delete(key));
  }
  const parsed = JSON.parse(data) as unknown;
  return WasmEngine.load(await bundle, { data: editData ? editData(parsed) : parsed });
}

/** The shipped wasm engine: a bundle from `compilePolicy` in @open-policy-agent/opa-wasm. */
export const wasmDiffEngine: DiffEngine = shippedDiffEngine('wasm', (g) => openShippedWasm(g));

/** A JSON value from text, or undefined when JavaScript cannot read it. */
function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Why go-wasm cannot read an input, when that can be told in advance (never throws, whatever the nesting). */
function knownUnreadable(text: string): string | undefined {
  try {
    return goWasmLimitation(parsedOrUndefined(text));
  } catch {
    return undefined;
  }
}

/** How deep Go's JSON decoder, which reads opa's input, lets arrays and objects nest. */
const GO_JSON_MAX_DEPTH = 10_000;

/** The deepest nesting of arrays and objects in JSON text, read without parsing it. */
function nestingOf(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * Raw inputs of a round decided by `opa eval`, all in one process: the
 * input is written as text around them, so each reaches opa as it was
 * written. A part opa cannot read at all (it fails, or go-wasm's runtime
 * drops it) is halved until the input responsible is alone; that one is
 * refused, as an OPA server answers 400 to a body it cannot read.
 */
async function decideRawThroughOpa(
  round: Round,
  inputs: readonly (readonly string[])[],
  target: 'rego' | 'wasm',
): Promise<Decision[][]> {
  const items = inputs.flatMap((texts, k) => texts.map((text) => ({ k, text })));
  const known = items.map((item) => (target === 'wasm' ? knownUnreadable(item.text) : undefined));
  const evaluate = async (part: readonly { k: number; text: string }[]): Promise<Decision[] | undefined> => {
    const byGroup = new Map<number, string[]>();
    for (const { k, text } of part) (byGroup.get(k) ?? byGroup.set(k, []).get(k)!).push(text);
    const text = `{${[...byGroup].map(([k, texts]) => `"p${k}":[${texts.join(',')}]`).join(',')}}`;
    const all = await opaEvalValue(join(round.dir, 'src'), 'data.difftest.all', new JsonText(text), target);
    const answers = typeof all === 'object' && all !== null ? (all as Record<string, unknown>) : {};
    const decided = new Map<number, Decision[] | undefined>();
    for (const [k, texts] of byGroup) decided.set(k, batchOrLost(answers[`p${k}`], texts.length));
    if ([...decided.values()].some((d) => d === undefined)) return undefined;
    const cursor = new Map<number, number>();
    return part.map(({ k }) => {
      const at = cursor.get(k) ?? 0;
      cursor.set(k, at + 1);
      return decided.get(k)![at]!;
    });
  };
  const decide = async (part: readonly { k: number; text: string }[]): Promise<Decision[]> => {
    if (part.length === 0) return [];
    let answer: Decision[] | undefined;
    let failure: unknown;
    try {
      answer = await evaluate(part);
    } catch (e) {
      failure = e;
    }
    if (answer !== undefined) return answer;
    if (part.length === 1) {
      if (failure !== undefined) return [failedDecision(`opa cannot read this input: ${describeThrown(failure)}`)];
      return [
        failedDecision(
          target === 'wasm' ? `${GO_WASM_LIMITATION}its Go runtime dropped the input` : 'opa returned no decision',
        ),
      ];
    }
    const half = part.length >> 1;
    return [...(await decide(part.slice(0, half))), ...(await decide(part.slice(half)))];
  };
  // Input opa cannot read fails the whole process: nesting it refuses goes alone, so the rest is read in one.
  const readable = items.filter((_, n) => known[n] === undefined);
  const alone = (item: { text: string }) => nestingOf(item.text) + 2 > GO_JSON_MAX_DEPTH;
  const together = await decide(readable.filter((item) => !alone(item)));
  const decided: Decision[] = [];
  for (const item of readable) decided.push(alone(item) ? (await decide([item]))[0]! : together.shift()!);
  let next = 0;
  const all = items.map((_, n) => (known[n] === undefined ? decided[next++]! : failedDecision(known[n]!)));
  let at = 0;
  return inputs.map((texts) => texts.map(() => all[at++]!));
}

/** OPA's interpreter on the generated Rego. */
export const opaDiffEngine: DiffEngine = {
  name: 'opa',
  decideRaw: (round, inputs) => decideRawThroughOpa(round, inputs, 'rego'),
  async decide(round) {
    return splitAnswer(
      round,
      await opaEvalValue(join(round.dir, 'src'), 'data.difftest.all', roundInput(round), 'rego'),
    );
  },
  async configs(round) {
    return splitConfigs(
      round,
      await opaEvalValue(join(round.dir, 'src'), 'data.difftest.configs', configInput(round), 'rego'),
    );
  },
};

/** `opa eval -t wasm`: the same WebAssembly, run by OPA's Go runtime; its documented limitation is not compared. */
export const goWasmDiffEngine: DiffEngine = {
  name: 'go-wasm',
  isLimitation: isGoWasmLimitation,
  decideRaw: (round, inputs) => decideRawThroughOpa(round, inputs, 'wasm'),
  async configs(round) {
    return splitConfigs(
      round,
      await opaEvalValue(join(round.dir, 'src'), 'data.difftest.configs', configInput(round), 'wasm'),
    );
  },
  async decide(round) {
    // All requests of the round as one list of (group, request) items, so a
    // lost input is narrowed down across the whole round at once.
    const items = round.groups.flatMap((g, k) => g.requests.map((request) => ({ k, request })));
    const decided = await decideThroughGoWasm(
      items,
      (item) => item.request,
      async (part) => {
        const input: Record<string, unknown[]> = {};
        for (const { k, request } of part) (input[`p${k}`] ??= []).push(request);
        const all = await opaEvalValue(join(round.dir, 'src'), 'data.difftest.all', input, 'wasm');
        const answers = typeof all === 'object' && all !== null ? (all as Record<string, unknown>) : {};
        const byGroup = new Map<string, Decision[] | undefined>();
        for (const key of Object.keys(input)) byGroup.set(key, batchOrLost(answers[key], input[key]!.length));
        if ([...byGroup.values()].some((d) => d === undefined)) return undefined;
        const cursor = new Map<string, number>();
        return part.map(({ k }) => {
          const key = `p${k}`;
          const at = cursor.get(key) ?? 0;
          cursor.set(key, at + 1);
          return byGroup.get(key)![at]!;
        });
      },
    );
    let next = 0;
    return round.groups.map((g) => g.requests.map(() => decided[next++]!));
  },
};

/** The engines `mcp-policy difftest` knows by name. */
export const DIFF_ENGINES: Readonly<Record<string, DiffEngine>> = {
  native: nativeDiffEngine,
  wasm: wasmDiffEngine,
  opa: opaDiffEngine,
  'go-wasm': goWasmDiffEngine,
};
