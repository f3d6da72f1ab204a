/**
 * The architecture as a test: the stage table of ARCHITECTURE.md is read here,
 * every module belongs to one stage, no module imports a later stage, and the
 * import graph has no circle. The host layer sits under serve, proxy and fleet.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const SRC = join(ROOT, 'src');

/** The `## Stages` table: `| # | Stage | Modules | ... |`, modules as backticked `src/` paths (folders end in `/`). */
function readStages(): Map<string, number> {
  const text = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  const section = text.split(/^## Stages\s*$/m)[1]?.split(/^## /m)[0] ?? '';
  const stages = new Map<string, number>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const n = Number(cells[1]);
    if (!/^\d+$/.test(cells[1] ?? '')) continue;
    for (const m of (cells[3] ?? '').matchAll(/`src\/([^`]+)`/g)) {
      if (stages.has(m[1]!)) throw new Error(`ARCHITECTURE.md lists ${m[1]} twice`);
      stages.set(m[1]!, n);
    }
  }
  return stages;
}

const STAGES = readStages();

function stageOf(module: string): number {
  const exact = STAGES.get(module);
  if (exact !== undefined) return exact;
  let best: [string, number] | undefined;
  for (const [entry, n] of STAGES) {
    if (entry.endsWith('/') && module.startsWith(entry) && (!best || entry.length > best[0].length)) best = [entry, n];
  }
  return best ? best[1] : -1;
}

function modules(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modules(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Relative imports and re-exports of a module (type-only ones included), as paths under src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:import|export)\s[^'";]*?from\s+'(\.{1,2}\/[^']+)'/g)) {
    found.push(relative(SRC, resolve(dirname(file), m[1]!)).replace(/\.js$/, '.ts'));
  }
  return found;
}

/** One circle of the graph, or undefined. */
function findCircle(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (m: string): string[] | undefined => {
    if (state.get(m) === 'done') return undefined;
    if (state.get(m) === 'open') return [...path.slice(path.indexOf(m)), m];
    state.set(m, 'open');
    path.push(m);
    for (const t of graph.get(m) ?? []) {
      const circle = visit(t);
      if (circle) return circle;
    }
    path.pop();
    state.set(m, 'done');
    return undefined;
  };
  for (const m of graph.keys()) {
    const circle = visit(m);
    if (circle) return circle;
  }
  return undefined;
}

describe('import graph', () => {
  const all = modules(SRC).map((f) => relative(SRC, f));
  const graph = new Map(all.map((m) => [m, importsOf(join(SRC, m))]));

  it('places every module in a stage of ARCHITECTURE.md', () => {
    expect(STAGES.size).toBeGreaterThan(10);
    expect(all.filter((m) => stageOf(m) < 0)).toEqual([]);
  });

  it('has no module importing a later stage', () => {
    const violations: string[] = [];
    for (const [m, targets] of graph) {
      for (const target of targets) {
        if (stageOf(target) > stageOf(m)) violations.push(`${m} imports ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('has no circle', () => {
    expect(findCircle(graph)).toBeUndefined();
  });

  it('puts the host layer under serve, proxy and fleet', () => {
    const host = stageOf('host/sources.ts');
    for (const front of ['server/', 'proxy/', 'fleet/']) {
      expect(stageOf(`${front}x.ts`)).toBeGreaterThan(host);
      const users = all.filter((m) => m.startsWith(front) && graph.get(m)!.some((t) => t.startsWith('host/')));
      expect(users.length, `${front} uses host/`).toBeGreaterThan(0);
    }
  });

  it('sees the imports and circles it checks', () => {
    // Guards the patterns above: known imports must show, and a known circle must be found.
    expect(importsOf(join(SRC, 'pipeline', 'build.ts'))).toContain('pipeline/lower.ts');
    expect(importsOf(join(SRC, 'enterprise', 'validate.ts'))).toContain('diagnostics/document.ts');
    expect(
      findCircle(
        new Map([
          ['a', ['b']],
          ['b', ['c']],
          ['c', ['a']],
        ]),
      ),
    ).toEqual(['a', 'b', 'c', 'a']);
  });
});
