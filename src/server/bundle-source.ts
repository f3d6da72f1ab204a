/**
 * Where a service's bundles come from: a file (a compiled bundle, or a
 * policy compiled on the spot, as `eval` does), re-read when it or its
 * folder is replaced (`--watch`), or an HTTP bundle server polled with ETag / If-None-Match as
 * OPA's bundle plugin does (`--bundle-url`).
 */
import { createHash } from 'node:crypto';
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { readStreamWithin } from '../bundle/tar.js';
import { McpPolicyError } from '../core/errors.js';
import { type PolicySources, readSources, sourcesBundle, validSources } from '../host/sources.js';
import { type BundleSlot, nativeBundle, type OfferResult } from './active-bundle.js';

export { type PolicySources } from '../host/sources.js';

/**
 * The bundle bytes for some sources: a compiled bundle as it is, anything
 * else compiled with the pinned opa. Throws coded errors (`usage`,
 * `read_failed`, `invalid_policy`, `invalid_enterprise_config`, opa errors).
 */
export async function bundleFromSources(sources: PolicySources): Promise<Uint8Array> {
  return validSources(await sourcesBundle(sources), sources);
}

/**
 * Offers the sources to a slot: compiled to a bundle for the wasm engine (the
 * default), or with `engine: 'native'` the validated policy itself, which
 * needs no opa. Throws what {@link bundleFromSources} throws, and `usage`
 * for the native engine on a compiled bundle or for another engine.
 */
export async function offerSources(slot: BundleSlot, sources: PolicySources): Promise<OfferResult> {
  const engine = sources.engine ?? 'wasm';
  if (engine === 'wasm') return slot.offer(await bundleFromSources(sources));
  if (engine !== 'native') {
    throw new McpPolicyError('usage', `a service decides with the wasm or native engine, not ${engine}`);
  }
  const read = validSources(await readSources(sources), sources);
  if (read.kind === 'bundle') {
    throw new McpPolicyError(
      'usage',
      `${read.file} is a compiled bundle; the native engine needs the policy file (JSON or YAML)`,
    );
  }
  const loaded = nativeBundle(read.policy, read.extras);
  return slot.offerLoaded(() => Promise.resolve(loaded));
}

/** Something that stops. */
export interface Stoppable {
  stop(): void;
}

/** A watch on a file that follows replacements of the file and of its folder. */
export interface FileWatch extends Stoppable {
  /** Why the file's folder is not watched right now (it is retried), or undefined while it is. */
  problem(): string | undefined;
}

/** Options of {@link watchFile}. */
export interface WatchOptions {
  /** Quiet time after the last event before `onChange` runs, in ms. */
  readonly debounceMs?: number;
  /** How often the watched folder is checked to still be the one at the path, in ms. */
  readonly recheckMs?: number;
  /** Called when the watch is lost (with the reason) and when it is back (undefined). */
  readonly onProblem?: (problem: string | undefined) => void;
}

/**
 * The identity of a path's current inode, or undefined when there is nothing
 * there. Synchronous, so a watch is in place when {@link watchFile} returns
 * and two events never interleave their re-arming.
 */
function identity(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return undefined;
  }
}

function folderIdentity(id: string | undefined): string | undefined {
  return id?.split(':').slice(0, 2).join(':');
}

/**
 * Calls `onChange` when `file` is written or replaced, debounced. The folder
 * is watched, not the file, because a rename gives the path a new inode that
 * a file watch would not follow; the folder's parent is watched too, because
 * `compile -o` replaces the whole folder by renames, which leaves a watch on
 * the old folder looking at a deleted directory. A periodic check catches
 * what both miss (a replaced grandparent, an event queue overflow): when the
 * folder at the path is not the one watched, or the file's inode, size or
 * times changed unseen, the watch is set again and `onChange` runs.
 */
