/**
 * The platform-neutral half of bundle reading: a small tar reader and the
 * extraction of policy.wasm, data.json and .manifest. No Node built-ins, so
 * the browser entry (`mcp-policy/wasm`) shares it with Node's reader.
 */
import { McpPolicyError } from './errors.js';

/** The parts of a wasm bundle a host needs. */
export interface WasmBundle {
  readonly wasm: Uint8Array;
  readonly data: unknown;
  readonly manifest: { readonly revision?: string; readonly wasm?: readonly { entrypoint: string; module: string }[] };
}

export function invalid(message: string, cause?: unknown): McpPolicyError {
  return new McpPolicyError('invalid_bundle', `invalid bundle: ${message}`, { cause });
}

function field(block: Uint8Array, offset: number, length: number): string {
  const raw = block.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
}

function octal(block: Uint8Array, offset: number, length: number): number {
  const text = field(block, offset, length).trim();
  if (!/^[0-7]*$/.test(text)) throw invalid(`bad number ${JSON.stringify(text)} in tar header`);
  return text === '' ? 0 : parseInt(text, 8);
}

/** Lists the regular files of an uncompressed tar archive by normalised path (no leading `/`). */
export function readTar(tar: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= tar.length) {
    const header = tar.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(header, 345, 155);
    let name = field(header, 0, 100);
    if (prefix !== '') name = `${prefix}/${name}`;
    const start = offset + 512;
    if (start + size > tar.length) throw invalid('truncated archive');
    const body = tar.subarray(start, start + size);
    if (type === 'L') {
      longName = field(body, 0, body.length);
    } else if (type === 'x') {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(body))?.[1];
      if (path !== undefined) longName = path;
    } else {
      if (type === '0' || type === '\0') files.set((longName ?? name).replace(/^\.?\/+/, ''), body);
      longName = undefined;
    }
    offset = start + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** The wasm bundle in an uncompressed tar archive as built by `opa build -t wasm`. */
export function bundleFromTar(tar: Uint8Array): WasmBundle {
  const files = readTar(tar);
  const manifestBytes = files.get('.manifest');
  let manifest: WasmBundle['manifest'] = {};
  if (manifestBytes) {
    try {
      manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as WasmBundle['manifest'];
    } catch (e) {
      throw invalid('.manifest is not JSON', e);
    }
  }
  const modulePath = manifest.wasm?.[0]?.module?.replace(/^\/+/, '') ?? 'policy.wasm';
  const wasm = files.get(modulePath);
  if (!wasm) throw invalid(`no ${modulePath} in the archive`);
  const dataBytes = files.get('data.json');
  let data: unknown = {};
  if (dataBytes) {
    try {
      data = JSON.parse(new TextDecoder().decode(dataBytes));
    } catch (e) {
      throw invalid('data.json is not JSON', e);
    }
  }
  return { wasm, data, manifest };
}

/** True when the bytes look like a gzip stream (a bundle) rather than a bare wasm module or text. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** True when the bytes start with the WebAssembly magic number. */
export function isWasmModule(bytes: Uint8Array): boolean {
  return bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
}
