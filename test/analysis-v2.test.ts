/**
 * Lint, diff, explain and coverage on version 2 keys: exact answers for
 * principals, resources, annotations and argument paths without `*`, each
 * witness decided as claimed by the native engine; opaque conditions (`*`
 * paths, path cleaning, paths inside one another) get their own finding and
 * never a false "shadowed"; `partially_shadowed` in both versions.
 */
import { describe, expect, it } from 'vitest';
import { tableCoverage } from '../src/analysis/coverage.js';
import { diffPolicies } from '../src/analysis/diff.js';
import { explainDecision } from '../src/analysis/explain.js';
import { type LintFinding, lintPolicy } from '../src/analysis/lint.js';
import { evaluatePolicy } from '../src/native/evaluate.js';
import { type Policy, type Rule } from '../src/policy/model.js';

function v2(rules: Rule[], def: 'allow' | 'deny' = 'deny'): Policy {
  return { version: 2, default: def, rules };
}

function codes(policy: Policy, code: string): LintFinding[] {
  return lintPolicy(policy).findings.filter((f) => f.code === code);
}

function at(findings: readonly LintFinding[]): string[] {
  return findings.map((f) => f.path);
}

/** The witness is decided by an earlier allow rule in `rules`, and the deny rule at `i` alone matches it. */
function expectPartial(policy: Policy, f: LintFinding, i: number): void {
  expect(f.path).toBe(`/rules/${i}`);
  const d = evaluatePolicy(policy, f.witness);
  expect(d.error).toBeUndefined();
  expect(d.allowed).toBe(true);
  expect(f.rules).toContain(d.rule);
  expect(evaluatePolicy({ ...policy, rules: [policy.rules[i]!] }, f.witness).rule).toBe(0);
}

