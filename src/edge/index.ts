/**
 * `mcp-policy/wasm`: the wasm engine for browsers, Deno, Bun and edge
 * workers. It loads a bundle.tar.gz (or a bare policy.wasm and its data) and
 * decides requests exactly as the Node wasm engine does, using no Node
 * built-ins: gzip through the platform's DecompressionStream, tar through a
 * small reader, signatures through jose and the Web Crypto API, WebAssembly
 * through @open-policy-agent/opa-wasm.
 */
import { type VerificationOptions, verifyBundleSignature } from '../bundle/signature.js';
import {
  bareModuleUnsigned,
  concatBytes,
  contentRevisionChunks,
  isContentRevision,
  isGzip,
  isWasmModule,
  readTar,
  revisionMismatch,
  wasmBundleParts,
} from '../bundle/tar.js';
import { instantiatePolicy, WasmPolicyEngine } from '../engines/wasm-policy.js';
import { WasmError } from '../core/errors.js';
import { gunzip } from './gunzip.js';

export { type VerificationOptions } from '../bundle/signature.js';
export { BundleError } from '../bundle/tar.js';
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
   * data.json). Accepts bytes or a fetch Response. A bundle whose revision is
   * mcp-policy's content hash must hash to it (Web Crypto), as in Node. With
   * `verification`, the bundle must carry a signature that verifies over
   * exactly its files (as OPA and the Node loader check it), and a bare module
   * is refused. Throws {@link WasmError} or {@link BundleError}
   * (`invalid_bundle`, `bundle_revision_mismatch`, `bundle_unsigned`,
   * `bundle_signature_invalid`, `bundle_file_mismatch`, `invalid_verification_key`).
   */
  static async load(
    source: Uint8Array | ArrayBuffer | Response,
    data?: unknown,
    verification?: VerificationOptions,
  ): Promise<PortableWasmEngine> {
    const bytes =
      source instanceof Uint8Array
        ? source
        : new Uint8Array(source instanceof ArrayBuffer ? source : await source.arrayBuffer());
    let wasm = bytes;
    let bundleData: unknown = data ?? {};
    let dataJson: Uint8Array | undefined;
    let revision: string | undefined;
    if (isGzip(bytes)) {
      const files = readTar(await gunzip(bytes));
      if (verification !== undefined) await verifyBundleSignature(files, verification);
      const bundle = wasmBundleParts(files);
      await checkRevision(files, bundle.manifest.revision);
      wasm = bundle.wasm;
      bundleData = data ?? bundle.data;
      if (data === undefined) dataJson = bundle.dataJson;
      revision = bundle.manifest.revision;
    } else if (verification !== undefined) {
      throw bareModuleUnsigned();
    } else if (!isWasmModule(bytes)) {
      throw new WasmError('invalid_wasm', 'not a WebAssembly module or a bundle.tar.gz');
    }
    return new PortableWasmEngine(await instantiatePolicy(wasm, bundleData, dataJson), revision);
  }
}

/** Checks a content revision with the Web Crypto API: the same bytes Node's check hashes. */
async function checkRevision(files: ReadonlyMap<string, Uint8Array>, revision: unknown): Promise<void> {
  if (!isContentRevision(revision)) return;
  const all = concatBytes(contentRevisionChunks(files));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  const actual = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  if (actual !== revision) throw revisionMismatch(revision, actual);
}
