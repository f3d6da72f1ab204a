/**
 * `mcp-policy setup-opa`: builds the pinned opa, which only compiling needs,
 * with the package's own install script (the one npm's postinstall runs), into
 * the package's `.tools/` or, when that cannot be written (a global or npx
 * install), into the user cache folder, where the opa lookup also finds it.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Command } from 'commander';
import { OpaError } from '../core/errors.js';
import { localOpaPath, OPA_VERSION, PACKAGE_ROOT, userCacheOpaPath } from '../opa/cli.js';
import { type CliIo } from './io.js';

/** The install script's exit status when no usable Go is on PATH. */
const NO_GO = 3;

async function writable(folder: string): Promise<boolean> {
  try {
    await mkdir(folder, { recursive: true });
    await access(folder, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where to install: the package's own folder when it can be written, else the user cache. */
async function installTarget(cache: boolean): Promise<string> {
  if (!cache && (await writable(dirname(localOpaPath())))) return localOpaPath();
  return userCacheOpaPath();
}

/**
 * Runs the install script for `target`. Its progress (and Go's) is passed
 * through; its final complaint becomes the coded error, so it is printed once,
 * in the house format.
 */
function runInstallScript(target: string, io: CliIo): Promise<void> {
  const script = join(PACKAGE_ROOT, 'scripts', 'install-opa.mjs');
  return new Promise((resolve, reject) => {
    // Inherited signals and no timeout: a first build downloads modules and compiles for minutes.
    const child = spawn(process.execPath, [script, '--target', target], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, npm_lifecycle_event: '' },
    });
    let complaint = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => io.stdout(t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => {
      for (const line of t.split(/(?<=\n)/)) {
        if (line.startsWith('mcp-policy: ')) complaint += line.slice('mcp-policy: '.length);
        else io.stderr(line);
      }
    });
    child.on('error', (e) => reject(new OpaError('opa_failed', `cannot run ${script}: ${e.message}`)));
    child.on('close', (status) => {
      if (status === 0) return resolve();
      const message = complaint.trim() || `${script} exited with ${String(status)}`;
      reject(new OpaError(status === NO_GO ? 'opa_not_found' : 'opa_failed', message));
    });
  });
}

/** Registers `setup-opa`. */
export function registerSetupOpa(program: Command, io: CliIo): void {
  program
    .command('setup-opa')
    .description(
      `build opa ${OPA_VERSION}, which compiling needs, with Go (into the package, or the user cache when the package is read-only)`,
    )
    .option('--cache', `install into the user cache (${userCacheOpaPath()}), shared by every copy of mcp-policy`)
    .action(async (opts: { cache?: boolean }) => {
      await runInstallScript(await installTarget(opts.cache === true), io);
    });
}
