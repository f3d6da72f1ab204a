/**
 * The wasm engine in Node: a compiled bundle run by @open-policy-agent/opa-wasm.
 * Evaluation lives in `wasm-policy.ts` (shared with the browser entry); this
 * adds reading a bundle.tar.gz synchronously with zlib, within a size bound,
 * with its revision and (when a key is given) its signature verified.
 */
import { BundleError, isGzip, isWasmModule, type ReadBundleOptions, readBundleFiles, wasmBundleOf } from '../bundle.js';
import { type VerificationOptions, verifyBundleSignature } from '../bundle-signature.js';
import { WasmError } from '../errors.js';
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
    const { data, verificationKey } = options;
    let wasm = bytes;
    let bundleData: unknown = data ?? {};
    let revision: string | undefined;
    if (isGzip(bytes)) {
      // The signature is checked first: it is the stronger statement about what is wrong.
      const files = readBundleFiles(bytes, options);
      if (verificationKey !== undefined) await verifyBundleSignature(files, { ...options, verificationKey });
      const bundle = wasmBundleOf(files);
      wasm = bundle.wasm;
      bundleData = data ?? bundle.data;
      revision = bundle.manifest.revision;
    } else if (verificationKey !== undefined) {
      throw new BundleError(
        'bundle_unsigned',
        'a bare WebAssembly module carries no signature; load the signed bundle.tar.gz',
      );
    } else if (!isWasmModule(bytes)) {
      throw new WasmError('invalid_wasm', 'not a WebAssembly module or a bundle.tar.gz');
    }
    return new WasmEngine(await instantiatePolicy(wasm, bundleData), revision);
  }
}
