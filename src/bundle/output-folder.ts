/**
 * Replacing an output folder as a whole. The new files are written to a
 * staging sibling, the old folder is renamed to the sibling `.<name>.old`,
 * the staging folder is renamed into place, and the old one removed. Each
 * step is one rename, so a kill at any moment leaves either the whole old
 * folder, the whole new one, or (between the two renames) the whole old one
 * under `.<name>.old`, which the next write, or {@link recoverOutput}, puts
 * back. Staging folders carry their writer's process id, so leftovers of a
 * killed writer are told from a running one's and removed.
 */
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { crashPoint } from '../core/crash-points.js';
import { fileSystemError } from '../core/errors.js';
import { processAlive } from '../core/temp-dirs.js';

interface Siblings {
  readonly target: string;
  readonly parent: string;
  readonly old: string;
  /** Staging folders: `.<name>.tmp-<pid>-XXXXXX`. */
  readonly staging: RegExp;
  /** What earlier releases left after a kill between the renames: `.<name>.tmp-XXXXXX.old`. */
  readonly legacyOld: RegExp;
  readonly stagingPrefix: string;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function siblingsOf(outDir: string): Siblings {
  const target = resolve(outDir);
  const base = basename(target);
  const e = escapeRegExp(base);
  return {
    target,
    parent: dirname(target),
    old: join(dirname(target), `.${base}.old`),
    staging: new RegExp(`^\\.${e}\\.tmp-(\\d+)-[A-Za-z0-9]{6}$`),
    legacyOld: new RegExp(`^\\.${e}\\.tmp-[A-Za-z0-9]{6}\\.old$`),
    stagingPrefix: `.${base}.tmp-${process.pid}-`,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Puts back an old folder left aside, or removes it when the new one is in place. */
async function settleOld(old: string, target: string): Promise<void> {
  if (await exists(target)) await rm(old, { recursive: true, force: true });
  else await rename(old, target);
}

/**
 * Repairs what an interrupted write left beside `outDir`: restores the old
 * folder if the new one never arrived (or removes it if it did) and removes
 * staging folders of writers that are gone. Safe to call at any time.
 */
export async function recoverOutput(outDir: string): Promise<void> {
  const s = siblingsOf(outDir);
  try {
    const names = await readdir(s.parent).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [] as string[];
      throw e;
    });
    if (names.includes(basename(s.old))) await settleOld(s.old, s.target);
    for (const name of names) {
      if (s.legacyOld.test(name)) await settleOld(join(s.parent, name), s.target);
      const pid = s.staging.exec(name)?.[1];
      if (pid !== undefined && Number(pid) !== process.pid && !processAlive(Number(pid))) {
        await rm(join(s.parent, name), { recursive: true, force: true });
      }
    }
  } catch (e) {
    throw fileSystemError(e, 'recover the output folder', s.target);
  }
}

/**
 * Replaces `outDir` with a folder holding exactly `files`, as a whole or not
 * at all (see the module comment). One writer per folder at a time.
 */
export async function replaceFolder(
  outDir: string,
  files: Readonly<Record<string, string | Uint8Array>>,
): Promise<void> {
  const s = siblingsOf(outDir);
  try {
    await mkdir(s.parent, { recursive: true });
  } catch (e) {
    throw fileSystemError(e, 'create the folder', s.parent);
  }
  await recoverOutput(s.target);
  let staging: string;
  try {
    staging = await mkdtemp(join(s.parent, s.stagingPrefix));
  } catch (e) {
    throw fileSystemError(e, 'write into', s.parent);
  }
  try {
    for (const [name, content] of Object.entries(files)) await writeFile(join(staging, name), content);
    crashPoint('output:staging-written');
    let hadOld = false;
    try {
      await rename(s.target, s.old);
      hadOld = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    crashPoint('output:old-moved');
    try {
      await rename(staging, s.target);
    } catch (e) {
      if (hadOld) await rename(s.old, s.target);
      throw e;
    }
    crashPoint('output:new-moved');
    if (hadOld) await rm(s.old, { recursive: true, force: true });
  } catch (e) {
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw fileSystemError(e, 'write', s.target);
  }
}
