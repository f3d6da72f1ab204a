/**
 * The platform-neutral half of bundle reading: a small tar reader, the
 * `.manifest` checks and the extraction of policy.wasm and data.json. No Node
 * built-ins, so the browser entry (`mcp-policy/wasm`) shares it with Node's
 * reader (`bundle.ts`). Everything read from a bundle is untrusted: every
 * malformed part is a {@link BundleError} with a stable code and a location.
 */
import { BUNDLE_ERROR_CODES, McpPolicyError } from '../core/errors.js';

/** The bundle codes a loader can raise, each documented in docs/semantics.md. */
export { BUNDLE_ERROR_CODES };
export type BundleErrorCode = (typeof BUNDLE_ERROR_CODES)[number];

/** A bundle that cannot be used: malformed, too large, inconsistent or not authentic. */
export class BundleError extends McpPolicyError {
  /**
   * Where in the bundle: a JSON pointer whose first token is the file in the
   * archive (e.g. `/.manifest/wasm/0/module`); `""` for the archive itself.
   */
  readonly path: string;

  constructor(code: BundleErrorCode, message: string, path = '', options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'BundleError';
    this.path = path;
  }
}

/** The `.manifest` fields mcp-policy reads. */
export interface BundleManifest {
  readonly revision?: string;
  readonly roots?: readonly string[];
  readonly wasm?: readonly { readonly entrypoint: string; readonly module: string }[];
  readonly [key: string]: unknown;
}

/** The parts of a wasm bundle a host needs. */
export interface WasmBundle {
  readonly wasm: Uint8Array;
  readonly data: unknown;
  /** data.json as the archive holds it; undefined when there is none. */
  readonly dataJson: Uint8Array | undefined;
  readonly manifest: BundleManifest;
  /** Every regular file of the archive by normalised path, for signature checks. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

export const MANIFEST = '.manifest';
/** OPA's signature file; not part of the content it signs. */
export const SIGNATURES_FILE = '.signatures.json';

function field(block: Uint8Array, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
}

function octal(block: Uint8Array, offset: number, length: number): number {
  const text = field(block, offset, length).trim();
  if (!/^[0-7]*$/.test(text))
    throw new BundleError('invalid_bundle', `bad number ${JSON.stringify(text)} in tar header`);
  return text === '' ? 0 : parseInt(text, 8);
}

/**
 * Lists the regular files of an uncompressed tar archive by normalised path
 * (no leading `/`). An archive that ends before its end-of-archive marker is
 * `bundle_truncated`: a cut at a block boundary would otherwise read as a
 * smaller, valid bundle.
 */
export function readTar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let offset = 0;
  let longName: string | undefined;
  for (;;) {
    if (offset + 512 > tar.length)
      throw new BundleError('bundle_truncated', 'bundle is truncated: tar archive has no end marker');
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    let name = field(header, 0, 100);
    if (prefix !== '') name = `${prefix}/${name}`;
    const start = offset + 512;
    if (start + size > tar.length)
      throw new BundleError('bundle_truncated', `bundle is truncated inside ${JSON.stringify(name)}`);
    const body = tar.subarray(start, start + size);
    if (type === 'L') {
      longName = field(body, 0, body.length);
    } else if (type === 'x') {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(body))?.[1];
      if (path !== undefined) longName = path;
    } else {
      if (type === '0' || type === '\0') {
        const path = (longName ?? name).replace(/^\.?\/+/, '');
        if (files.has(path))
          throw new BundleError('invalid_bundle', `bundle holds ${JSON.stringify(path)} twice`, `/${path}`);
        files.set(path, body);
      }
      longName = undefined;
    }
    offset = start + Math.ceil(size / 512) * 512;
  }
  return files;
}

function parseJsonFile(files: ReadonlyMap<string, Uint8Array>, name: string): unknown {
  const bytes = files.get(name);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (e) {
    throw new BundleError(
      name === MANIFEST ? 'invalid_manifest' : 'invalid_bundle',
      `${name} is not valid JSON`,
      `/${name}`,
      {
        cause: e,
      },
    );
  }
}

