/**
 * The output folder survives a kill at any point of `compile`: the real CLI
 * runs as a child process and is killed (SIGKILL, no cleanup) at each
 * injected crash point and at seeded random moments. Afterwards the folder
 * is the whole old output or the whole new one, or the whole old one beside
 * it as `.<name>.old`, which the next write restores; the next run also
 * removes the killed run's temporary folders.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type CompiledPolicy, OUTPUT_FILES, writeOutput } from '../src/pipeline/build.js';
import { recoverOutput } from '../src/bundle/output-folder.js';
import { compiledFor, EXAMPLES, mustParse, ROOT } from './helpers.js';

const OLD_POLICY = join(EXAMPLES, 'production.json');
const NEW_TEXT = JSON.stringify({ version: 1, default: 'deny', rules: [{ tools: ['read_*'], allow: true }] });

let dir: string;
let newPolicy: string;
let oldCompiled: CompiledPolicy;
let newCompiled: CompiledPolicy;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-policy-test-crash-'));
  newPolicy = join(dir, 'new.json');
  writeFileSync(newPolicy, NEW_TEXT);
  oldCompiled = await compiledFor(mustParse(readFileSync(OLD_POLICY, 'utf8')));
  newCompiled = await compiledFor(mustParse(NEW_TEXT));
});

/** Which whole output `folder` holds: old, new, absent, or mixed (anything else). */
function contents(folder: string): 'old' | 'new' | 'absent' | 'mixed' {
  if (!existsSync(folder)) return 'absent';
  const names = readdirSync(folder).sort();
  if (JSON.stringify(names) !== JSON.stringify([...OUTPUT_FILES].sort())) return 'mixed';
  for (const [label, c] of [
    ['old', oldCompiled],
    ['new', newCompiled],
  ] as const) {
    const expected = {
      'policy.rego': c.policy,
      'lib.rego': c.lib,
      'data.json': c.data,
      'bundle.tar.gz': c.bundle,
      'policy.wasm': c.wasm,
    };
    if (OUTPUT_FILES.every((n) => Buffer.from(expected[n]).equals(readFileSync(join(folder, n))))) return label;
  }
  return 'mixed';
}

function compileArgs(out: string): string[] {
  return [join(ROOT, 'bin', 'mcp-policy.js'), 'compile', newPolicy, '-o', out];
}

/** The folder, what lies beside it, and the killed run's temporary folders, checked against the crash-safety rule. */
function expectWholeAfterKill(out: string, note: string): void {
  const here = contents(out);
  const old = join(dir, `.${out.split('/').pop()!}.old`);
  if (here === 'absent') expect(contents(old), `${note}: only the old folder, aside`).toBe('old');
  else expect(['old', 'new'], `${note}: folder is ${here}`).toContain(here);
}

async function expectRecovered(out: string, note: string): Promise<void> {
  await recoverOutput(out);
  expect(['old', 'new'], note).toContain(contents(out));
  const siblings = readdirSync(dir).filter((n) => n.startsWith(`.${out.split('/').pop()!}`));
  expect(siblings, `${note}: leftovers beside the folder`).toEqual([]);
}

function ownTempDirs(tmp: string): string[] {
  return readdirSync(tmp).filter((n) => n.startsWith('mcp-policy-'));
}

describe('a compile killed at an injected crash point', () => {
  const points: [string, 'old' | 'new' | 'absent'][] = [
    ['build:sources-written', 'old'],
    ['build:built', 'old'],
    ['output:staging-written', 'old'],
    ['output:old-moved', 'absent'],
    ['output:new-moved', 'new'],
  ];
  it.each(points)(
    'at %s leaves a whole folder (here: %s), and the next run repairs and cleans',
    async (point, expected) => {
      const out = join(dir, `out-${point.replace(/\W/g, '-')}`);
      const tmp = mkdtempSync(join(tmpdir(), 'mcp-policy-test-tmpdir-'));
      await writeOutput(oldCompiled, out);
      const killed = spawnSync('node', compileArgs(out), {
        env: { ...process.env, MCP_POLICY_CRASH_AT: point, TMPDIR: tmp },
        timeout: 60_000,
      });
      expect(killed.signal, killed.stderr.toString()).toBe('SIGKILL');
      expect(contents(out)).toBe(expected);
      expectWholeAfterKill(out, point);
      if (point.startsWith('build:')) expect(ownTempDirs(tmp), 'the killed build left its folder').toHaveLength(1);

      // The next run: a compile to the same folder with the same temporary directory.
      const next = spawnSync('node', compileArgs(out), { env: { ...process.env, TMPDIR: tmp }, timeout: 60_000 });
      expect(next.status, next.stderr.toString()).toBe(0);
      expect(contents(out)).toBe('new');
      expect(ownTempDirs(tmp), 'stale temporary folders').toEqual([]);
      await expectRecovered(out, point);
    },
  );

  it('the old folder left aside between the renames is restored by recoverOutput', async () => {
    const out = join(dir, 'out-restore');
    await writeOutput(oldCompiled, out);
    const killed = spawnSync('node', compileArgs(out), {
      env: { ...process.env, MCP_POLICY_CRASH_AT: 'output:old-moved' },
      timeout: 60_000,
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(contents(out)).toBe('absent');
    await expectRecovered(out, 'restore');
    expect(contents(out)).toBe('old');
  });

  it('restores what earlier releases left aside as .<name>.tmp-XXXXXX.old', async () => {
    const out = join(dir, 'out-legacy');
    const legacy = join(dir, '.out-legacy.tmp-a1B2c3.old');
    await writeOutput(oldCompiled, legacy);
    await expectRecovered(out, 'legacy');
    expect(contents(out)).toBe('old');
  });
});

describe('a compile killed at a random moment', () => {
  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
  // Printed so a failure can be replayed with CRASH_SEED.
  console.log(`output-crash.test.ts seed ${seed}`);

  it('always leaves a whole folder', async () => {
    const out = join(dir, 'out-random');
    const started = Date.now();
    const clean = spawnSync('node', compileArgs(out), { timeout: 60_000 });
    expect(clean.status).toBe(0);
    const duration = Date.now() - started;
    let state = seed;
    const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) as number;
    for (let k = 0; k < 5; k++) {
      await writeOutput(k % 2 === 0 ? oldCompiled : newCompiled, out);
      const delay = Math.floor(random() * duration);
      const child = spawn('node', compileArgs(out), { stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      setTimeout(() => child.kill('SIGKILL'), delay);
      await exited;
      expectWholeAfterKill(out, `seed ${seed}, kill ${k} after ${delay} ms`);
      await expectRecovered(out, `seed ${seed}, kill ${k} after ${delay} ms`);
    }
  });
});

describe('temporary folders', () => {
  it('of processes that are gone are removed; those of live ones are kept', async () => {
    const { removeStaleTempDirs } = await import('../src/core/temp-dirs.js');
    const tmp = mkdtempSync(join(tmpdir(), 'mcp-policy-test-tmpdir-'));
    const gone = spawnSync('true').pid!;
    for (const name of [`mcp-policy-build-${gone}-abcDEF`, `mcp-policy-opa-${process.ppid}-abcDEF`, 'unrelated']) {
      mkdirSync(join(tmp, name));
    }
    expect(await removeStaleTempDirs(tmp)).toEqual([`mcp-policy-build-${gone}-abcDEF`]);
    expect(readdirSync(tmp).sort()).toEqual([`mcp-policy-opa-${process.ppid}-abcDEF`, 'unrelated']);
  });
});
