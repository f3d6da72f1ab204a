/**
 * Validation of version 2 policies: every code with its pointer and message,
 * "did you mean" at every level, the model a valid policy becomes, and
 * version 1 unchanged beside it.
 */
import { describe, expect, it } from 'vitest';
import { type Issue } from '../src/core/errors.js';
import { resolveBundleSources, resolvePolicyLayers } from '../src/policy/layers.js';
import { type Policy } from '../src/policy/model.js';
import { parseAnyDocument } from '../src/policy/any-document.js';
import { ensureValidPolicy, parsePolicy, validatePolicyValue } from '../src/policy/validate.js';
import { cli, tempFile } from './helpers.js';

type Brief = [code: string, path: string, message: string];
const brief = (issues: readonly Issue[]): Brief[] => issues.map((e) => [e.code, e.path, e.message]);

/** The errors of a version 2 policy with these rules. */
function errorsOf(...rules: object[]): Brief[] {
  return brief(parsePolicy(JSON.stringify({ version: 2, default: 'deny', rules })).errors);
}

/** The errors of a version 2 policy whose one rule has these argument conditions. */
function conditionErrors(...conditions: object[]): Brief[] {
  return errorsOf({ action: 'invoke', arguments: conditions, deny: true });
}

const EMPTY_PATTERN =
  'pattern is empty and could never match: a request field matches only when it is a non-empty string';

describe('version', () => {
  it('accepts 2 and keeps it in the model', () => {
    const r = parsePolicy('{"version": 2, "default": "deny", "rules": [{"users": ["alice"], "allow": true}]}');
    expect(r.errors).toEqual([]);
    expect(r.value?.policy).toEqual({ version: 2, default: 'deny', rules: [{ users: ['alice'], allow: true }] });
  });

  it('refuses any other version, naming both', () => {
    for (const [version, shown] of [
      [3, '3'],
      ['2', '"2"'],
      [0, '0'],
      [null, 'null'],
      [2.5, '2.5'],
    ] as const) {
      expect(brief(parsePolicy(JSON.stringify({ version, default: 'deny', rules: [] })).errors)).toEqual([
        ['unsupported_version', '/version', `unsupported version ${shown}; the versions are 1 and 2`],
      ]);
    }
  });

  it('checks the rules of an unknown version as version 2, so the version is the one complaint', () => {
    const r = parsePolicy('{"version": 3, "default": "deny", "rules": [{"users": ["a"], "allow": true}]}');
    expect(brief(r.errors)).toEqual([
      ['unsupported_version', '/version', 'unsupported version 3; the versions are 1 and 2'],
    ]);
  });
});

describe('version 2 keys in a version 1 policy', () => {
  it('are needs_version_2 at each key, one issue per key, without or with "version": 1', () => {
    const rule = {
      action: 'resource',
      resources: ['file:///*'],
      users: ['a'],
      groups: ['g'],
      claims: { org: ['acme'] },
      annotations: { destructiveHint: true },
      arguments: [{ path: '/a', present: true }],
      deny: true,
    };
    const expected: Brief[] = [
      [
        'needs_version_2',
        '/rules/0/action',
        `"action": "resource" needs "version": 2 (Docker's version 1 format has no resource action)`,
      ],
      ...['resources', 'users', 'groups', 'claims', 'annotations', 'arguments'].map((key): Brief => [
        'needs_version_2',
        `/rules/0/${key}`,
        `"${key}" needs "version": 2 (Docker's version 1 format has no ${key})`,
      ]),
    ];
    expect(brief(parsePolicy(JSON.stringify({ default: 'deny', rules: [rule] })).errors)).toEqual(expected);
    expect(brief(parsePolicy(JSON.stringify({ version: 1, default: 'deny', rules: [rule] })).errors)).toEqual(expected);
  });

  it('are not checked further: a bad value of a version 2 key is still one issue', () => {
    const r = parsePolicy('{"default": "deny", "rules": [{"users": 5, "arguments": [{}], "allow": true}]}');
    expect(brief(r.errors).map(([code, path]) => `${code} ${path}`)).toEqual([
      'needs_version_2 /rules/0/users',
      'needs_version_2 /rules/0/arguments',
    ]);
  });

  it('are located at their key in the text', () => {
    const r = parsePolicy('{"default": "deny",\n "rules": [{"allow": true,\n   "users": ["a"]}]}');
    expect(r.errors).toMatchObject([{ code: 'needs_version_2', path: '/rules/0/users', line: 3, column: 13 }]);
  });
});

