/**
 * The architecture as a test: every module belongs to a stage, and no module
 * imports one of a later stage. New parts beside the stages (server, proxy,
 * fleet, analysis) may use the library; the library never uses them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(__dirname, '..', 'src');

/** Stages in order; a module may import its own stage or an earlier one. Directories end in `/`. */
const STAGES: readonly (readonly string[])[] = [
  ['errors.ts', 'enterprise/model.ts', 'policy/model.ts', 'contracts.ts'],
  ['diagnostics/'],
  [
    'policy/validate.ts',
    'policy/file.ts',
    'policy/layers.ts',
    'enterprise/duration.ts',
    'enterprise/urls.ts',
    'enterprise/directives.ts',
    'enterprise/validate.ts',
  ],
  ['lower.ts'],
  ['rego/'],
  [
    'opa/',
    'bundle-tar.ts',
    'bundle.ts',
    'bundle-signature.ts',
    'crash-points.ts',
    'temp-dirs.ts',
    'output-folder.ts',
    'compile.ts',
  ],
  ['native/', 'enterprise/effective.ts'],
  ['engines/', 'edge/', 'eval-stream.ts'],
  ['cases.ts', 'difftest/', 'testing.ts'],
  ['server/', 'proxy/', 'fleet/', 'analysis/'],
  ['cli/'],
  ['index.ts'],
];

function stageOf(module: string): number {
  const exact = STAGES.findIndex((s) => s.includes(module));
  if (exact >= 0) return exact;
  return STAGES.findIndex((s) => s.some((entry) => entry.endsWith('/') && module.startsWith(entry)));
}

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modules(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports and re-exports of a module, as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\s[^'";]*?from\s+'(\.{1,2}\/[^']+)'/g)) {
    found.push(relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return found;
}

describe('import graph', () => {
  const all = modules(SRC).map((f) => relative(SRC, f));

  it('places every module in a stage', () => {
    expect(all.filter((m) => stageOf(m) < 0)).toEqual([]);
  });

  it('has no module importing a later stage', () => {
    const violations: string[] = [];
    for (const m of all) {
      for (const target of importsOf(join(SRC, m))) {
        if (stageOf(target) > stageOf(m)) violations.push(`${m} imports ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('sees the imports it checks', () => {
    // Guards the pattern above: a module known to import an earlier stage must show it.
    expect(importsOf(join(SRC, 'compile.ts'))).toContain('lower.ts');
    expect(importsOf(join(SRC, 'enterprise', 'validate.ts'))).toContain('diagnostics/yaml.ts');
  });
});
