/**
 * Engines that run inside the opa CLI, one process per batch:
 * - `opa`: OPA's interpreter (`opa eval`) on the generated Rego, not on the
 *   wasm bundle, so it checks the compiler to WebAssembly as well as the Rego;
 * - `go-wasm`: `opa eval -t wasm`, the same WebAssembly the bundle holds, run
 *   by OPA's Go runtime instead of the JavaScript SDK.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RegoSources, writeSources } from '../compile.js';
import { describeThrown } from '../errors.js';
import { runOpa } from '../opa/cli.js';
import { type Decision, failedDecision } from '../policy/model.js';
import { checkedBatch, type Engine } from './engine.js';

interface EvalOutput {
  result?: { expressions?: { value?: unknown }[] }[];
}

/**
 * Evaluates `query` over the Rego under `dataDir` with `input`, by
 * interpreter or wasm. Throws OpaError when opa fails; returns undefined
 * when the query has no value.
 */
export async function opaEvalValue(
  dataDir: string,
  query: string,
  input: unknown,
  target: 'rego' | 'wasm',
): Promise<unknown> {
  const stdout = await runOpa(
    ['eval', '--format', 'json', '--target', target, '--stdin-input', '--data', dataDir, query],
    { input: JSON.stringify(input) },
  );
  return (JSON.parse(stdout) as EvalOutput).result?.[0]?.expressions?.[0]?.value;
}

// OPA's Go WebAssembly runtime (opa 1.22.2) silently drops the whole input
// when any string in it holds one of these characters, so the policy sees no
// input at all; the JavaScript SDK and the interpreter handle them.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const GO_WASM_UNSUPPORTED = /[\u0000-\u0007\u000b\u000e-\u001f\u007f]/;

function firstUnsupported(value: unknown): string | undefined {
  if (typeof value === 'string') return GO_WASM_UNSUPPORTED.exec(value)?.[0];
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    const found = GO_WASM_UNSUPPORTED.exec(k)?.[0] ?? firstUnsupported(v);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Why the `go-wasm` engine cannot decide a request, or undefined when it
 * can: a control character (other than tab, newline, carriage return,
 * backspace and form feed) or DEL anywhere in the request.
 */
export function goWasmLimitation(request: unknown): string | undefined {
  const ch = firstUnsupported(request);
  if (ch === undefined) return undefined;
  const code = `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  return `opa eval -t wasm drops any input that contains the control character ${code}`;
}

/** Evaluates generated Rego with the opa CLI, by interpreter (`opa`) or WebAssembly (`go-wasm`). */
export class OpaEngine implements Engine {
  private constructor(
    private readonly dir: string,
    readonly name: 'opa' | 'go-wasm',
  ) {}

  /** Prepares the sources for `opa eval`; opa itself is found on first use. */
  static async create(sources: RegoSources, target: 'rego' | 'wasm' = 'rego'): Promise<OpaEngine> {
    const dir = await mkdtemp(join(tmpdir(), 'mcp-policy-opa-'));
    await writeSources(dir, sources);
    return new OpaEngine(dir, target === 'rego' ? 'opa' : 'go-wasm');
  }

  private get target(): 'rego' | 'wasm' {
    return this.name === 'opa' ? 'rego' : 'wasm';
  }

  async decide(request: unknown): Promise<Decision> {
    return (await this.decideBatch([request]))[0] ?? failedDecision('policy returned no decision');
  }

  async decideBatch(requests: readonly unknown[]): Promise<Decision[]> {
    if (this.name === 'go-wasm') {
      // Requests the Go runtime would silently drop fail closed one by one;
      // the rest still go in one batch.
      const limits = requests.map(goWasmLimitation);
      if (limits.some((l) => l !== undefined)) {
        const rest = await this.evaluate(requests.filter((_, k) => limits[k] === undefined));
        let next = 0;
        return limits.map((l) => (l === undefined ? (rest[next++] as Decision) : failedDecision(l)));
      }
    }
    return this.evaluate(requests);
  }

  private async evaluate(requests: readonly unknown[]): Promise<Decision[]> {
    if (requests.length === 0) return [];
    try {
      const value = await opaEvalValue(
        join(this.dir, 'mcp_policy'),
        'data.mcp_policy.decisions',
        { requests },
        this.target,
      );
      return checkedBatch(value, requests.length);
    } catch (e) {
      return requests.map(() => failedDecision(`opa evaluation failed: ${describeThrown(e)}`));
    }
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
