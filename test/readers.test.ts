/** The readers' limits: deep, large and alias-heavy documents get a coded, located error instead of a crash or a hang. */
import { describe, expect, it } from 'vitest';
import { readJson } from '../src/diagnostics/json.js';
import { MAX_DEPTH, MAX_YAML_ALIASES, MAX_YAML_CHARS } from '../src/diagnostics/limits.js';
import { decodeUtf8 } from '../src/diagnostics/text.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { parsePolicy } from '../src/policy/validate.js';
import { cli, tempFile } from './helpers.js';

// A bound on hangs, not a speed claim: these inputs used to take from 12 s to forever.
const BOUND = { timeout: 20_000 };

describe('nesting depth', () => {
  it('reports deep JSON as too_deep at the collection that crosses the limit, without throwing', () => {
    for (const deep of ['['.repeat(5000), '{"a":'.repeat(6000) + '1' + '}'.repeat(6000)]) {
      const r = parsePolicy(deep);
      expect(r.value?.policy).toBeUndefined();
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]).toMatchObject({
        code: 'too_deep',
        message: `the document is nested more than ${MAX_DEPTH} levels deep`,
        line: 1,
      });
      expect(r.errors[0]!.path.split('/')).toHaveLength(MAX_DEPTH + 1);
    }
  });

  it('accepts exactly the limit', () => {
    expect(readJson('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH)).issues).toEqual([]);
    expect(readJson('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1)).issues[0]?.code).toBe('too_deep');
  });

  it('applies the same limit to YAML', () => {
    const r = parseEnterpriseConfig('- '.repeat(MAX_DEPTH + 1) + 'x\n');
    expect(r.errors).toMatchObject([{ code: 'too_deep', path: '', line: 1 }]);
    expect(parsePolicy('- '.repeat(MAX_DEPTH + 1) + 'x\n').errors).toMatchObject([{ code: 'too_deep', line: 1 }]);
    expect(parseEnterpriseConfig('a: ' + '['.repeat(MAX_DEPTH - 1) + ']'.repeat(MAX_DEPTH - 1)).errors[0]?.code).toBe(
      'invalid_type',
    );
  });

  it('check --json answers in JSON with the code, and exits 1', async () => {
    const r = await cli(['check', '--json', tempFile('deep.json', '['.repeat(5000))]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: { code: string; line: number }[] };
    expect(out.valid).toBe(false);
    expect(out.errors).toMatchObject([{ code: 'too_deep', line: 1 }]);
  });
});

describe('YAML size and aliases', () => {
  it('rejects a chain of 3,000 aliases up front', BOUND, () => {
    let chain = 'a0: &a0 x\n';
    for (let i = 1; i < 3000; i++) chain += `a${i}: &a${i} [*a${i - 1}, *a${i - 1}]\n`;
    const r = parseEnterpriseConfig(chain);
    expect(r.errors).toEqual([
      {
        code: 'too_many_aliases',
        path: '',
        message: `the document has more than ${MAX_YAML_ALIASES} aliases`,
        line: 502,
        column: expect.any(Number) as number,
      },
    ]);
  });

  it('rejects a document beyond the size limit before parsing it', BOUND, () => {
    let keys = '';
    for (let i = 0; i < 100_000; i++) keys += `k${i}: ${i}\n`;
    expect(keys.length).toBeGreaterThan(MAX_YAML_CHARS);
    expect(parseEnterpriseConfig(keys).errors).toMatchObject([{ code: 'too_large', path: '', line: 1, column: 1 }]);
  });

  it('reads a large document within the limit and reports every duplicate', BOUND, () => {
    let keys = '';
    for (let i = 0; i < 20_000; i++) keys += `k${i % 10_000}: ${i}\n`;
    const r = parseEnterpriseConfig(keys);
    expect(r.errors.filter((e) => e.code === 'duplicate_key')).toHaveLength(10_000);
    expect(r.errors[0]).toMatchObject({ code: 'duplicate_key', path: '/k0', line: 10_001, column: 1 });
  });

  it('answers a long line of anchors, and one node with thousands of anchors', BOUND, () => {
    const line = `x: [${Array.from({ length: 20_000 }, (_, i) => `&a${i} ${i}`).join(', ')}]\n`;
    expect(parseEnterpriseConfig(line).errors).toMatchObject([{ code: 'invalid_type', path: '/x' }]);
    const stacked = `x: ${'&a '.repeat(20_000)}1\n`;
    expect(parseEnterpriseConfig(stacked).errors).toMatchObject([{ code: 'invalid_yaml', path: '/x', line: 1 }]);
  });
});

describe('every issue is coded and located', () => {
  it('reports an empty or null enterprise document at the root, saying so', () => {
    for (const text of ['', '\n', 'null\n', '~\n', '# only a comment\n']) {
      const r = parseEnterpriseConfig(text);
      expect(r.errors, JSON.stringify(text)).toMatchObject([{ code: 'empty_document', path: '', line: 1 }]);
      expect(r.errors[0]!.message).toContain('the document is empty');
    }
  });

  it('places syntax errors at the innermost value that holds them', () => {
    expect(parsePolicy('{"default": "allow", "rules": [{"allow": tru}]}').errors).toMatchObject([
      { code: 'invalid_json', path: '/rules/0/allow', line: 1, column: 42 },
    ]);
    expect(parsePolicy('{"default": "allow",}').errors).toMatchObject([
      { code: 'invalid_json', path: '', message: 'the document is not valid JSON: expected a string key, found "}"' },
    ]);
    expect(parseEnterpriseConfig('a:\n  b: "x\n').errors).toMatchObject([{ code: 'invalid_yaml', path: '/a/b' }]);
  });

  it('rejects invalid UTF-8 with the line and column of the first bad byte', async () => {
    const bytes = new Uint8Array([
      ...new TextEncoder().encode('{\n  "default": "é'),
      0xc3,
      0x28,
      ...new TextEncoder().encode('"}'),
    ]);
    expect(decodeUtf8(bytes)).toEqual({
      issue: {
        code: 'invalid_encoding',
        path: '',
        message: 'the document is not valid UTF-8: byte 18 (0xc3) does not continue a character',
        line: 2,
        column: 16,
      },
    });
    const file = tempFile('latin1.json', '');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, bytes);
    const r = await cli(['check', '--json', file]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, errors: [{ code: 'invalid_encoding', line: 2 }] });
    const plain = await cli(['check', file]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain(`${file}:2:16: /: the document is not valid UTF-8`);
  });
});
