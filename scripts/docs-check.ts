/**
 * Keeps the documentation honest: reruns every command whose output a document shows and compares, and checks
 * that every relative link and every file a document names in backticks exists.
 *
 * A shown output is a fenced block preceded by a marker naming the shell command that produces it:
 *
 *     <!-- docs:check node bin/mcp-policy.js lint examples/production.json -->
 *
 * In the block, lines starting with `$ ` show the commands to the reader and are not compared (a `$ ` line
 * ending in `\` continues on the next line); a line that is only `…` stands for any number of output lines.
 * Everything else must equal the command's standard output line by line (trailing spaces ignored).
 *
 * Usage: `node dist/scripts/docs-check.js [file.md …]` from the project root (default: README.md,
 * ARCHITECTURE.md and docs/*.md). Exit 0 when everything matches, 1 with each problem on stderr otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One way a document disagrees with the project, located by file and line. */
export interface DocsProblem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

/** Options of {@link checkDocuments}. */
export interface DocsCheckOptions {
  /** Folder the commands run in and relative paths in messages start from. */
  readonly root: string;
  /** Longest a single command may run, in milliseconds (default 120 s): a hung command is a problem, not a hang. */
  readonly timeoutMs?: number;
  /** Skip running commands (links and file names are still checked). */
  readonly skipCommands?: boolean;
}

const MARKER = /^<!--\s*docs:check\s+([\s\S]*?)\s*-->\s*$/;
const ELLIPSIS = new Set(['…', '...']);

/** The documents checked when none are named: the README, the architecture notes and everything in docs/. */
export function defaultDocuments(root: string): string[] {
  const docs = join(root, 'docs');
  const inDocs = existsSync(docs)
    ? readdirSync(docs)
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => join(docs, name))
    : [];
  return [join(root, 'README.md'), join(root, 'ARCHITECTURE.md'), ...inDocs].filter((file) => existsSync(file));
}

/** A shown output: the command, the expected lines as the block holds them, and where the block starts. */
interface ShownOutput {
  readonly command: string;
  readonly expected: string[];
  readonly line: number;
}

