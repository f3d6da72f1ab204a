/** The closed list of codes is the list the code emits, and docs/semantics.md documents every one. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/core/errors.js';
import { ROOT } from './helpers.js';

const semantics = readFileSync(join(ROOT, 'docs', 'semantics.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Codes written in the source where a code goes: `code: '…'`, `error('…'`, `new …Error('…'`, defaults and `super('…'`. */
function emittedCodes(): Set<string> {
  const found = new Set<string>();
  const patterns = [
    /\bcode:\s*'([a-z_]+)'/g,
    /\b(?:error|warn)\(\s*'([a-z_]+)'/g,
    /\bnew [A-Za-z]*Error\(\s*'([a-z_]+)'/g,
    /new YamlFailure\([^;]*?'([a-z_]+)'/g,
    /new SyntaxFailure\([^;]*?'([a-z_]+)'/g,
    /\bsuper\(\s*'([a-z_]+)'/g,
    /: ErrorCode = '([a-z_]+)'/g,
  ];
  // The services beside the library answer HTTP with bodies of their own (`{code: 'not_found'}` and the like),
  // documented with them; the closed list is the library's and the CLI's.
  const services = /[\\/]src[\\/](?:fleet|server)[\\/]/;
  for (const file of sources(join(ROOT, 'src')).filter((f) => !services.test(f))) {
    const text = readFileSync(file, 'utf8');
    for (const p of patterns) for (const m of text.matchAll(p)) found.add(m[1]!);
  }
  return found;
}

describe('error codes', () => {
  it('documents every code in docs/semantics.md', () => {
    expect(ERROR_CODES.filter((code) => !semantics.includes(`\`${code}\``))).toEqual([]);
  });

  it('lists every code the source emits', () => {
    const emitted = emittedCodes();
    expect(emitted.size).toBeGreaterThan(30);
    expect([...emitted].filter((c) => !(ERROR_CODES as readonly string[]).includes(c))).toEqual([]);
  });

  it('has no code listed that nothing uses', () => {
    // A code may also be chosen by a function (`return 'disk_full'`): any quoted use outside the list counts.
    const text = sources(join(ROOT, 'src'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n')
      .replace(/export const ERROR_CODES = \[[^\]]*\]/, '');
    expect(ERROR_CODES.filter((c) => !text.includes(`'${c}'`))).toEqual([]);
  });
});
