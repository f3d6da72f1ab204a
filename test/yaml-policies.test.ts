/**
 * Policies written in YAML, and documents recognised by their shape: a YAML
 * policy checks, compiles and decides exactly as its JSON twin; its errors
 * are located like JSON's; a document whose keys fit no kind, or two, is an
 * error naming the three kinds, whatever the file is called.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { MAX_DEPTH, MAX_YAML_ALIASES, MAX_YAML_CHARS } from '../src/diagnostics/limits.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { parseAnyDocument } from '../src/policy/any-document.js';
import { parsePolicy } from '../src/policy/validate.js';
import { cli, EXAMPLES, tempFile } from './helpers.js';

/** The example policies (bare and admin-settings.json), by file name. */
const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.json') && !f.endsWith('.cases.json'))
  .sort();

/** The YAML twin of a JSON document: the same values, written as YAML. */
function yamlTwin(file: string): string {
  return stringify(JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')));
}

/** Docker's documented policy, as an admin would write it in YAML. */
const ACME_YAML = `# acme-policy.yaml
version: 1
default: deny
rules:
  # Official images only.
  - action: load
    serverSource: docker.io/mcp/*
    allow: true
    reason: Official Docker MCP servers
  - { action: invoke, tools: [delete_*, remove_*], deny: true }
`;

const ACME_JSON = JSON.stringify({
  version: 1,
  default: 'deny',
  rules: [
    { action: 'load', serverSource: 'docker.io/mcp/*', allow: true, reason: 'Official Docker MCP servers' },
    { action: 'invoke', tools: ['delete_*', 'remove_*'], deny: true },
  ],
});

describe('policies written in YAML', () => {
  it('read as the same policy as their JSON twins', () => {
    expect(examples.length).toBeGreaterThanOrEqual(5);
    for (const file of [...examples]) {
      const json = parsePolicy(readFileSync(join(EXAMPLES, file), 'utf8'));
      const yaml = parsePolicy(yamlTwin(file));
      expect(json.errors, file).toEqual([]);
      expect(yaml, file).toEqual(json);
    }
    expect(parsePolicy(ACME_YAML)).toEqual(parsePolicy(ACME_JSON));
  });

  it('check accepts a YAML policy, as a policy, whatever the file is called', async () => {
    for (const name of ['acme-policy.yaml', 'acme-policy.yml', 'acme-policy', 'acme-policy.json']) {
      const file = tempFile(name, ACME_YAML);
      const r = await cli(['check', file]);
      expect(r.stderr, name).toBe('');
      expect(r.stdout, name).toBe(`${file}: valid: 2 rules, default deny\n`);
      expect(r.code, name).toBe(0);
    }
    const admin = tempFile('admin-settings.yaml', yamlTwin('admin-settings.json'));
    const r = await cli(['check', admin]);
    expect(r.stdout).toMatch(/valid \(admin-settings\.json\): \d+ rules/);
    // An enterprise config written as JSON in a file named .yaml is still one.
    const config = tempFile('config.yaml', readFileSync(join(EXAMPLES, 'enterprise', 'config-map.json'), 'utf8'));
    expect((await cli(['check', config])).stdout).toContain('valid enterprise config: 8 directives');
  });

  it('eval with the native engine decides every example as its JSON twin does', async () => {
    const requests = join(EXAMPLES, 'production.requests.jsonl');
    for (const file of examples) {
      const yaml = tempFile(file.replace(/\.json$/, '.yaml'), yamlTwin(file));
      const fromJson = await cli(['eval', join(EXAMPLES, file), '--engine', 'native', '--input', requests]);
      const fromYaml = await cli(['eval', yaml, '--engine', 'native', '--input', requests]);
      expect(fromJson.code, `${file}: ${fromJson.stderr}`).toBe(0);
      expect(fromYaml.stdout.length, file).toBeGreaterThan(0);
      expect(fromYaml, file).toEqual(fromJson);
    }
  });

  it("the case runner passes every example's case table on its YAML twin", async () => {
    for (const file of examples) {
      const yaml = tempFile(file.replace(/\.json$/, '.yaml'), yamlTwin(file));
      const cases = join(EXAMPLES, file.replace(/\.json$/, '.cases.json'));
      const r = await cli(['test', yaml, cases, '--engine', 'native']);
      expect(r.stdout, `${file}: ${r.stderr}`).not.toContain('FAIL');
      expect(r.code, `${file}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('compiles to the same bundle as its JSON twin', async () => {
    const outJson = join(tempFile('x', ''), '..', 'json-out');
    const outYaml = join(tempFile('x', ''), '..', 'yaml-out');
    const json = await cli(['compile', tempFile('acme-policy.json', ACME_JSON), '-o', outJson]);
    const yaml = await cli(['compile', tempFile('acme-policy.yaml', ACME_YAML), '-o', outYaml]);
    expect(json.code, json.stderr).toBe(0);
    expect(yaml.code, yaml.stderr).toBe(0);
    const files = readdirSync(outJson).sort();
    expect(readdirSync(outYaml).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(outYaml, f)), f).toEqual(readFileSync(join(outJson, f)));
  });
});

describe('errors in YAML policies', () => {
  it('are the JSON errors, placed at the line and column in the YAML', () => {
    const text = [
      'version: 1', // 1
      'default: deny', // 2
      'rules:', // 3
      '  - serverTyp: image', // 4
      '    allow: yes', // 5
      '  - action: delete', // 6
      '    deny: true', // 7
      '    deny: false', // 8
      '',
    ].join('\n');
    const r = parsePolicy(text);
    expect(r.value).toBeUndefined();
    expect(r.errors.map((e) => [e.code, e.path, e.line, e.column])).toEqual([
      ['duplicate_key', '/rules/1/deny', 8, 5],
      ['invalid_type', '/rules/0/allow', 5, 12],
      ['unknown_field', '/rules/0/serverTyp', 4, 5],
      ['invalid_value', '/rules/1/action', 6, 13],
    ]);
    expect(r.errors[2]!.message).toBe('unknown field "serverTyp"; did you mean "serverType"?');
    // YAML 1.2: `yes` is a string, so the message quotes it as written.
    expect(r.errors[1]!.message).toBe('allow must be a boolean, not the string "yes"');
  });

  it('reports syntax errors, empty documents and the limits like every reader', () => {
    expect(parsePolicy('default: deny\nrules: [\n').errors).toMatchObject([{ code: 'invalid_yaml', line: 3 }]);
    for (const empty of ['', '\n', '# nothing yet\n', '~\n']) {
      expect(parsePolicy(empty).errors, JSON.stringify(empty)).toMatchObject([
        { code: 'empty_document', path: '', line: 1, column: 1 },
      ]);
    }
    expect(parsePolicy('rules:\n' + '  '.repeat(1) + '- '.repeat(MAX_DEPTH + 1) + 'x\n').errors).toMatchObject([
      { code: 'too_deep' },
    ]);
    expect(parsePolicy(`default: deny\nrules: []\nx: "${'a'.repeat(MAX_YAML_CHARS)}"\n`).errors).toMatchObject([
      { code: 'too_large', path: '' },
    ]);
    const aliases = `a: &a x\nrules: [${Array.from({ length: MAX_YAML_ALIASES + 1 }, () => '*a').join(', ')}]\n`;
    expect(parsePolicy(aliases).errors).toMatchObject([{ code: 'too_many_aliases' }]);
  });

  it('keeps JSON strict: text that starts like JSON is read as JSON', () => {
    expect(parsePolicy('{"default": "deny", "rules": [],}').errors).toMatchObject([{ code: 'invalid_json' }]);
    expect(parsePolicy('{default: deny, rules: []}').errors).toMatchObject([{ code: 'invalid_json' }]);
  });
});

describe('documents recognised by their shape', () => {
  const THREE_KINDS = /a policy .*admin settings .*an enterprise config/;

  it('check calls a mix of kinds ambiguous, naming the keys and the three kinds', async () => {
    const file = tempFile(
      'mixed.yaml',
      'default: deny\nrules: []\nregistry:\n  value: {api_url: https://r.example.com}\n  enforcement: enforced\n',
    );
    const r = await cli(['check', '--json', file]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: { code: string; path: string; message: string }[] };
    expect(out.errors).toMatchObject([{ code: 'ambiguous_document', path: '', line: 1, column: 1 }]);
    expect(out.errors[0]!.message).toContain(
      'keys of a policy ("default", "rules") and of an enterprise config ("registry")',
    );
    expect(out.errors[0]!.message).toMatch(THREE_KINDS);
  });

  it('check calls a document of no kind unknown, with a hint for a near miss', async () => {
    const r = await cli(['check', tempFile('typo.yaml', 'defualt: deny\nrulez: []\n')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /typo\.yaml:1:1: \/: the document is none of a policy .*; did you mean "default" for "defualt"\? \(unknown_document\)/,
    );
    expect(r.stderr).toMatch(THREE_KINDS);
    expect(parseAnyDocument('{"llm_gateway": true}').errors).toMatchObject([{ code: 'unknown_document' }]);
  });

  it('a document of the wrong kind for its place is named for what it is', async () => {
    const config = join(EXAMPLES, 'enterprise', 'values.yaml');
    const asPolicy = await cli(['eval', config, '--engine', 'native'], '{"action":"load","server":"x"}\n');
    expect(asPolicy.code).toBe(1);
    expect(asPolicy.stderr).toContain(
      'the document is an enterprise config (it has "enterprise-manager"), not a policy or admin settings (unexpected_document)',
    );
    const policy = tempFile('acme-policy.yaml', ACME_YAML);
    const asConfig = await cli(['eval', policy, '--enterprise', policy, '--engine', 'native'], '{}\n');
    expect(asConfig.code).toBe(1);
    expect(asConfig.stderr).toContain(
      'the document is a policy (it has "version", "default", "rules"), not an enterprise config (unexpected_document)',
    );
    expect(parseEnterpriseConfig(ACME_YAML).errors).toMatchObject([{ code: 'unexpected_document', path: '' }]);
  });

  it('was the bug: a correct YAML policy is not read as an enterprise config', () => {
    const r = parseAnyDocument(ACME_YAML);
    expect(r.errors).toEqual([]);
    expect(r.value?.kind).toBe('policy');
  });
});
