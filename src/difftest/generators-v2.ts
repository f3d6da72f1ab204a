/**
 * Generators of version 2 policies and of requests aimed at them: principals
 * (present, absent, null; users, groups, claims as strings or arrays, groups
 * lists thousands long), resources, annotations (partial, absent, wrong
 * types, MCP's defaults and the read-only exception) and arguments (deep and
 * wide, `*` fan-out over arrays and objects, keys with `/` and `~`, array
 * indexes and near-indexes, paths with `..`, `//` and `.`, numbers at the
 * edges of a double), and requests that break each request check of
 * version 2 once. Version 1's generators are left as they are, so a seed
 * still gives the same version 1 policies and requests.
 */
import fc from 'fast-check';
import {
  ACTIONS_V2,
  ANNOTATION_DEFAULTS,
  ANNOTATION_HINTS,
  type AnnotationHint,
  type ArgumentCondition,
  MAX_CLAIM_VALUES,
  MAX_CLAIMS,
  MAX_FIELD_LENGTH,
  MAX_GROUPS,
  MAX_PATH_PARTS,
  type Policy,
  pointerSegments,
  type Rule,
  type Scalar,
  SERVER_TYPES,
  TRANSPORTS,
} from '../policy/model.js';
import {
  aimedAt,
  extras,
  fieldArbitraries,
  KNOWN_FIELDS,
  nearMiss,
  pattern,
  piece,
  requestFor,
  sourcePattern,
  valueFor,
  witness,
} from './generators.js';
import { LIMITS } from './settings.js';

type Json = Record<string, unknown>;

/** `arb`, or `undefined` one time in `freq`. */
const maybe = <T>(arb: fc.Arbitrary<T>, freq = 2): fc.Arbitrary<T | undefined> =>
  fc.option(arb, { nil: undefined, freq });

/** Drops the keys whose value is `undefined`, so a generated object has only the keys it means to have. */
function defined(o: Json): Json {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Pointer segments: keys with `/` and `~`, indexes and near-indexes (`01`, `-1`), the empty key, `__proto__`. */
export const SEGMENTS = [
  'a',
  'b',
  'path',
  'files',
  'x/y',
  'm~n',
  '~1',
  '/',
  '0',
  '1',
  '2',
  '01',
  '-1',
  '',
  ' ',
  '__proto__',
  'constructor',
  'é',
  '😀',
] as const;

/** A pointer segment written as RFC 6901 has it (`~` as `~0`, `/` as `~1`). */
export const escapeSegment = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1');

/** The pointer of some segments (`*` stays the wildcard). */
export const pointerOf = (segments: readonly string[]): string => segments.map((s) => `/${escapeSegment(s)}`).join('');

/** Whether a segment names an array element: `0`, or digits not starting with `0`. */
const isIndex = (s: string): boolean => /^(0|[1-9][0-9]*)$/.test(s);

const segment = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...SEGMENTS) },
  { weight: 2, arbitrary: fc.constant('*') },
);

/** Pointers of 0 to 4 segments, now and then a deep one (up to the 32 segments a rule may use). */
const argumentPath: fc.Arbitrary<string> = fc.oneof(
  { weight: 12, arbitrary: fc.array(segment, { maxLength: 4 }).map(pointerOf) },
  {
    weight: 1,
    arbitrary: fc
      .record({ n: fc.integer({ min: 8, max: 32 }), star: fc.boolean() })
      .map(({ n, star }) => pointerOf(Array.from({ length: n }, (_, k) => (star && k % 3 === 1 ? '*' : 'a')))),
  },
);

/** Numbers at the edges of a double and of JSON's printing of them. */
export const EDGE_NUMBERS: readonly number[] = [
  0,
  -0,
  1,
  -1,
  0.5,
  1.5,
  2 ** 53,
  2 ** 53 - 1,
  2 ** 53 + 2,
  -(2 ** 53),
  1e21,
  1e20,
  1e-7,
  5e-324,
  -5e-324,
  1.7976931348623157e308,
  -1.7976931348623157e308,
  0.1,
  0.30000000000000004,
  100,
  123456789.125,
];

const STRINGS = ['', 'a', 'A', '1', '0', 'true', 'null', '-0', 'x/y', '/srv/projects/a', 'é', 'e\u0301', '😀'];

const number = fc.constantFrom(...EDGE_NUMBERS);
const scalar: fc.Arbitrary<Scalar> = fc.oneof(
  { weight: 4, arbitrary: number },
  { weight: 3, arbitrary: fc.constantFrom(...STRINGS) },
  { weight: 1, arbitrary: piece },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
);

/** Path parts that cleaning treats specially (`.`, `..`, empty) and some it does not (`...`, `.a`). */
const PATH_PARTS = ['', '.', '..', 'srv', 'projects', 'etc', 'passwd', 'a', 'b', '...', '.a'];
const PATH_PATTERNS = [
  '/srv/projects/*',
  '/srv/*',
  '/etc/*',
  '/etc/passwd',
  '/',
  '.',
  '..',
  '../*',
  '*',
  'a/*',
  '*/b',
  '/srv/projects',
  '/*/b/*',
  '*..*',
];

