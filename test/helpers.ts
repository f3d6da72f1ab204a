/** Shared test plumbing: case tables, compiled policies and engines, all memoised per worker. */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { runCli } from '../src/cli/main.js';
import { type CaseFile, caseEnterpriseText, parseCaseFile } from '../src/testing/cases.js';
import { type CompileExtras, type CompiledPolicy, compilePolicy } from '../src/pipeline/build.js';
import { type EnterpriseConfig } from '../src/enterprise/model.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { ENGINE_NAMES, type Engine, type EngineName } from '../src/engines/engine.js';
import { NativeEngine } from '../src/engines/native.js';
import { OpaEngine } from '../src/engines/opa.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { type Policy } from '../src/policy/model.js';
import { parsePolicy } from '../src/policy/validate.js';

export const ROOT = join(import.meta.dirname, '..');
export const EXAMPLES = join(ROOT, 'examples');
export const CASES = join(ROOT, 'test', 'cases');
export { ENGINE_NAMES };

/** Example policies that have a case table beside them, by name. */
export function examplePolicies(): { name: string; policyFile: string; casesFile: string }[] {
  return readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.cases.json'))
    .sort()
    .map((f) => ({
      name: basename(f, '.json'),
      policyFile: join(EXAMPLES, f),
      casesFile: join(EXAMPLES, `${basename(f, '.json')}.cases.json`),
    }));
}

/** Every case table under test/cases (recursively), by relative name. */
export function caseTables(dir = CASES, prefix = ''): { name: string; file: string; table: CaseFile }[] {
  const out: { name: string; file: string; table: CaseFile }[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const file = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...caseTables(file, `${prefix}${entry.name}/`));
    else if (entry.name.endsWith('.json')) {
      out.push({ name: `${prefix}${entry.name}`, file, table: parseCaseFile(readFileSync(file, 'utf8'), file) });
    }
  }
  return out;
}

/** Validates policy text, failing the test with every issue when it is invalid. */
export function mustParse(text: string): Policy {
  const r = parsePolicy(text);
  if (!r.value?.policy) throw new Error(`invalid policy: ${JSON.stringify(r.errors)}`);
  return r.value?.policy;
}

const compiled = new Map<string, Promise<CompiledPolicy>>();

/** Compiles a policy once per worker. */
export function compiledFor(policy: Policy, extras: CompileExtras = {}): Promise<CompiledPolicy> {
  const key = JSON.stringify([policy, extras]);
  let c = compiled.get(key);
  if (!c) {
    c = compilePolicy(policy, extras);
    compiled.set(key, c);
  }
  return c;
}

/** Opens an engine on a policy, sharing one compile between wasm and opa. */
export async function engineFor(name: EngineName, policy: Policy, extras: CompileExtras = {}): Promise<Engine> {
  if (name === 'native') return new NativeEngine(policy, extras);
  const c = await compiledFor(policy, extras);
  if (name === 'wasm') return WasmEngine.load(c.bundle);
  return OpaEngine.create(c, name === 'opa' ? 'rego' : 'wasm');
}

/** The enterprise config a table carries, validated; undefined when it has none. */
export function tableEnterprise(table: CaseFile): EnterpriseConfig | undefined {
  const text = caseEnterpriseText(table);
  if (text === undefined) return undefined;
  const r = parseEnterpriseConfig(text);
  if (!r.value) throw new Error(`invalid enterprise config: ${JSON.stringify(r.errors)}`);
  return r.value;
}

/** Effective configurations on every engine, for each local settings object; results by engine name. */
export async function configEverywhere(
  policy: Policy,
  extras: CompileExtras,
  locals: readonly Record<string, unknown>[],
) {
  const out = {} as Record<EngineName, unknown[]>;
  for (const name of ENGINE_NAMES) {
    const engine = await engineFor(name, policy, extras);
    try {
      out[name] = [];
      for (const local of locals) out[name].push(await engine.config(local));
    } finally {
      await engine.close();
    }
  }
  return out;
}

/** Decides requests on every engine; results by engine name. */
export async function decideEverywhere(policy: Policy, requests: readonly unknown[], extras: CompileExtras = {}) {
  const out = {} as Record<EngineName, Awaited<ReturnType<Engine['decideBatch']>>>;
  for (const name of ENGINE_NAMES) {
    const engine = await engineFor(name, policy, extras);
    try {
      out[name] = await engine.decideBatch(requests);
    } finally {
      await engine.close();
    }
  }
  return out;
}

/** Runs the CLI in-process with the given standard input; collects its output and exit code. */
export async function cli(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    readStdin: () => Promise.resolve(stdin),
  });
  return { code, stdout, stderr };
}

/** Writes `text` to a new temporary file called `name`; returns its path. */
export function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mcp-policy-test-')), name);
  writeFileSync(file, text);
  return file;
}
