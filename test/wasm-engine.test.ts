/**
 * The wasm adapter fails closed: a bad bundle is a typed error at load time,
 * and anything odd at evaluation time is a denial carrying an error.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { contentRevision, readBundleFiles, writeBundle } from '../src/bundle/read.js';
import { buildWasm, writeOutput } from '../src/pipeline/build.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { initialMemoryPages } from '../src/engines/wasm-memory.js';
import { compiledFor, decideEverywhere, examplePolicies, mustParse } from './helpers.js';

const production = () =>
  mustParse(readFileSync(examplePolicies().find((e) => e.name === 'production')!.policyFile, 'utf8'));

/** A bundle with mcp-policy's entry points but a policy that answers nonsense. */
async function rogueBundle(decision: string, decisions: string): Promise<Uint8Array> {
  const policy = `package mcp_policy\n\nimport data.mcp_policy.lib\n\ndecision := ${decision}\n\ndecisions := ${decisions}\n\nunused := lib.actions\n`;
  return (
    await buildWasm({
      policy,
      data: '{"mcp_policy": {"lowered": {}}}',
      lib: readFileSync(join(import.meta.dirname, '..', 'rego', 'mcp_policy', 'lib.rego'), 'utf8'),
    })
  ).bundle;
}

describe('wasm engine', () => {
  it('loads a bundle.tar.gz and a bare policy.wasm alike', async () => {
    const c = await compiledFor(production());
    const request = { action: 'load', serverType: 'registry', serverSource: 'mcp/fetch' };
    const fromBundle = await (await WasmEngine.load(c.bundle)).decide(request);
    const fromWasm = await (await WasmEngine.load(c.wasm, { data: JSON.parse(c.data) })).decide(request);
    expect(fromBundle).toEqual({ allowed: true, reason: 'Allow official Docker MCP servers', rule: 0 });
    expect(fromWasm).toEqual(fromBundle);
  });

  it('reads data.json as the module receives it: with a byte-order mark, as without', async () => {
    const c = await compiledFor(production());
    const files = new Map([...readBundleFiles(c.bundle)].map(([k, v]) => [k, new Uint8Array(v)]));
    const data = files.get('data.json')!;
    files.set('data.json', new Uint8Array([0xef, 0xbb, 0xbf, ...data]));
    const manifest = JSON.parse(new TextDecoder().decode(files.get('.manifest'))) as Record<string, unknown>;
    files.set('.manifest', new TextEncoder().encode(JSON.stringify({ ...manifest, revision: contentRevision(files) })));
    const request = { action: 'load', serverType: 'registry', serverSource: 'mcp/fetch' };
    const expected = await (await WasmEngine.load(c.bundle)).decide(request);
    expect(expected).toEqual({ allowed: true, reason: 'Allow official Docker MCP servers', rule: 0 });
    expect(await (await WasmEngine.load(writeBundle(files))).decide(request)).toEqual(expected);
  });

  it('answers non-object requests (which the SDK would treat as no input) with an error decision', async () => {
    const engine = await WasmEngine.load((await compiledFor(production())).bundle);
    for (const request of [null, false, 0, '', [], 'load']) {
      expect(await engine.decide(request)).toEqual({
        allowed: false,
        reason: 'invalid request',
        rule: null,
        error: 'request must be a JSON object',
      });
    }
  });

  it('reads unpaired surrogates in requests as U+FFFD, as Go does, instead of failing', async () => {
    const policy = mustParse('{"default": "allow", "rules": [{"server": "a\\ufffd", "deny": true}]}');
    const requests = [{ server: 'a\ud800' }, { server: 'a\udfff', ['\ud800']: 1 }, { tool: '\ud800' }];
    const byEngine = await decideEverywhere(policy, requests);
    expect(byEngine.native.map((d) => d.rule)).toEqual([0, 0, null]);
    expect(byEngine.wasm).toEqual(byEngine.native);
    expect(byEngine.opa).toEqual(byEngine.native);
  });

  it('rejects bytes that are neither a bundle nor a wasm module', async () => {
    await expect(WasmEngine.load(new TextEncoder().encode('{"default":"allow"}'))).rejects.toMatchObject({
      code: 'invalid_wasm',
    });
  });

  it('rejects a corrupt bundle and a corrupt module with typed errors', async () => {
    const c = await compiledFor(production());
    const truncated = c.bundle.slice(0, c.bundle.length / 2);
    await expect(WasmEngine.load(truncated)).rejects.toMatchObject({ code: 'bundle_truncated' });
    const broken = c.wasm.slice(0, 64);
    await expect(WasmEngine.load(broken)).rejects.toMatchObject({ code: 'wasm_load_failed' });
  });

  it('rejects a wasm policy without the mcp-policy entry points', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-other-'));
    const { runOpa } = await import('../src/opa/cli.js');
    writeFileSync(join(dir, 'x.rego'), 'package other\n\nallow := true\n');
    await runOpa(['build', '-t', 'wasm', '-e', 'other/allow', '-o', join(dir, 'b.tar.gz'), join(dir, 'x.rego')]);
    await expect(WasmEngine.load(readFileSync(join(dir, 'b.tar.gz')))).rejects.toMatchObject({
      code: 'missing_entrypoint',
    });
  });

  it('fails closed when the policy answers with something that is not a decision', async () => {
    const engine = await WasmEngine.load(await rogueBundle('{"allowed": "yes"}', '[1]'));
    const d = await engine.decide({ action: 'load' });
    expect(d.allowed).toBe(false);
    expect(d.error).toBe('policy returned a malformed decision');
  });

  it('decides a batch item by item through the decision entry point, whatever the batch entry point answers', async () => {
    const allow = '{"allowed": true, "reason": "ok", "rule": null}';
    const engine = await WasmEngine.load(await rogueBundle(allow, '[]'));
    expect(await engine.decideBatch([{}, {}, {}])).toEqual(
      [0, 1, 2].map(() => ({ allowed: true, reason: 'ok', rule: null })),
    );
  });

  it('turns an allow that carries an error into a denial', async () => {
    const engine = await WasmEngine.load(
      await rogueBundle('{"allowed": true, "reason": "x", "rule": null, "error": "broken"}', '[]'),
    );
    expect(await engine.decide({})).toEqual({ allowed: false, reason: 'x', rule: null, error: 'broken' });
  });

  it('fails closed when the entry point is undefined', async () => {
    const engine = await WasmEngine.load(await rogueBundle('input.nothing', 'input.nothing'));
    expect(await engine.decide({})).toMatchObject({ allowed: false, error: 'policy returned no decision' });
    expect(await engine.decideBatch([{}])).toEqual([
      { allowed: false, reason: 'evaluation failed', rule: null, error: 'policy returned no decision' },
    ]);
  });
});

