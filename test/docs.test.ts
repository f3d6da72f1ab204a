/** The documentation and the package: shown outputs are what the commands print, links resolve, the tarball is whole. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkDocuments, defaultDocuments, matchesShownOutput } from '../scripts/docs-check.js';
import { ROOT } from './helpers.js';

function docsFolder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-docs-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const marker = (command: string): string => `<!-- docs:check ${command} -->`;
const printTwoLines = `node -e "console.log('first'); console.log('second')"`;

describe('docs check', () => {
  it('matches shown output exactly, or around ellipsis lines', () => {
    expect(matchesShownOutput(['a', 'b'], ['a', 'b'])).toBe(true);
    expect(matchesShownOutput(['a'], ['a', 'b'])).toBe(false);
    expect(matchesShownOutput(['a', '…'], ['a', 'b', 'c'])).toBe(true);
    expect(matchesShownOutput(['…', 'c'], ['a', 'b', 'c'])).toBe(true);
    expect(matchesShownOutput(['a', '…', 'c'], ['a', 'c'])).toBe(true);
    expect(matchesShownOutput(['a', '…', 'b', '…', 'd'], ['a', 'x', 'b', 'c', 'd'])).toBe(true);
    expect(matchesShownOutput(['…', 'b', '…'], ['a', 'c'])).toBe(false);
    expect(matchesShownOutput(['a', '…', 'a'], ['a'])).toBe(false);
  });

  it('reports a shown output that the command no longer prints, with its line', () => {
    const dir = docsFolder({
      'stale.md': `# Stale\n\n${marker(printTwoLines)}\n\n\`\`\`console\n$ show-two\nfirst\nthird\n\`\`\`\n`,
      'fresh.md': `# Fresh\n\n${marker(printTwoLines)}\n\n\`\`\`console\n$ show-two \\\n    --continued\nfirst\nsecond\n\`\`\`\n`,
    });
    const problems = checkDocuments([join(dir, 'stale.md'), join(dir, 'fresh.md')], { root: dir });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'stale.md', line: 5 });
    expect(problems[0]!.message).toContain(
      'line 2 of the output: the document shows "third", the command prints "second"',
    );
  });

  it('reports a marker without a block, missing files and headings, and documents named but absent', () => {
    const dir = docsFolder({
      'a.md':
        `# A\n\n## Part two\n\n${marker('true')}\n\nno block\n\n` +
        '[ok](b.md#b-heading) [self](#part-two) [gone](missing.md) [bad anchor](b.md#nowhere) [web](https://example.com/x.md)\n\n' +
        'See `protocol-notes.md` §9 and `b.md`.\n',
      'b.md': '# B heading\n',
    });
    const messages = checkDocuments([join(dir, 'a.md')], { root: dir }).map((p) => `${p.line}: ${p.message}`);
    expect(messages).toEqual([
      '9: link to a missing file: missing.md',
      '9: link to a missing heading: b.md#nowhere',
      '11: names a document that is not in the project: protocol-notes.md',
      '5: docs:check marker is not followed by a fenced block',
    ]);
  });

  it("passes on the project's own documents", () => {
    const files = defaultDocuments(ROOT);
    expect(files.map((file) => file.slice(ROOT.length + 1))).toContain('docs/performance.md');
    expect(checkDocuments(files, { root: ROOT })).toEqual([]);
  });
});

interface PackedFile {
  readonly path: string;
}

describe('npm package contents', () => {
  const packed = (): string[] => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const [report] = JSON.parse(out) as [{ files: PackedFile[] }];
    return report.files.map((file) => file.path);
  };

  it('ships the license and every document the README links to, and no source maps without sources', () => {
    const files = packed();
    expect(files).toContain('LICENSE');
    expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const linked = [...readme.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)]
      .map((link) => link[1]!)
      .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
    expect(linked.length).toBeGreaterThan(5);
    expect(linked.filter((target) => !files.includes(target))).toEqual([]);
  });
});