export function watchFile(file: string, onChange: () => void, options: WatchOptions = {}): FileWatch {
  const path = resolve(file);
  const name = basename(path);
  const folder = dirname(path);
  const folderName = basename(folder);
  const debounceMs = options.debounceMs ?? 100;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let folderWatch: FSWatcher | undefined;
  let parentWatch: FSWatcher | undefined;
  let watchedFolder: string | undefined;
  let seenFile: string | undefined;
  let problem: string | undefined;

  const setProblem = (next: string | undefined): void => {
    if (next === problem) return;
    problem = next;
    options.onProblem?.(next);
  };
  const changed = (): void => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      seenFile = identity(path);
      onChange();
    }, debounceMs);
  };
  const closeFolderWatch = (): void => {
    folderWatch?.close();
    folderWatch = undefined;
    watchedFolder = undefined;
  };
  /**
   * Watches the folder now at the path; true when it is a different folder
   * from the one watched before. A missing folder is reported only when
   * `report` is set (the periodic check): `compile -o` leaves the path empty
   * for a moment between its two renames, and that is no lost watch.
   */
  const armFolder = (report: boolean): boolean => {
    const before = watchedFolder;
    const id = folderIdentity(identity(folder));
    if (id !== undefined && id === watchedFolder && folderWatch !== undefined) return false;
    closeFolderWatch();
    if (id === undefined) {
      if (report) setProblem(`the folder "${folder}" is gone; the watch is retried`);
      return before !== undefined;
    }
    try {
      const watcher = watch(folder, (_event, entry) => {
        if (entry === name) changed();
        // The watched folder itself was moved or removed: follow the path to whatever is there now.
        else if (entry === folderName || entry === null) rearm(false);
      });
      watcher.on('error', (e: NodeJS.ErrnoException) => {
        if (folderWatch !== watcher) return;
        closeFolderWatch();
        setProblem(`the watch on "${folder}" failed (${e.code ?? e.message}); it is retried`);
      });
      folderWatch = watcher;
      watchedFolder = id;
      setProblem(undefined);
    } catch (e) {
      setProblem(`cannot watch "${folder}" (${(e as NodeJS.ErrnoException).code ?? String(e)}); it is retried`);
    }
    return before !== undefined && before !== id;
  };
  const armParent = (): void => {
    if (parentWatch !== undefined) return;
    try {
      const watcher = watch(dirname(folder), (_event, entry) => {
        if (entry === basename(dirname(folder))) {
          // The parent itself was moved or removed: watch whatever is at its path next time.
          watcher.close();
          if (parentWatch === watcher) parentWatch = undefined;
        }
        if (entry === folderName || entry === null || parentWatch === undefined) rearm(false);
      });
      watcher.on('error', () => {
        if (parentWatch !== watcher) return;
        watcher.close();
        parentWatch = undefined;
      });
      parentWatch = watcher;
    } catch {
      // The periodic check covers a parent that cannot be watched; the folder watch decides health.
    }
  };
  const rearm = (report: boolean): void => {
    if (stopped) return;
    armParent();
    if (armFolder(report)) changed();
  };
  const recheck = (): void => {
    rearm(true);
    if (!stopped && timer === undefined && identity(path) !== seenFile) changed();
  };

  seenFile = identity(path);
  rearm(true);
  const interval = setInterval(recheck, options.recheckMs ?? 1_000);
  interval.unref();
  return {
    problem: () => problem,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      clearInterval(interval);
      closeFolderWatch();
      parentWatch?.close();
      parentWatch = undefined;
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
 * What one poll of a bundle URL came to: `unchanged` (304, or the bytes of
 * the bundle offered last), `offered` (new bytes handed to `onBundle`), or
 * `failed`.
 */
export type PollOutcome = 'unchanged' | 'offered' | 'failed';

/**
 * Polls a bundle URL every `intervalMs` (the first poll at once) and hands
 * new bundles to `onBundle`. The ETag is remembered for every bundle fetched,
 * accepted or not, so a rejected bundle is not fetched again until it
 * changes; and bytes equal to the bundle offered last are not offered again,
 * so a server without ETags (or one that changes them for the same bytes)
 * does not make a rejected bundle, a decompression bomb say, be unpacked on
 * every poll. `onPolled` runs once a poll, and its offer, are done.
 */
export function pollBundleUrl(
  url: string,
  intervalMs: number,
  handlers: {
    onBundle: (bytes: Uint8Array) => Promise<unknown>;
    onError: (error: string) => void;
    onPolled?: (outcome: PollOutcome) => void;
  },
): Stoppable {
  let etag: string | undefined;
  let lastDigest: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async (): Promise<PollOutcome> => {
    const result = await fetchBundle(url, etag);
    if (stopped) return 'unchanged';
    if (result.kind === 'failed') {
      handlers.onError(result.error);
      return 'failed';
    }
    if (result.kind === 'unchanged') return 'unchanged';
    etag = result.etag;
    const digest = createHash('sha256').update(result.bytes).digest('hex');
    if (digest === lastDigest) return 'unchanged';
    lastDigest = digest;
    try {
      await handlers.onBundle(result.bytes);
    } catch (e) {
      handlers.onError(`${url}: ${e instanceof Error ? e.message : String(e)}`);
      return 'failed';
    }
    return 'offered';
  };
  const tick = async (): Promise<void> => {
    const outcome = await poll();
    if (stopped) return;
    handlers.onPolled?.(outcome);
    timer = setTimeout(() => void tick(), intervalMs);
  };
  void tick();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
