/**
 * Where a service's bundles come from: a file (a compiled bundle, or a
 * policy compiled on the spot, as `eval` does), re-read when it is replaced
 * (`--watch`), or an HTTP bundle server polled with ETag / If-None-Match as
 * OPA's bundle plugin does (`--bundle-url`).
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { isGzip, isWasmModule } from '../bundle/read.js';
import { readStreamWithin } from '../bundle/tar.js';
import { compilePolicy } from '../pipeline/build.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { McpPolicyError } from '../core/errors.js';
import { type PolicyLayer, resolveBundleSources } from '../policy/layers.js';
import { loadPolicyText } from '../policy/validate.js';
import { parseEnterpriseConfig } from '../enterprise/validate.js';
import { readTextFile } from '../policy/file.js';

/** The compile inputs of a served policy, as `compile` takes them. */
export interface PolicySources {
  /** A bundle.tar.gz, policy.wasm, policy JSON or admin-settings.json. */
  readonly file?: string;
  readonly enterprise?: string;
  readonly adminConsole?: string;
  readonly userPolicy?: string;
}

async function readBytes(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new McpPolicyError('read_failed', `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

async function layer(file: string): Promise<PolicyLayer> {
  const { policy, source } = loadPolicyText(await readTextFile(file), file);
  return { policy, source, file };
}

async function enterpriseOf(file: string): Promise<EnterpriseConfig> {
  const result = parseEnterpriseConfig(await readTextFile(file));
  if (!result.config) {
    const first = result.errors[0];
    throw new McpPolicyError(
      'invalid_enterprise_config',
      `${file}: ${first ? `${first.path || '/'}: ${first.message}` : 'invalid enterprise config'}`,
    );
  }
  return result.config;
}

/**
 * The bundle bytes for some sources: a compiled bundle as it is, anything
 * else compiled with the pinned opa. Throws coded errors (`read_failed`,
 * `invalid_policy`, opa errors).
 */
export async function bundleFromSources(sources: PolicySources): Promise<Uint8Array> {
  const { file } = sources;
  if (file !== undefined) {
    const bytes = await readBytes(file);
    if (isGzip(bytes) || isWasmModule(bytes)) {
      if (sources.enterprise ?? sources.adminConsole ?? sources.userPolicy) {
        throw new McpPolicyError('usage', `${file} is a compiled bundle; compile options apply to policy files only`);
      }
      return bytes;
    }
  }
  if (file === undefined && sources.enterprise === undefined && sources.adminConsole === undefined) {
    if (sources.userPolicy === undefined) throw new McpPolicyError('usage', 'give a policy or bundle to serve');
  }
  const positional = file === undefined ? undefined : await layer(file);
  const adminConsole = sources.adminConsole === undefined ? undefined : await layer(sources.adminConsole);
  const user = sources.userPolicy === undefined ? undefined : await layer(sources.userPolicy);
  const enterprise = sources.enterprise === undefined ? undefined : await enterpriseOf(sources.enterprise);
  const { policy, extras } = resolveBundleSources({
    ...(positional && { policy: positional }),
    ...(adminConsole && { adminConsole }),
    ...(user && { user }),
    ...(enterprise && { enterprise }),
  });
  return (await compilePolicy(policy, extras)).bundle;
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
