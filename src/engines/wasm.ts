/**
 * The wasm engine in Node: a compiled bundle run by @open-policy-agent/opa-wasm.
 * Evaluation lives in `wasm-policy.ts` (shared with the browser entry); this
 * adds reading a bundle.tar.gz synchronously with zlib, within a size bound,
 * with its revision and (when a key is given) its signature verified.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { bareModuleUnsigned } from '../bundle/tar.js';
import {
  isGzip,
  isWasmModule,
  nodeDigest,
  type ReadBundleOptions,
  readBundleFilesAsync,
  wasmBundleOf,
} from '../bundle/read.js';
import { type VerificationOptions, verifyBundleSignature } from '../bundle/signature.js';
import { describeThrown, WasmError } from '../core/errors.js';
import { instantiatePolicy, WasmPolicyEngine } from './wasm-policy.js';

export { wellFormed } from './wasm-policy.js';

/** How to load a bundle: its data, its size bound, and the key its signature must verify with. */
export interface WasmLoadOptions extends ReadBundleOptions, Partial<VerificationOptions> {
  /** Data for a bare policy.wasm, or in place of a bundle's data.json. */
  readonly data?: unknown;
}

/** Evaluates a compiled mcp-policy bundle in WebAssembly. */
export class WasmEngine extends WasmPolicyEngine {
  private constructor(
    policy: Awaited<ReturnType<typeof instantiatePolicy>>,
    /** The bundle's revision (its content hash when mcp-policy built it); undefined for a bare module. */
    readonly revision: string | undefined,
  ) {
    super(policy);
  }

  /**
   * Loads a bundle.tar.gz or a bare policy.wasm. With `verificationKey`, the
   * bundle must carry a signature that verifies over exactly its files, and a
   * bare module (which cannot carry one) is refused. Nothing of a refused
   * bundle is loaded. Throws {@link BundleError} or {@link WasmError}.
   */
  static async load(bytes: Uint8Array, options: WasmLoadOptions = {}): Promise<WasmEngine> {
    return WasmEngine.fromOpened(await openWasmBytes(bytes, options));
  }

  /** An engine for what {@link openWasmBytes} read, for callers that also need its data. */
  static async fromOpened(opened: OpenedWasm): Promise<WasmEngine> {
    return new WasmEngine(await instantiatePolicy(opened.wasm, opened.data, opened.dataJson), opened.revision);
  }
}

/** A bundle or bare module, read, checked and verified, not yet instantiated. */
export interface OpenedWasm {
  readonly wasm: Uint8Array;
  /** The data the policy runs on: the bundle's data.json, or the `data` given. */
  readonly data: unknown;
  /** The JSON text of `data` when it is the bundle's data.json, handed to the module as it is. */
  readonly dataJson?: Uint8Array | undefined;
  /** The manifest's revision; undefined for a bare module. */
  readonly revision: string | undefined;
}

/**
 * Reads a bundle.tar.gz (decompressed once, within its size bound, its
 * revision checked and, with `verificationKey`, its signature verified) or a
 * bare policy.wasm. Throws {@link BundleError} or {@link WasmError}.
 */
export async function openWasmBytes(bytes: Uint8Array, options: WasmLoadOptions = {}): Promise<OpenedWasm> {
  const { data, verificationKey } = options;
  if (isGzip(bytes)) {
    // The signature is checked first: it is the stronger statement about what is wrong. Inflating
    // off the event loop keeps a service answering while it refuses a decompression bomb.
    const files = await readBundleFilesAsync(bytes, options);
    if (verificationKey !== undefined) await verifyBundleSignature(files, { ...options, verificationKey }, nodeDigest);
    const bundle = wasmBundleOf(files);
    return {
      wasm: bundle.wasm,
      data: data ?? bundle.data,
      dataJson: data === undefined ? bundle.dataJson : undefined,
      revision: bundle.manifest.revision,
    };
  }
  if (verificationKey !== undefined) {
    throw bareModuleUnsigned();
  }
  if (!isWasmModule(bytes)) throw new WasmError('invalid_wasm', 'not a WebAssembly module or a bundle.tar.gz');
  return { wasm: bytes, data: data ?? {}, revision: undefined };
}

/**
 * The data.json beside a bare policy.wasm (as `mcp-policy compile` writes
 * them), parsed; undefined when there is none, so loading reports `missing_data`.
 */
export async function siblingData(wasmPath: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(join(dirname(wasmPath), 'data.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new WasmError('invalid_bundle', `invalid data.json beside ${wasmPath}: ${describeThrown(e)}`, { cause: e });
  }
}
