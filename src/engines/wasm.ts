/**
 * The wasm engine in Node: a compiled bundle run by @open-policy-agent/opa-wasm.
 * Evaluation lives in `wasm-policy.ts` (shared with the browser entry); this
 * adds reading a bundle.tar.gz synchronously with zlib.
 */
import { isGzip, isWasmModule, readWasmBundle } from '../bundle.js';
import { WasmError } from '../errors.js';
import { instantiatePolicy, WasmPolicyEngine } from './wasm-policy.js';

export { wellFormed } from './wasm-policy.js';

/** Evaluates a compiled mcp-policy bundle in WebAssembly. */
export class WasmEngine extends WasmPolicyEngine {
  /** Loads a bundle.tar.gz or a bare policy.wasm (with optional data). Throws {@link WasmError}. */
  static async load(bytes: Uint8Array, data?: unknown): Promise<WasmEngine> {
    let wasm = bytes;
    let bundleData: unknown = data ?? {};
    if (isGzip(bytes)) {
      const bundle = readWasmBundle(bytes);
      wasm = bundle.wasm;
      bundleData = data ?? bundle.data;
    } else if (!isWasmModule(bytes)) {
      throw new WasmError('invalid_wasm', 'not a WebAssembly module or a bundle.tar.gz');
    }
    return new WasmEngine(await instantiatePolicy(wasm, bundleData));
  }
}
