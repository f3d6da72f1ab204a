/** Parsing and validation details that tables cannot show: positions, messages, hints, layering info. */
import { describe, expect, it } from 'vitest';
import { readJson } from '../src/diagnostics/json.js';
import { parsePolicy, validatePolicyValue } from '../src/policy/validate.js';

describe('JSON reader', () => {
  it('reports duplicate keys at the second occurrence, with line and column', () => {
    const doc = readJson('{\n  "default": "allow",\n  "default": "deny",\n  "rules": []\n}');
    expect(doc.issues).toEqual([
      { code: 'duplicate_key', path: '/default', message: 'duplicate key "default"', line: 3, column: 3 },
    ]);
    expect(doc.value).toEqual({ default: 'allow', rules: [] });
  });

  it('locates syntax errors', () => {
    const doc = readJson('{\n  "rules": [1,, 2]\n}');
    expect(doc.value).toBeUndefined();
    expect(doc.issues).toMatchObject([{ code: 'invalid_json', path: '/rules/1', line: 2, column: 15 }]);
  });

  it('escapes pointer tokens and keeps __proto__ as plain data', () => {
    const doc = readJson('{"a/b": {"m~n": 1}, "__proto__": {"x": 1}}');
    expect(doc.positions.has('/a~1b/m~0n')).toBe(true);
    expect(Object.getPrototypeOf(doc.value)).toBe(Object.prototype);
    expect(Object.keys(doc.value as object)).toEqual(['a/b', '__proto__']);
  });

  it('agrees with JSON.parse on valid documents', () => {
    const text = '{"s": "a\\u00e9\\n\\"\\\\\\/\\ud83d\\ude00", "n": [-1.5e3, 0, 12], "t": true, "f": false, "z": null}';
    expect(readJson(text).value).toEqual(JSON.parse(text));
  });

  it('rejects what JSON.parse rejects', () => {
    expect(readJson('').issues[0]?.code).toBe('empty_document');
    for (const bad of ['01', '[1,]', '{"a":1,}', "'x'", '"\t"', 'nul', '1 2', '{"a" 1}', '-']) {
      expect(readJson(bad).issues[0]?.code, bad).toBe('invalid_json');
      expect(() => JSON.parse(bad), bad).toThrow();
    }
  });
});

describe('policy validation', () => {
  it('suggests the field a typo meant', () => {
    const r = parsePolicy('{"default": "allow", "rules": [{"serverTyp": "image", "deny": true}]}');
    expect(r.errors).toMatchObject([
      {
        code: 'unknown_field',
        path: '/rules/0/serverTyp',
        message: 'unknown field "serverTyp"; did you mean "serverType"?',
      },
    ]);
  });

  it('quotes the offending value and lists the choices', () => {
    const r = parsePolicy('{"default": "allow", "rules": [{"action": "execute", "deny": true}]}');
    expect(r.errors).toMatchObject([
      {
        code: 'invalid_value',
        path: '/rules/0/action',
        message: 'unknown action "execute"; expected one of "load", "invoke", "prompt"',
        line: 1,
        column: 43,
      },
    ]);
  });

  it('reports every problem, not just the first', () => {
    const r = parsePolicy(
      '{"version": 3, "rules": [{"action": "x", "allow": true, "deny": true}, {"tools": []}, {"server": "", "allow": true}]}',
    );
    expect(r.errors.map((e) => `${e.code} ${e.path}`).sort()).toEqual(
      [
        'unsupported_version /version',
        'conflicting_decision /rules/0/deny',
        'missing_field /default',
        'invalid_value /rules/0/action',
        'empty_array /rules/1/tools',
        'missing_decision /rules/1',
        'empty_pattern /rules/2/server',
      ].sort(),
    );
  });

  it('records that a policy came from admin-settings.json and whether it is locked', () => {
    const inner = JSON.stringify({ default: 'deny', rules: [] });
    const r = validatePolicyValue({
      configurationFileVersion: 2,
      mcpPolicy: { locked: true, value: inner },
      otherSetting: 1,
    });
    expect(r.errors).toEqual([]);
    expect(r.value?.source).toEqual({ kind: 'admin-settings', locked: true });
    expect(r.value?.policy).toEqual({ version: 1, default: 'deny', rules: [] });
  });

  it('turns deny: true into allow: false and keeps only given fields', () => {
    const r = parsePolicy(
      '{"default": "allow", "rules": [{"server": "a", "deny": true}, {"deny": false, "reason": "r"}]}',
    );
    expect(r.value?.policy.rules).toEqual([
      { server: 'a', allow: false },
      { allow: true, reason: 'r' },
    ]);
  });

  it('warns about rules after a rule that matches everything', () => {
    const r = parsePolicy('{"default": "allow", "rules": [{"allow": true}, {"server": "a", "deny": true}]}');
    expect(r.value?.policy).toBeDefined();
    expect(r.warnings).toMatchObject([{ code: 'unreachable_rule', path: '/rules/1' }]);
  });

  it('rejects unpaired surrogates, which Go would silently replace', () => {
    const r = parsePolicy('{"default": "allow", "rules": [{"server": "a\\ud800", "deny": true}]}');
    expect(r.errors).toMatchObject([{ code: 'invalid_unicode', path: '/rules/0/server' }]);
  });
});
