/**
 * Generated and static Rego meet OPA's own bar: `opa fmt` changes nothing,
 * `opa check --strict` against the wasm capabilities passes, and the helper
 * library's `opa test` suite passes.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { casePolicyText } from '../src/testing/cases.js';
import {
  generateRego,
  LIB_REGO_PATH,
  NGRAM_REGO_PATH,
  V2_REGO_PATH,
  WASM_CAPABILITIES_PATH,
} from '../src/pipeline/build.js';
import { runOpa } from '../src/opa/cli.js';
import { caseTables, examplePolicies, mustParse, ROOT } from './helpers.js';

/** Each policy's module in its own folder, with the helpers beside it. */
function generatedFolders(): string[] {
  const base = mkdtempSync(join(tmpdir(), 'mcp-policy-rego-'));
  const texts = [
    ...examplePolicies().map((e) => readFileSync(e.policyFile, 'utf8')),
    ...caseTables().flatMap(({ table }) => (table.errors === undefined ? [casePolicyText(table)!] : [])),
  ];
  return texts.map((text, k) => {
    const dir = join(base, String(k));
    mkdirSync(dir);
    const policy = mustParse(text);
    writeFileSync(join(dir, 'policy.rego'), generateRego(policy));
    writeFileSync(join(dir, 'lib.rego'), readFileSync(LIB_REGO_PATH, 'utf8'));
    if (policy.version === 2) writeFileSync(join(dir, 'v2.rego'), readFileSync(V2_REGO_PATH, 'utf8'));
    return dir;
  });
}

describe('Rego quality', () => {
  let folders: string[] = [];
  beforeAll(() => {
    folders = generatedFolders();
  });

  it('generated modules are opa fmt clean', async () => {
    expect(folders.length).toBeGreaterThan(8);
    const listed = await runOpa(['fmt', '--list', ...folders.map((d) => join(d, 'policy.rego'))]);
    expect(listed.trim()).toBe('');
  });

  it('generated modules pass opa check --strict with the wasm capabilities', async () => {
    for (const dir of folders) {
      await expect(runOpa(['check', '--strict', '--capabilities', WASM_CAPABILITIES_PATH, dir])).resolves.toBeDefined();
    }
  });

  it('the helper library is fmt clean, strict clean and its opa tests pass', async () => {
    const regoDir = join(ROOT, 'rego');
    expect((await runOpa(['fmt', '--list', regoDir])).trim()).toBe('');
    await runOpa(['check', '--strict', regoDir]);
    await runOpa([
      'check',
      '--strict',
      '--capabilities',
      WASM_CAPABILITIES_PATH,
      LIB_REGO_PATH,
      V2_REGO_PATH,
      NGRAM_REGO_PATH,
    ]);
    const out = await runOpa(['test', regoDir, '--format', 'json']);
    const results = JSON.parse(out) as { name: string; fail?: boolean; error?: unknown }[];
    expect(results.length).toBeGreaterThan(10);
    expect(results.filter((r) => r.fail || r.error).map((r) => r.name)).toEqual([]);
  });

  it('a generated module that used glob.match would be rejected by the capabilities', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-caps-'));
    writeFileSync(join(dir, 'bad.rego'), 'package bad\n\nx if glob.match("a*", [], input.s)\n');
    await expect(runOpa(['check', '--capabilities', WASM_CAPABILITIES_PATH, dir])).rejects.toMatchObject({
      code: 'opa_failed',
    });
  });
});
