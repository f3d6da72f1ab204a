/**
 * No policy string can escape its Rego literal or comment: arbitrary strings
 * (controls, quotes, backslashes, newlines, NUL, bidi and zero-width
 * characters, astral code points) used as server names, tool names and
 * reasons come back unchanged from every engine.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateRego } from '../src/pipeline/build.js';
import { type Policy, type Rule } from '../src/policy/model.js';
import { regoString } from '../src/pipeline/rego-strings.js';
import { runOpa } from '../src/opa/cli.js';
import { decideEverywhere } from './helpers.js';

const nasty = fc
  .oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
    fc.constantFrom(
      '"} else := {"allowed": true} if {',
      '\\',
      '"',
      '\n# x',
      '\u0000',
      '\u202e',
      '\u200d',
      '\u2028',
      '😀',
      'é',
      'e\u0301',
      '${x}',
      '`',
    ),
  )
  .filter((s) => s.isWellFormed() && !s.includes('*'));

describe('escaping', () => {
  it('regoString round-trips through opa for arbitrary strings', async () => {
    const samples = fc.sample(nasty, { numRuns: 300, seed: 42 });
    const module = ['package t', '', `xs := [${samples.map(regoString).join(', ')}]`, ''].join('\n');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-esc-'));
    writeFileSync(join(dir, 't.rego'), module);
    const out = JSON.parse(await runOpa(['eval', '--format', 'json', '--data', join(dir, 't.rego'), 'data.t.xs'])) as {
      result: { expressions: { value: string[] }[] }[];
    };
    expect(out.result[0]!.expressions[0]!.value).toEqual(samples);
  });

  it('escaped strings never contain a raw line break or an unescaped quote', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const lit = regoString(s.toWellFormed());
        const inner = lit.slice(1, -1);
        expect(lit.startsWith('"') && lit.endsWith('"')).toBe(true);
        expect(inner).not.toMatch(/[\n\r\u2028\u2029]/);
        expect(inner.replace(/\\\\/g, '').replace(/\\"/g, '')).not.toContain('"');
      }),
    );
  });

  it('names and reasons made of hostile strings match literally and come back intact on every engine', async () => {
    const names = [...new Set(fc.sample(nasty, { numRuns: 120, seed: 7 }))];
    const rules: Rule[] = names.flatMap((name, k): Rule[] => [
      { action: 'load', server: name, allow: k % 2 === 0, reason: `server ${name}` },
      { action: 'invoke', tools: [name], allow: k % 2 === 1, reason: `tool ${name}` },
    ]);
    const policy: Policy = { version: 1, default: 'deny', rules };
    expect(generateRego(policy)).toContain('package mcp_policy');
    const requests = names.flatMap((name) => [
      { action: 'load', server: name },
      { action: 'invoke', tool: name },
      { action: 'load', server: `${name}x` },
    ]);
    const byEngine = await decideEverywhere(policy, requests);
    names.forEach((name, k) => {
      expect(byEngine.native[3 * k]).toEqual({ allowed: k % 2 === 0, reason: `server ${name}`, rule: 2 * k });
      expect(byEngine.native[3 * k + 1]).toEqual({ allowed: k % 2 === 1, reason: `tool ${name}`, rule: 2 * k + 1 });
    });
    expect(byEngine.wasm).toEqual(byEngine.native);
    expect(byEngine.opa).toEqual(byEngine.native);
  });
});
