/**
 * Engines as the differential tester drives them: many policies at once. The
 * policies of a round are compiled into one bundle (one package each, plus an
 * aggregate entry point), so one `opa build`, one `opa eval` and one
 * WebAssembly instance serve them all. Each package holds exactly the module
 * `mcp-policy compile` would generate, only under another name.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type LoadedPolicy, loadPolicy } from '@open-policy-agent/opa-wasm';
import { readLibRego, WASM_CAPABILITIES_PATH } from '../compile.js';
import { readWasmBundle } from '../bundle.js';
import { checkedBatch } from '../engines/engine.js';
import { batchOrLost, decideThroughGoWasm, isGoWasmLimitation, opaEvalValue } from '../engines/opa.js';
import { wellFormed } from '../engines/wasm.js';
import { initialMemoryPages } from '../engines/wasm-memory.js';
import { lower } from '../lower.js';
import { effectiveConfig } from '../enterprise/effective.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { evaluatePolicy } from '../native/evaluate.js';
import { runOpa } from '../opa/cli.js';
import { type Decision, failedDecision, type Policy } from '../policy/model.js';
import { emitRego } from '../rego/emit.js';
import { makeTempDir } from '../temp-dirs.js';

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
  /** bundle.tar.gz bytes, built on first use by the wasm engine. */
  bundle?: Uint8Array;
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
}

const AGGREGATE = 'difftest/all';
const CONFIGS = 'difftest/configs';

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
  const entries: string[] = [];
  const configs: string[] = [];
  for (const [k, g] of groups.entries()) {
    const options = { packageName: packageOf(k), ...(g.enterprise && { enterprise: g.enterprise }) };
    await writeFile(join(src, 'difftest', `p${k}.rego`), emitRego(lower(g.policy), options));
    entries.push(`\t"p${k}": [data.${packageOf(k)}.decide(req) | some req in input.p${k}],`);
    if (g.enterprise) {
      const p = `data.${packageOf(k)}`;
      configs.push(`\t"c${k}": [lib.effective_config(${p}.directives, ${p}.degraded, l) | some l in input.c${k}],`);
    }
  }
  const object = (lines: string[]) => (lines.length === 0 ? '{}' : `{\n${lines.join('\n')}\n}`);
  const aggregate = `package difftest\n\nimport data.mcp_policy.lib\n\nall := ${object(entries)}\n\nconfigs := ${object(configs)}\n\nlibrary_used := lib.actions\n`;
  await writeFile(join(src, 'difftest', 'all.rego'), aggregate);
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

/** The TypeScript evaluator, policy by policy. */
export const nativeDiffEngine: DiffEngine = {
  name: 'native',
  decide: (round) =>
    Promise.resolve(round.groups.map((g) => g.requests.map((r) => evaluatePolicy(g.policy, r, g.enterprise)))),
  configs: (round) =>
    Promise.resolve(
      round.groups.map((g) => (g.enterprise ? (g.locals ?? []).map((l) => effectiveConfig(g.enterprise!, l)) : [])),
    ),
};

/** The round's bundle, built once and loaded into opa-wasm. */
async function loadedRound(round: Round): Promise<LoadedPolicy> {
  if (!round.bundle) {
    await runOpa(
      [
        'build',
        '--target',
        'wasm',
        '--entrypoint',
        AGGREGATE,
        '--entrypoint',
        CONFIGS,
        '--capabilities',
        WASM_CAPABILITIES_PATH,
        '--output',
        join(round.dir, 'bundle.tar.gz'),
        'src',
      ],
      { cwd: round.dir },
    );
    round.bundle = new Uint8Array(await readFile(join(round.dir, 'bundle.tar.gz')));
  }
  const { wasm } = readWasmBundle(round.bundle);
  const policy = await loadPolicy(wasm, { initial: initialMemoryPages(wasm) });
  policy.setData({});
  return policy;
}

/** The bundle in @open-policy-agent/opa-wasm, as the wasm engine runs it. */
export const wasmDiffEngine: DiffEngine = {
  name: 'wasm',
  async decide(round) {
    const policy = await loadedRound(round);
    const result = policy.evaluate(wellFormed(roundInput(round)), AGGREGATE) as { result?: unknown }[];
    return splitAnswer(round, result[0]?.result);
  },
  async configs(round) {
    const policy = await loadedRound(round);
    const result = policy.evaluate(configInput(round), CONFIGS) as { result?: unknown }[];
    return splitConfigs(round, result[0]?.result);
  },
};

/** OPA's interpreter on the generated Rego. */
export const opaDiffEngine: DiffEngine = {
  name: 'opa',
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
