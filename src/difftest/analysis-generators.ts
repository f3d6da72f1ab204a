/**
 * Generators for checking policy analysis against brute force: small policies
 * over a small alphabet, so that a finite set of request values meets every
 * region a rule can carve out, and pairs of versions related by the edits
 * admins make (reorder, flip, drop, add, widen, narrow).
 */
import fc from 'fast-check';
import {
  ACTIONS,
  ACTIONS_V2,
  type ArgumentCondition,
  type Policy,
  type PolicyRequest,
  type Rule,
  type Scalar,
  SERVER_TYPES,
  TRANSPORTS,
} from '../policy/model.js';

/** Pieces of name patterns: two letters and the star. */
const NAME_PIECES = ['a', 'b', '*'];
/** Pieces of source patterns, including what image canonicalisation adds and tests (a capital names a registry). */
const SOURCE_PIECES = [
  'a',
  'A',
  '/',
  '.',
  ':',
  '*',
  'docker.io/',
  'docker.io/library/',
  'index.docker.io/',
  'localhost/',
  'https://',
];

function patternFrom(pieces: readonly string[], max: number): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...pieces), { minLength: 1, maxLength: max }).map((ps) => ps.join(''));
}

export const smallNamePattern: fc.Arbitrary<string> = patternFrom(NAME_PIECES, 3);
export const smallSourcePattern: fc.Arbitrary<string> = patternFrom(SOURCE_PIECES, 3);

/** A rule that constrains each field with some probability. */
export const smallRule: fc.Arbitrary<Rule> = fc
  .record(
    {
      action: fc.option(fc.constantFrom(...ACTIONS), { freq: 2, nil: undefined }),
      server: fc.option(smallNamePattern, { freq: 2, nil: undefined }),
      serverType: fc.option(fc.constantFrom(...SERVER_TYPES), { freq: 3, nil: undefined }),
      serverSource: fc.option(smallSourcePattern, { freq: 3, nil: undefined }),
      transport: fc.option(fc.constantFrom(...TRANSPORTS), { freq: 3, nil: undefined }),
      tools: fc.option(fc.array(smallNamePattern, { minLength: 1, maxLength: 2 }), { freq: 2, nil: undefined }),
      allow: fc.boolean(),
      reason: fc.option(fc.constantFrom('r1', 'r2'), { freq: 3, nil: undefined }),
    },
    { requiredKeys: ['allow'] },
  )
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as Rule);

/** A small policy: up to five rules. */
export const smallPolicy: fc.Arbitrary<Policy> = fc.record({
  version: fc.constant(1 as const),
  default: fc.constantFrom('allow' as const, 'deny' as const),
  rules: fc.array(smallRule, { maxLength: 5 }),
});

/** An edit an admin might make to a policy. */
function edit(policy: Policy): fc.Arbitrary<Policy> {
  return editWith(policy, smallRule);
}

/** An edit an admin might make to a policy, with new rules from `rule`. */
function editWith(policy: Policy, smallRule: fc.Arbitrary<Rule>): fc.Arbitrary<Policy> {
  const n = policy.rules.length;
  const at = fc.nat({ max: Math.max(0, n - 1) });
  const withRules = (rules: Rule[]): Policy => ({ ...policy, rules });
  const edits: fc.Arbitrary<Policy>[] = [
    fc.constant({ ...policy, default: policy.default === 'allow' ? ('deny' as const) : ('allow' as const) }),
    fc.tuple(at, smallRule).map(([k, r]) => withRules([...policy.rules.slice(0, k), r, ...policy.rules.slice(k)])),
  ];
  if (n > 0) {
    edits.push(
      at.map((k) => withRules(policy.rules.filter((_, i) => i !== k))),
      at.map((k) => withRules(policy.rules.map((r, i) => (i === k ? { ...r, allow: !r.allow } : r)))),
      fc.tuple(at, at).map(([x, y]) => {
        const rules = [...policy.rules];
        [rules[x], rules[y]] = [rules[y]!, rules[x]!];
        return withRules(rules);
      }),
      fc
        .tuple(at, smallRule)
        .map(([k, r]) => withRules(policy.rules.map((old, i) => (i === k ? { ...r, allow: old.allow } : old)))),
    );
  }
  return fc.oneof(...edits);
}

/** Two versions of a policy: the second is the first after one or two edits. */
export const policyPair: fc.Arbitrary<[Policy, Policy]> = smallPolicy.chain((p) =>
  fc.oneof(
    edit(p).map((q) => [p, q] as [Policy, Policy]),
    edit(p)
      .chain(edit)
      .map((q) => [p, q] as [Policy, Policy]),
  ),
);

