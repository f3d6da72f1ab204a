/**
 * Adapter for the `opa` command-line tool. Finds the pinned release, checks
 * its version, runs it, and turns every failure into an {@link OpaError}: no
 * caller sees a raw child-process error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, OpaError } from '../core/errors.js';
import { runProcess } from './process.js';

/** The opa release mcp-policy is built and tested with (also pinned in tools/opa/go.mod). */
export const OPA_VERSION = '1.22.2';

/** The package's root folder (where package.json, rego/ and wasm/ live), from src/ or dist/src/. */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'mcp-policy'
    ) {
      return dir;
    }
    if (dirname(dir) === dir) return resolve(start, '..', '..');
  }
}

/** The Go release tools/opa/go.mod needs to build the pinned opa. */
export const GO_MIN_VERSION = '1.26';

/** What every "no usable opa" error says to do. */
export const OPA_FIX = `only compiling a policy needs it (commands on a compiled bundle and the native engine do not); run "npx mcp-policy setup-opa" (builds opa ${OPA_VERSION} with Go >= ${GO_MIN_VERSION}), or set OPA_BIN to an opa ${OPA_VERSION} binary`;

const OPA_EXE = process.platform === 'win32' ? 'opa.exe' : 'opa';

/** Where `npm ci` (with Go) and `setup-opa` install the pinned opa inside the package. */
export function localOpaPath(): string {
  return join(PACKAGE_ROOT, '.tools', 'opa', OPA_VERSION, OPA_EXE);
}

/**
 * Where `setup-opa` installs the pinned opa when the package folder cannot be
 * written (a global or npx install), shared by every copy of mcp-policy:
 * `$XDG_CACHE_HOME/mcp-policy/opa/<version>/opa`, else the platform's cache
 * folder (`~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows).
 */
export function userCacheOpaPath(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const local = process.env.LOCALAPPDATA;
  const base =
    xdg !== undefined && isAbsolute(xdg)
      ? xdg
      : process.platform === 'win32' && local !== undefined && local !== ''
        ? local
        : process.platform === 'darwin'
          ? join(homedir(), 'Library', 'Caches')
          : join(homedir(), '.cache');
  return join(base, 'mcp-policy', 'opa', OPA_VERSION, OPA_EXE);
}

const resolved = new Map<string, Promise<string>>();

/** How long `opa version` may take; a hanging opa is reported, not waited on. */
export const VERSION_TIMEOUT_MS = 10_000;
/** How long any other opa invocation may take (a build of many thousands of rules takes seconds). */
export const RUN_TIMEOUT_MS = 300_000;

/** A timeout, or its override from MCP_POLICY_OPA_TIMEOUT_MS (for slow machines, and for tests). */
function timeoutMs(fallback: number): number {
  const env = Number(process.env.MCP_POLICY_OPA_TIMEOUT_MS);
  return Number.isFinite(env) && env > 0 ? env : fallback;
}

/** The version `bin` reports; undefined when it is not a working opa; throws `opa_timeout` when it hangs. */
async function versionOf(bin: string, label: string): Promise<string | undefined> {
  const limit = timeoutMs(VERSION_TIMEOUT_MS);
  const result = await runProcess(bin, ['version'], { timeoutMs: limit });
  if (result.timedOut) {
    throw new OpaError(
      'opa_timeout',
      `${label} did not answer "opa version" within ${limit / 1000} s; ${OPA_FIX} (or raise MCP_POLICY_OPA_TIMEOUT_MS)`,
    );
  }
  if (result.exitCode !== 0) return undefined;
  return /^Version: (\S+)$/m.exec(result.stdout)?.[1];
}

async function locate(explicit: string | undefined): Promise<string> {
  if (explicit !== undefined && explicit !== '') {
    const v = await versionOf(explicit, `OPA_BIN=${explicit}`);
    if (v === undefined)
      throw new OpaError('opa_not_found', `OPA_BIN=${explicit} is not a working opa binary; ${OPA_FIX}`);
    if (v !== OPA_VERSION) {
      throw new OpaError(
        'opa_version_mismatch',
        `OPA_BIN=${explicit} is opa ${v}, but mcp-policy needs opa ${OPA_VERSION}; ${OPA_FIX}`,
      );
    }
    return explicit;
  }
  for (const installed of [localOpaPath(), userCacheOpaPath()]) {
    if (existsSync(installed) && (await versionOf(installed, installed)) === OPA_VERSION) return installed;
  }
  const onPath = await versionOf('opa', 'the opa on PATH');
  if (onPath === OPA_VERSION) return 'opa';
  if (onPath !== undefined) {
    throw new OpaError(
      'opa_version_mismatch',
      `the opa on PATH is ${onPath}, but mcp-policy needs opa ${OPA_VERSION}; ${OPA_FIX}`,
    );
  }
  throw new OpaError('opa_not_found', `opa ${OPA_VERSION} is not installed; ${OPA_FIX}`);
}

/**
 * Finds the pinned opa: `OPA_BIN` if set, else the package's own install
 * ({@link localOpaPath}), else the user cache ({@link userCacheOpaPath}), else
 * PATH. Throws `opa_not_found` or `opa_version_mismatch` with the fix.
 */
export function resolveOpa(): Promise<string> {
  const explicit = process.env.OPA_BIN;
  const key = explicit ?? '';
  let found = resolved.get(key);
  if (!found) {
    found = locate(explicit);
    // Failures are not cached, so installing opa mid-process is picked up.
    found.catch(() => resolved.delete(key));
    resolved.set(key, found);
  }
  return found;
}

/** Options for {@link runOpa}. */
export interface RunOpaOptions {
  readonly cwd?: string;
  readonly input?: string;
  readonly timeoutMs?: number;
}

/** The code for an opa failure whose message names a file-system problem (opa wrote into a full disk, say). */
function failureCode(detail: string): ErrorCode {
  if (/no space left on device|disk quota exceeded/i.test(detail)) return 'disk_full';
  if (/read-only file system/i.test(detail)) return 'read_only_file_system';
  if (/permission denied/i.test(detail)) return 'permission_denied';
  return 'opa_failed';
}

/**
 * Runs opa with `args`; resolves with stdout. Every invocation has a
 * timeout (`opa_timeout`, and the whole process group is killed); a failure
 * throws `opa_failed` with opa's own message, or the file-system code it names.
 */
export async function runOpa(args: readonly string[], options: RunOpaOptions = {}): Promise<string> {
  const bin = await resolveOpa();
  const limit = options.timeoutMs ?? timeoutMs(RUN_TIMEOUT_MS);
  const result = await runProcess(bin, args, {
    ...(options.cwd !== undefined && { cwd: options.cwd }),
    ...(options.input !== undefined && { input: options.input }),
    timeoutMs: limit,
  });
  const command = `opa ${args[0] ?? ''}`;
  if (result.timedOut) {
    throw new OpaError('opa_timeout', `${command} did not finish within ${limit / 1000} s`, { stderr: result.stderr });
  }
  if (result.spawnError !== undefined || result.exitCode !== 0) {
    const detail = (result.stderr || result.stdout || result.spawnError || `exit ${String(result.exitCode)}`).trim();
    throw new OpaError(failureCode(detail), `${command} failed: ${detail}`, { stderr: result.stderr });
  }
  return result.stdout;
}