describe('did you mean', () => {
  it('at the rule level, in version 1 and version 2', () => {
    for (const version of [1, 2]) {
      const r = parsePolicy(
        JSON.stringify({
          version,
          default: 'deny',
          rules: [{ user: ['a'], argument: [], group: ['g'], resource: ['r'], claim: {}, annotation: {}, deny: true }],
        }),
      );
      expect(brief(r.errors)).toEqual(
        [
          ['user', 'users'],
          ['argument', 'arguments'],
          ['group', 'groups'],
          ['resource', 'resources'],
          ['claim', 'claims'],
          ['annotation', 'annotations'],
        ].map(([typo, key]): Brief => [
          'unknown_field',
          `/rules/0/${typo}`,
          `unknown field "${typo}"; did you mean "${key}"?`,
        ]),
      );
    }
  });

  it('in a condition and in annotations', () => {
    expect(
      errorsOf({
        action: 'invoke',
        annotations: { destructivehint: true },
        arguments: [
          { paths: '/a', matches: ['x'] },
          { path: '/b', equal: 1, nott: true, normalise: 'path' },
        ],
        deny: true,
      }),
    ).toEqual([
      [
        'unknown_field',
        '/rules/0/annotations/destructivehint',
        'unknown field "destructivehint"; did you mean "destructiveHint"?',
      ],
      ['missing_field', '/rules/0/arguments/0/path', 'missing required field "path"'],
      ['unknown_field', '/rules/0/arguments/0/paths', 'unknown field "paths"; did you mean "path"?'],
      ['unknown_field', '/rules/0/arguments/0/matches', 'unknown field "matches"; did you mean "match"?'],
      ['unknown_field', '/rules/0/arguments/1/equal', 'unknown field "equal"; did you mean "equals"?'],
      ['unknown_field', '/rules/0/arguments/1/nott', 'unknown field "nott"; did you mean "not"?'],
      ['unknown_field', '/rules/0/arguments/1/normalise', 'unknown field "normalise"; did you mean "normalize"?'],
      [
        'missing_test',
        '/rules/0/arguments/0',
        'condition needs a test: one of "match", "equals", "in", "min"/"max" or "present"',
      ],
      [
        'missing_test',
        '/rules/0/arguments/1',
        'condition needs a test: one of "match", "equals", "in", "min"/"max" or "present"',
      ],
    ]);
  });

  it('says where a key of a condition or a hint belongs when it is written on the rule', () => {
    expect(errorsOf({ action: 'invoke', equals: 'x', destructiveHint: true, deny: true })).toEqual([
      [
        'unknown_field',
        '/rules/0/equals',
        'unknown field "equals"; "equals" belongs in a condition of "arguments" (version 2)',
      ],
      [
        'unknown_field',
        '/rules/0/destructiveHint',
        'unknown field "destructiveHint"; "destructiveHint" belongs in "annotations" (version 2)',
      ],
    ]);
  });
});

