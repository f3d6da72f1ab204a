/**
 * Reading OPA bundles (bundle.tar.gz): just enough of tar to pull out
 * policy.wasm, data.json and .manifest, synchronously and without a
 * dependency. Malformed archives raise `invalid_bundle`.
 */
import { gunzipSync } from 'node:zlib';
import { bundleFromTar, invalid, type WasmBundle } from './bundle-tar.js';

export { isGzip, isWasmModule, readTar, type WasmBundle } from './bundle-tar.js';

/** Reads a bundle.tar.gz as built by `opa build -t wasm`. */
export function readWasmBundle(bytes: Uint8Array): WasmBundle {
  let tar: Uint8Array;
  try {
    tar = gunzipSync(bytes);
  } catch (e) {
    throw invalid('not a gzip archive', e);
  }
  return bundleFromTar(tar);
}
