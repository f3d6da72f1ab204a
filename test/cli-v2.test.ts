/**
 * The commands an admin runs on a version 2 policy, through the installed bin
 * (bin/mcp-policy.js on dist/, as from a fresh clone after `npm ci`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempFile } from './helpers.js';

const BIN = join(ROOT, 'bin', 'mcp-policy.js');
const V2 = join('examples', 'v2');
const FOLDER = join(V2, 'filesystem-folder.json');
const GROUP = join(V2, 'delete-platform-group.json');

/** Runs the bin from the project root (so paths print as written), with `input` on standard input. */
function run(args: string[], input = ''): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, input, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const jsonLines = (...requests: unknown[]): string => requests.map((r) => JSON.stringify(r)).join('\n') + '\n';

const escape = {
  action: 'invoke',
  server: 'filesystem',
  tool: 'read_file',
  arguments: { path: '/srv/projects/../../etc/passwd' },
};
const inside = { action: 'invoke', server: 'filesystem', tool: 'read_file', arguments: { path: '/srv/projects/a.md' } };
const mixedList = {
  action: 'invoke',
  server: 'filesystem',
  tool: 'read_multiple_files',
  arguments: { paths: ['/srv/projects/a.md', '/etc/passwd'] },
};

describe('mcp-policy check on version 2', () => {
  it('accepts each example and warns that Docker Desktop reads version 1 only', () => {
    const r = run(['check', FOLDER]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${FOLDER}: valid: 11 rules, default deny`);
    expect(r.stdout + r.stderr).toContain('(docker_version_1_only)');
    const json = run(['check', GROUP, '--format', 'json']);
    expect(json.code).toBe(0);
    const out = JSON.parse(json.stdout) as { valid: boolean; errors: unknown[]; warnings: { code: string }[] };
    expect(out).toMatchObject({ valid: true, errors: [] });
    expect(out.warnings.map((w) => w.code)).toEqual(['docker_version_1_only']);
  });

  it('rejects a version 2 key in a version 1 policy at its pointer, and exits 1', () => {
    const file = tempFile(
      'v1.json',
      JSON.stringify({
        version: 1,
        default: 'deny',
        rules: [{ tools: ['delete_*'], groups: ['platform'], allow: true }],
      }),
    );
    const r = run(['check', file, '--format', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: { code: string; path: string }[] };
    expect(out.valid).toBe(false);
    expect(out.errors.map((e) => `${e.path} ${e.code}`)).toEqual(['/rules/0/groups needs_version_2']);
  });

  it('names the condition a misplaced key is in', () => {
    const file = tempFile(
      'p.json',
      JSON.stringify({
        version: 2,
        default: 'deny',
        rules: [{ arguments: [{ path: '/path', present: true, not: true }], allow: true }],
      }),
    );
    const r = run(['check', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/rules/0/arguments/0/not');
    expect(r.stderr).toContain('(misplaced_key)');
  });
});

describe('mcp-policy eval on version 2', () => {
  const requests = jsonLines(inside, escape, mixedList, { ...inside, arguments: { path: 42 } });
  const expected = [
    '{"allowed":true,"reason":"The file is under /srv/projects","rule":7}',
    '{"allowed":false,"reason":"Files outside /srv/projects are off limits","rule":10}',
    '{"allowed":false,"reason":"Files outside /srv/projects are off limits","rule":2}',
    '{"allowed":false,"reason":"Files outside /srv/projects are off limits","rule":10}',
  ];

  for (const engine of ['native', 'wasm', 'opa']) {
    it(`decides paths, lists and wrong types on ${engine}`, () => {
      const r = run(['eval', FOLDER, '--engine', engine], requests);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trimEnd().split('\n')).toEqual(expected);
    });
  }

  it('denies an invalid principal with the error, and exits 3 on a deny with --fail-on-deny', () => {
    const call = { action: 'invoke', server: 'filesystem', tool: 'delete_file' };
    const r = run(
      ['eval', GROUP, '--engine', 'native', '--format', 'text', '--fail-on-deny'],
      jsonLines({ ...call, principal: { sub: 'alice', groups: ['platform'], claims: { amr: ['mfa'] } } }, call, {
        ...call,
        principal: { groups: 'platform' },
      }),
    );
    expect(r.code).toBe(3);
    expect(r.stdout.trimEnd().split('\n')).toEqual([
      'allow (rule 0): The platform group may delete, after signing in with a second factor',
      'deny (rule 1): Only the platform group may call delete_* tools',
      'deny (default): invalid request [error: field "principal.groups" must be an array of strings]',
    ]);
  });
});

describe('mcp-policy explain on version 2', () => {
  it('shows the argument condition that failed on the cleaned path, and the decision', () => {
    const r = run(['explain', FOLDER], JSON.stringify(escape));
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    const rule7 = lines.find((l) => l.startsWith('rule 7:'));
    expect(rule7).toContain('/path');
    expect(rule7).toContain('"/srv/projects/../../etc/passwd"');
    // The value as matched, after cleaning.
    expect(rule7).toContain('"/etc/passwd"');
    expect(lines.find((l) => l.startsWith('rule 10:'))).toContain('match');
    expect(r.stdout).toContain(
      'decision: {"allowed":false,"reason":"Files outside /srv/projects are off limits","rule":10}',
    );
  });

  it('says a group rule failed for a request without a principal', () => {
    const r = run(['explain', GROUP, '--format', 'json'], JSON.stringify({ tool: 'delete_file' }));
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      rules: { matched: boolean; failed: { field?: string; key?: string }[] }[];
      decision: { rule: number | null };
    };
    expect(out.rules[0]!.matched).toBe(false);
    expect(JSON.stringify(out.rules[0]!.failed)).toContain('groups');
    expect(out.rules[1]!.matched).toBe(true);
    expect(out.decision.rule).toBe(1);
  });
});

describe('mcp-policy lint on version 2', () => {
  it('finds no error in the examples', () => {
    for (const name of [
      'filesystem-folder',
      'github-organisation',
      'delete-platform-group',
      'destructive-annotations',
      'resources-prefix',
    ]) {
      const r = run(['lint', join(V2, `${name}.json`), '--format', 'json']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout) as { errors: number; findings: { code: string }[] };
      expect(out.errors, name).toBe(0);
    }
  });

  it('says which conditions it cannot analyse exactly: every condition that cleans paths', () => {
    const r = run(['lint', FOLDER, '--format', 'json']);
    const out = JSON.parse(r.stdout) as { findings: { code: string; path: string }[] };
    expect(out.findings.filter((f) => f.code === 'inexact_analysis').map((f) => f.path)).toEqual([
      '/rules/1/arguments/0',
      '/rules/2/arguments/0',
      '/rules/3/arguments/0',
      '/rules/4/arguments/0',
      '/rules/7/arguments/0',
      '/rules/8/arguments/0',
      '/rules/8/arguments/1',
    ]);
    expect(out.findings.map((f) => f.code)).not.toContain('shadowed_rule');
  });

  it('shows a request the group exception takes from the deny rule after it', () => {
    const r = run(['lint', GROUP, '--format', 'json']);
    const out = JSON.parse(r.stdout) as { findings: { code: string; path: string; witness?: unknown }[] };
    const partial = out.findings.find((f) => f.code === 'partially_shadowed');
    expect(partial?.path).toBe('/rules/1');
    // The witness is allowed by rule 0, and rule 1 would deny it were rule 0 not there.
    const witness = JSON.stringify(partial!.witness);
    expect(JSON.parse(run(['eval', GROUP, '--engine', 'native'], witness).stdout)).toMatchObject({ rule: 0 });
    const policy = JSON.parse(readFileSync(join(ROOT, GROUP), 'utf8')) as { rules: unknown[] };
    const withoutException = tempFile('p.json', JSON.stringify({ ...policy, rules: policy.rules.slice(1) }));
    expect(JSON.parse(run(['eval', withoutException, '--engine', 'native'], witness).stdout)).toMatchObject({
      allowed: false,
      rule: 0,
      reason: 'Only the platform group may call delete_* tools',
    });
  });

  it('reports a deny rule that an earlier group rule makes unreachable, with exit 1', () => {
    const file = tempFile(
      'p.json',
      JSON.stringify({
        version: 2,
        default: 'allow',
        rules: [
          { action: 'invoke', tools: ['delete_*'], allow: true },
          { action: 'invoke', tools: ['delete_file'], groups: ['interns'], deny: true, reason: 'too late' },
        ],
      }),
    );
    const r = run(['lint', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      '/rules/1: rule 1 can never decide: rule 0 decides every request it matches (shadowed_rule)',
    );
  });
});

describe('mcp-policy diff on version 2', () => {
  it('finds the requests a second group now may delete, with a witness both policies decide as it says', () => {
    const wider = tempFile(
      'wider.json',
      readFileSync(join(ROOT, GROUP), 'utf8').replace('"groups": ["platform"]', '"groups": ["platform", "sre"]'),
    );
    const r = run(['diff', GROUP, wider, '--format', 'json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as {
      diff: { decisionsDiffer: boolean; changes: { kind: string; witness: unknown }[] };
    };
    expect(out.diff.decisionsDiffer).toBe(true);
    // Rule 0 itself changed, so what it decided before counts as decided by another rule (as in version 1).
    expect(out.diff.changes.map((c) => c.kind).sort()).toEqual(['now_allowed', 'rule_changed']);
    const witness = JSON.stringify(out.diff.changes.find((c) => c.kind === 'now_allowed')!.witness);
    expect(witness).toContain('"sre"');
    const before = run(['eval', GROUP, '--engine', 'native'], witness);
    const after = run(['eval', wider, '--engine', 'native'], witness);
    expect(JSON.parse(before.stdout)).toMatchObject({ allowed: false, rule: 1 });
    expect(JSON.parse(after.stdout)).toMatchObject({ allowed: true, rule: 0 });
  });

  it('finds nothing between a policy and itself', () => {
    const r = run(['diff', GROUP, GROUP]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no request is decided differently');
  });
});

describe('mcp-policy test on version 2', () => {
  it('passes an example table on every engine, go-wasm included', () => {
    const r = run(['test', FOLDER, join(V2, 'filesystem-folder.cases.json'), '--engine', 'all']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^test: \d+ cases on native, wasm, opa, go-wasm, 0 failures$/m);
  });

  it('fails a wrong expectation with its pointer and exit 1', () => {
    const cases = tempFile(
      'wrong.cases.json',
      JSON.stringify({
        requests: [{ note: 'escape', request: escape, expect: { allowed: true } }],
      }),
    );
    const r = run(['test', FOLDER, cases, '--engine', 'native,wasm']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`FAIL ${cases}: /requests/0 (escape) [native, wasm]: allowed is false, expected true`);
    expect(r.stdout).toContain('test: 1 cases on native, wasm, 1 failures');
  });
});