/** Name values tried by brute force: every string over `a`, `b` and one other letter, up to length four. */
export function smallNames(): string[] {
  const out = [''];
  let layer = [''];
  for (let len = 1; len <= 4; len++) {
    layer = layer.flatMap((s) => ['a', 'b', 'x'].map((c) => s + c));
    out.push(...layer);
  }
  return out;
}

/** Source values tried by brute force: up to three pieces (and one other letter), in every order. */
export function smallSources(): string[] {
  const pieces = [...SOURCE_PIECES.filter((p) => p !== '*'), 'x', 'localhost', '://'];
  const out = new Set<string>(['']);
  let layer = [''];
  for (let len = 1; len <= 3; len++) {
    layer = layer.flatMap((s) => pieces.map((p) => s + p));
    for (const s of layer) out.add(s);
  }
  return [...out];
}

/** Pieces of argument `match` patterns: a path-like alphabet, so `normalize` has something to clean. */
const ARG_PIECES = ['a', '/', '.', '*'];
/** Scalars for `equals` and `in`, at the edges that tell types apart (`""`, `0`, `false` and `null` are all distinct). */
const SCALARS: readonly Scalar[] = ['a', '', '/a', 0, 1, 1.5, -1, true, false, null];
/** Exact paths (independent of each other) and, rarely, paths the analysis treats as opaque. */
const EXACT_PATHS = ['/a', '/b', '/c/d'];
const OPAQUE_PATHS = ['/a/*', '/c', '/e/*'];

const argumentCondition: fc.Arbitrary<ArgumentCondition> = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...EXACT_PATHS) },
      { weight: 1, arbitrary: fc.constantFrom(...OPAQUE_PATHS) },
    ),
    fc.oneof(
      fc.array(patternFrom(ARG_PIECES, 3), { minLength: 1, maxLength: 2 }).map((match) => ({ match })),
      fc.constantFrom(...SCALARS).map((equals) => ({ equals })),
      fc.uniqueArray(fc.constantFrom(...SCALARS), { minLength: 1, maxLength: 3 }).map((xs) => ({ in: xs })),
      fc
        .tuple(
          fc.option(fc.constantFrom(-1, 0, 1, 2), { nil: undefined }),
          fc.option(fc.constantFrom(-1, 0, 1, 2), { nil: undefined }),
        )
        .filter(
          ([lo, hi]) => (lo !== undefined || hi !== undefined) && (lo === undefined || hi === undefined || lo <= hi),
        )
        .map(([min, max]) => ({ ...(min !== undefined && { min }), ...(max !== undefined && { max }) })),
      fc.boolean().map((present) => ({ present })),
    ),
    fc.boolean(),
    fc.nat({ max: 5 }),
  )
  .map(([path, test, not, n]) => {
    const c: Record<string, unknown> = { path, ...test };
    if (not && !('present' in test)) c.not = true;
    // Rarely, path cleaning, which the analysis treats as opaque.
    if ('match' in test && n === 0) c.normalize = 'path';
    return c as unknown as ArgumentCondition;
  });

const namePatterns = fc.array(smallNamePattern, { minLength: 1, maxLength: 2 });
const HINT_VALUES = fc.record(
  {
    readOnlyHint: fc.boolean(),
    destructiveHint: fc.boolean(),
    idempotentHint: fc.boolean(),
    openWorldHint: fc.boolean(),
  },
  { requiredKeys: [] },
);

/** A version 2 rule: the version 1 keys sometimes, and each version 2 key with some probability. */
export const smallRuleV2: fc.Arbitrary<Rule> = fc
  .record(
    {
      action: fc.option(fc.constantFrom(...ACTIONS_V2), { freq: 2, nil: undefined }),
      server: fc.option(smallNamePattern, { freq: 4, nil: undefined }),
      tools: fc.option(namePatterns, { freq: 4, nil: undefined }),
      resources: fc.option(namePatterns, { freq: 3, nil: undefined }),
      users: fc.option(namePatterns, { freq: 3, nil: undefined }),
      groups: fc.option(namePatterns, { freq: 3, nil: undefined }),
      claims: fc.option(
        fc.oneof(
          namePatterns.map((p) => ({ c: p })),
          fc.tuple(namePatterns, namePatterns).map(([p, q]) => {
            // A claim may be named `__proto__`: an own member of a prototype-less object.
            const claims = Object.create(null) as Record<string, readonly string[]>;
            claims.c = p;
            claims.__proto__ = q;
            return claims;
          }),
        ),
        { freq: 4, nil: undefined },
      ),
      annotations: fc.option(
        HINT_VALUES.filter((h) => Object.keys(h).length > 0),
        { freq: 3, nil: undefined },
      ),
      arguments: fc.option(fc.array(argumentCondition, { minLength: 1, maxLength: 3 }), { freq: 2, nil: undefined }),
      allow: fc.boolean(),
      reason: fc.option(fc.constantFrom('r1', 'r2'), { freq: 3, nil: undefined }),
    },
    { requiredKeys: ['allow'] },
  )
  .map((r) => {
    const out = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Record<string, unknown>;
    // `resources` goes only with action `resource` (validation's rule).
    if (out.resources !== undefined) out.action = 'resource';
    return out as unknown as Rule;
  });

