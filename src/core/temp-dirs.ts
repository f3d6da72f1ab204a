/**
 * Temporary folders that outlive no one. Each is named with the process id
 * of its owner (`mcp-policy-<kind>-<pid>-XXXXXX`), so a run can tell the
 * folders of processes that were killed before they could clean up, and
 * removes them before making its own.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSystemError } from './errors.js';

const PREFIX = 'mcp-policy-';
const OWNED = /^mcp-policy-[a-z]+-(\d+)-[A-Za-z0-9]{6}$/;

/** True while a process with this id exists (ours or another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the folders in `dir` whose owning process is gone; returns their names. */
export async function removeStaleTempDirs(dir: string = tmpdir()): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const stale = names.filter((name) => {
    const pid = OWNED.exec(name)?.[1];
    return pid !== undefined && Number(pid) !== process.pid && !processAlive(Number(pid));
  });
  await Promise.all(stale.map((name) => rm(join(dir, name), { recursive: true, force: true }).catch(() => undefined)));
  return stale;
}

const swept = new Set<string>();

/** Makes a private temporary folder for `kind` (build, opa, difftest), first sweeping stale ones once per process. */
export async function makeTempDir(kind: string): Promise<string> {
  const dir = tmpdir();
  if (!swept.has(dir)) {
    swept.add(dir);
    await removeStaleTempDirs(dir);
  }
  try {
    return await mkdtemp(join(dir, `${PREFIX}${kind}-${process.pid}-`));
  } catch (e) {
    throw fileSystemError(e, 'create a temporary folder in', dir);
  }
}
