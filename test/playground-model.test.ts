/**
 * The playground's model (src/playground/model): browser-safe, and each view
 * equal to what the CLI and the engines answer for the same policy.
 */
import { execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { tableCoverage } from '../src/analysis/coverage.js';
import { openEngine } from '../src/engines/open.js';
import { parseCaseFile } from '../src/testing/cases.js';
import { parsePolicy } from '../src/policy/validate.js';
import {
  checkDocument,
  coverageView,
  decideNative,
  diffView,
  explainView,
  innerPolicyText,
  lintView,
  requestTemplate,
  toAdminSettings,
  toCaseTable,
} from '../src/playground/model/index.js';
import { cli, EXAMPLES, mustParse, ROOT, tempFile } from './helpers.js';

const BIN = join(ROOT, 'bin', 'mcp-policy.js');
const execFileAsync = promisify(execFile);
const production = readFileSync(join(EXAMPLES, 'production.json'), 'utf8');
const productionCases = parseCaseFile(readFileSync(join(EXAMPLES, 'production.cases.json'), 'utf8'));

/** The text at a diagnostic's range. */
function at(text: string, d: { from: number; to: number }): string {
  return text.slice(d.from, d.to);
}

describe('the model in a browser', () => {
  it('bundles for the browser with no Node built-in anywhere in its import graph', async () => {
    const nodeNames = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    const seen: string[] = [];
    const r = await build({
      entryPoints: [join(ROOT, 'src/playground/model/index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [
        {
          name: 'no-node-builtins',
          setup(b) {
            b.onResolve({ filter: /.*/ }, (args) => {
              if (args.path.startsWith('node:') || nodeNames.has(args.path)) {
                seen.push(`${args.path} from ${args.importer}`);
                return { path: args.path, external: true };
              }
              return undefined;
            });
          },
        },
      ],
    });
    expect(seen).toEqual([]);
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((f) => f.endsWith('src/policy/validate.ts'))).toBe(true);
    expect(inputs.some((f) => f.endsWith('src/enterprise/urls.ts'))).toBe(false);
  });
});

describe('checkDocument', () => {
  it('places a typo in a JSON version 1 policy at its key, with the "did you mean" check prints', async () => {
    const text =
      '{\n  "default": "deny",\n  "rules": [\n    { "action": "load", "serverTyp": "image", "allow": true }\n  ]\n}\n';
    const c = checkDocument(text);
    expect(c).toMatchObject({ kind: 'policy', format: 'json' });
    expect(c.policy).toBeUndefined();
    expect(c.policyJson).toEqual(JSON.parse(text));
    expect(c.diagnostics).toHaveLength(1);
    const [d] = c.diagnostics;
    expect(d).toMatchObject({
      line: 4,
      column: 25,
      severity: 'error',
      code: 'unknown_field',
      pointer: '/rules/0/serverTyp',
    });
    expect(d!.message).toContain('did you mean "serverType"?');
    expect(at(text, d!)).toBe('"serverTyp"');
    const file = tempFile('typo.json', text);
    const checked = await cli(['check', file]);
    expect(checked.stderr).toBe(`${file}:4:25: /rules/0/serverTyp: ${d!.message} (unknown_field)\n`);
  });

  it('places a typo in a YAML version 2 policy at its key', () => {
    const text =
      'version: 2\ndefault: deny\nrules:\n  - action: invoke\n    server: github\n    usres: ["alice@example.com"]\n    allow: true\n';
    const c = checkDocument(text);
    expect(c.format).toBe('yaml');
    const d = c.diagnostics.find((x) => x.code === 'unknown_field');
    expect(d).toMatchObject({ line: 6, column: 5, pointer: '/rules/0/usres' });
    expect(d!.message).toContain('did you mean "users"?');
    expect(at(text, d!)).toBe('usres');
  });

  it('places a typo in a YAML version 1 policy and in a JSON version 2 one', () => {
    const yaml = 'default: deny\nrules:\n  - action: load\n    sever: github\n    allow: true\n';
    const y = checkDocument(yaml).diagnostics[0]!;
    expect(y).toMatchObject({ line: 4, column: 5, pointer: '/rules/0/sever' });
    expect(y.message).toContain('did you mean "server"?');
    const json = '{"version": 2, "default": "deny", "rules": [{"action": "invoke", "gropus": ["x"], "allow": true}]}';
    const j = checkDocument(json).diagnostics[0]!;
    expect(j).toMatchObject({ line: 1, column: 66, pointer: '/rules/0/gropus' });
    expect(j.message).toContain('did you mean "groups"?');
    expect(at(json, j)).toBe('"gropus"');
  });

  it('gives a valid policy and the warnings check gives, in document order', async () => {
    const text = readFileSync(join(EXAMPLES, 'v2', 'github-organisation.json'), 'utf8');
    const c = checkDocument(text);
    expect(c.policy).toEqual(mustParse(text));
    expect(c.diagnostics.every((d) => d.severity === 'warning')).toBe(true);
    const file = tempFile('v2.json', text);
    const json = JSON.parse((await cli(['check', file, '--format', 'json'])).stdout) as {
      warnings: { code: string; path: string; line: number; column: number }[];
    };
    const mine = c.diagnostics.map((d) => ({ code: d.code, path: d.pointer, line: d.line, column: d.column }));
    const theirs = json.warnings.map(({ code, path, line, column }) => ({ code, path, line, column }));
    expect(mine).toEqual([...theirs].sort((a, b) => a.line - b.line || a.column - b.column));
    expect(mine.map((m) => m.code)).toContain('docker_version_1_only');
  });

  it('places a syntax error at the reader position', () => {
    const text = '{\n  "default": "deny",\n  "rules": [,]\n}';
    const [d] = checkDocument(text).diagnostics;
    expect(d).toMatchObject({ code: 'invalid_json', line: 3, column: 13 });
    expect(d!.from).toBe(text.indexOf('[,]') + 1);
  });

  it('locates an error inside the escaped mcpPolicy.value at its offset in the outer text, escapes before it', () => {
    // Escaped quotes, a \n, a \\ and a \u00e9 come before the typo, so inner and outer offsets differ.
    const inner =
      '{\n  "default": "deny",\n  "rules": [\n    {"server": "caf\u00e9\\\\x", "reason": "say \\"hi\\"", "alow": true}\n  ]\n}';
    const value = JSON.stringify(inner).replace('\u00e9', '\\u00e9');
    const text = `{\n  "configurationFileVersion": 2,\n  "mcpPolicy": {\n    "locked": false,\n    "value": ${value}\n  }\n}\n`;
    const c = checkDocument(text);
    expect(c).toMatchObject({ kind: 'admin-settings', locked: false });
    expect(c.policyJson).toEqual(JSON.parse(inner));
    const d = c.diagnostics.find((x) => x.code === 'unknown_field')!;
    expect(d).toMatchObject({ pointer: '/rules/0/alow', within: '/mcpPolicy/value', line: 5 });
    expect(d.message).toContain('did you mean "allow"?');
    // The underline covers the escaped key as written in the outer text.
    expect(at(text, d)).toBe('\\"alow\\"');
    expect(d.from).toBe(text.indexOf('\\"alow'));
    expect(d.column).toBe(d.from - text.lastIndexOf('\n', d.from));
    // The missing decision is an error too, at the rule object.
    const missing = c.diagnostics.find((x) => x.code === 'missing_decision');
    expect(missing && at(text, missing)).toBe('{');
    expect(missing!.from).toBe(text.indexOf('{\\"server'));
  });

  it('locates a syntax error inside the escaped value, and reads locked', () => {
    const text = toAdminSettings({ default: 'deny', rules: [] }, { locked: true }).replace(
      '\\"rules\\":[]',
      '\\"rules\\":[,]',
    );
    const c = checkDocument(text);
    expect(c.locked).toBe(true);
    const [d] = c.diagnostics;
    expect(d).toMatchObject({ code: 'invalid_json', within: '/mcpPolicy/value' });
    expect(d!.from).toBe(text.indexOf('[,]') + 1);
  });

  it('locates an error inside a YAML literal block value, and falls back to the value for a folded one', () => {
    const text =
      'mcpPolicy:\n  locked: false\n  value: |\n    {\n      "default": "deny",\n      "rules": [], "extra": 1\n    }\n';
    const d = checkDocument(text).diagnostics.find((x) => x.code === 'unknown_field')!;
    expect(d).toMatchObject({ within: '/mcpPolicy/value', pointer: '/extra', line: 6, column: 20 });
    expect(at(text, d)).toBe('"extra"');
    const quoted = `mcpPolicy:\n  value: '{"default": "deny", "rules": [], "it''s": 1}'\n`;
    const q = checkDocument(quoted).diagnostics.find((x) => x.code === 'unknown_field')!;
    expect(at(quoted, q)).toBe(`"it''s"`);
    const folded = 'mcpPolicy:\n  locked: false\n  value: >\n    {"default": "deny", "rules": [], "extra": 1}\n';
    const f = checkDocument(folded).diagnostics.find((x) => x.code === 'unknown_field')!;
    expect(f).toMatchObject({ within: '/mcpPolicy/value', pointer: '/extra', line: 3, column: 10 });
  });
});

describe('toAdminSettings', () => {
  it('round-trips through the admin-settings reader and check, deciding the same', async () => {
    const policyJson = JSON.parse(production) as unknown;
    for (const locked of [true, false]) {
      const text = toAdminSettings(policyJson, { locked });
      const r = parsePolicy(text);
      expect(r.errors).toEqual([]);
      expect(r.value?.source).toEqual({ kind: 'admin-settings', locked });
      expect(r.value?.policy).toEqual(mustParse(production));
      expect(checkDocument(text)).toMatchObject({ kind: 'admin-settings', locked, diagnostics: [] });
      const file = tempFile('admin-settings.json', text);
      const checked = await cli(['check', file]);
      expect([checked.code, checked.stdout]).toEqual([
        0,
        `${file}: valid (admin-settings.json): ${mustParse(production).rules.length} rules, default deny\n`,
      ]);
      expect(
        JSON.parse(innerPolicyText((JSON.parse(text) as { mcpPolicy: { value: string } }).mcpPolicy.value)),
      ).toEqual(policyJson);
    }
    const policy = parsePolicy(toAdminSettings(policyJson, { locked: true })).value!.policy;
    const engine = await openEngine('native', mustParse(production));
    for (const c of productionCases.requests!)
      expect(decideNative(policy, c.request)).toEqual(await engine.decide(c.request));
  });
});

describe('requests', () => {
  it('decideNative equals the native engine opened by openEngine, invalid requests included', async () => {
    const policy = mustParse(production);
    const engine = await openEngine('native', policy);
    const requests = [
      ...productionCases.requests!.map((c) => c.request),
      'not an object',
      null,
      [],
      { action: 7 },
      { action: 'invoke', tool: 'delete_x', target: { type: 'nope' } },
    ];
    for (const r of requests) expect(decideNative(policy, r)).toEqual(await engine.decide(r));
  });

  it('toCaseTable writes a table that mcp-policy test passes', async () => {
    const policyJson = JSON.parse(production) as unknown;
    const policy = mustParse(production);
    const saved = [
      ...productionCases
        .requests!.slice(0, 5)
        .map((c) => ({ ...(c.note !== undefined && { note: c.note }), request: c.request })),
      { request: 'not an object' },
    ];
    const table = toCaseTable(
      policyJson,
      saved,
      saved.map((s) => decideNative(policy, s.request)),
    );
    const parsed = parseCaseFile(table);
    expect(parsed.requests).toHaveLength(6);
    expect(parsed.requests![5]!.expect).toMatchObject({ allowed: false, error: true });
    const file = tempFile('saved.cases.json', table);
    const tested = await cli(['test', join(EXAMPLES, 'production.json'), file, '--engine', 'native']);
    expect(tested.code, tested.stdout + tested.stderr).toBe(0);
  });

  it('requestTemplate gives a request the policy decides without error, in both versions', () => {
    for (const name of ['production.json', 'v2/github-organisation.json', 'v2/resources-prefix.json']) {
      const policy = mustParse(readFileSync(join(EXAMPLES, name), 'utf8'));
      const request = requestTemplate(policy);
      expect(decideNative(policy, request).error, name).toBeUndefined();
      if (policy.version === 2) expect(request).toHaveProperty('principal');
    }
  });
});

describe('analysis views', () => {
  it('lintView and explainView are what lint and explain print as JSON', async () => {
    const file = join(EXAMPLES, 'production.json');
    const policy = mustParse(production);
    const view = lintView(policy);
    const lint = JSON.parse((await cli(['lint', file, '--format', 'json'])).stdout) as { findings: unknown[] };
    expect(view.findings.map(({ witnessRequest: _w, ...f }) => f)).toEqual(lint.findings);
    for (const f of view.findings) expect(f.witnessRequest).toEqual(f.witness);
    const request = productionCases.requests![0]!.request;
    const input = tempFile('request.json', JSON.stringify(request));
    const explained = JSON.parse(
      (await cli(['explain', file, '--input', input, '--format', 'json'])).stdout,
    ) as unknown;
    expect(JSON.parse(JSON.stringify(explainView(policy, request)))).toEqual(explained);
  });

  it('diffView equals mcp-policy diff --format json on two example policies', async () => {
    const pairs = [
      ['production.json', 'block-tools.json'],
      ['v2/github-organisation.json', 'v2/filesystem-folder.json'],
      ['production.json', 'production.json'],
    ] as const;
    // The built CLI, once per pair, side by side: diff exits 1 when decisions differ, so its output is read either way.
    const printed = await Promise.all(
      pairs.map(([a, b]) =>
        execFileAsync(process.execPath, [BIN, 'diff', join(EXAMPLES, a), join(EXAMPLES, b), '--format', 'json'], {
          cwd: ROOT,
        }).catch((e: { stdout: string }) => ({ stdout: e.stdout })),
      ),
    );
    pairs.forEach(([a, b], i) => {
      const old = mustParse(readFileSync(join(EXAMPLES, a), 'utf8'));
      const now = mustParse(readFileSync(join(EXAMPLES, b), 'utf8'));
      expect(JSON.parse(JSON.stringify(diffView(old, now))), `${a} → ${b}`).toEqual(JSON.parse(printed[i]!.stdout));
    });
  });

  it('coverageView on production.json with its cases: the deciding rule of each, rules never reached, unseen outcomes', () => {
    const policy = mustParse(production);
    const saved = productionCases.requests!.map((c) => ({ request: c.request }));
    const view = coverageView(policy, saved);
    productionCases.requests!.forEach((c, i) => {
      const row = view.requests[i]!;
      expect(row.decision.allowed).toBe(c.expect.allowed);
      if (c.expect.error) expect(row.decidedBy).toBe('invalid');
      else if (c.expect.rule !== undefined) expect(row.decidedBy).toBe(c.expect.rule ?? 'default');
    });
    const c = tableCoverage(
      policy,
      saved.map((s) => s.request),
    );
    expect(view.rules.filter((r) => r.status === 'unreachable').map((r) => r.rule)).toEqual(c.unreachable);
    expect(view.rules.filter((r) => r.status === 'not exercised').map((r) => r.rule)).toEqual(c.notExercised);
    expect(view.rules.map((r) => r.requests.length)).toEqual(c.decidedBy);
    expect(view.byDefault).toHaveLength(c.byDefault);
    expect(view.unseen).toEqual(c.unseen);
    // With only the first request, rule 0 alone is exercised and deny and the default are never seen.
    const one = coverageView(policy, saved.slice(0, 1));
    expect(one.requests[0]!.decidedBy).toBe(0);
    expect(one.rules.map((r) => r.status)).toEqual([
      'exercised',
      ...policy.rules.slice(1).map((_, i) => (c.unreachable.includes(i + 1) ? 'unreachable' : 'not exercised')),
    ]);
    expect(one.unseen).toEqual(['deny', 'default', 'invalid request']);
  });
});
