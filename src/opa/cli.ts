/**
 * Adapter for the `opa` command-line tool. Finds the pinned release, checks
 * its version, runs it, and turns every failure into an {@link OpaError}: no
 * caller sees a raw child-process error.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { OpaError } from '../errors.js';

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

const FIX = `run "npm run setup:opa" in ${PACKAGE_ROOT} (it builds opa ${OPA_VERSION} with Go), or set OPA_BIN to an opa ${OPA_VERSION} binary`;

/** Where `npm ci` installs the pinned opa. */
export function localOpaPath(): string {
  return join(PACKAGE_ROOT, '.tools', 'opa', OPA_VERSION, process.platform === 'win32' ? 'opa.exe' : 'opa');
}

const resolved = new Map<string, Promise<string>>();

async function versionOf(bin: string): Promise<string | undefined> {
  try {
    const { stdout } = await execa(bin, ['version'], { timeout: 30_000 });
    return /^Version: (\S+)$/m.exec(stdout)?.[1];
  } catch {
    return undefined;
  }
}

async function locate(explicit: string | undefined): Promise<string> {
  if (explicit !== undefined && explicit !== '') {
    const v = await versionOf(explicit);
    if (v === undefined) throw new OpaError('opa_not_found', `OPA_BIN=${explicit} is not a working opa binary; ${FIX}`);
    if (v !== OPA_VERSION) {
      throw new OpaError(
        'opa_version_mismatch',
        `OPA_BIN=${explicit} is opa ${v}, but mcp-policy needs opa ${OPA_VERSION}; ${FIX}`,
      );
    }
    return explicit;
  }
  const local = localOpaPath();
  if (existsSync(local)) {
    const v = await versionOf(local);
    if (v === OPA_VERSION) return local;
  }
  const onPath = await versionOf('opa');
  if (onPath === OPA_VERSION) return 'opa';
  if (onPath !== undefined) {
    throw new OpaError(
      'opa_version_mismatch',
      `the opa on PATH is ${onPath}, but mcp-policy needs opa ${OPA_VERSION}; ${FIX}`,
    );
  }
  throw new OpaError('opa_not_found', `opa ${OPA_VERSION} is not installed; ${FIX}`);
}

/**
 * Finds the pinned opa: `OPA_BIN` if set, else the project-local install, else
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

/** Runs opa with `args`; resolves with stdout, throws `opa_failed` with opa's own message on failure. */
export async function runOpa(args: readonly string[], options: RunOpaOptions = {}): Promise<string> {
  const bin = await resolveOpa();
  const result = await execa(bin, args, {
    cwd: options.cwd,
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
    timeout: options.timeoutMs ?? 300_000,
    reject: false,
    maxBuffer: 1024 * 1024 * 1024,
  });
  if (result.failed) {
    const detail = String(result.stderr || result.stdout || result.message || 'no output').trim();
    throw new OpaError('opa_failed', `opa ${args[0] ?? ''} failed: ${detail}`, { stderr: String(result.stderr ?? '') });
  }
  return result.stdout;
}