describe('identity and resource keys', () => {
  it('resources only with action "resource", with a hint', () => {
    expect(
      errorsOf({ resources: ['file:///*'], allow: true }, { action: 'invoke', resources: ['x'], allow: true }),
    ).toEqual([
      [
        'misplaced_key',
        '/rules/0/resources',
        '"resources" applies only to rules with "action": "resource", and this rule has no "action"; add "action": "resource", or did you mean "tools"?',
      ],
      [
        'misplaced_key',
        '/rules/1/resources',
        `"resources" applies only to rules with "action": "resource", and this rule's "action" is "invoke"; add "action": "resource", or did you mean "tools"?`,
      ],
    ]);
    expect(errorsOf({ action: 'resource', resources: ['file:///srv/*'], allow: true })).toEqual([]);
  });

  it('pattern lists: non-empty, each pattern checked, at most 256', () => {
    expect(
      errorsOf(
        { users: [], allow: true },
        { groups: ['', '*'.repeat(513), 'a\ud800'], allow: true },
        { action: 'resource', resources: Array<string>(257).fill('r'), allow: true },
        { users: 'alice', allow: true },
      ),
    ).toEqual([
      ['empty_array', '/rules/0/users', 'users must not be empty'],
      ['too_many_entries', '/rules/2/resources', 'resources has 257 entries; at most 256 are allowed'],
      ['invalid_type', '/rules/3/users', 'users must be an array, not the string "alice"'],
      ['empty_pattern', '/rules/1/groups/0', EMPTY_PATTERN],
      ['too_many_stars', '/rules/1/groups/1', 'pattern has 513 "*"; at most 512 are supported'],
      ['invalid_unicode', '/rules/1/groups/2', '"a\\ud800" contains an unpaired UTF-16 surrogate'],
    ]);
    expect(errorsOf({ users: Array<string>(256).fill('u'), allow: true })).toEqual([]);
  });

  it('claims: a non-empty object of at most 32 named pattern lists', () => {
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, k) => [`c${k}`, ['x']]));
    expect(
      errorsOf(
        { claims: {}, allow: true },
        { claims: many, allow: true },
        { claims: { '': ['x'], team: 'x', roles: [], 'a\ud800': ['x'], org: [''] }, allow: true },
        { claims: ['org'], allow: true },
      ),
    ).toEqual([
      ['invalid_name', '/rules/2/claims/', 'claim name is empty; name the claim of the principal the patterns are for'],
      ['invalid_type', '/rules/2/claims/team', 'claim "team" must be an array, not the string "x"'],
      ['empty_array', '/rules/2/claims/roles', 'roles must not be empty'],
      ['invalid_type', '/rules/3/claims', 'claims must be an object, not an array'],
      ['invalid_value', '/rules/0/claims', 'claims must not be empty: name at least one claim and its patterns'],
      ['too_many_entries', '/rules/1/claims', 'claims has 33 names; at most 32 are allowed'],
      ['invalid_unicode', '/rules/2/claims/a\ud800', 'claim name "a\\ud800" contains an unpaired UTF-16 surrogate'],
      ['empty_pattern', '/rules/2/claims/org/0', EMPTY_PATTERN],
    ]);
  });

  it('a claim named __proto__ is checked and kept as data', () => {
    expect(errorsOf({ claims: JSON.parse('{"__proto__": null}') as object, allow: true })).toEqual([
      ['invalid_type', '/rules/0/claims/__proto__', 'claim "__proto__" must be an array, not null'],
    ]);
    const r = parsePolicy(
      '{"version": 2, "default": "deny", "rules": [{"claims": {"__proto__": ["a"]}, "allow": true}]}',
    );
    const claims = r.value!.policy.rules[0]!.claims!;
    expect(Object.getPrototypeOf(claims)).toBeNull();
    expect(Object.keys(claims)).toEqual(['__proto__']);
    expect(claims['__proto__']).toEqual(['a']);
  });

  it('annotations: a non-empty object of known hints and booleans', () => {
    expect(
      errorsOf(
        { action: 'invoke', annotations: {}, deny: true },
        { action: 'invoke', annotations: { readOnlyHint: 'yes', title: 'x' }, deny: true },
      ),
    ).toEqual([
      ['invalid_type', '/rules/1/annotations/readOnlyHint', 'readOnlyHint must be a boolean, not the string "yes"'],
      ['unknown_field', '/rules/1/annotations/title', 'unknown field "title"'],
      [
        'invalid_value',
        '/rules/0/annotations',
        'annotations must not be empty: give at least one of "readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"',
      ],
    ]);
  });
});