describe('lint on version 2 keys', () => {
  it('groups are sets: a request may carry only the group a later deny names', () => {
    const policy = v2([
      { action: 'invoke', groups: ['platform'], allow: true },
      { action: 'invoke', groups: ['*'], allow: false },
    ]);
    expect(codes(policy, 'shadowed_rule')).toEqual([]);
    const [f] = codes(policy, 'partially_shadowed');
    expectPartial(policy, f!, 1);
    expect(f!.witness).toMatchObject({ principal: { groups: ['platform'] } });
    // Without a principal no group rule matches: the default decides.
    expect(evaluatePolicy(policy, { action: 'invoke' }).rule).toBeNull();

    const wide = v2([
      { action: 'invoke', groups: ['*'], allow: true },
      { action: 'invoke', groups: ['platform'], allow: false },
    ]);
    const [s] = codes(wide, 'shadowed_rule');
    expect(s).toMatchObject({ path: '/rules/1', rules: [0] });
    expect(evaluatePolicy(wide, s!.witness).rule).toBe(0);
    expect(evaluatePolicy({ ...wide, rules: [wide.rules[1]!] }, s!.witness).rule).toBe(0);
  });

  it('claims, one named __proto__, and users', () => {
    const claims = Object.create(null) as Record<string, string[]>;
    claims.__proto__ = ['*'];
    const narrow = Object.create(null) as Record<string, string[]>;
    narrow.__proto__ = ['admin'];
    const policy = v2([
      { claims, users: ['alice@*'], allow: true },
      { claims: narrow, users: ['alice@example.com'], allow: false },
      { users: ['bob*'], allow: false },
    ]);
    const [s] = codes(policy, 'shadowed_rule');
    expect(s).toMatchObject({ path: '/rules/1', rules: [0] });
    const w = s!.witness as { principal: { claims: object } };
    expect(Object.hasOwn(w.principal.claims, '__proto__')).toBe(true);
    expect(evaluatePolicy(policy, w).rule).toBe(0);
    expect(evaluatePolicy({ ...policy, rules: [policy.rules[1]!] }, w).rule).toBe(0);
    expect(at(codes(policy, 'partially_shadowed'))).toEqual([]);
  });

  it("annotations: MCP's defaults and the read-only exception", () => {
    const policy = v2(
      [
        { action: 'invoke', annotations: { readOnlyHint: true }, allow: true },
        { action: 'invoke', annotations: { destructiveHint: false }, allow: false },
        { action: 'invoke', annotations: { readOnlyHint: true, idempotentHint: false }, allow: false },
      ],
      'allow',
    );
    const [p] = codes(policy, 'partially_shadowed');
    expectPartial(policy, p!, 1);
    // Declaring only readOnlyHint: true makes the tool not destructive.
    expect(p!.witness).toEqual({ action: 'invoke', annotations: { readOnlyHint: true } });
    expect(at(codes(policy, 'shadowed_rule'))).toEqual(['/rules/2']);

    // A tool that declares nothing is destructive by default: a deny on destructiveHint true catches it.
    const d = v2([{ action: 'invoke', annotations: { destructiveHint: true }, allow: false }], 'allow');
    const diff = diffPolicies(v2([], 'allow'), d);
    expect(diff.changes).toHaveLength(1);
    expect(diff.changes[0]!.witness).toEqual({ action: 'invoke' });
    expect(evaluatePolicy(d, diff.changes[0]!.witness).rule).toBe(0);
  });

  it('arguments on paths without "*": strings, numbers, types, presence', () => {
    const policy = v2([
      { action: 'invoke', tools: ['read_file'], arguments: [{ path: '/path', match: ['/srv/*'] }], allow: true },
      { action: 'invoke', tools: ['read_file'], arguments: [{ path: '/path', match: ['/srv/secret*'] }], allow: false },
      { action: 'invoke', arguments: [{ path: '/n', min: 0, max: 10 }], allow: true },
      { action: 'invoke', arguments: [{ path: '/n', equals: 5 }], allow: false },
      { action: 'invoke', arguments: [{ path: '/n', min: 10, not: true }], allow: false },
      { action: 'invoke', arguments: [{ path: '/n', present: false }], allow: true },
    ]);
    const lint = lintPolicy(policy);
    expect(lint.findings.filter((f) => f.code === 'shadowed_rule').map((f) => f.path)).toEqual([
      '/rules/1',
      '/rules/3',
    ]);
    expect(lint.findings.some((f) => f.code === 'inexact_analysis')).toBe(false);
    // Rule 4 holds for values found that are not numbers >= 10: strings, booleans, numbers below 0.
    const [p] = lint.findings.filter((f) => f.code === 'partially_shadowed');
    expectPartial(policy, p!, 4);
    for (const f of lint.findings) if (f.witness) expect(evaluatePolicy(policy, f.witness).error).toBeUndefined();
    // Rule 4 decides something: the diff against its removal shows a request it denies.
    const without = { ...policy, rules: policy.rules.filter((_, k) => k !== 4) };
    const change = diffPolicies(policy, without).changes.find((c) => c.old.rule === 4);
    expect(evaluatePolicy(policy, change!.witness).rule).toBe(4);
  });

  it('a "*" path is opaque, never a false shadowed: every element differs from 1 is not "the value"', () => {
    const policy = v2(
      [
        { action: 'invoke', arguments: [{ path: '/a/*', equals: 1, not: true }], allow: true },
        { action: 'invoke', arguments: [{ path: '/a/*', equals: 2 }], allow: false },
      ],
      'allow',
    );
    const lint = lintPolicy(policy);
    expect(at(lint.findings.filter((f) => f.code === 'shadowed_rule'))).toEqual([]);
    expect(at(lint.findings.filter((f) => f.code === 'inexact_analysis'))).toEqual([
      '/rules/0/arguments/0',
      '/rules/1/arguments/0',
    ]);
    // Rule 1 does decide: a list holding 1 and 2.
    expect(evaluatePolicy(policy, { action: 'invoke', arguments: { a: [1, 2] } }).rule).toBe(1);
  });

  it('path cleaning is opaque: the raw value and the cleaned one differ', () => {
    const policy = v2([
      { action: 'invoke', arguments: [{ path: '/p', match: ['/srv/*'], normalize: 'path' }], allow: true },
      { action: 'invoke', arguments: [{ path: '/p', match: ['/srv/*'] }], allow: false },
    ]);
    const lint = lintPolicy(policy);
    expect(at(lint.findings.filter((f) => f.code === 'shadowed_rule'))).toEqual([]);
    const inexact = lint.findings.filter((f) => f.code === 'inexact_analysis');
    expect(inexact.map((f) => f.path)).toEqual(['/rules/0/arguments/0']);
    expect(inexact[0]!.message).toContain('cleans the value as a path');
    expect(evaluatePolicy(policy, { arguments: { p: '/srv/../etc/passwd' } }).rule).toBe(1);
    const [p] = lint.findings.filter((f) => f.code === 'partially_shadowed');
    expectPartial(policy, p!, 1);
  });

  it('a path that contains another is opaque (dependent), and said so; the deeper one stays exact', () => {
    const policy = v2([
      { arguments: [{ path: '/a', present: true }], allow: true },
      { arguments: [{ path: '/a/b', equals: 'x' }], allow: false },
      { arguments: [{ path: '/a/b', in: ['x', 'y'] }], allow: false },
      { arguments: [{ path: '', present: true }], allow: false },
    ]);
    const lint = lintPolicy(policy);
    const inexact = lint.findings.filter((f) => f.code === 'inexact_analysis');
    expect(inexact.map((f) => f.path)).toEqual(['/rules/0/arguments/0', '/rules/3/arguments/0']);
    expect(inexact[0]!.message).toContain('contains the path of another condition');
    // /a/b is exact: "x" is decided by rule 1 (after rule 0, which the analysis does not relate to it), "y" is not.
    const [p] = lint.findings.filter((f) => f.code === 'partially_shadowed' && f.path === '/rules/2');
    expectPartial(policy, p!, 2);
    expect(at(lint.findings.filter((f) => f.code === 'shadowed_rule'))).toEqual([]);
  });

  it('a rule whose conditions contradict each other is shadowed by nothing', () => {
    const policy = v2([
      {
        arguments: [
          { path: '/n', equals: 1 },
          { path: '/n', in: [1], not: true },
        ],
        allow: true,
      },
    ]);
    const [s] = codes(policy, 'shadowed_rule');
    expect(s).toMatchObject({ rules: [], message: 'rule 0 can never decide: no request meets all its conditions' });
    expect(s!.witness).toBeUndefined();
  });

  it('the path "" is the arguments object itself: found exactly when the request has arguments', () => {
    const policy = v2([
      { arguments: [{ path: '', present: true }], allow: true },
      // An object never equals a string: with not, this holds whenever arguments are present.
      { arguments: [{ path: '', equals: 'x', not: true }], allow: false },
      { arguments: [{ path: '', equals: 'x' }], allow: false },
    ]);
    const lint = lintPolicy(policy);
    const shadowed = lint.findings.filter((f) => f.code === 'shadowed_rule');
    expect(shadowed.map((f) => [f.path, f.rules])).toEqual([
      ['/rules/1', [0]],
      ['/rules/2', []],
    ]);
    expect(shadowed[0]!.witness).toEqual({ action: 'load', arguments: {} });
    expect(evaluatePolicy(policy, shadowed[0]!.witness).rule).toBe(0);
    expect(lint.findings.some((f) => f.code === 'inexact_analysis')).toBe(false);
  });

  it('resources: exact on the URI, absent resource matches no resources rule', () => {
    const policy = v2([
      { action: 'resource', resources: ['file:///srv/docs/*'], allow: true },
      { action: 'resource', resources: ['file:///srv/docs/internal/*'], allow: false },
      { action: 'resource', resources: ['file:///*'], allow: false },
    ]);
    expect(at(codes(policy, 'shadowed_rule'))).toEqual(['/rules/1']);
    const [p] = codes(policy, 'partially_shadowed');
    expectPartial(policy, p!, 2);
    expect(p!.witness).toEqual({ action: 'resource', resource: 'file:///srv/docs/' });
  });
});