function shownOutputs(lines: readonly string[], file: string, problems: DocsProblem[]): ShownOutput[] {
  const found: ShownOutput[] = [];
  for (let i = 0; i < lines.length; i++) {
    const marker = MARKER.exec(lines[i]!.trim());
    if (marker === null) continue;
    let start = i + 1;
    while (start < lines.length && lines[start]!.trim() === '') start++;
    const fence = /^(\s*)(`{3,}|~{3,})/.exec(lines[start] ?? '');
    if (fence === null) {
      problems.push({ file, line: i + 1, message: 'docs:check marker is not followed by a fenced block' });
      continue;
    }
    const indent = fence[1]!.length;
    const close = fence[2]!;
    let end = start + 1;
    while (end < lines.length && lines[end]!.trim() !== close) end++;
    if (end >= lines.length) {
      problems.push({ file, line: start + 1, message: 'fenced block after a docs:check marker is not closed' });
      continue;
    }
    found.push({
      command: marker[1]!,
      expected: lines.slice(start + 1, end).map((line) => line.slice(Math.min(indent, leadingSpaces(line)))),
      line: start + 1,
    });
    i = end;
  }
  return found;
}

function leadingSpaces(line: string): number {
  return line.length - line.trimStart().length;
}

/** The block's lines without the displayed commands (`$ …`, with `\` continuations). */
function outputLines(block: readonly string[]): string[] {
  const out: string[] = [];
  let continued = false;
  for (const line of block) {
    if (continued || line.startsWith('$ ')) {
      continued = line.trimEnd().endsWith('\\');
      continue;
    }
    out.push(line.trimEnd());
  }
  return out;
}

/**
 * Whether `actual` matches the `expected` lines, where an ellipsis line stands for any number of lines. Each
 * run of literal lines is found leftmost after the previous one; the first is anchored at the start and the
 * last at the end unless an ellipsis frees them, which decides every such pattern correctly.
 */
export function matchesShownOutput(expected: readonly string[], actual: readonly string[]): boolean {
  const segments: string[][] = [[]];
  for (const line of expected) {
    if (ELLIPSIS.has(line.trim())) segments.push([]);
    else segments[segments.length - 1]!.push(line);
  }
  const at = (pos: number, segment: readonly string[]): boolean =>
    pos + segment.length <= actual.length && segment.every((line, k) => actual[pos + k] === line);
  if (segments.length === 1) return segments[0]!.length === actual.length && at(0, segments[0]!);
  const first = segments[0]!;
  const last = segments[segments.length - 1]!;
  if (!at(0, first)) return false;
  let pos = first.length;
  for (const segment of segments.slice(1, -1)) {
    if (segment.length === 0) continue;
    let found = -1;
    for (let p = pos; p + segment.length <= actual.length; p++) {
      if (at(p, segment)) {
        found = p;
        break;
      }
    }
    if (found < 0) return false;
    pos = found + segment.length;
  }
  const tail = actual.length - last.length;
  return tail >= pos && at(tail, last);
}

function runCommand(command: string, options: DocsCheckOptions): { lines: string[]; failure?: string } {
  const result = spawnSync('sh', ['-c', command], {
    cwd: options.root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 120_000,
    maxBuffer: 16 * 2 ** 20,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  if (result.error !== undefined) return { lines: [], failure: result.error.message };
  if (result.signal !== null) return { lines: [], failure: `killed by ${result.signal}` };
  const text = result.stdout.replace(/\n$/, '');
  const lines = text === '' ? [] : text.split('\n').map((line) => line.trimEnd());
  return { lines };
}

/** The first line where the two differ, for a message a reader can act on. */
function firstDifference(expected: readonly string[], actual: readonly string[]): string {
  for (let k = 0; k < Math.max(expected.length, actual.length); k++) {
    const e = expected[k];
    const a = actual[k];
    if (e !== undefined && ELLIPSIS.has(e.trim())) break;
    if (e !== a) {
      return `line ${k + 1} of the output: the document shows ${JSON.stringify(e ?? '(nothing)')}, the command prints ${JSON.stringify(a ?? '(nothing)')}`;
    }
  }
  return `the command prints:\n${actual.join('\n')}`;
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string, cache: Map<string, Set<string>>): Set<string> {
  let anchors = cache.get(file);
  if (anchors !== undefined) return anchors;
  anchors = new Set();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  cache.set(file, anchors);
  return anchors;
}

function checkReferences(file: string, lines: readonly string[], root: string, problems: DocsProblem[]): void {
  const shown = relative(root, file);
  const anchorCache = new Map<string, Set<string>>();
  let fenced = false;
  lines.forEach((line, index) => {
    if (/^\s*(`{3,}|~{3,})/.test(line)) fenced = !fenced;
    if (fenced) return;
    for (const link of line.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = link[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
      const [path, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = path === '' ? file : resolve(dirname(file), decodeURIComponent(path));
      if (!existsSync(resolved)) {
        problems.push({ file: shown, line: index + 1, message: `link to a missing file: ${target}` });
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved, anchorCache).has(anchor)) {
        problems.push({ file: shown, line: index + 1, message: `link to a missing heading: ${target}` });
      }
    }
    // A document named in backticks is a reference too: it must be in the project, beside this one or in docs/.
    for (const named of line.matchAll(/`([\w./-]+\.md)`/g)) {
      const name = named[1]!;
      const candidates = [resolve(root, name), resolve(dirname(file), name), resolve(root, 'docs', name)];
      if (!candidates.some((candidate) => existsSync(candidate))) {
        problems.push({
          file: shown,
          line: index + 1,
          message: `names a document that is not in the project: ${name}`,
        });
      }
    }
  });
}

/** Checks the documents; returns every problem found (none when the documents are up to date). */
export function checkDocuments(files: readonly string[], options: DocsCheckOptions): DocsProblem[] {
  const problems: DocsProblem[] = [];
  for (const file of files) {
    const shown = relative(options.root, file);
    const lines = readFileSync(file, 'utf8').split('\n');
    checkReferences(file, lines, options.root, problems);
    for (const output of shownOutputs(lines, shown, problems)) {
      if (options.skipCommands === true) continue;
      const expected = outputLines(output.expected);
      const run = runCommand(output.command, options);
      if (run.failure !== undefined) {
        problems.push({ file: shown, line: output.line, message: `${output.command}: ${run.failure}` });
      } else if (!matchesShownOutput(expected, run.lines)) {
        problems.push({
          file: shown,
          line: output.line,
          message: `${output.command}: output differs; ${firstDifference(expected, run.lines)}`,
        });
      }
    }
  }
  return problems;
}

function main(): void {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const named = process.argv.slice(2).map((file) => resolve(file));
  const files = named.length > 0 ? named : defaultDocuments(root);
  const problems = checkDocuments(files, { root });
  for (const problem of problems) {
    process.stderr.write(`${problem.file}:${problem.line}: ${problem.message}\n`);
  }
  process.stdout.write(`docs:check: ${files.length} documents, ${problems.length} problems\n`);
  process.exitCode = problems.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