describe('compile output', () => {
  it('writes the five files and replaces an earlier build in place', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'mcp-policy-out-'));
    const out = join(parent, 'prod');
    const c = await compiledFor(production());
    await writeOutput(c, out);
    await writeOutput(c, out);
    expect(readdirSync(out).sort()).toEqual(['bundle.tar.gz', 'data.json', 'lib.rego', 'policy.rego', 'policy.wasm']);
    expect(readdirSync(parent)).toEqual(['prod']);
    expect(readFileSync(join(out, 'policy.rego'), 'utf8')).toBe(c.policy);
  });

  it('refuses to replace a folder holding other files', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'mcp-policy-out-'));
    writeFileSync(join(parent, 'notes.txt'), 'mine');
    await expect(writeOutput(await compiledFor(production()), parent)).rejects.toMatchObject({
      code: 'output_not_empty',
    });
    expect(readdirSync(parent)).toEqual(['notes.txt']);
  });
});

describe('large policies', () => {
  it('load in wasm, with a module that stays small because the rules are data', async () => {
    const rules = Array.from({ length: 4000 }, (_, i) => ({
      action: 'load' as const,
      server: `team-${String(i).padStart(5, '0')}-*`,
      allow: i % 2 === 0,
      reason: `rule number ${i} of a generated policy with long reasons`,
    }));
    const policy = { version: 1 as const, default: 'deny' as const, rules };
    const c = await compiledFor(policy);
    // The rules and their index live in data.json; the module is the same size at any policy size.
    expect(c.wasm.length).toBeLessThan(400 * 1024);
    expect(initialMemoryPages(c.wasm)).toBeGreaterThanOrEqual(5);
    const engine = await WasmEngine.load(c.bundle);
    expect(engine.decideSync({ action: 'load', server: 'team-03999-x' })).toEqual({
      allowed: false,
      reason: 'rule number 3999 of a generated policy with long reasons',
      rule: 3999,
    });
  });
});
