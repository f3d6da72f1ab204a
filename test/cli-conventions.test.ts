/**
 * What every command shares: --format and --json, --version, examples in
 * --help, usage errors in the house format, shell completion; and the
 * per-command conventions: eval --fail-on-deny, lint --ignore and
 * --deny-warnings, diff --json patterns, case-table failures.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { cli, EXAMPLES, ROOT, tempFile } from './helpers.js';

const ex = (name: string) => join(EXAMPLES, name);
const production = ex('production.json');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** The commands `mcp-policy --help` lists, from its own help text. */
async function listedCommands(): Promise<string[]> {
  const help = (await cli(['--help'])).stdout;
  const section = help.slice(help.indexOf('Commands:'));
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

describe('conventions shared by every command', () => {
  it('--version prints the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await cli([flag]);
      expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('--help of every command ends with examples that use the command', async () => {
    const commands = await listedCommands();
    expect(commands).toEqual(expect.arrayContaining(['check', 'eval', 'lint', 'serve', 'proxy', 'completion']));
    for (const command of [...commands, 'bundles serve']) {
      const r = await cli([...command.split(' '), '--help']);
      expect(r.code, command).toBe(0);
      const examples = r.stdout.slice(r.stdout.indexOf('\nExamples:\n'));
      expect(examples, command).toMatch(new RegExp(`^ {2}\\$ .*mcp-policy ${command}( |$)`, 'm'));
    }
  });

  it('usage errors from the parser are one line, mcp-policy: message (usage), exit 2', async () => {
    const cases: [string[], string][] = [
      [
        ['check', production, '--formt', 'json'],
        'mcp-policy: unknown option "--formt"; did you mean "--format"? (usage)\n',
      ],
      [['chek', production], 'mcp-policy: unknown command "chek"; did you mean "check"? (usage)\n'],
      [['check'], 'mcp-policy: missing required argument "file" (usage)\n'],
      [
        ['check', production, '--format', 'xml'],
        'mcp-policy: option "--format <format>" argument "xml" is invalid; allowed choices are text, json (usage)\n',
      ],
      [
        ['check', production, '--format', 'json', '--json'],
        'mcp-policy: option "--json" cannot be used with option "--format <format>" (usage)\n',
      ],
    ];
    for (const [args, stderr] of cases) {
      const r = await cli(args);
      expect(r, args.join(' ')).toEqual({ code: 2, stdout: '', stderr });
    }
  });

  it('--format json and --json are the same on the commands that had --json', async () => {
    for (const args of [
      ['check', production],
      ['lint', production],
      ['diff', ex('block-server.json'), production],
    ]) {
      const a = await cli([...args, '--format', 'json']);
      const b = await cli([...args, '--json']);
      expect(a.code, args[0]).toBe(b.code);
      expect(a.stdout, args[0]).toBe(b.stdout);
      expect(() => JSON.parse(a.stdout) as unknown, args[0]).not.toThrow();
      const text = await cli([...args, '--format', 'text']);
      expect(text.stdout, args[0]).toBe((await cli(args)).stdout);
    }
  });

  it('config gains text output: one line per directive with its source', async () => {
    const values = ex('enterprise/values.yaml');
    const json = await cli(['config', values, '--engine', 'native']);
    expect(json.code).toBe(0);
    const config = JSON.parse(json.stdout) as { directives: Record<string, { value: unknown; source: string }> };
    const text = await cli(['config', values, '--engine', 'native', '--format', 'text']);
    expect(text.code).toBe(0);
    const entries = Object.entries(config.directives);
    expect(entries.length).toBeGreaterThan(0);
    for (const [key, { value, source }] of entries) {
      expect(text.stdout).toContain(`${key} = ${JSON.stringify(value)} (${source})\n`);
    }
    expect(text.stdout).toMatch(/^degraded mode: /m);
  });

  it('compile and eval take --format too', async () => {
    const out = join(tempFile('x', '').replace(/x$/, ''), 'out');
    const compiled = await cli(['compile', production, '-o', out, '--format', 'json']);
    expect(compiled.code, compiled.stderr).toBe(0);
    const summary = JSON.parse(compiled.stdout) as { out: string; revision: string; files: string[] };
    expect(summary.out).toBe(out);
    expect(summary.files).toContain('bundle.tar.gz');
    expect(summary.revision).toMatch(/^[0-9a-f]{12,}$/);
    const requests =
      '{"action":"load","serverType":"registry","serverSource":"docker.io/mcp/x"}\n{"tool":"delete_x"}\n';
    const text = await cli(['eval', join(out, 'bundle.tar.gz'), '--format', 'text'], requests);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(/^allow \(rule 0\): /);
    expect(lines[1]).toMatch(/^deny \(rule 2\): /);
  });
});

describe('difftest --format json', () => {
  it('prints one JSON summary with the seed and the mismatches', async () => {
    const r = await cli(['difftest', '--cases', '1', '--seed', '7', '--engine', 'native,native', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { seed: number; cases: number; mismatches: unknown[] };
    expect(out.seed).toBe(7);
    expect(out.cases).toBeGreaterThan(0);
    expect(out.mismatches).toEqual([]);
  });
});

describe('the installed command (bin/mcp-policy.js on dist/)', () => {
  const bin = join(ROOT, 'bin', 'mcp-policy.js');
  const run = (args: string[], input = '') =>
    spawnSync(process.execPath, [bin, ...args], { input, encoding: 'utf8', cwd: ROOT });

  it('finds its version from dist/, and exits 2 and 3 as a shell sees them', () => {
    expect(run(['--version']).stdout).toBe(`${version}\n`);
    const usage = run(['eval', '--formt', 'json']);
    expect([usage.status, usage.stderr]).toEqual([
      2,
      'mcp-policy: unknown option "--formt"; did you mean "--format"? (usage)\n',
    ]);
    const denied = run(['eval', production, '--engine', 'native', '--fail-on-deny'], '{"tool":"delete_x"}\n');
    expect(denied.status, denied.stderr).toBe(3);
    expect(denied.stdout).toMatch(/^\{"allowed":false,/);
  });
});

describe('eval --fail-on-deny', () => {
  const allowed = '{"action":"load","serverType":"registry","serverSource":"docker.io/mcp/x"}\n';
  const denied = '{"action":"invoke","server":"x","tool":"delete_x"}\n';

  it('exits 3 when any decision denies, after printing every decision', async () => {
    const r = await cli(['eval', production, '--engine', 'native', '--fail-on-deny'], allowed + denied + allowed);
    expect(r.code).toBe(3);
    const decisions = r.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { allowed: boolean }).allowed);
    expect(decisions).toEqual([true, false, true]);
  });

  it('exits 0 when every decision allows, and without the flag whatever the decisions', async () => {
    expect((await cli(['eval', production, '--engine', 'native', '--fail-on-deny'], allowed + allowed)).code).toBe(0);
    expect((await cli(['eval', production, '--engine', 'native'], denied)).code).toBe(0);
  });

  it('counts a request that is not JSON as denied, since it is', async () => {
    const r = await cli(['eval', production, '--engine', 'native', '--fail-on-deny'], `${allowed}not json\n`);
    expect(r.code).toBe(3);
  });
});

describe('lint --ignore and --deny-warnings', () => {
  // production.json has warnings only: redundant rules, a tools rule without a server, blocked tools and prompts.
  it('--deny-warnings exits 1 on a warning; --ignore drops findings by code', async () => {
    const plain = await cli(['lint', production]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('(redundant_rule)');
    expect((await cli(['lint', production, '--deny-warnings'])).code).toBe(1);

    const ignored = await cli([
      'lint',
      production,
      '--ignore',
      'redundant_rule',
      '--ignore',
      'tool_rule_without_server,tools_blocked_by_default,prompts_blocked_by_default',
      '--deny-warnings',
    ]);
    expect(ignored.stdout).not.toContain('(redundant_rule)');
    expect(ignored.stdout).toMatch(/: 0 errors, 0 warnings, \d+ ignored\n$/);
    expect(ignored.code).toBe(0);

    const all = 'redundant_rule,tool_rule_without_server,tools_blocked_by_default,prompts_blocked_by_default';
    const json = await cli(['lint', production, '--ignore', all, '--json']);
    const out = JSON.parse(json.stdout) as { findings: unknown[]; warnings: number; ignored: number };
    expect(out.findings).toEqual([]);
    expect(out.warnings).toBe(0);
    expect(out.ignored).toBeGreaterThan(0);
  });

  it('an ignored error-level finding no longer fails the run', async () => {
    const file = tempFile('deny-only.json', JSON.stringify({ default: 'deny', rules: [{ server: 'x', deny: true }] }));
    const r = await cli(['lint', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('(deny_only)');
    expect((await cli(['lint', file, '--ignore', 'deny_only'])).code).toBe(0);
  });

  it('an unknown code is a usage error with a suggestion', async () => {
    const r = await cli(['lint', production, '--ignore', 'redundant_rules']);
    expect(r).toEqual({
      code: 2,
      stdout: '',
      stderr: 'mcp-policy: --ignore: unknown lint code "redundant_rules"; did you mean "redundant_rule"? (usage)\n',
    });
  });
});

describe('diff --json', () => {
  it('prints patterns as the policy wrote them, not as JSON inside JSON', async () => {
    const r = await cli(['diff', ex('block-server.json'), production, '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as {
      diff: { changes: { regions: Record<string, { matches?: unknown[]; notMatches?: unknown[] }>[] }[] };
    };
    const patterns = out.diff.changes.flatMap((c) =>
      c.regions.flatMap((region) =>
        Object.values(region).flatMap((f) => [...(f.matches ?? []), ...(f.notMatches ?? [])]),
      ),
    );
    expect(patterns).toContain('docker.io/mcp/*');
    for (const p of patterns) if (typeof p === 'string') expect(p).not.toMatch(/^"/);
    // The text output still quotes them, as before.
    expect((await cli(['diff', ex('block-server.json'), production])).stdout).toContain(
      'serverSource matches "docker.io/mcp/*"',
    );
  });
});

describe('case-table output', () => {
  const wrong = {
    requests: [
      {
        note: 'right',
        request: { action: 'load', serverType: 'registry', serverSource: 'docker.io/mcp/x' },
        expect: { allowed: true, rule: 0 },
      },
      { note: 'wrong on purpose', request: { tool: 'delete_x' }, expect: { allowed: true, rule: null } },
    ],
  };

  it('shows the expected and the actual decision once for engines that agree', async () => {
    const r = await cli(['test', production, tempFile('cases.json', JSON.stringify(wrong)), '--engine', 'native,wasm']);
    expect(r.code).toBe(1);
    const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL '));
    expect(fails).toHaveLength(1);
    expect(fails[0]).toMatch(
      /: \/requests\/1 \(wrong on purpose\) \[native, wasm\]: allowed is false, expected true; rule is 2, expected null$/,
    );
    expect(r.stdout).toContain('  expected: {"allowed":true,"rule":null}\n');
    expect(r.stdout).toMatch(/ {2}actual: {3}\{"allowed":false,"reason":"[^"]+","rule":2\}\n/);
    expect(r.stdout).toContain('test: 2 cases on native, wasm, 1 failures');
  });

  it('--format json gives the failures with their engines, expectation and decision', async () => {
    const r = await cli([
      'test',
      production,
      tempFile('cases.json', JSON.stringify(wrong)),
      '--engine',
      'native,wasm',
      '--format',
      'json',
    ]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { passed: boolean; failures: Record<string, unknown>[] };
    expect(out.passed).toBe(false);
    expect(out.failures).toHaveLength(1);
    expect(out.failures[0]).toMatchObject({
      where: '/requests/1',
      engines: ['native', 'wasm'],
      expected: { allowed: true, rule: null },
      actual: { allowed: false, rule: 2 },
    });
    const ok = await cli(['test', ex('production.json'), ex('production.cases.json'), '--engine', 'native', '--json']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { passed: boolean }).passed).toBe(true);
  });

  it('an unknown key in a case table gets a did-you-mean with its pointer', async () => {
    const table = { requests: [{ request: { tool: 'x' }, expected: { allowed: true } }] };
    const r = await cli(['test', production, tempFile('cases.json', JSON.stringify(table))]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /cases\.json: \/requests\/0\/expected: unknown field "expected"; did you mean "expect"\? \(invalid_cases\)\n$/,
    );
    const deeper = { requests: [{ request: {}, expect: { allowed: true, rules: 0 } }] };
    const d = await cli(['test', production, tempFile('cases.json', JSON.stringify(deeper))]);
    expect(d.stderr).toContain('/requests/0/expect/rules: unknown field "rules"; did you mean "rule"?');
  });
});

describe('mcp-policy completion', () => {
  it('bash: a valid script that offers every command and, after one, its options', async () => {
    const r = await cli(['completion', 'bash']);
    expect(r.code).toBe(0);
    const file = tempFile('mcp-policy.bash', r.stdout);
    const syntax = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
    expect(syntax.status, syntax.stderr).toBe(0);
    // Run the completion function as bash would, for `mcp-policy <TAB>` and `mcp-policy lint --<TAB>`.
    const complete = (words: string[]): string[] => {
      const script = `source ${JSON.stringify(file)}
COMP_WORDS=(${words.map((w) => JSON.stringify(w)).join(' ')}); COMP_CWORD=${words.length - 1}
_mcp_policy; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const out = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(out.status, out.stderr).toBe(0);
      return out.stdout.split('\n').filter((l) => l !== '');
    };
    expect(complete(['mcp-policy', ''])).toEqual(expect.arrayContaining(await listedCommands()));
    expect(complete(['mcp-policy', 'lint', '--'])).toEqual(
      expect.arrayContaining(['--ignore', '--deny-warnings', '--format', '--json', '--help']),
    );
    expect(complete(['mcp-policy', 'eval', '--format', ''])).toEqual(['text', 'json']);
    expect(complete(['mcp-policy', 'bundles', ''])).toEqual(expect.arrayContaining(['serve']));
  });

  it('zsh and fish: every command is offered', async () => {
    const commands = await listedCommands();
    for (const shell of ['zsh', 'fish']) {
      const r = await cli(['completion', shell]);
      expect(r.code, shell).toBe(0);
      for (const c of commands) expect(r.stdout, `${shell} ${c}`).toContain(c);
    }
    const zsh = (await cli(['completion', 'zsh'])).stdout;
    expect(zsh).toMatch(/^#compdef mcp-policy\n/);
    // Each command is a _describe entry, name and description, one quoted word.
    for (const c of commands) expect(zsh).toMatch(new RegExp(`^ {4}'${c}:[^'\n]`, 'm'));
    expect((await cli(['completion', 'fish'])).stdout).toContain("-n '__fish_seen_subcommand_from lint' -l ignore");
  });

  it('refuses an unknown shell as a usage error', async () => {
    const r = await runCli(['completion', 'tcsh'], {
      stdout: () => undefined,
      stderr: () => undefined,
      readStdin: () => Promise.resolve(''),
    });
    expect(r).toBe(2);
  });
});