describe('partially_shadowed in version 1', () => {
  it('an allow on tools overrides a later deny of a server for those tools', () => {
    const policy: Policy = {
      version: 1,
      default: 'allow',
      rules: [
        { action: 'invoke', tools: ['read_*'], allow: true },
        { server: 'github', allow: false },
      ],
    };
    const [f] = codes(policy, 'partially_shadowed');
    expectPartial(policy, f!, 1);
    expect(f!.witness).toEqual({ action: 'invoke', server: 'github', tool: 'read_' });
    expect(f!.severity).toBe('warning');
  });
});

describe('diff and coverage on version 2', () => {
  it('moving to version 2 shows what action "resource" now gets, where version 1 refused it', () => {
    const old: Policy = { version: 1, default: 'deny', rules: [{ action: 'load', server: 'docs', allow: true }] };
    const next = v2([...old.rules, { action: 'resource', resources: ['file:///srv/docs/*'], allow: true }]);
    const diff = diffPolicies(old, next);
    expect(diff.inexact).toEqual([]);
    const allowed = diff.changes.find((c) => c.kind === 'now_allowed')!;
    expect(allowed.old).toEqual({ rule: null, allowed: false, invalid: true });
    expect(allowed.new.rule).toBe(1);
    expect(evaluatePolicy(old, allowed.witness).error).toBe('unknown action "resource"');
    expect(evaluatePolicy(next, allowed.witness)).toMatchObject({ allowed: true, rule: 1 });
    // The rest of action resource is denied both ways, once as invalid, now by the default.
    const moved = diff.changes.find((c) => c.kind === 'rule_changed')!;
    expect(moved.old.invalid).toBe(true);
    expect(evaluatePolicy(next, moved.witness).rule).toBeNull();
    // The same rules in version 2: only action resource changes, from invalid to the default.
    const same = diffPolicies(old, { ...old, version: 2 });
    expect(same.changes.map((c) => [c.kind, c.old.invalid, c.new.rule])).toEqual([['rule_changed', true, null]]);
  });

  it('diff names the conditions it does not model, and builds only checked witnesses', () => {
    const a = v2([{ arguments: [{ path: '/xs/*', match: ['a*'] }], allow: true }]);
    const b = v2([{ arguments: [{ path: '/xs/*', match: ['ab*'] }], allow: true }]);
    const diff = diffPolicies(a, b);
    expect(diff.inexact).toEqual([
      { policy: 'old', rule: 0, path: '/rules/0/arguments/0', why: 'wildcard path' },
      { policy: 'new', rule: 0, path: '/rules/0/arguments/0', why: 'wildcard path' },
    ]);
    for (const c of diff.changes) {
      if (!c.witness) continue;
      expect(evaluatePolicy(a, c.witness).rule).toBe(c.old.rule);
      expect(evaluatePolicy(b, c.witness).rule).toBe(c.new.rule);
    }
    expect(diff.decisionsDiffer).toBe(true);
  });

  it('coverage lists rules with opaque conditions', () => {
    const policy = v2([
      { arguments: [{ path: '/xs/*', equals: 1 }], allow: true },
      { users: ['a*'], allow: true },
    ]);
    const c = tableCoverage(policy, [{ principal: { sub: 'ab' } }]);
    expect(c).toMatchObject({ decidedBy: [0, 1], notExercised: [0], unreachable: [], inexact: [0] });
  });
});