describe('argument conditions', () => {
  it('need a list of 1 to 64 objects', () => {
    expect(errorsOf({ arguments: [], deny: true })).toEqual([
      ['empty_array', '/rules/0/arguments', 'arguments must not be empty'],
    ]);
    expect(errorsOf({ arguments: Array(65).fill({ path: '', present: true }), deny: true })).toEqual([
      ['too_many_entries', '/rules/0/arguments', 'arguments has 65 entries; at most 64 are allowed'],
    ]);
    expect(errorsOf({ arguments: ['/a'], deny: true })).toEqual([
      ['invalid_type', '/rules/0/arguments/0', 'arguments entry must be an object, not the string "/a"'],
    ]);
    expect(errorsOf({ arguments: Array(64).fill({ path: '', present: true }), deny: true })).toEqual([]);
  });

  it('path is an RFC 6901 pointer of at most 32 segments', () => {
    expect(
      conditionErrors(
        { path: 'a', present: true },
        { path: '/a~2b', present: true },
        { path: '/a~', present: true },
        { path: '/a'.repeat(33), present: true },
        { path: '/\ud800', present: true },
        { path: 5, present: true },
      ),
    ).toEqual([
      ['invalid_type', '/rules/0/arguments/5/path', 'path must be a string, not the number 5'],
      [
        'invalid_pointer',
        '/rules/0/arguments/0/path',
        'path "a" is not a JSON pointer: it is "" (the arguments themselves) or starts with "/", as in "/path"',
      ],
      [
        'invalid_pointer',
        '/rules/0/arguments/1/path',
        'path "/a~2b" has a "~" that is not "~0" or "~1": write "~0" for "~" and "~1" for "/" in a name',
      ],
      [
        'invalid_pointer',
        '/rules/0/arguments/2/path',
        'path "/a~" has a "~" that is not "~0" or "~1": write "~0" for "~" and "~1" for "/" in a name',
      ],
      [
        'invalid_pointer',
        '/rules/0/arguments/3/path',
        `path "${'/a'.repeat(33)}" has 33 segments; at most 32 are supported`,
      ],
      ['invalid_unicode', '/rules/0/arguments/4/path', '"/\\ud800" contains an unpaired UTF-16 surrogate'],
    ]);
    expect(
      conditionErrors(
        { path: '', present: true },
        { path: '/', present: true },
        { path: '/a~0b~1c/*/0', present: true },
        { path: '/a'.repeat(32), present: true },
      ),
    ).toEqual([]);
  });

  it('exactly one test: none is missing_test, two are conflicting_fields naming both', () => {
    expect(
      conditionErrors(
        { path: '/a' },
        { path: '/a', not: true },
        { path: '/a', match: ['x'], equals: 'x' },
        { path: '/a', in: [1], min: 0, max: 2 },
        { path: '/a', present: true, max: 1 },
      ),
    ).toEqual([
      [
        'missing_test',
        '/rules/0/arguments/0',
        'condition needs a test: one of "match", "equals", "in", "min"/"max" or "present"',
      ],
      [
        'missing_test',
        '/rules/0/arguments/1',
        'condition needs a test: one of "match", "equals", "in", "min"/"max" or "present"',
      ],
      [
        'conflicting_fields',
        '/rules/0/arguments/2/equals',
        '"match" and "equals" are two tests, and a condition has exactly one; write two conditions',
      ],
      [
        'conflicting_fields',
        '/rules/0/arguments/3/min',
        '"in" and "min" are two tests, and a condition has exactly one; write two conditions',
      ],
      [
        'conflicting_fields',
        '/rules/0/arguments/4/present',
        '"max" and "present" are two tests, and a condition has exactly one; write two conditions',
      ],
    ]);
    // min and max together are one test.
    expect(conditionErrors({ path: '/n', min: 0, max: 0 }, { path: '/n', max: 1 })).toEqual([]);
  });

  it('not never with present; normalize only with match', () => {
    expect(
      conditionErrors(
        { path: '/a', present: true, not: true },
        { path: '/a', present: false, not: false },
        { path: '/a', equals: 'x', normalize: 'path' },
        { path: '/a', match: ['/srv/*'], normalize: 'posix' },
      ),
    ).toEqual([
      ['invalid_value', '/rules/0/arguments/3/normalize', 'unknown normalize "posix"; expected one of "path"'],
      [
        'misplaced_key',
        '/rules/0/arguments/0/not',
        '"not" does not go with "present": write "present": false to require that nothing is found',
      ],
      [
        'misplaced_key',
        '/rules/0/arguments/1/not',
        '"not" does not go with "present": write "present": false to require that nothing is found',
      ],
      [
        'misplaced_key',
        '/rules/0/arguments/2/normalize',
        '"normalize" applies only to "match": it cleans the string before the patterns are matched',
      ],
    ]);
  });

  it('test values: patterns, scalars, finite numbers, min <= max', () => {
    expect(
      conditionErrors(
        { path: '/a', match: [''] },
        { path: '/a', match: [] },
        { path: '/a', equals: { x: 1 } },
        { path: '/a', equals: [1] },
        { path: '/a', in: [1, 'a', true, null, {}] },
        { path: '/a', in: Array(257).fill(1) },
        { path: '/a', min: '1' },
        { path: '/a', min: 5, max: 1 },
        { path: '/a', equals: 'a\ud800' },
        { path: '/a', present: 'yes' },
      ),
    ).toEqual([
      ['empty_array', '/rules/0/arguments/1/match', 'match must not be empty'],
      [
        'invalid_type',
        '/rules/0/arguments/2/equals',
        'equals must be a string, a number, a boolean or null, not an object',
      ],
      [
        'invalid_type',
        '/rules/0/arguments/3/equals',
        'equals must be a string, a number, a boolean or null, not an array',
      ],
      [
        'invalid_type',
        '/rules/0/arguments/4/in/4',
        'in entry must be a string, a number, a boolean or null, not an object',
      ],
      ['too_many_entries', '/rules/0/arguments/5/in', 'in has 257 entries; at most 256 are allowed'],
      ['invalid_type', '/rules/0/arguments/6/min', 'min must be a number, not the string "1"'],
      ['invalid_type', '/rules/0/arguments/9/present', 'present must be a boolean, not the string "yes"'],
      [
        'empty_pattern',
        '/rules/0/arguments/0/match/0',
        'pattern is empty and could match only the empty string; write "equals": "" for that',
      ],
      [
        'invalid_value',
        '/rules/0/arguments/7/max',
        'max 1 is less than min 5, so no number could satisfy the condition',
      ],
      ['invalid_unicode', '/rules/0/arguments/8/equals', '"a\\ud800" contains an unpaired UTF-16 surrogate'],
    ]);
  });

  it('a hand-built policy with an infinite bound is refused', () => {
    const policy = {
      version: 2,
      default: 'deny',
      rules: [{ allow: true, arguments: [{ path: '/n', min: Infinity }] }],
    } as unknown as Policy;
    expect(() => ensureValidPolicy(policy)).toThrow(/min must be a number, not the number Infinity/);
  });
});