/** Strings made of path parts, rooted or not, and paths at and past the 512-part limit. */
const pathString: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc
      .tuple(fc.boolean(), fc.array(fc.constantFrom(...PATH_PARTS), { maxLength: 7 }))
      .map(([rooted, parts]) => `${rooted ? '/' : ''}${parts.join('/')}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '/srv/projects/../../etc/passwd',
      '//a/./b/',
      'a/../../b',
      '/..',
      `${'a/'.repeat(MAX_PATH_PARTS - 1)}a`,
      `/srv/projects${'/a'.repeat(MAX_PATH_PARTS - 2)}`,
      `/srv/projects${'/a'.repeat(MAX_PATH_PARTS - 1)}`,
      `${'../'.repeat(MAX_PATH_PARTS)}etc`,
    ),
  },
);

const patterns = (arb: fc.Arbitrary<string>) => fc.array(arb, { minLength: 1, maxLength: 3 });

/** The test of a condition, with `not` (sometimes `false`) and `normalize` where they are allowed. */
export const argumentCondition: fc.Arbitrary<ArgumentCondition> = fc
  .record({
    path: argumentPath,
    kind: fc.constantFrom('match', 'match', 'path', 'equals', 'in', 'range', 'present'),
    not: fc.constantFrom(undefined, undefined, true, true, false),
    match: patterns(fc.oneof(pattern, fc.constantFrom('*', '', 'a*', '*.md'))).map((ps) => ps.filter((p) => p !== '')),
    pathMatch: patterns(
      fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PATH_PATTERNS) }, { weight: 1, arbitrary: pathString }),
    ),
    equals: scalar,
    in: fc.array(scalar, { minLength: 1, maxLength: 4 }),
    min: maybe(number, 3),
    max: maybe(number, 3),
    present: fc.boolean(),
  })
  .map((c) => {
    const not = c.kind === 'present' ? {} : c.not === undefined ? {} : { not: c.not };
    switch (c.kind) {
      case 'match':
        return { path: c.path, match: c.match.length > 0 ? c.match : ['*'], ...not };
      case 'path': {
        const match = c.pathMatch.filter((p) => p !== '');
        return { path: c.path, match: match.length > 0 ? match : ['/*'], normalize: 'path' as const, ...not };
      }
      case 'equals':
        return { path: c.path, equals: c.equals, ...not };
      case 'in':
        return { path: c.path, in: c.in, ...not };
      case 'range': {
        const lo = c.min ?? (c.max === undefined ? 0 : undefined);
        const bounds = [lo, c.max].filter((n) => n !== undefined).sort((a, b) => a - b);
        const [min, max] =
          lo === undefined ? [undefined, bounds[0]] : c.max === undefined ? [bounds[0], undefined] : bounds;
        return { path: c.path, ...(min !== undefined && { min }), ...(max !== undefined && { max }), ...not };
      }
      default:
        return { path: c.path, present: c.present };
    }
  });

const RESOURCE_URIS = [
  'file:///srv/docs/a.md',
  'file:///srv/docs/../secret',
  'file:///etc/passwd',
  'https://example.com/x?y=1',
  'mem://a',
  'ui://widget/1',
  'FILE:///srv/docs/a.md',
];
const RESOURCE_PATTERNS = ['file:///srv/docs/*', 'file://*', '*://example.com/*', 'mem://*', '*.md', 'ui://*'];
const resourcePattern = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...RESOURCE_PATTERNS) },
  { weight: 1, arbitrary: pattern },
  { weight: 1, arbitrary: fc.constantFrom(...RESOURCE_URIS) },
);
const PRINCIPALS = ['alice', 'bob', 'alice@example.com', 'svc:ci', 'Alice', 'é'];
const principalPattern = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...PRINCIPALS, '*@example.com', 'svc:*', 'a*', 'team-*', 'platform') },
  { weight: 1, arbitrary: pattern },
);
const CLAIM_NAMES = ['email', 'roles', 'org', '__proto__', 'constructor', 'toString', 'x/y', ''];
const claimName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...CLAIM_NAMES.filter((n) => n !== '')) },
  { weight: 1, arbitrary: piece.filter((p) => p !== '') },
);

/** What a policy's rules draw from, so several rules compete for the same requests. */
interface Pools {
  servers: string[];
  sources: string[];
  tools: string[];
  resources: string[];
  users: string[];
  groups: string[];
  claimNames: string[];
  claimPatterns: string[];
  conditions: ArgumentCondition[];
}

const pools: fc.Arbitrary<Pools> = fc.record({
  servers: fc.array(pattern, { minLength: 1, maxLength: 2 }),
  sources: fc.array(sourcePattern, { minLength: 1, maxLength: 2 }),
  tools: fc.array(pattern, { minLength: 1, maxLength: 3 }),
  resources: fc.array(resourcePattern, { minLength: 1, maxLength: 3 }),
  users: fc.array(principalPattern, { minLength: 1, maxLength: 3 }),
  groups: fc.array(principalPattern, { minLength: 1, maxLength: 3 }),
  claimNames: fc.uniqueArray(claimName, { minLength: 1, maxLength: 3 }),
  claimPatterns: fc.array(principalPattern, { minLength: 1, maxLength: 3 }),
  conditions: fc.array(argumentCondition, { minLength: 1, maxLength: 5 }),
});

/** A version 2 rule as written, drawing from `p`; every key now and then, in every spelling of the decision. */
function ruleV2(p: Pools): fc.Arbitrary<Json> {
  const some = <T>(xs: readonly T[]) => fc.subarray([...xs], { minLength: 1 });
  return fc
    .record({
      action: maybe(fc.constantFrom(...ACTIONS_V2)),
      server: maybe(fc.constantFrom(...p.servers), 3),
      serverType: maybe(fc.constantFrom(...SERVER_TYPES), 4),
      serverSource: maybe(fc.constantFrom(...p.sources), 4),
      transport: maybe(fc.constantFrom(...TRANSPORTS), 4),
      tools: maybe(some(p.tools), 3),
      resources: maybe(some(p.resources), 4),
      users: maybe(some(p.users), 3),
      groups: maybe(some(p.groups), 3),
      claims: maybe(
        some(p.claimNames).chain((names) =>
          fc
            .tuple(...names.map(() => some(p.claimPatterns)))
            .map((lists) => Object.fromEntries(names.map((n, k) => [n, lists[k]]))),
        ),
        3,
      ),
      annotations: maybe(
        fc
          .record(Object.fromEntries(ANNOTATION_HINTS.map((h) => [h, fc.boolean()])), { requiredKeys: [] })
          .filter((a) => Object.keys(a).length > 0),
        3,
      ),
      arguments: maybe(
        fc.oneof(
          { weight: 3, arbitrary: some(p.conditions) },
          { weight: 1, arbitrary: fc.array(argumentCondition, { minLength: 1, maxLength: 3 }) },
        ),
      ),
      reason: maybe(piece, 3),
      allowed: fc.boolean(),
      spelling: fc.constantFrom('allow', 'deny', 'both'),
    })
    .map(({ allowed, spelling, ...rule }) => {
      const decision =
        spelling === 'allow'
          ? { allow: allowed }
          : spelling === 'deny'
            ? { deny: !allowed }
            : { allow: allowed, deny: !allowed };
      // `resources` belongs to rules about resources.
      const action = rule.resources !== undefined ? 'resource' : rule.action;
      return defined({ ...rule, action, ...decision });
    });
}

function numbered(stems: readonly string[]): fc.Arbitrary<string> {
  return fc
    .record({ stem: fc.constantFrom(...stems), n: fc.nat(40), shape: fc.nat(3) })
    .map(({ stem, n, shape }) => [`${stem}${n}`, `${stem}${n}*`, `*${stem}${n}`, `${stem}*${n}`][shape] ?? stem);
}

/** Pools for a large policy: numbered users, groups and resources, so the index of each new field decides. */
const largePools: fc.Arbitrary<Pools> = pools.chain((p) =>
  fc
    .record({
      users: fc.array(numbered(['user-', 'svc:']), { minLength: 5, maxLength: 30 }),
      groups: fc.array(numbered(['team-', 'g']), { minLength: 5, maxLength: 30 }),
      resources: fc.array(numbered(['file:///srv/', 'mem://']), { minLength: 5, maxLength: 30 }),
    })
    .map((large) => ({ ...p, ...large })),
);

/** A version 2 policy document as written, before validation; now and then a large one. */
export const rawPolicyV2: fc.Arbitrary<Json> = fc.record({
  version: fc.constant(2),
  default: fc.constantFrom('allow', 'deny'),
  rules: fc.oneof(
    { weight: 20, arbitrary: pools.chain((p) => fc.array(ruleV2(p), { maxLength: LIMITS.maxRules })) },
    {
      weight: 1,
      arbitrary: largePools.chain((p) =>
        fc.array(ruleV2(p), { minLength: LIMITS.minLargeRules, maxLength: LIMITS.maxLargeRulesV2 }),
      ),
    },
  ),
});

/** Version 2 policy text: mostly bare, sometimes wrapped in Docker's admin-settings.json. */
export const policyTextV2: fc.Arbitrary<string> = fc
  .record({ policy: rawPolicyV2, wrap: fc.nat(5), locked: fc.boolean() })
  .map(({ policy, wrap, locked }) =>
    wrap === 0
      ? JSON.stringify({ configurationFileVersion: 2, mcpPolicy: { locked, value: JSON.stringify(policy) } })
      : JSON.stringify(policy, null, 2),
  );

// ---------------------------------------------------------------------------
// Requests

/** The effective value of a hint for request annotations `a` (see docs/semantics.md). */
export function effectiveHint(a: Json | undefined, h: AnnotationHint): boolean {
  const declared = a?.[h];
  if (typeof declared === 'boolean') return declared;
  if (h === 'destructiveHint' && a?.readOnlyHint === true) return false;
  return ANNOTATION_DEFAULTS[h];
}

/** Annotations as tools declare them: none, some, all, with extra members. */
const someAnnotations: fc.Arbitrary<Json | undefined> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant({}) },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        ...Object.fromEntries(ANNOTATION_HINTS.map((h) => [h, fc.boolean()])),
        title: fc.constantFrom('Read file', ''),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.constant({ readOnlyHint: true }) },
);

/** Annotations that give `rule` what it asks for, declared or by default, starting from random ones. */
function annotationsFor(rule: Rule): fc.Arbitrary<Json | undefined> {
  const wanted = rule.annotations;
  return someAnnotations.map((a) => {
    if (wanted === undefined) return a;
    let out = a;
    for (const h of ANNOTATION_HINTS) {
      const v = wanted[h];
      if (v !== undefined && effectiveHint(out, h) !== v) out = { ...out, [h]: v };
    }
    return out;
  });
}

/** A list of strings with `hit` among some others; now and then thousands long, `hit` last. */
function listWith(
  hit: fc.Arbitrary<string>,
  others: fc.Arbitrary<string>,
  longest = MAX_GROUPS,
): fc.Arbitrary<string[]> {
  return fc.oneof(
    {
      weight: 150,
      arbitrary: fc
        .tuple(fc.array(others, { maxLength: 2 }), hit, fc.array(others, { maxLength: 2 }))
        .map(([a, h, b]) => [...a, h, ...b]),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(hit, fc.integer({ min: longest >> 2, max: longest - 1 }))
        .map(([h, n]) => [...Array.from({ length: n }, (_, k) => `g${k}`), h]),
    },
  );
}

/** What a version 2 policy's rules use, for requests that hit and nearly hit them. */
interface Targets {
  resources: string[];
  users: string[];
  groups: string[];
  claims: Map<string, string[]>;
  conditions: ArgumentCondition[];
  anyUser: fc.Arbitrary<string>;
  anyGroup: fc.Arbitrary<string>;
  anyClaimValue: fc.Arbitrary<string>;
  anyResource: fc.Arbitrary<string>;
}

function targetsOf(policy: Policy): Targets {
  const claims = new Map<string, string[]>();
  for (const r of policy.rules) {
    for (const [name, ps] of Object.entries(r.claims ?? {})) claims.set(name, [...(claims.get(name) ?? []), ...ps]);
  }
  const resources = policy.rules.flatMap((r) => r.resources ?? []);
  const users = policy.rules.flatMap((r) => r.users ?? []);
  const groups = policy.rules.flatMap((r) => r.groups ?? []);
  return {
    resources,
    users,
    groups,
    claims,
    conditions: policy.rules.flatMap((r) => r.arguments ?? []),
    // Built once per policy: a large policy's patterns make these big.
    anyUser: valueFor(users, [fc.constantFrom(...PRINCIPALS, '')]),
    anyGroup: valueFor(groups, [fc.constantFrom('platform', 'team-1', '')]),
    anyClaimValue: valueFor([...claims.values()].flat(), [fc.constantFrom(...PRINCIPALS, '')]),
    anyResource: valueFor(resources, [fc.constantFrom(...RESOURCE_URIS, '')]),
  };
}

/** A principal that satisfies what `rule` asks of one (when given), else any principal or none. */
function principalFor(rule: Rule | undefined, t: Targets): fc.Arbitrary<unknown> {
  const { anyUser, anyGroup, anyClaimValue } = t;
  const claimNames = [...t.claims.keys(), ...CLAIM_NAMES];
  const claimValue = (hit: fc.Arbitrary<string>) =>
    fc.oneof(
      hit,
      listWith(hit, anyClaimValue, MAX_CLAIM_VALUES),
      fc.tuple(anyClaimValue, hit).map(([a, b]) => [a, b]),
    );
  const wanted = rule?.claims;
  const claims = fc
    .tuple(
      fc.array(fc.tuple(fc.constantFrom(...claimNames), claimValue(anyClaimValue)), { maxLength: 3 }),
      wanted === undefined
        ? fc.constant([] as [string, unknown][])
        : fc.tuple(
            ...Object.entries(wanted).map(([name, ps]) =>
              claimValue(fc.constantFrom(...ps).chain(witness)).map((v): [string, unknown] => [name, v]),
            ),
          ),
    )
    // Object.fromEntries makes every claim an own member, `__proto__` too.
    .map(([others, hits]) => Object.fromEntries([...others, ...hits]));
  const principal = fc
    .record({
      sub: rule?.users ? fc.constantFrom(...rule.users).chain(witness) : maybe(anyUser),
      groups: rule?.groups
        ? listWith(fc.constantFrom(...rule.groups).chain(witness), anyGroup)
        : maybe(fc.array(anyGroup, { maxLength: 3 })),
      claims: wanted ? claims : maybe(claims),
      name: maybe(fc.constantFrom('Alice', 5, null), 5),
    })
    .map(defined);
  if (rule?.users || rule?.groups || rule?.claims) return principal;
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom(null, {}) },
    { weight: 4, arbitrary: principal },
  );
}

/** A value at the end of a path that passes a condition's test (`pass`) or fails it. */
function leafFor(c: ArgumentCondition, pass: boolean): fc.Arbitrary<unknown> {
  const wrongType = fc.constantFrom<unknown>(null, true, 0, 'x', [], {}, ['x'], { a: 1 });
  if (c.match !== undefined) {
    const hit = fc.constantFrom(...c.match).chain(witness);
    if (pass) return c.normalize === 'path' ? hit.chain(disguisedPath) : hit;
    return fc.oneof(
      fc.constantFrom(...c.match).chain(nearMiss),
      c.normalize === 'path' ? pathString : piece,
      wrongType,
    );
  }
  if (c.equals !== undefined || c.in !== undefined) {
    const values = c.in ?? [c.equals as Scalar];
    if (pass) return fc.constantFrom(...values).map(twin);
    return fc.oneof(
      scalar,
      fc.constantFrom(...values).map((v) => (typeof v === 'string' ? Number(v) : String(v))),
      fc.constantFrom(...values).map((v) => [v]),
      wrongType,
    );
  }
  if (c.min !== undefined || c.max !== undefined) {
    const bounds = [c.min, c.max].filter((n) => n !== undefined);
    if (pass) {
      return fc.oneof(
        fc.constantFrom(...bounds).map(twin),
        number.filter((n) => (c.min === undefined || n >= c.min) && (c.max === undefined || n <= c.max)),
      );
    }
    return fc.oneof(
      number,
      fc.constantFrom(...bounds).map((n) => String(n)),
      fc.constantFrom(...bounds).map((n) => [n]),
      wrongType,
    );
  }
  return fc.oneof(scalar, wrongType);
}

/** The same JSON value spelt another way where there is one: `-0` for `0`, `2^53 + 1` (read as `2^53`). */
function twin(v: Scalar): Scalar {
  if (v === 0) return Object.is(v, -0) ? 0 : -0;
  if (v === 2 ** 53) return 2 ** 53 + 1;
  return v;
}

/** A path that cleans to what `s` cleans to: `x/..`, `.` or an empty part put in somewhere. */
function disguisedPath(s: string): fc.Arbitrary<string> {
  const parts = s.split('/');
  return fc
    .record({
      at: fc.nat(Math.max(parts.length - 1, 0)),
      insert: fc.constantFrom('x/..', '.', '', 'x/y/../..', './/.'),
    })
    .map(({ at, insert }) =>
      at > 0 ? [...parts.slice(0, at), insert, ...parts.slice(at)].join('/') : `${s}/${insert}`,
    );
}

/** Random arguments: scalars, arrays and objects over keys that paths name, a few levels deep. */
const argumentValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    { weight: 3, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(tie('value'), { maxLength: 3 }) },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.tuple(fc.constantFrom(...SEGMENTS, '*'), tie('value')), { maxLength: 3 })
        .map((entries) => Object.fromEntries(entries)),
    },
  ),
})).value;

/** Arguments that are wide (a thousand members or elements) or deep (to the request boundary's depth). */
const bulkyArguments: fc.Arbitrary<Json> = fc.oneof(
  fc.constant({ a: Array.from({ length: 1000 }, (_, k) => (k % 2 === 0 ? `/srv/projects/${k}` : k)) }),
  fc.constant(Object.fromEntries(Array.from({ length: 1000 }, (_, k) => [`k${k}`, k]))),
  fc.integer({ min: 25, max: 31 }).map((depth) => {
    let v: unknown = '/etc/passwd';
    for (let k = 2; k < depth; k++) v = k % 2 === 0 ? { a: v } : [v];
    return { a: v };
  }),
);

/**
 * Puts `leaf` at the pointer `segments` under `into`, making arrays and
 * objects as the segments need (a `*` becomes one to three elements or
 * members, the others holding `others`); `choices` make the shapes.
 */
function plant(
  into: unknown,
  segments: readonly string[],
  leaf: unknown,
  others: unknown[],
  choices: number[],
  root = false,
): unknown {
  if (segments.length === 0) return leaf;
  const [s, ...rest] = segments as [string, ...string[]];
  const c = choices.shift() ?? 0;
  const below = (at: unknown) => plant(at, rest, leaf, others, choices);
  const other = (at: unknown) =>
    others.length > 0 ? plant(at, rest, others[c % others.length], [], [...choices]) : (at ?? c);
  // The arguments themselves are an object: there, a `*` or an index names members.
  if (s === '*' && !root && (c >> 2) % 2 === 0) {
    const base = Array.isArray(into) ? [...(into as unknown[])] : [];
    const items = [...base, ...Array.from({ length: c % 3 }, () => other(undefined))];
    items.splice((c >> 3) % (items.length + 1), 0, below(undefined));
    return items;
  }
  if (s === '*') {
    const base = isObject(into) ? { ...into } : {};
    const keys = SEGMENTS.filter((_, k) => (k + c) % 5 === 0).slice(0, c % 3);
    const entries = [...Object.entries(base), ...keys.map((k): [string, unknown] => [k, other(base[k])])];
    entries.push([`m${c % 7}`, below(undefined)]);
    return Object.fromEntries(entries);
  }
  if (isIndex(s) && !root && Number(s) < 8 && c % 3 !== 0) {
    const base = Array.isArray(into) ? [...(into as unknown[])] : [];
    while (base.length <= Number(s)) base.push(other(undefined));
    base[Number(s)] = below(base[Number(s)]);
    return base;
  }
  const base = isObject(into) ? { ...into } : {};
  return Object.fromEntries([...Object.entries(base).filter(([k]) => k !== s), [s, below(base[s])]]);
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether `cond` should be met (mostly) or missed; the leaf for that, failing leaves for `*` siblings, shapes. */
function plantingOf(c: ArgumentCondition, pass: boolean) {
  return fc.record({
    leaf: leafFor(c, pass !== (c.not === true)),
    others: fc.array(leafFor(c, c.not === true), { maxLength: 2 }),
    choices: fc.array(fc.nat(63), { minLength: 34, maxLength: 34 }),
    skip: c.present === false ? fc.constant(pass) : fc.constant(false),
  });
}

/** Arguments meant to meet every condition of `rule` (now and then one missed), on top of random ones. */
function argumentsFor(rule: Rule | undefined, t: Targets): fc.Arbitrary<unknown> {
  const conditions = rule?.arguments ?? [];
  const extra =
    t.conditions.length > 0
      ? fc.subarray(t.conditions, { maxLength: Math.min(2, t.conditions.length) })
      : fc.constant([]);
  const base = fc.oneof(
    { weight: 6, arbitrary: fc.constant({}) },
    {
      weight: 6,
      arbitrary: fc
        .array(fc.tuple(fc.constantFrom(...SEGMENTS), argumentValue), { maxLength: 3 })
        .map((e) => Object.fromEntries(e)),
    },
    { weight: 1, arbitrary: bulkyArguments },
  );
  return fc
    .tuple(
      base,
      // One condition in ten is missed on purpose, so the rule's other conditions alone do not decide.
      fc.tuple(...conditions.map((c) => fc.nat(9).chain((n) => plantingOf(c, n !== 0)))),
      extra.chain((cs) =>
        fc.tuple(...cs.map((c) => fc.boolean().chain((pass) => plantingOf(c, pass).map((p) => ({ c, p }))))),
      ),
      fc.nat(9),
    )
    .map(([start, planted, more, absent]) => {
      if (rule === undefined && absent < 2) return absent === 0 ? undefined : null;
      let args: unknown = start;
      const all = [...more.map(({ c, p }) => ({ c, p })), ...conditions.map((c, k) => ({ c, p: planted[k]! }))];
      for (const { c, p } of all) {
        if (p.skip) continue;
        const segments = pointerSegments(c.path);
        // `""` is the arguments themselves, which must stay an object.
        if (segments.length === 0) continue;
        args = plant(args, segments, p.leaf, p.others, [...p.choices], true);
      }
      return args;
    });
}

/** The version 2 parts of a request aimed at `rule` (or at no rule in particular). */
function partsFor(rule: Rule | undefined, t: Targets): fc.Arbitrary<Json> {
  return fc
    .record({
      resource: rule?.resources ? fc.constantFrom(...rule.resources).chain(witness) : maybe(t.anyResource),
      principal: principalFor(rule, t),
      annotations: rule ? annotationsFor(rule) : someAnnotations,
      arguments: argumentsFor(rule, t),
    })
    .map(defined);
}

/** One way of nudging a request off (or onto) a rule's boundary, by a number drawn for it. */
type Nudge = (r: Json, n: number) => Json;

const without =
  (...keys: string[]): Nudge =>
  (r) =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !keys.includes(k)));
const withPrincipal =
  (edit: (p: Json, n: number) => Json): Nudge =>
  (r, n) =>
    isObject(r.principal) ? { ...r, principal: edit(r.principal, n) } : r;

/** Replaces one value deep in `v` (found by `n`) with `to(old)`, or deletes it when `to` gives undefined. */
function editDeep(v: unknown, n: number, to: (old: unknown) => unknown): unknown {
  if (Array.isArray(v) && v.length > 0) {
    const k = n % v.length;
    const out = [...v];
    const next = editDeep(v[k], n >> 2, to);
    if (next === undefined) out.splice(k, 1);
    else out[k] = next;
    return out;
  }
  if (isObject(v) && Object.keys(v).length > 0) {
    const entries = Object.entries(v);
    const k = n % entries.length;
    const next = editDeep(entries[k]![1], n >> 2, to);
    return Object.fromEntries(
      next === undefined ? entries.filter((_, j) => j !== k) : entries.map((e, j) => (j === k ? [e[0], next] : e)),
    );
  }
  return to(v);
}

const WRONG = [5, 'x', null, true, [], {}, ['/etc/passwd'], -0, 2 ** 53];

/** Near misses of the version 2 parts: the principal, annotations, arguments or resource taken away or changed. */
const NUDGES: readonly Nudge[] = [
  without('principal'),
  (r) => ({ ...r, principal: null }),
  (r) => ({ ...r, principal: {} }),
  withPrincipal(({ sub: _sub, ...p }) => p),
  withPrincipal((p) => ({ ...p, sub: '' })),
  withPrincipal((p) => ({ ...p, groups: [] })),
  withPrincipal((p) => ({ ...p, groups: [''] })),
  withPrincipal(({ claims: _claims, ...p }) => p),
  withPrincipal((p) => ({
    ...p,
    claims: isObject(p.claims) ? Object.fromEntries(Object.entries(p.claims).map(([k]) => [k, ''])) : {},
  })),
  withPrincipal((p, n) => ({
    ...p,
    claims: isObject(p.claims) ? Object.fromEntries(Object.entries(p.claims).filter((_, k) => k !== n % 3)) : p.claims,
  })),
  without('annotations'),
  (r) => ({ ...r, annotations: {} }),
  (r) => ({ ...r, annotations: { readOnlyHint: true } }),
  (r, n) => {
    const h = ANNOTATION_HINTS[n % ANNOTATION_HINTS.length]!;
    const a = isObject(r.annotations) ? r.annotations : undefined;
    return { ...r, annotations: { ...a, [h]: !effectiveHint(a, h) } };
  },
  without('arguments'),
  (r) => ({ ...r, arguments: null }),
  (r) => ({ ...r, arguments: {} }),
  (r, n) => ({ ...r, arguments: editDeep(r.arguments, n, () => undefined) }),
  (r, n) => ({ ...r, arguments: editDeep(r.arguments, n, () => WRONG[n % WRONG.length]) }),
  (r, n) => ({
    ...r,
    arguments: editDeep(r.arguments, n, (old) =>
      typeof old === 'number' ? String(old) : typeof old === 'string' ? `${old}/..` : old,
    ),
  }),
  without('resource'),
  (r) => ({ ...r, resource: '' }),
  (r) => (typeof r.resource === 'string' ? { ...r, resource: `${r.resource}x` } : r),
  (r) => ({ ...r, action: 'resource' }),
  without('action'),
];

const long = (unit = 'a', over = 1) => unit.repeat(MAX_FIELD_LENGTH + over);

/** Each request check of version 2 broken once (and a few at a time, to check their order), or met at its limit. */
const BREAKS: readonly ((r: Json) => unknown)[] = [
  (r) => ({ ...r, resource: 5 }),
  (r) => ({ ...r, resource: null }),
  (r) => ({ ...r, resource: long() }),
  (r) => ({ ...r, resource: long('😀', 0) }),
  (r) => ({ ...r, resource: long('😀') }),
  (r) => ({ ...r, action: 'resources' }),
  (r) => ({ ...r, action: 'Resource' }),
  (r) => ({ ...r, principal: 5 }),
  (r) => ({ ...r, principal: 'alice' }),
  (r) => ({ ...r, principal: [] }),
  (r) => ({ ...r, principal: [{ sub: 'alice' }] }),
  (r) => ({ ...r, principal: { sub: 5 } }),
  (r) => ({ ...r, principal: { sub: null } }),
  (r) => ({ ...r, principal: { sub: long() } }),
  (r) => ({ ...r, principal: { sub: long('😀', 0) } }),
  (r) => ({ ...r, principal: { groups: 'platform' } }),
  (r) => ({ ...r, principal: { groups: null } }),
  (r) => ({ ...r, principal: { groups: {} } }),
  (r) => ({ ...r, principal: { groups: ['a', 1] } }),
  (r) => ({ ...r, principal: { groups: ['a', ['b']] } }),
  (r) => ({ ...r, principal: { groups: Array.from({ length: MAX_GROUPS + 1 }, (_, k) => `g${k}`) } }),
  (r) => ({ ...r, principal: { groups: Array.from({ length: MAX_GROUPS }, (_, k) => `g${k}`) } }),
  (r) => ({ ...r, principal: { groups: ['a', long()] } }),
  (r) => ({ ...r, principal: { claims: [] } }),
  (r) => ({ ...r, principal: { claims: 'x' } }),
  (r) => ({ ...r, principal: { claims: null } }),
  (r) => ({
    ...r,
    principal: { claims: Object.fromEntries(Array.from({ length: MAX_CLAIMS + 1 }, (_, k) => [`c${k}`, 'x'])) },
  }),
  (r) => ({
    ...r,
    principal: { claims: Object.fromEntries(Array.from({ length: MAX_CLAIMS }, (_, k) => [`c${k}`, 'x'])) },
  }),
  (r) => ({ ...r, principal: { claims: { email: 5 } } }),
  (r) => ({ ...r, principal: { claims: { email: null } } }),
  (r) => ({ ...r, principal: { claims: { email: {} } } }),
  (r) => ({ ...r, principal: { claims: { email: ['a', 1] } } }),
  (r) => ({ ...r, principal: { claims: { roles: Array.from({ length: MAX_CLAIM_VALUES + 1 }, (_, k) => `r${k}`) } } }),
  (r) => ({ ...r, principal: { claims: { roles: Array.from({ length: MAX_CLAIM_VALUES }, (_, k) => `r${k}`) } } }),
  (r) => ({ ...r, principal: { claims: { email: long() } } }),
  (r) => ({ ...r, principal: { claims: { roles: ['a', long()] } } }),
  (r) => ({ ...r, arguments: [] }),
  (r) => ({ ...r, arguments: 'x' }),
  (r) => ({ ...r, arguments: 5 }),
  (r) => ({ ...r, arguments: true }),
  (r) => ({ ...r, annotations: [] }),
  (r) => ({ ...r, annotations: 'readOnly' }),
  (r) => ({ ...r, annotations: { readOnlyHint: 'true' } }),
  (r) => ({ ...r, annotations: { destructiveHint: 1 } }),
  (r) => ({ ...r, annotations: { idempotentHint: null } }),
  (r) => ({ ...r, annotations: { readOnlyHint: true, openWorldHint: {} } }),
  // Several at once: the first in the order of the checks names the error.
  (r) => ({ ...r, annotations: 5, arguments: 5, principal: 5 }),
  (r) => ({ ...r, principal: { sub: 5, groups: 5, claims: 5 } }),
  (r) => ({ ...r, principal: { claims: 5, groups: [long()] } }),
  (r) => ({ ...r, resource: 5, action: 'nope', principal: 5 }),
  (r) => ({ ...r, action: 'nope', principal: 5 }),
  (r) => ({ ...r, annotations: { destructiveHint: 'x', readOnlyHint: 'y' } }),
  (r) => ({ ...r, target: { type: 'resource' }, principal: 5 }),
];

/** The request fields hostile JavaScript values spoil in version 2 requests. */
export const HOSTILE_FIELDS_V2 = [...KNOWN_FIELDS, 'resource', 'principal', 'arguments', 'annotations', 'target'];

/**
 * Requests aimed at a version 2 policy: most satisfy one of its rules on
 * every key (version 1's and the new ones), many are then nudged off a
 * boundary of the new keys; the rest are random, break one request check
 * of version 2, or are version 1's malformed requests.
 */
export function requestForV2(policy: Policy): fc.Arbitrary<unknown> {
  const t = targetsOf(policy);
  const parts = new Map<Rule, fc.Arbitrary<Json>>();
  const partsOf = (rule: Rule) => parts.get(rule) ?? parts.set(rule, partsFor(rule, t)).get(rule)!;
  const any = {
    ...fieldArbitraries(policy),
    action: fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...ACTIONS_V2) },
      { weight: 1, arbitrary: fc.constant('') },
    ),
  };
  const random = fc
    .tuple(fc.record(any, { requiredKeys: [] }), partsFor(undefined, t))
    .map(([a, b]) => ({ ...a, ...b }));
  const aimed =
    policy.rules.length === 0
      ? random
      : fc
          .constantFrom(...policy.rules)
          .chain((rule) => fc.tuple(aimedAt(rule, any), partsOf(rule)))
          .map(([a, b]) => ({ ...a, ...b }));
  const nudged = fc.tuple(aimed, fc.nat(NUDGES.length - 1), fc.nat(1023)).map(([r, k, n]) => NUDGES[k]!(r, n));
  const broken = fc.tuple(aimed, fc.nat(BREAKS.length - 1)).map(([r, k]) => BREAKS[k]!(r));
  const withExtras = (arb: fc.Arbitrary<unknown>) =>
    fc.tuple(arb, extras).map(([r, x]) => (isObject(r) ? { ...x, ...r } : r));
  return fc.oneof(
    { weight: 8, arbitrary: withExtras(aimed) },
    { weight: 8, arbitrary: withExtras(nudged) },
    { weight: 2, arbitrary: withExtras(random) },
    { weight: 2, arbitrary: withExtras(broken) },
    // Version 1's requests: its near misses, wrong types and non-objects, with no version 2 parts.
    { weight: 1, arbitrary: requestFor(policy) },
  );
}

/** Requests aimed at a policy of either version. */
export function requestForPolicy(policy: Policy): fc.Arbitrary<unknown> {
  return policy.version === 2 ? requestForV2(policy) : requestFor(policy);
}