describe('explain on version 2 keys', () => {
  const policy = v2([
    {
      action: 'invoke',
      groups: ['platform'],
      claims: { amr: ['mfa'] },
      annotations: { destructiveHint: false },
      arguments: [
        { path: '/path', match: ['/srv/*'], normalize: 'path' },
        { path: '/mode', equals: 'read' },
      ],
      allow: true,
    },
    { action: 'resource', resources: ['file:///srv/*'], users: ['alice'], allow: true },
  ]);

  it('says which condition failed and on which value', () => {
    const x = explainDecision(policy, {
      action: 'invoke',
      principal: { groups: ['dev'], claims: { amr: ['pwd'] } },
      arguments: { path: '/srv/../etc/passwd' },
    });
    const messages = x.rules[0]!.failed.map((f) => f.message);
    expect(messages).toEqual([
      'no group of ["dev"] matches ["platform"]',
      'claim "amr" ["pwd"] matches none of ["mfa"]',
      "destructiveHint is true (not declared: MCP's default), rule needs false",
      'argument condition 0 ("/path" matches "/srv/*" (path cleaned)) fails: found "/srv/../etc/passwd" (cleaned: "/etc/passwd")',
      'argument condition 1 ("/mode" equals "read") fails: nothing found at "/mode"',
    ]);
    expect(x.rules[0]!.failed[2]).toMatchObject({
      field: 'annotations',
      hint: 'destructiveHint',
      actual: true,
      declared: false,
    });
    expect(x.rules[0]!.failed[4]).toMatchObject({ field: 'arguments', condition: 1, found: [] });
    expect(x.rules[1]!.failed.map((f) => f.message)).toEqual([
      'action is "invoke", rule needs "resource"',
      'resource absent matches none of ["file:///srv/*"]',
      'principal.sub absent matches none of ["alice"]',
    ]);
    expect(x.decision).toMatchObject({ allowed: false, rule: null });
  });

  it('matches as the native engine decides, with the read-only exception', () => {
    const request = {
      action: 'invoke',
      principal: { groups: ['platform'], claims: { amr: 'mfa' } },
      annotations: { readOnlyHint: true },
      arguments: { path: '/srv/a/../b', mode: 'read' },
    };
    const x = explainDecision(policy, request);
    expect(x.rules[0]).toMatchObject({ matched: true, decided: true, failed: [] });
    expect(x.decision).toMatchObject({ allowed: true, rule: 0 });
  });

  it('an invalid version 2 request consults no rule', () => {
    const x = explainDecision(policy, { principal: { groups: 'platform' } });
    expect(x.error).toBe('field "principal.groups" must be an array of strings');
    expect(x.rules).toEqual([]);
  });
});
