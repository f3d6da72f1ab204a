/** gzip decompression with the platform's DecompressionStream (browsers, Deno, Bun, edge workers, Node ≥ 18). */
import { readStreamWithin } from '../bundle/tar.js';
import { McpPolicyError } from '../core/errors.js';

/** A bundle that inflates past this is refused (a compressed bomb must not exhaust the page's memory). */
export const MAX_INFLATED_BYTES = 256 * 1024 * 1024;

/** Inflates a gzip stream; throws `invalid_bundle` for bad data or output beyond `maxBytes`. */
export async function gunzip(bytes: Uint8Array, maxBytes = MAX_INFLATED_BYTES): Promise<Uint8Array> {
  if (typeof DecompressionStream !== 'function') {
    throw new McpPolicyError('invalid_bundle', 'invalid bundle: this runtime has no DecompressionStream for gzip');
  }
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  let out: Uint8Array | undefined;
  try {
    out = await readStreamWithin(stream, maxBytes);
  } catch (e) {
    throw new McpPolicyError('invalid_bundle', 'invalid bundle: not a gzip archive', { cause: e });
  }
  if (out === undefined) {
    throw new McpPolicyError('invalid_bundle', `invalid bundle: it inflates past ${maxBytes} bytes`);
  }
  return out;
}