describe('the model of a valid version 2 policy', () => {
  const text = JSON.stringify({
    version: 2,
    default: 'deny',
    rules: [
      {
        action: 'invoke',
        tools: ['read_file'],
        users: ['alice'],
        groups: ['platform'],
        claims: { org: ['acme'] },
        annotations: { readOnlyHint: true },
        arguments: [
          { path: '/path', match: ['/srv/*'], normalize: 'path', not: true },
          { path: '', equals: null },
          { path: '/n', in: [1, 'a', false, null] },
          { path: '/n', min: -0, max: 1e21 },
          { path: '/p', present: false },
        ],
        allow: true,
        reason: 'r',
      },
      { action: 'resource', resources: ['file:///srv/docs/*'], deny: true },
    ],
  });

  it('keeps every key in the source shape', () => {
    const r = parsePolicy(text);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    const expected = JSON.parse(text) as { rules: Record<string, unknown>[] };
    expected.rules[1] = { action: 'resource', resources: ['file:///srv/docs/*'], allow: false };
    expect(JSON.parse(JSON.stringify(r.value?.policy))).toEqual(expected);
  });

  it('is valid again as written (ensureValidPolicy on a copy)', () => {
    const policy = parsePolicy(text).value!.policy;
    const copy = JSON.parse(JSON.stringify(policy)) as Policy;
    expect(JSON.stringify(ensureValidPolicy(copy))).toBe(JSON.stringify(policy));
  });

  it('reads the same from YAML', () => {
    const yaml = `version: 2
default: deny
rules:
  - action: invoke
    groups: [platform]
    arguments:
      - { path: /path, match: ["/srv/*"], normalize: path }
    allow: true
`;
    const r = parsePolicy(yaml);
    expect(r.errors).toEqual([]);
    expect(r.value?.policy.rules[0]).toEqual({
      action: 'invoke',
      groups: ['platform'],
      arguments: [{ path: '/path', match: ['/srv/*'], normalize: 'path' }],
      allow: true,
    });
  });
});

