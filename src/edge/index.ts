/**
 * `mcp-policy/wasm`: the wasm engine for browsers, Deno, Bun and edge
 * workers. It loads a bundle.tar.gz (or a bare policy.wasm and its data) and
 * decides requests exactly as the Node wasm engine does, using no Node
 * built-ins: gzip through the platform's DecompressionStream, tar through a
 * small reader, WebAssembly through @open-policy-agent/opa-wasm.
 */
import * as opaWasm from '@open-policy-agent/opa-wasm';
import { bundleFromTar, isGzip, isWasmModule } from '../bundle-tar.js';
import { checkedBatch, checkedDecision, type Engine, noEnterpriseConfig } from '../engines/engine.js';
import { initialMemoryPages } from '../engines/wasm-memory.js';
import { describeThrown, WasmError } from '../errors.js';
import { type Decision, failedDecision } from '../policy/model.js';
import { BATCH_ENTRYPOINT, CONFIG_ENTRYPOINT, DECISION_ENTRYPOINT } from '../contracts.js';
import { gunzip } from './gunzip.js';

export { type Decision, type PolicyRequest } from '../policy/model.js';
export { gunzip, MAX_INFLATED_BYTES } from './gunzip.js';

type LoadedPolicy = opaWasm.LoadedPolicy;

/** Node's build of the SDK has named exports; its browser build has only a default export. */
function sdkLoadPolicy(): typeof opaWasm.loadPolicy {
  const named = (opaWasm as { loadPolicy?: typeof opaWasm.loadPolicy }).loadPolicy;
  const fallback = (opaWasm as unknown as { default?: { loadPolicy?: typeof opaWasm.loadPolicy } }).default;
  const load = named ?? fallback?.loadPolicy;
  if (load === undefined) throw new WasmError('wasm_load_failed', 'the opa-wasm SDK has no loadPolicy');
  return load;
}

/** Replaces unpaired surrogates, as Go's JSON decoder does, so this engine and OPA see the same text. */
function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.toWellFormed();
  if (Array.isArray(value)) return value.map(wellFormed);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k.toWellFormed(), { value: wellFormed(v), enumerable: true, writable: true });
    }
    return out;
  }
  return value;
}

function resultValue(resultSet: unknown): unknown {
  if (!Array.isArray(resultSet) || resultSet.length === 0) return undefined;
  const first: unknown = resultSet[0];
  return typeof first === 'object' && first !== null ? (first as { result?: unknown }).result : undefined;
}

/** A compiled mcp-policy bundle, evaluated in WebAssembly on any JavaScript platform. */
export class PortableWasmEngine implements Engine {
  readonly name = 'wasm' as const;

  private constructor(
    private readonly policy: LoadedPolicy,
    /** The bundle's revision (content hash), when it has a manifest. */
    readonly revision: string | undefined,
  ) {}

  /**
   * Loads a bundle.tar.gz, or a bare policy.wasm with its data (the parsed
   * data.json). Accepts bytes or a fetch Response. Throws {@link WasmError}
   * or `invalid_bundle`.
   */
  static async load(source: Uint8Array | ArrayBuffer | Response, data?: unknown): Promise<PortableWasmEngine> {
    const bytes =
      source instanceof Uint8Array
        ? source
        : new Uint8Array(source instanceof ArrayBuffer ? source : await source.arrayBuffer());
    let wasm = bytes;
    let bundleData: unknown = data ?? {};
    let revision: string | undefined;
    if (isGzip(bytes)) {
      const bundle = bundleFromTar(await gunzip(bytes));
      wasm = bundle.wasm;
      bundleData = data ?? bundle.data;
      revision = bundle.manifest.revision;
    } else if (!isWasmModule(bytes)) {
      throw new WasmError('invalid_wasm', 'not a WebAssembly module or a bundle.tar.gz');
    }
    let policy: LoadedPolicy;
    try {
      policy = await sdkLoadPolicy()(wasm as Uint8Array<ArrayBuffer>, { initial: initialMemoryPages(wasm) });
      policy.setData(bundleData as object);
    } catch (e) {
      throw new WasmError('wasm_load_failed', `cannot load the WebAssembly policy: ${describeThrown(e)}`, { cause: e });
    }
    const entrypoints = (policy.entrypoints ?? {}) as Record<string, number>;
    for (const ep of [DECISION_ENTRYPOINT, BATCH_ENTRYPOINT]) {
      if (!(ep in entrypoints)) {
        throw new WasmError(
          'missing_entrypoint',
          `the WebAssembly policy has no entry point "${ep}"; was it built by mcp-policy?`,
        );
      }
    }
    return new PortableWasmEngine(policy, revision);
  }

  /** Decides one request; never throws (a failure is a denying decision with an `error`). */
  decideSync(request: unknown): Decision {
    // The SDK reads falsy input as no input: only objects go to the single entry point.
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      return this.decideBatchSync([request])[0] ?? failedDecision('policy returned no decision');
    }
    try {
      const checked = checkedDecision(resultValue(this.policy.evaluate(wellFormed(request), DECISION_ENTRYPOINT)));
      return typeof checked === 'string' ? failedDecision(checked) : checked;
    } catch (e) {
      return failedDecision(`wasm evaluation failed: ${describeThrown(e)}`);
    }
  }

  /** Decides many requests, one decision per request in order; never throws. */
  decideBatchSync(requests: readonly unknown[]): Decision[] {
    let value: unknown;
    try {
      value = resultValue(this.policy.evaluate({ requests: wellFormed(requests) }, BATCH_ENTRYPOINT));
    } catch (e) {
      return requests.map(() => failedDecision(`wasm evaluation failed: ${describeThrown(e)}`));
    }
    return checkedBatch(value, requests.length);
  }

  decide(request: unknown): Promise<Decision> {
    return Promise.resolve(this.decideSync(request));
  }

  decideBatch(requests: readonly unknown[]): Promise<Decision[]> {
    return Promise.resolve(this.decideBatchSync(requests));
  }

  config(local: Readonly<Record<string, unknown>>): Promise<unknown> {
    if (!(CONFIG_ENTRYPOINT in (this.policy.entrypoints as Record<string, number>))) {
      return Promise.reject(noEnterpriseConfig());
    }
    try {
      const value = resultValue(this.policy.evaluate({ local: wellFormed(local) }, CONFIG_ENTRYPOINT));
      if (value === undefined) throw new Error('the policy returned no configuration');
      return Promise.resolve(value);
    } catch (e) {
      return Promise.reject(new WasmError('wasm_eval_failed', `wasm evaluation failed: ${describeThrown(e)}`));
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
