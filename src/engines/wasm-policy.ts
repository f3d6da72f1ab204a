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
import { BATCH_ENTRYPOINT, CONFIG_ENTRYPOINT, DECISION_ENTRYPOINT, POLICY_PACKAGE } from '../core/contracts.js';
import { describeThrown, WasmError } from '../core/errors.js';
import { type Decision, failedDecision } from '../policy/model.js';
import { checkedDecision, type Engine, noEnterpriseConfig } from './engine.js';
import { DirectCall } from './wasm-call.js';
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

/** How JSON.stringify writes a lone surrogate (a pair is written as itself). */
const LONE_SURROGATE = /\\ud[89a-f][0-9a-f]{2}/;

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

/** JSON text for the module, without the byte-order mark the bundle reader accepts and the module's parser does not. */
function jsonBuffer(text: Uint8Array): ArrayBuffer {
  const start = text[0] === 0xef && text[1] === 0xbb && text[2] === 0xbf ? 3 : 0;
  return text.buffer.slice(text.byteOffset + start, text.byteOffset + text.byteLength) as ArrayBuffer;
}

/**
 * Instantiates a policy.wasm with its data and checks it has mcp-policy's
 * entry points. `dataJson`, when given, is the JSON text of `data` (a bundle's
 * data.json): the module parses it as it is, where an object would first be
 * serialised again, a transient copy of the whole policy that a large one
 * leaves behind in the process's memory. Throws {@link WasmError}.
 */
export async function instantiatePolicy(wasm: Uint8Array, data: unknown, dataJson?: Uint8Array): Promise<LoadedPolicy> {
  let policy: LoadedPolicy;
  try {
    policy = await sdkLoadPolicy()(wasm as Uint8Array<ArrayBuffer>, { initial: initialMemoryPages(wasm) });
    policy.setData(dataJson === undefined ? (data as object) : jsonBuffer(dataJson));
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
  const lowered = (data as Record<string, Record<string, unknown> | undefined> | null)?.[POLICY_PACKAGE]?.lowered;
  if (typeof lowered !== 'object' || lowered === null) {
    throw new WasmError(
      'missing_data',
      `the policy's data has no "${POLICY_PACKAGE}.lowered"; load the bundle.tar.gz, or pass data.json with policy.wasm`,
    );
  }
  return policy;
}

/** Evaluates a loaded mcp-policy WebAssembly policy; subclasses say how bytes become one. */
export class WasmPolicyEngine implements Engine {
  readonly name = 'wasm' as const;

  private readonly direct: DirectCall | undefined;
  private readonly ids: Readonly<Record<string, number>>;

  protected constructor(private readonly policy: LoadedPolicy) {
    this.direct = DirectCall.of(policy);
    this.ids = (policy.entrypoints ?? {}) as Record<string, number>;
  }

  /**
   * The result set of one evaluation. Hot path: the input as JSON text goes
   * straight into the module's memory; only text that carries a lone
   * surrogate (which JSON.stringify escapes) is first made well-formed.
   */
  private run(input: unknown, entrypoint: string): unknown {
    const direct = this.direct;
    const id = this.ids[entrypoint];
    if (direct === undefined || id === undefined) return this.policy.evaluate(wellFormed(input), entrypoint);
    const json = JSON.stringify(input);
    return direct.evaluate(LONE_SURROGATE.test(json) ? JSON.stringify(wellFormed(input)) : json, id);
  }

  /** Bytes of WebAssembly memory the policy holds now; it grows with what one evaluation needs, and never shrinks. */
  get memoryBytes(): number {
    return this.policy.mem.buffer.byteLength;
  }

  /** One request past the boundary, through the single-decision entry point. */
  private decidePlain(plain: Record<string, unknown>): Decision {
    // Past the boundary the request is a non-empty object, which the SDK
    // does not mistake for absent input (it treats falsy input so).
    try {
      const checked = checkedDecision(resultValue(this.run(plain, DECISION_ENTRYPOINT)));
      return typeof checked === 'string' ? failedDecision(checked) : checked;
    } catch (e) {
      return failedDecision(`wasm evaluation failed: ${describeThrown(e)}`);
    }
  }

  /** Synchronous form of {@link decide}: hosts on a hot path skip a promise per decision. */
  decideSync(request: unknown): Decision {
    return decideAtBoundary(request, (plain) => this.decidePlain(plain));
  }

  /**
   * Synchronous form of {@link decideBatch}. Each request is decided alone:
   * the module's batch entry point keeps every item's heap until the whole
   * batch ends (megabytes per item on a policy of thousands of unindexed
   * rules, and slower per item than deciding alone), where each single
   * evaluation starts again from the same heap.
   */
  decideBatchSync(requests: readonly unknown[]): Decision[] {
    return decideBatchAtBoundary(requests, (plain) => plain.map((r) => this.decidePlain(r)));
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
      value = resultValue(this.run({ local: plain }, CONFIG_ENTRYPOINT));
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