describe('warnings', () => {
  it('annotations_without_invoke for a rule with annotations and another action or none', () => {
    const r = parsePolicy(
      JSON.stringify({
        version: 2,
        default: 'allow',
        rules: [
          { action: 'invoke', annotations: { destructiveHint: true }, deny: true },
          { annotations: { destructiveHint: true }, deny: true },
          { action: 'load', annotations: { readOnlyHint: false }, deny: true },
        ],
      }),
    );
    expect(r.errors).toEqual([]);
    expect(brief(r.warnings)).toEqual([
      [
        'annotations_without_invoke',
        '/rules/1/annotations',
        `rule 1 has "annotations" and no "action": only tool calls carry annotations, so MCP's defaults stand in for them on every load, prompt and resource request, and the rule matches all those its other conditions match; add "action": "invoke"`,
      ],
      [
        'annotations_without_invoke',
        '/rules/2/annotations',
        `rule 2 has "annotations" and "action": "load": only tool calls carry annotations, so MCP's defaults stand in for them on every load, prompt and resource request, and the rule matches all those its other conditions match; add "action": "invoke"`,
      ],
    ]);
  });

  it('unreachable_rule counts the version 2 keys as conditions', () => {
    for (const key of [
      { users: ['a'] },
      { groups: ['g'] },
      { claims: { c: ['x'] } },
      { arguments: [{ path: '', present: true }] },
      { action: 'resource', resources: ['r'] },
    ]) {
      const r = parsePolicy(
        JSON.stringify({ version: 2, default: 'deny', rules: [{ ...key, allow: true }, { deny: true }] }),
      );
      expect(r.warnings, JSON.stringify(key)).toEqual([]);
    }
    const catchAll = parsePolicy(
      '{"version": 2, "default": "deny", "rules": [{"allow": true}, {"users": ["a"], "deny": true}]}',
    );
    expect(catchAll.warnings).toMatchObject([{ code: 'unreachable_rule', path: '/rules/1' }]);
  });

  it('check warns docker_version_1_only on a version 2 policy, bare or in admin-settings; the other readers do not', async () => {
    const v2 = '{"version": 2, "default": "deny", "rules": [{"users": ["alice"], "allow": true}]}';
    const message =
      'this is a version 2 policy: mcp-policy decides it, but Docker Desktop accepts version 1 policies only and would refuse it';
    const bare = parseAnyDocument(`{\n  "version": 2, "default": "deny", "rules": []}`, { dockerWarnings: true });
    expect(bare.warnings).toEqual([{ code: 'docker_version_1_only', path: '/version', message, line: 2, column: 14 }]);
    const settings = JSON.stringify({ mcpPolicy: { locked: true, value: v2 } });
    expect(parseAnyDocument(settings, { dockerWarnings: true }).warnings).toEqual([
      { code: 'docker_version_1_only', path: '/version', message, within: '/mcpPolicy/value' },
    ]);
    expect(parseAnyDocument(v2).warnings).toEqual([]);
    expect(parsePolicy(v2).warnings).toEqual([]);
    expect(
      parseAnyDocument('{"version": 1, "default": "deny", "rules": []}', { dockerWarnings: true }).warnings,
    ).toEqual([]);

    const r = await cli(['check', '--json', tempFile('v2.json', v2)]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      valid: true,
      errors: [],
      warnings: [{ code: 'docker_version_1_only', path: '/version', message, line: 1, column: 13 }],
    });
  });
});

