/**
 * Generators for checking policy analysis against brute force: small policies
 * over a small alphabet, so that a finite set of request values meets every
 * region a rule can carve out, and pairs of versions related by the edits
 * admins make (reorder, flip, drop, add, widen, narrow).
 */
import fc from 'fast-check';
import { ACTIONS, type Policy, type Rule, SERVER_TYPES, TRANSPORTS } from '../policy/model.js';

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