/** A small version 2 policy: up to five rules. */
export const smallPolicyV2: fc.Arbitrary<Policy> = fc.record({
  version: fc.constant(2 as const),
  default: fc.constantFrom('allow' as const, 'deny' as const),
  rules: fc.array(smallRuleV2, { maxLength: 5 }),
});

/** Two versions of a version 2 policy, the second after one or two edits (or the first as version 1). */
export const policyPairV2: fc.Arbitrary<[Policy, Policy]> = smallPolicyV2.chain((p) =>
  fc.oneof(
    editWith(p, smallRuleV2).map((q) => [p, q] as [Policy, Policy]),
    editWith(p, smallRuleV2)
      .chain((q) => editWith(q, smallRuleV2))
      .map((q) => [p, q] as [Policy, Policy]),
    smallPolicy.map((q) => [q, p] as [Policy, Policy]),
  ),
);

/** Strings a pattern matches, and near misses, for requests that reach the regions patterns carve out. */
function stringsFor(patterns: readonly string[]): fc.Arbitrary<string> {
  const near = patterns.flatMap((p) => [
    p.replaceAll('*', ''),
    p.replaceAll('*', 'a'),
    p.replaceAll('*', 'xb'),
    `${p.replaceAll('*', '')}x`,
  ]);
  return fc.oneof(
    fc.constantFrom('a', 'b', 'x', 'ab', '/a', '/a/../a', '.', ...near),
    patternFrom(['a', 'b', '/', '.', 'x'], 3),
  );
}

/**
 * Version 2 requests for a policy: values from its own patterns and scalars
 * (and near misses), every action, principals with and without each part,
 * declared and undeclared hints, argument values of every JSON type.
 */
export function requestForV2(policy: Policy): fc.Arbitrary<PolicyRequest> {
  const rules = policy.rules;
  const pats = (f: (r: Rule) => readonly string[] | undefined) => rules.flatMap((r) => f(r) ?? []);
  const names = stringsFor([...pats((r) => r.tools), ...pats((r) => (r.server === undefined ? [] : [r.server]))]);
  const groups = stringsFor([...pats((r) => r.groups), ...pats((r) => Object.values(r.claims ?? {}).flat())]);
  const conditions = rules.flatMap((r) => r.arguments ?? []);
  const scalars: unknown[] = [
    ...SCALARS,
    2,
    -0,
    0.5,
    ...conditions.flatMap((c) => [c.min, c.max, c.equals, ...(c.in ?? [])]),
  ];
  const leaf = fc.oneof(
    { weight: 3, arbitrary: stringsFor(conditions.flatMap((c) => c.match ?? [])) },
    { weight: 3, arbitrary: fc.constantFrom(...scalars.filter((v) => v !== undefined)) },
    { weight: 1, arbitrary: fc.constantFrom({}, [], { d: 'a' }) },
  );
  const value = fc.oneof({ weight: 4, arbitrary: leaf }, { weight: 1, arbitrary: fc.array(leaf, { maxLength: 3 }) });
  const args = fc.record(
    { a: value, b: value, c: fc.oneof(value, fc.record({ d: value }, { requiredKeys: [] })), e: value },
    { requiredKeys: [] },
  );
  const claimValue = fc.oneof(groups, fc.array(groups, { maxLength: 3 }));
  const claims = fc
    .record({ c: claimValue, p: claimValue, other: claimValue }, { requiredKeys: [] })
    .map(({ p, ...rest }) => {
      const out = { ...rest } as Record<string, unknown>;
      if (p !== undefined)
        Object.defineProperty(out, '__proto__', { value: p, enumerable: true, writable: true, configurable: true });
      return out;
    });
  const principal = fc.record(
    { sub: stringsFor(pats((r) => r.users)), groups: fc.array(groups, { maxLength: 3 }), claims },
    { requiredKeys: [] },
  );
  return fc
    .record(
      {
        action: fc.constantFrom(...ACTIONS_V2),
        server: names,
        tool: names,
        resource: stringsFor(pats((r) => r.resources)),
        principal,
        annotations: HINT_VALUES,
        arguments: args,
      },
      { requiredKeys: ['action'] },
    )
    .map((r) => r as PolicyRequest);
}
