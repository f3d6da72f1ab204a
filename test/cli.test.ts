/** The mcp-policy command line: outputs, error rendering and exit codes. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Policy } from '../src/policy/model.js';
import { bundleFromSources } from '../src/server/bundle-source.js';
import { casePolicyText } from '../src/testing/cases.js';
import { cli, tempFile, caseTables, ENGINE_NAMES, examplePolicies, ROOT } from './helpers.js';
import { bundleFile, CLI, FILESYSTEM, runProxyToExit, viaStdioProxy } from './proxy/helpers.js';

const production = join(ROOT, 'examples', 'production.json');
const bad =
  '{\n  "default": "allow",\n  "rules": [\n    {"action": "execute", "serverTyp": "image", "deny": true}\n  ]\n}\n';

describe('mcp-policy check', () => {
  it('accepts a valid policy with exit 0', async () => {
    const r = await cli(['check', production]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('valid');
  });

  it('renders errors like a compiler and exits 1', async () => {
    const file = tempFile('bad.json', bad);
    const r = await cli(['check', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `${file}:4:16: /rules/0/action: unknown action "execute"; expected one of "load", "invoke", "prompt" (invalid_value)`,
    );
    expect(r.stderr).toContain(
      `${file}:4:27: /rules/0/serverTyp: unknown field "serverTyp"; did you mean "serverType"? (unknown_field)`,
    );
  });

  it('--json prints valid, errors and warnings', async () => {
    const r = await cli(['check', '--json', tempFile('bad.json', bad)]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as {
      valid: boolean;
      errors: { code: string; path: string; message: string }[];
      warnings: unknown[];
    };
    expect(out.valid).toBe(false);
    expect(out.errors.map((e) => [e.code, e.path])).toEqual([
      ['invalid_value', '/rules/0/action'],
      ['unknown_field', '/rules/0/serverTyp'],
    ]);
    expect(out.warnings).toEqual([]);
    const ok = JSON.parse((await cli(['check', '--json', production])).stdout) as { valid: boolean };
    expect(ok).toEqual({ valid: true, errors: [], warnings: [] });
  });

  it('reports errors inside admin-settings.json with the embedding location', async () => {
    const inner = JSON.stringify({ default: 'deny', rules: [{ server: 'x', allow: true, serverTyp: 'y' }] });
    const file = tempFile(
      'admin-settings.json',
      JSON.stringify({ configurationFileVersion: 2, mcpPolicy: { locked: true, value: inner } }),
    );
    const r = await cli(['check', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}: /mcpPolicy/value: /rules/0/serverTyp: unknown field "serverTyp"`);
  });

  it('--json reports the expected code and pointer for every validation table', async () => {
    const tables = caseTables().filter((t) => t.table.errors !== undefined);
    expect(tables.length).toBeGreaterThan(20);
    for (const { name, table } of tables) {
      const enterprise = table.enterpriseText;
      const file =
        enterprise === undefined
          ? tempFile('policy.json', casePolicyText(table)!)
          : tempFile('values.yaml', enterprise);
      const r = await cli(['check', '--json', file]);
      expect(r.code, name).toBe(1);
      const out = JSON.parse(r.stdout) as { valid: boolean; errors: { code: string; path: string; within?: string }[] };
      const key = (e: { code: string; path: string; within?: string | undefined }) =>
        `${e.code} ${e.within ?? ''}${e.path}`;
      expect(out.errors.map(key).sort(), name).toEqual(table.errors!.map(key).sort());
    }
  });

  it('exits 2 for a file that cannot be read', async () => {
    const r = await cli(['check', join(tmpdir(), 'no-such-policy.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read .*no-such-policy\.json: ENOENT \(read_failed\)/);
  });
});

describe('mcp-policy eval', () => {
  const requests = [
    { action: 'load', serverType: 'registry', serverSource: 'mcp/duckduckgo@sha256:0123' },
    { tool: 'delete_everything' },
    { action: 'load', serverType: 'remote', serverSource: 'https://mcp.example.com' },
  ];
  const jsonl = `${requests.map((r) => JSON.stringify(r)).join('\n')}\n{oops\n`;

  it('prints one decision per line, in order, identically on every engine', async () => {
    const outputs: string[] = [];
    for (const engine of ENGINE_NAMES) {
      const r = await cli(['eval', production, '--engine', engine], jsonl);
      expect(r.code, r.stderr).toBe(0);
      outputs.push(r.stdout);
    }
    const lines = outputs[0]!
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { allowed: boolean; rule: number | null; error?: string });
    expect(lines.map((d) => [d.allowed, d.rule])).toEqual([
      [true, 0],
      [false, 2],
      [false, 3],
      [false, null],
    ]);
    expect(lines[3]!.error).toMatch(/^line 4: invalid JSON/);
    expect(outputs[1]).toBe(outputs[0]);
    expect(outputs[2]).toBe(outputs[0]);
  });

  it('gives the same output on every engine for every example table', async () => {
    for (const e of examplePolicies()) {
      const table = JSON.parse(readFileSync(e.casesFile, 'utf8')) as { requests: { request: unknown }[] };
      const input = table.requests.map((c) => JSON.stringify(c.request)).join('\n');
      const outputs = await Promise.all(
        ENGINE_NAMES.map((engine) => cli(['eval', e.policyFile, '--engine', engine], input)),
      );
      expect(outputs[0]!.stdout.trim().split('\n')).toHaveLength(table.requests.length);
      for (const o of outputs) expect(o.stdout, `${e.name}: ${o.stderr}`).toBe(outputs[0]!.stdout);
    }
  });

  it('reads a single pretty-printed request from --input', async () => {
    const file = tempFile('req.json', JSON.stringify(requests[1], null, 2));
    const r = await cli(['eval', production, '--input', file, '--engine', 'native']);
    expect(r.stdout).toBe('{"allowed":false,"reason":"Block destructive operations across all servers","rule":2}\n');
  });

  it('evaluates a compiled bundle and a bare policy.wasm', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mcp-policy-cli-')), 'prod');
    expect((await cli(['compile', production, '-o', out])).code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['bundle.tar.gz', 'data.json', 'lib.rego', 'policy.rego', 'policy.wasm']);
    const fromPolicy = await cli(['eval', production], jsonl);
    for (const artefact of ['bundle.tar.gz', 'policy.wasm']) {
      const r = await cli(['eval', join(out, artefact)], jsonl);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(fromPolicy.stdout);
    }
    const native = await cli(['eval', join(out, 'bundle.tar.gz'), '--engine', 'native'], jsonl);
    expect(native.code).toBe(2);
    expect(native.stderr).toContain('needs the policy');
  });

  it('refuses compile options with a compiled bundle, as serve does, before reading anything they name', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mcp-policy-cli-')), 'prod');
    expect((await cli(['compile', production, '-o', out])).code).toBe(0);
    const bundle = join(out, 'bundle.tar.gz');
    let served: unknown;
    await bundleFromSources({ file: bundle, enterprise: '/nonexistent.yaml' }).catch((e: unknown) => (served = e));
    expect(served).toMatchObject({ code: 'usage' });
    for (const flag of ['--enterprise', '--admin-console', '--user-policy']) {
      const r = await cli(['eval', bundle, flag, '/nonexistent.yaml'], '{"tool":"x"}');
      expect(r.code, flag).toBe(2);
      expect(r.stdout, flag).toBe('');
      expect(r.stderr, flag).toBe(`mcp-policy: ${(served as Error).message} (usage)\n`);
    }
  });

  it('reports the issues of every source file, each with its file, before deciding', async () => {
    const enterprise = tempFile('enterprise.yaml', 'playground: {value: yes, enforcement: default}\n');
    const r = await cli(['eval', tempFile('bad.json', bad), '--enterprise', enterprise, '--engine', 'native'], '{}');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bad\.json:4:\d+: \/rules\/0\/action: .* \(invalid_value\)/);
    expect(r.stderr).toMatch(/enterprise\.yaml:1:\d+: \/playground\/value: .* \(invalid_type\)/);
  });

  it('refuses an invalid policy with exit 1 before reading requests', async () => {
    const r = await cli(['eval', tempFile('bad.json', bad), '--engine', 'native'], '{}');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
  });

  it('rejects an unknown engine as a usage error', async () => {
    const r = await cli(['eval', production, '--engine', 'magic'], '{}');
    expect(r.code).toBe(2);
  });
});

describe('mcp-policy test', () => {
  it('passes a correct table on all engines and fails a wrong one with exit 1', async () => {
    const cases = {
      requests: [
        {
          note: 'registry',
          request: { action: 'load', serverType: 'registry', serverSource: 'docker.io/mcp/x' },
          expect: { allowed: true, rule: 0 },
        },
        { note: 'wrong on purpose', request: { tool: 'delete_x' }, expect: { allowed: true, rule: null } },
      ],
    };
    const file = tempFile('cases.json', JSON.stringify(cases));
    const r = await cli(['test', production, file]);
    expect(r.code).toBe(1);
    // The engines agree, so the failure is reported once, naming them all.
    expect(r.stdout).toContain(
      `/requests/1 (wrong on purpose) [native, wasm, opa]: allowed is false, expected true; rule is 2, expected null`,
    );
    expect(r.stdout).toContain('test: 2 cases on native, wasm, opa, 1 failures');
    cases.requests.pop();
    const ok = await cli([
      'test',
      production,
      tempFile('cases.json', JSON.stringify(cases)),
      '--engine',
      'native,wasm',
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('test: 1 cases on native, wasm, 0 failures');
  });

  it('runs every example table through the CLI', async () => {
    for (const e of examplePolicies()) {
      const r = await cli(['test', e.policyFile, e.casesFile]);
      expect(r.code, `${e.name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });
});

describe('mcp-policy difftest', () => {
  it('takes --engine like every command, and still the --engines of earlier releases', async () => {
    for (const flag of ['--engine', '--engines']) {
      const r = await cli(['difftest', '--cases', '1', '--seed', '1', flag, 'native,native']);
      expect(r.code, `${flag}: ${r.stderr}`).toBe(0);
      expect(r.stderr).toContain('engines native, native');
    }
    const one = await cli(['difftest', '--engine', 'native']);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('difftest needs at least two engines (usage)');
  });
});

describe('mcp-policy proxy sources', () => {
  const NO_WRITES = {
    version: 1,
    default: 'allow',
    rules: [{ action: 'load', server: 'filesystem', tools: ['write_*'], allow: false, reason: 'read only' }],
  };
  const admin = (locked: boolean): string =>
    tempFile(
      'admin-settings.json',
      JSON.stringify({ configurationFileVersion: 2, mcpPolicy: { locked, value: JSON.stringify(NO_WRITES) } }),
    );
  const mine = tempFile('mine.json', JSON.stringify({ version: 1, default: 'allow', rules: [] }));
  const server = ['--', process.execPath, FILESYSTEM, mkdtempSync(join(tmpdir(), 'mcp-policy-cli-fs-'))];

  async function listed(args: readonly string[]): Promise<string[]> {
    const c = await viaStdioProxy([...args, ...server]);
    try {
      return (await c.client.listTools()).tools.map((t) => t.name);
    } finally {
      await c.close();
    }
  }

  it('layers a user policy over an unlocked admin policy and ignores it under a locked one, as eval does', async () => {
    expect(await listed([admin(false), '--user-policy', mine])).toContain('write_file');
    expect(await listed([admin(true), '--user-policy', mine])).not.toContain('write_file');
  });

  it('refuses compile options with a bundle, and names the file of every invalid source', async () => {
    const bundle = await bundleFile(NO_WRITES as Policy);
    const usage = await runProxyToExit([bundle, '--enterprise', '/nonexistent.yaml', ...server]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('compile options apply to policy files only (usage)');
    const enterprise = tempFile('enterprise.yaml', 'playground: {value: yes, enforcement: default}\n');
    const invalid = await runProxyToExit([admin(true), '--enterprise', enterprise, ...server]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/enterprise\.yaml:1:\d+: \/playground\/value: .* \(invalid_type\)/);
  });
});

describe('module loading', () => {
  /** The modules a CLI run resolves, recorded by a resolve hook that runs before the CLI's first import. */
  function resolvedBy(args: readonly string[]): { status: number | null; urls: string[] } {
    const dir = mkdtempSync(join(tmpdir(), 'mcp-policy-loads-'));
    const record = join(dir, 'resolved.txt');
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(${JSON.stringify(record)}, resolved.url + '\\n');
  return resolved;
}
`,
    );
    const register = join(dir, 'register.mjs');
    writeFileSync(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    const run = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, CLI, ...args], {
      encoding: 'utf8',
    });
    return { status: run.status, urls: readFileSync(record, 'utf8').split('\n').filter(Boolean) };
  }
  const generators = (url: string): boolean => /\/fast-check\/|\/src\/difftest\//.test(url);

  it('loads the generators only for difftest', () => {
    const check = resolvedBy(['check', production]);
    expect(check.status).toBe(0);
    expect(check.urls.some((u) => u.endsWith('/dist/src/cli/main.js'))).toBe(true);
    expect(check.urls.filter(generators)).toEqual([]);
    const difftest = resolvedBy(['difftest', '--cases', '1', '--seed', '1', '--engine', 'native,native']);
    expect(difftest.status).toBe(0);
    expect(difftest.urls.some(generators)).toBe(true);
  });
});

describe('installed bin', () => {
  it('runs from package.json bin with the documented exit codes', () => {
    const bin = join(ROOT, 'bin', 'mcp-policy.js');
    expect(readFileSync(join(ROOT, 'package.json'), 'utf8')).toContain('"mcp-policy": "bin/mcp-policy.js"');
    const out = execFileSync(process.execPath, [bin, 'eval', production, '--engine', 'wasm'], {
      input: '{"action":"load","serverType":"remote"}',
      encoding: 'utf8',
    });
    expect(out).toBe('{"allowed":false,"reason":"Block remote servers for security","rule":3}\n');
    const invalid = spawnSync(process.execPath, [bin, 'check', tempFile('bad.json', bad)], { encoding: 'utf8' });
    expect(invalid.status).toBe(1);
    const usage = spawnSync(process.execPath, [bin, 'frobnicate'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
  });
});
