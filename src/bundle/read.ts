/**
 * Reading OPA bundles (bundle.tar.gz): just enough of tar to pull out
 * policy.wasm, data.json and .manifest, synchronously and without a
 * dependency. Everything read from a bundle is untrusted: decompression is
 * bounded, every malformed part is a {@link BundleError} with a stable code
 * and a location, and a revision in mcp-policy's form is checked against the
 * content it names, so a bundle repacked with another policy's files is
 * refused rather than run.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gunzipSync, gzipSync } from 'node:zlib';
import { type FileDigest } from './signature.js';
import {
  BundleError,
  contentRevisionChunks,
  isContentRevision,
  type WasmBundle,
  readTar,
  revisionMismatch,
  wasmBundleParts,
} from './tar.js';

export {
  BUNDLE_ERROR_CODES,
  BundleError,
  type BundleErrorCode,
  type BundleManifest,
  checkManifest,
  isGzip,
  isWasmModule,
  readTar,
  SIGNATURES_FILE,
  type WasmBundle,
} from './tar.js';

const NODE_HASHES: Readonly<Record<string, string>> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512-224': 'sha512-224',
  'SHA-512-256': 'sha512-256',
};

/** Every file-hash algorithm OPA knows, with Node's crypto (the Web Crypto API lacks MD5 and the SHA-224 family). */
export const nodeDigest: FileDigest = (algorithm, body) => {
  const name = NODE_HASHES[algorithm];
  return Promise.resolve(name === undefined ? undefined : createHash(name).update(body).digest('hex'));
};

const gunzipAsync = promisify(gunzip);

/** Default bound on the uncompressed size of a bundle: far above any real policy, far below a gzip bomb. */
export const DEFAULT_MAX_BUNDLE_BYTES = 256 * 2 ** 20;

/** Options for reading a bundle. */
export interface ReadBundleOptions {
  /** Largest uncompressed archive accepted, in bytes (default {@link DEFAULT_MAX_BUNDLE_BYTES}). */
  readonly maxBytes?: number;
}

function tarHeader(name: string, size: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (text: string, offset: number) => h.set(new TextEncoder().encode(text), offset);
  // Fixed mode, owner and time: the same files always make the same bytes.
  put(name, 0);
  put('0000600\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put(`${size.toString(8).padStart(11, '0')}\0`, 124);
  put('00000000000\0', 136);
  put('        ', 148);
  put('0', 156);
  put('ustar\0', 257);
  put('00', 263);
  put(
    `${h
      .reduce((a, b) => a + b, 0)
      .toString(8)
      .padStart(6, '0')}\0 `,
    148,
  );
  return h;
}

/**
 * Packs files (path → bytes) into a bundle.tar.gz as opa lays it out (each
 * path with a leading `/`), deterministically. Paths must fit a ustar name
 * (100 bytes), which every file of an mcp-policy bundle does.
 */
export function writeBundle(files: ReadonlyMap<string, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, body] of files) {
    if (Buffer.byteLength(name) >= 100)
      throw new BundleError('invalid_bundle', `bundle path ${JSON.stringify(name)} is too long`, `/${name}`);
    parts.push(tarHeader(`/${name}`, body.length), body, new Uint8Array((512 - (body.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return new Uint8Array(gzipSync(Buffer.concat(parts)));
}

/** The coded error for a failed decompression. */
function gunzipError(e: unknown, maxBytes: number): BundleError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ERR_BUFFER_TOO_LARGE') {
    return new BundleError('bundle_too_large', `bundle expands to more than ${maxBytes} bytes`, '', { cause: e });
  }
  if (code === 'Z_BUF_ERROR') {
    return new BundleError('bundle_truncated', 'bundle is truncated: gzip stream ends early', '', { cause: e });
  }
  return new BundleError('invalid_bundle', `invalid bundle: not a gzip archive (${(e as Error).message})`, '', {
    cause: e,
  });
}

/**
 * Decompresses a bundle.tar.gz within a size bound and lists its files. It
 * holds the thread while it inflates: a service reading untrusted bytes
 * uses {@link readBundleFilesAsync}.
 */
export function readBundleFiles(bytes: Uint8Array, options: ReadBundleOptions = {}): Map<string, Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  let tar: Uint8Array;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (e) {
    throw gunzipError(e, maxBytes);
  }
  return readTar(tar);
}

/** Output chunk of the asynchronous inflate: large, so a bomb up to the bound costs few round trips. */
const INFLATE_CHUNK_BYTES = 1024 * 1024;

/**
 * {@link readBundleFiles} with the inflating done on libuv's thread pool, in
 * chunks: a gzip bomb costs at most `maxBytes` of output and never blocks
 * the event loop while it is inflated and refused.
 */
export async function readBundleFilesAsync(
  bytes: Uint8Array,
  options: ReadBundleOptions = {},
): Promise<Map<string, Uint8Array>> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  let tar: Uint8Array;
  try {
    tar = await gunzipAsync(bytes, { maxOutputLength: maxBytes, chunkSize: INFLATE_CHUNK_BYTES });
  } catch (e) {
    throw gunzipError(e, maxBytes);
  }
  return readTar(tar);
}

export { isContentRevision } from './tar.js';

/** The content hash mcp-policy uses as a bundle's revision (see contentRevisionChunks). */
export function contentRevision(files: ReadonlyMap<string, Uint8Array>): string {
  const h = createHash('sha256');
  for (const chunk of contentRevisionChunks(files)) h.update(chunk);
  return h.digest('hex');
}

/**
 * Reads a bundle.tar.gz as built by `opa build -t wasm`. A revision of 64 hex
 * digits (mcp-policy's content hash) must match the content; other revisions
 * are the builder's own and are kept as given.
 */
export function readWasmBundle(bytes: Uint8Array, options: ReadBundleOptions = {}): WasmBundle {
  return wasmBundleOf(readBundleFiles(bytes, options));
}

/** The wasm bundle in files already read by {@link readBundleFiles} (e.g. after checking their signature). */
export function wasmBundleOf(files: ReadonlyMap<string, Uint8Array>): WasmBundle {
  const bundle = wasmBundleParts(files);
  const { revision } = bundle.manifest;
  if (isContentRevision(revision)) {
    const actual = contentRevision(files);
    if (actual !== revision) throw revisionMismatch(revision, actual);
  }
  return bundle;
}
