/**
 * Where a service's bundles come from: a file (a compiled bundle, or a
 * policy compiled on the spot, as `eval` does), re-read when it is replaced
 * (`--watch`), or an HTTP bundle server polled with ETag / If-None-Match as
 * OPA's bundle plugin does (`--bundle-url`).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { readStreamWithin } from '../bundle/tar.js';
import { type PolicySources, sourcesBundle, validSources } from '../host/sources.js';

export { type PolicySources } from '../host/sources.js';

/**
 * The bundle bytes for some sources: a compiled bundle as it is, anything
 * else compiled with the pinned opa. Throws coded errors (`usage`,
 * `read_failed`, `invalid_policy`, `invalid_enterprise_config`, opa errors).
 */
export async function bundleFromSources(sources: PolicySources): Promise<Uint8Array> {
  return validSources(await sourcesBundle(sources), sources);
}

/** Something that stops. */
export interface Stoppable {
  stop(): void;
}

/**
 * Calls `onChange` when `file` is written or replaced (an atomic rename
 * included), debounced. The folder is watched, not the file, because a
 * rename gives the path a new inode that a file watch would not follow.
 */
export function watchFile(file: string, onChange: () => void, debounceMs = 100): Stoppable {
  const path = resolve(file);
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  const watcher: FSWatcher = watch(dirname(path), (_event, changed) => {
    if (changed !== null && changed !== name) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  watcher.on('error', () => undefined);
  return {
    stop: () => {
      clearTimeout(timer);
      watcher.close();
    },
  };
}

/** The result of one poll of a bundle URL. */
export type PollResult =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'bundle'; readonly bytes: Uint8Array; readonly etag: string | undefined }
  | { readonly kind: 'failed'; readonly error: string };

/** Largest bundle accepted from a URL. */
export const MAX_BUNDLE_DOWNLOAD_BYTES = 256 * 1024 * 1024;

/**
 * Fetches a bundle unless the server says the ETag still matches (304). The
 * body is read within `maxBytes` whether or not the server declares its
 * length (a chunked body is counted as it arrives and dropped at the bound).
 * Never throws.
 */
export async function fetchBundle(
  url: string,
  etag: string | undefined,
  timeoutMs = 10_000,
  maxBytes = MAX_BUNDLE_DOWNLOAD_BYTES,
): Promise<PollResult> {
  try {
    const response = await fetch(url, {
      headers: etag === undefined ? {} : { 'If-None-Match': etag },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (response.status === 304) return { kind: 'unchanged' };
    if (response.status !== 200) {
      await response.body?.cancel();
      return { kind: 'failed', error: `${url}: HTTP ${response.status}` };
    }
    const tooLarge = (what: string): PollResult => ({
      kind: 'failed',
      error: `${url}: bundle of ${what} bytes exceeds ${maxBytes}`,
    });
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > maxBytes) {
      await response.body?.cancel();
      return tooLarge(String(length));
    }
    const bytes = response.body === null ? new Uint8Array(0) : await readStreamWithin(response.body, maxBytes);
    if (bytes === undefined) return tooLarge(`more than ${maxBytes}`);
    return { kind: 'bundle', bytes, etag: response.headers.get('etag') ?? undefined };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return { kind: 'failed', error: `${url}: ${cause ?? (e as Error).message}` };
  }
}

/**
 * Polls a bundle URL every `intervalMs` (the first poll at once) and hands
 * new bundles to `onBundle`. The ETag is remembered for every bundle fetched,
 * accepted or not, so a rejected bundle is not fetched again until it changes.
 */
export function pollBundleUrl(
  url: string,
  intervalMs: number,
  handlers: { onBundle: (bytes: Uint8Array) => Promise<unknown>; onError: (error: string) => void },
): Stoppable {
  let etag: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async (): Promise<void> => {
    const result = await fetchBundle(url, etag);
    if (stopped) return;
    if (result.kind === 'failed') handlers.onError(result.error);
    if (result.kind === 'bundle') {
      etag = result.etag;
      await handlers.onBundle(result.bytes);
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs);
  };
  void tick();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