/** Checks the `.manifest` fields a loader relies on; anything else in it is OPA's business. */
export function checkManifest(value: unknown): BundleManifest {
  const bad = (path: string, what: string): BundleError =>
    new BundleError('invalid_manifest', `.manifest ${what}`, `/${MANIFEST}${path}`);
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad('', `must be a JSON object, got ${JSON.stringify(value)}`);
  }
  const m = value as Record<string, unknown>;
  if (m.revision !== undefined && typeof m.revision !== 'string') {
    throw bad('/revision', `revision must be a string, got ${JSON.stringify(m.revision)}`);
  }
  if (m.roots !== undefined && (!Array.isArray(m.roots) || m.roots.some((r) => typeof r !== 'string'))) {
    throw bad('/roots', 'roots must be an array of strings');
  }
  if (m.wasm !== undefined) {
    if (!Array.isArray(m.wasm)) throw bad('/wasm', 'wasm must be an array');
    m.wasm.forEach((entry: unknown, k) => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry))
        throw bad(`/wasm/${k}`, 'wasm entries must be objects');
      for (const key of ['entrypoint', 'module'] as const) {
        const v = (entry as Record<string, unknown>)[key];
        if (typeof v !== 'string' || v === '')
          throw bad(`/wasm/${k}/${key}`, `${key} must be a non-empty string, got ${JSON.stringify(v)}`);
      }
    });
  }
  return m as BundleManifest;
}

/** The policy.wasm, data.json and checked `.manifest` among a bundle's files (no revision check: that needs a hash). */
export function wasmBundleParts(files: ReadonlyMap<string, Uint8Array>): WasmBundle {
  const manifest = checkManifest(parseJsonFile(files, MANIFEST));
  const modulePath = manifest.wasm?.[0]?.module.replace(/^\/+/, '') ?? 'policy.wasm';
  const wasm = files.get(modulePath);
  if (!wasm)
    throw new BundleError('invalid_bundle', `invalid bundle: no ${modulePath} in the archive`, `/${modulePath}`);
  const data = parseJsonFile(files, 'data.json') ?? {};
  return { wasm, data, dataJson: files.get('data.json'), manifest, files };
}

/** True for a revision in mcp-policy's form (a content hash that contentRevisionChunks lets one recompute). */
export function isContentRevision(revision: unknown): revision is string {
  return typeof revision === 'string' && /^[0-9a-f]{64}$/.test(revision);
}

/**
 * What mcp-policy's content revision hashes, in order: SHA-256 over every
 * file but `.manifest` (which carries the revision) and `.signatures.json`
 * (which signs it), in path order, each length-prefixed. It covers
 * policy.wasm, data.json and the Rego, so it names exactly what decides.
 * Chunks rather than a digest, so Node and the Web Crypto API hash the same bytes.
 */
export function contentRevisionChunks(files: ReadonlyMap<string, Uint8Array>): Uint8Array[] {
  const text = new TextEncoder();
  const chunks: Uint8Array[] = [text.encode('mcp-policy bundle 1\n')];
  for (const name of [...files.keys()].sort()) {
    if (name === MANIFEST || name === SIGNATURES_FILE) continue;
    const body = files.get(name)!;
    chunks.push(text.encode(`${text.encode(name).length}:${name}:${body.length}:`), body);
  }
  return chunks;
}

/** The error for a bundle whose content does not hash to its revision. */
export function revisionMismatch(revision: string, actual: string): BundleError {
  return new BundleError(
    'bundle_revision_mismatch',
    `bundle content does not match its revision ${JSON.stringify(revision)} (content hashes to ${JSON.stringify(actual)})`,
    `/${MANIFEST}/revision`,
  );
}

/** The refusal of a bare policy.wasm where a signature is required: only a bundle can carry one. */
export function bareModuleUnsigned(): BundleError {
  return new BundleError(
    'bundle_unsigned',
    'a bare WebAssembly module carries no signature; load the signed bundle.tar.gz',
  );
}

/** The chunks as one array. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Reads a byte stream to its end, or stops (cancelling the rest) once it
 * passes `maxBytes` and answers undefined: what arrives is counted, whatever
 * the sender declared.
 */
export async function readStreamWithin(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return concatBytes(chunks);
}

/** True when the bytes look like a gzip stream (a bundle) rather than a bare wasm module or text. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** True when the bytes start with the WebAssembly magic number. */
export function isWasmModule(bytes: Uint8Array): boolean {
  return bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}