describe('admin-settings and layering', () => {
  const v2 = { version: 2, default: 'deny', rules: [{ groups: ['platform'], allow: true }] };

  it('a version 2 policy inside admin-settings is valid, and its errors point inside it', () => {
    const ok = validatePolicyValue({ mcpPolicy: { locked: true, value: JSON.stringify(v2) } });
    expect(ok.errors).toEqual([]);
    expect(ok.value).toEqual({ policy: v2, source: { kind: 'admin-settings', locked: true } });
    const bad = validatePolicyValue({
      mcpPolicy: { value: JSON.stringify({ default: 'deny', rules: [{ groups: ['platform'], allow: true }] }) },
    });
    expect(bad.errors).toMatchObject([
      { code: 'needs_version_2', path: '/rules/0/groups', within: '/mcpPolicy/value' },
    ]);
  });

  it('layering picks a version 2 policy as it picks any', () => {
    const admin = validatePolicyValue({ mcpPolicy: { locked: false, value: JSON.stringify(v2) } }).value!;
    const user = validatePolicyValue({ version: 1, default: 'allow', rules: [] }).value!;
    const unlocked = resolvePolicyLayers({
      adminSettings: { ...admin, file: 'admin-settings.json' },
      user: { ...user, file: 'user.json' },
    });
    expect(unlocked.policy).toBe(user.policy);
    const alone = resolveBundleSources({ policy: { ...admin, file: 'admin-settings.json' } });
    expect(alone.policy).toBe(admin.policy);
    expect(alone.policy.version).toBe(2);
    expect(alone.extras.provenance?.policy).toBe('admin-settings');
  });
});

describe('version 1 is unchanged', () => {
  it('gives the same model and messages as before', () => {
    const r = parsePolicy(
      '{"default": "allow", "rules": [{"action": "load", "server": "a", "tools": ["t"], "deny": true}, {"allow": true}]}',
    );
    expect(r.value?.policy).toEqual({
      version: 1,
      default: 'allow',
      rules: [{ action: 'load', server: 'a', tools: ['t'], allow: false }, { allow: true }],
    });
    expect(brief(parsePolicy('{"default": "allow", "rules": [{"action": "execute", "deny": true}]}').errors)).toEqual([
      ['invalid_value', '/rules/0/action', 'unknown action "execute"; expected one of "load", "invoke", "prompt"'],
    ]);
    expect(brief(parsePolicy('{"default": "allow", "rules": [{"server": "", "deny": true}]}').errors)).toEqual([
      ['empty_pattern', '/rules/0/server', EMPTY_PATTERN],
    ]);
  });
});
