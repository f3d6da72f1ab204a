/**
 * The wasm engine's evaluation, for every platform: a loaded opa-wasm policy
 * answering decisions and configurations, fail closed. It uses no Node
 * built-in, so the Node engine (`WasmEngine`, which adds reading bundles with
 * zlib) and the browser entry (`mcp-policy/wasm`) share it. This is the
 * adapter boundary for the SDK: it throws strings and plain objects, treats
 * falsy input as absent and returns result sets; here that becomes typed
 * errors on load and fail-closed decisions on evaluation.
 */
import * as opaWasm from '@open-policy-agent/opa-wasm';
import { BATCH_ENTRYPOINT, CONFIG_ENTRYPOINT, DECISION_ENTRYPOINT } from '../contracts.js';
import { describeThrown, WasmError } from '../errors.js';
import { type Decision, failedDecision } from '../policy/model.js';
import { checkedBatch, checkedDecision, type Engine, noEnterpriseConfig } from './engine.js';
import { decideAtBoundary, decideBatchAtBoundary, readLocalSettings } from './request-boundary.js';
import { initialMemoryPages } from './wasm-memory.js';

type LoadedPolicy = opaWasm.LoadedPolicy;

/** Replaces unpaired surrogates everywhere, as Go's JSON decoder does, so wasm and OPA see the same text. */
export function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.toWellFormed();
  if (Array.isArray(value)) return value.map(wellFormed);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k.toWellFormed(), {
        value: wellFormed(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

/** The value of a result set, or undefined when the entry point produced nothing. */
function resultValue(resultSet: unknown): unknown {
  if (!Array.isArray(resultSet) || resultSet.length === 0) return undefined;
  const first: unknown = resultSet[0];
  return typeof first === 'object' && first !== null ? (first as { result?: unknown }).result : undefined;
}

/** Node's build of the SDK has named exports; its browser build has only a default export. */
function sdkLoadPolicy(): typeof opaWasm.loadPolicy {
  const named = (opaWasm as { loadPolicy?: typeof opaWasm.loadPolicy }).loadPolicy;
  const fallback = (opaWasm as unknown as { default?: { loadPolicy?: typeof opaWasm.loadPolicy } }).default;
  const load = named ?? fallback?.loadPolicy;
  if (load === undefined) throw new WasmError('wasm_load_failed', 'the opa-wasm SDK has no loadPolicy');
  return load;
}

/** Instantiates a policy.wasm with its data and checks it has mcp-policy's entry points. Throws {@link WasmError}. */
export async function instantiatePolicy(wasm: Uint8Array, data: unknown): Promise<LoadedPolicy> {
  let policy: LoadedPolicy;
  try {
    policy = await sdkLoadPolicy()(wasm as Uint8Array<ArrayBuffer>, { initial: initialMemoryPages(wasm) });
    policy.setData(data as object);
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
  return policy;
}

/** Evaluates a loaded mcp-policy WebAssembly policy; subclasses say how bytes become one. */
export class WasmPolicyEngine implements Engine {
  readonly name = 'wasm' as const;

  protected constructor(private readonly policy: LoadedPolicy) {}

  /** Synchronous form of {@link decide}: hosts on a hot path skip a promise per decision. */
  decideSync(request: unknown): Decision {
    // Past the boundary the request is a non-empty object, which the SDK
    // does not mistake for absent input (it treats falsy input so).
    return decideAtBoundary(request, (plain) => {
      try {
        const checked = checkedDecision(resultValue(this.policy.evaluate(plain, DECISION_ENTRYPOINT)));
        return typeof checked === 'string' ? failedDecision(checked) : checked;
      } catch (e) {
        return failedDecision(`wasm evaluation failed: ${describeThrown(e)}`);
      }
    });
  }

  /** Synchronous form of {@link decideBatch}. */
  decideBatchSync(requests: readonly unknown[]): Decision[] {
    return decideBatchAtBoundary(requests, (plain) => {
      let value: unknown;
      try {
        value = resultValue(this.policy.evaluate({ requests: plain }, BATCH_ENTRYPOINT));
      } catch (e) {
        return plain.map(() => failedDecision(`wasm evaluation failed: ${describeThrown(e)}`));
      }
      return checkedBatch(value, plain.length);
    });
  }

  decide(request: unknown): Promise<Decision> {
    return Promise.resolve(this.decideSync(request));
  }

  /** The effective enterprise configuration, from the bundle's `config` entry point. */
  configSync(local: Readonly<Record<string, unknown>>): unknown {
    if (!(CONFIG_ENTRYPOINT in (this.policy.entrypoints as Record<string, number>))) throw noEnterpriseConfig();
    const plain = readLocalSettings(local);
    let value: unknown;
    try {
      value = resultValue(this.policy.evaluate({ local: plain }, CONFIG_ENTRYPOINT));
    } catch (e) {
      throw new WasmError('wasm_eval_failed', `wasm evaluation failed: ${describeThrown(e)}`, { cause: e });
    }
    if (value === undefined) throw new WasmError('wasm_eval_failed', 'the policy returned no configuration');
    return value;
  }

  config(local: Readonly<Record<string, unknown>>): Promise<unknown> {
    try {
      return Promise.resolve(this.configSync(local));
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  decideBatch(requests: readonly unknown[]): Promise<Decision[]> {
    return Promise.resolve(this.decideBatchSync(requests));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
