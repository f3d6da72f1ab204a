/** The analysis commands end to end, on Docker's documented policies in examples/. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, EXAMPLES, tempFile } from './helpers.js';

const ex = (name: string) => join(EXAMPLES, name);

describe('mcp-policy lint', () => {
  it('reports the redundant deny rules and the tools rule without a server in the production example', async () => {
    const r = await cli(['lint', ex('production.json'), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { findings: { code: string; path: string }[]; errors: number };
    expect(out.errors).toBe(0);
    expect(out.findings.map((f) => `${f.path} ${f.code}`)).toEqual(
      expect.arrayContaining([
        '/rules/2 redundant_rule',
        '/rules/2 tool_rule_without_server',
        '/rules/3 redundant_rule',
      ]),
    );
  });

  it('reports the documented default-deny pitfall: a server that loads but whose tools stay blocked', async () => {
    const r = await cli(['lint', ex('default-deny-allowlist.json')]);
    expect(r.stdout).toContain(
      '/rules/1: rule 1 lets "github-official" load, but under default deny no rule allows invoking any of its tools (tools_blocked_by_default)',
    );
    const fixed = await cli(['lint', ex('default-deny-load-invoke.json'), '--json']);
    expect(fixed.stdout).not.toContain('tools_blocked_by_default');
  });

  it('exits 1 on a shadowed rule (here through image canonicalisation) and names the rules that shadow it', async () => {
    const file = tempFile(
      'p.json',
      JSON.stringify({
        version: 1,
        default: 'deny',
        rules: [
          { action: 'load', serverSource: 'docker.io/mcp/*', allow: true },
          { action: 'load', serverSource: 'mcp/github', allow: false, reason: 'too late' },
        ],
      }),
    );
    const r = await cli(['lint', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'error: /rules/1: rule 1 can never decide: rule 0 decides every request it matches (shadowed_rule)',
    );
  });

  it('reads admin-settings.json and reports invalid policies like check', async () => {
    expect((await cli(['lint', ex('admin-settings.json')])).code).toBe(0);
    const bad = tempFile('bad.json', '{"default":"deny","rules":[{"serverTyp":"image","allow":true}]}');
    const r = await cli(['lint', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('(unknown_field)');
  });
});

describe('mcp-policy diff', () => {
  it('is empty and exits 0 for a policy and its admin-settings wrapping', async () => {
    const inner = tempFile(
      'inner.json',
      '{"version":1,"default":"deny","rules":[{"action":"load","server":"approved-server","allow":true,"reason":"Approved for use"}]}',
    );
    const r = await cli(['diff', ex('admin-settings.json'), inner]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no request is decided differently');
  });

  it('describes each changed region with a witness and exits 1, and replays recorded requests', async () => {
    const r = await cli([
      'diff',
      ex('block-server.json'),
      ex('production.json'),
      '--json',
      '--requests',
      join(EXAMPLES, 'production.requests.jsonl'),
    ]);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as {
      diff: { decisionsDiffer: boolean; changes: { kind: string; witness: unknown }[] };
      replay: { total: number; nowDenied: number; nowAllowed: number; ruleChanged: number; unchanged: number };
    };
    expect(out.diff.decisionsDiffer).toBe(true);
    expect(out.diff.changes.some((c) => c.kind === 'now_denied')).toBe(true);
    expect(out.replay).toMatchObject({ total: 8, nowDenied: 4, nowAllowed: 0, ruleChanged: 3, unchanged: 1 });
    const text = await cli([
      'diff',
      ex('block-server.json'),
      ex('production.json'),
      '--requests',
      join(EXAMPLES, 'production.requests.jsonl'),
    ]);
    expect(text.stdout).toContain('8 requests replayed: 4 would now be denied');
  });

  it('reads decision-log lines and rejects a line that is not JSON with its line number', async () => {
    const log = tempFile(
      'log.jsonl',
      `${JSON.stringify({ decision_id: '1', input: { action: 'load', server: 'untrusted-server' }, result: { allowed: false } })}\n`,
    );
    const r = await cli(['diff', ex('block-server.json'), ex('production.json'), '--json', '--requests', log]);
    // Denied by rule 0 before, by the default after: the decision log entry's request was read.
    expect((JSON.parse(r.stdout) as { replay: object }).replay).toMatchObject({
      total: 1,
      nowDenied: 0,
      ruleChanged: 1,
    });
    const bad = tempFile('bad.jsonl', '{"action":"load"}\n{oops\n');
    const e = await cli(['diff', ex('block-server.json'), ex('production.json'), '--requests', bad]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/line 2: invalid json: .*\(invalid_requests\)/);
  });
});

describe('mcp-policy explain', () => {
  it('shows every rule, the failing field with the canonical image form tried, and the decision', async () => {
    const r = await cli(
      ['explain', ex('production.json')],
      '{"action":"load","server":"x","serverType":"registry","serverSource":"ghcr.io/o/x:1"}',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('rule 0: no match: serverSource "ghcr.io/o/x:1" does not match "docker.io/mcp/*"');
    expect(r.stdout).toContain('decision: {"allowed":false,"reason":"no rule matched; default deny","rule":null}');
    const short = await cli(
      ['explain', ex('production.json'), '--json'],
      '{"action":"load","serverType":"registry","serverSource":"mcp/x"}',
    );
    const x = JSON.parse(short.stdout) as { rules: { matched: boolean; failed: { tried?: string[] }[] }[] };
    expect(x.rules[0]!.matched).toBe(true);
    expect(x.rules[1]!.failed[0]!.tried).toEqual(['mcp/x', 'docker.io/mcp/x']);
  });

  it('asks for the policy JSON when given a compiled bundle', async () => {
    const wasm = tempFile('policy.wasm', '\0asm\u0001\0\0\0');
    const r = await cli(['explain', wasm], '{}');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('is a compiled bundle; explain needs the policy file (JSON or YAML)');
  });

  it('says when the request is invalid', async () => {
    const r = await cli(['explain', ex('production.json')], '{"action":"delete"}');
    expect(r.stdout).toContain('invalid request: unknown action "delete"; no rule is consulted');
  });
});

describe('mcp-policy test --coverage', () => {
  it('lists rules no case exercised and outcomes the table never saw', async () => {
    const cases = tempFile(
      'cases.json',
      JSON.stringify({
        requests: [{ request: { action: 'load', server: 'untrusted-server' }, expect: { allowed: false } }],
      }),
    );
    const r = await cli(['test', ex('block-tools.json'), cases, '--coverage', '-e', 'native']);
    expect(r.stdout).toContain('coverage: 0/2 reachable rules exercised, 1 requests decided by the default');
    expect(r.stdout).toContain('coverage: rule 0 was not exercised by any case');
    expect(r.stdout).toContain('coverage: the table never saw: deny, invalid request');
  });
});

describe('the analysis commands on version 2 policies', () => {
  const policy = {
    version: 2,
    default: 'deny',
    rules: [
      {
        action: 'invoke',
        server: 'fs',
        tools: ['read_file'],
        arguments: [{ path: '/path', match: ['/srv/*'] }],
        allow: true,
      },
      { action: 'invoke', server: 'fs', groups: ['platform'], allow: true },
      { action: 'invoke', server: 'fs', arguments: [{ path: '/paths/*', match: ['/etc/*'] }], allow: false },
      { action: 'invoke', server: 'fs', annotations: { destructiveHint: true }, allow: false },
    ],
  };

  it('lint reports partially_shadowed with a witness and the conditions it does not model', async () => {
    const r = await cli(['lint', tempFile('p.json', JSON.stringify(policy)), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      findings: { code: string; path: string; rules?: number[]; witness?: unknown }[];
    };
    const partial = out.findings.find((f) => f.code === 'partially_shadowed' && f.path === '/rules/3');
    expect(partial?.rules).toEqual([0, 1]);
    expect(partial?.witness).toEqual({
      action: 'invoke',
      server: 'fs',
      tool: 'read_file',
      arguments: { path: '/srv/' },
    });
    expect(out.findings.filter((f) => f.code === 'inexact_analysis').map((f) => f.path)).toEqual([
      '/rules/2/arguments/0',
    ]);
  });

  it('explain shows the effective annotation and the argument value found', async () => {
    const request = { action: 'invoke', server: 'fs', tool: 'write_file', arguments: { path: '/srv/a' } };
    const r = await cli(['explain', tempFile('p.json', JSON.stringify(policy))], JSON.stringify(request));
    expect(r.stdout).toContain('rule 1: no match: the principal has no groups to match ["platform"]');
    expect(r.stdout).toContain(
      'rule 2: no match: argument condition 0 ("/paths/*" matches "/etc/*") fails: nothing found at "/paths/*"',
    );
    expect(r.stdout).toContain('rule 3: matched (decides)');
  });

  it('diff across the move to version 2 names requests version 1 refused, and the conditions it does not model', async () => {
    const old = tempFile('old.json', JSON.stringify({ version: 1, default: 'allow', rules: [] }));
    const next = tempFile('new.json', JSON.stringify(policy));
    const r = await cli(['diff', old, next]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('decided by another rule: invalid request (deny) → default deny');
    expect(r.stdout).toContain(`${next}: /rules/2/arguments/0: not analysed exactly (wildcard path)`);
  });
});
