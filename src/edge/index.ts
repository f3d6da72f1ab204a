/**
 * `mcp-policy/wasm`: the wasm engine for browsers, Deno, Bun and edge
 * workers. It loads a bundle.tar.gz (or a bare policy.wasm and its data) and
 * decides requests exactly as the Node wasm engine does, using no Node
 * built-ins: gzip through the platform's DecompressionStream, tar through a
 * small reader, WebAssembly through @open-policy-agent/opa-wasm.
 */
import { bundleFromTar, isGzip, isWasmModule } from '../bundle-tar.js';
import { instantiatePolicy, WasmPolicyEngine } from '../engines/wasm-policy.js';
import { WasmError } from '../errors.js';
import { gunzip } from './gunzip.js';

export { type Decision, type PolicyRequest } from '../policy/model.js';
export { gunzip, MAX_INFLATED_BYTES } from './gunzip.js';

/** A compiled mcp-policy bundle, evaluated in WebAssembly on any JavaScript platform. */
export class PortableWasmEngine extends WasmPolicyEngine {
  private constructor(
    policy: Awaited<ReturnType<typeof instantiatePolicy>>,
    /** The bundle's revision (content hash), when it has a manifest. */
    readonly revision: string | undefined,
  ) {
    super(policy);
  }

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
    return new PortableWasmEngine(await instantiatePolicy(wasm, bundleData), revision);
  }
}
