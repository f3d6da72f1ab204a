/**
 * The public API as a test: every name `mcp-policy` and its subpaths export
 * has a doc comment, the main entry stays small, and internals stay out.
 */
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const ENTRIES = {
  'mcp-policy': 'src/index.ts',
  'mcp-policy/server': 'src/server/index.ts',
  'mcp-policy/proxy': 'src/proxy/index.ts',
  'mcp-policy/fleet': 'src/fleet/index.ts',
  'mcp-policy/analysis': 'src/analysis/index.ts',
  'mcp-policy/testing': 'src/testing/index.ts',
  'mcp-policy/wasm': 'src/edge/index.ts',
} as const;

const FIXTURE = 'test/fixtures/api-exports.ts';
const program = ts.createProgram(
  [...Object.values(ENTRIES), FIXTURE].map((f) => join(ROOT, f)),
  { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true },
);
const checker = program.getTypeChecker();

/** Each exported name with whether its declaration or its export statement carries a doc comment. */
function exportsOf(file: string): { name: string; documented: boolean }[] {
  const source = program.getSourceFile(join(ROOT, file))!;
  const module = checker.getSymbolAtLocation(source)!;
  return checker.getExportsOfModule(module).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const own = target.getDocumentationComment(checker).length > 0;
    // A group re-exported under one comment counts as documented by it.
    const statement = symbol.declarations?.[0]?.parent?.parent;
    const grouped = statement !== undefined && ts.getJSDocCommentsAndTags(statement).length > 0;
    return { name: symbol.name, documented: own || grouped };
  });
}

describe('public API', () => {
  it.each(Object.entries(ENTRIES))('%s documents every export', (_name, file) => {
    const names = exportsOf(file);
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !n.documented).map((n) => n.name)).toEqual([]);
  });

  it('keeps the main entry to what a host needs', () => {
    const names = exportsOf(ENTRIES['mcp-policy']).map((n) => n.name);
    expect(names.length).toBeLessThanOrEqual(42);
    for (const needed of ['WasmEngine', 'openEngine', 'parsePolicy', 'compilePolicy', 'McpPolicyError', 'Decision']) {
      expect(names).toContain(needed);
    }
  });

  it('names the same entries as package.json', async () => {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types: string; default: string }>;
    };
    const built = Object.fromEntries(
      Object.entries(pkg.exports)
        .filter(([, target]) => typeof target === 'object' && target.default.endsWith('.js'))
        .map(([path, target]) => [
          path === '.' ? 'mcp-policy' : `mcp-policy/${path.slice(2)}`,
          (target as { default: string }).default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'),
        ]),
    );
    expect(built).toEqual(ENTRIES);
  });

  it('keeps internals out of every entry', () => {
    const internal = ['Relay', 'ToolPins', 'JsonlFileSink', 'JsonlStreamSink', 'toOpaEvent', 'QueuedSink'];
    for (const file of Object.values(ENTRIES)) {
      const names = exportsOf(file).map((n) => n.name);
      expect(
        names.filter((n) => internal.includes(n)),
        file,
      ).toEqual([]);
    }
  });

  it('sees undocumented exports', () => {
    // Guards the check above: a module with one bare export must show it as undocumented.
    expect(exportsOf(FIXTURE)).toEqual([
      { name: 'undocumented', documented: false },
      { name: 'documented', documented: true },
    ]);
  });
});
