/**
 * Generators for differential testing, kept apart from what they are used to
 * check. Policies use every field and spelling; strings are drawn from
 * characters that break engines (quotes, backslashes, controls, NUL, combining
 * marks, astral characters, regex metacharacters); requests are built from
 * each policy's own patterns so that they hit, nearly hit and miss its rules.
 */
import fc from 'fast-check';
import { ACTIONS, MAX_FIELD_LENGTH, type Policy, SERVER_TYPES, TRANSPORTS } from '../policy/model.js';
import { LIMITS } from './settings.js';

const PLAIN = ['a', 'b', 'c', 'A', 'B', 'x', '-', '_', '0', '1'];
const SPECIAL = [
  '"',
  '\\',
  '\n',
  '\t',
  '\r',
  '\u0000',
  '\u007f',
  '?',
  '[',
  ']',
  '{',
  '}',
  '.',
  '+',
  '(',
  ')',
  '^',
  '$',
  '|',
  '/',
  ':',
  '@',
  ' ',
  '#',
  '%',
  "'",
  '`',
];
const UNICODE = [
  'é',
  'e\u0301',
  '\u0301',
  'ß',
  'İ',
  'ﬁ',
  '中',
  '文',
  '😀',
  '👍🏽',
  '\u200d',
  '\u202e',
  '\u2028',
  '\ufeff',
  '𝔸',
];

/** One character (or grapheme) from the mix above, mostly plain so patterns still collide. */
export const anyChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...PLAIN) },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 2, arbitrary: fc.constantFrom(...UNICODE) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }) },
);

/** A literal piece: no `*`. */
export const piece: fc.Arbitrary<string> = fc
  .array(anyChar, { maxLength: LIMITS.maxPieceLength })
  .map((cs) => cs.join('').replaceAll('*', ''));

/** A `*` pattern: stars at the start, middle, end, repeated or alone; never empty. */
export const pattern: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .array(fc.oneof({ weight: 3, arbitrary: piece }, { weight: 2, arbitrary: fc.constantFrom('*', '**') }), {
        minLength: 1,
        maxLength: LIMITS.maxPatternParts,
      })
      .map((parts) => parts.join(''))
      .filter((p) => p !== ''),
  },
  { weight: 1, arbitrary: fc.constant('*') },
  { weight: 1, arbitrary: fc.constant(`${'a'.repeat(LIMITS.longStringLength)}*`) },
);

const REGISTRY_HOSTS = [
  'docker.io',
  'index.docker.io',
  'ghcr.io',
  'localhost',
  'localhost:5000',
  'registry.example.com',
  'host:1',
  'Host',
];
const NAMESPACES = ['mcp', 'library', 'org', 'a', 'Org'];
const NAMES = ['x', 'fetch', 'duckduckgo', 'a.b'];

/** Image references in every form hosts send, and remote URLs. */
export const imageReference: fc.Arbitrary<string> = fc.oneof(
  fc
    .record({
      host: fc.option(fc.constantFrom(...REGISTRY_HOSTS), { nil: undefined }),
      ns: fc.option(fc.constantFrom(...NAMESPACES), { nil: undefined }),
      name: fc.constantFrom(...NAMES),
      suffix: fc.constantFrom('', ':latest', ':1.2', '@sha256:0123abcd'),
    })
    .map(({ host, ns, name, suffix }) => [host, ns, `${name}${suffix}`].filter((p) => p !== undefined).join('/')),
  fc.constantFrom('https://mcp.example.com/sse', 'http://localhost:8080/mcp', 'https://evil.test/?x=.example.com/'),
);

/** Patterns for serverSource: generic ones and the shapes admins write for registries and URLs. */
export const sourcePattern: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: pattern },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'docker.io/mcp/*',
      'docker.io/library/*',
      'docker.io/library/x*',
      'docker.io/x*',
      'index.docker.io/*',
      'mcp/*',
      'ghcr.io/*',
      '*@sha256:*',
      'localhost:5000/*',
      'https://*.example.com/*',
      'docker.io/*/x*',
      '*/fetch*',
      'registry.example.com/mcp/*',
    ),
  },
  { weight: 1, arbitrary: imageReference },
);

/** A rule as written in a policy document, with every spelling of the decision, drawing patterns from the given sources. */
function ruleFrom(
  server: fc.Arbitrary<string>,
  source: fc.Arbitrary<string>,
  tool: fc.Arbitrary<string>,
): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .record(
      {
        action: fc.constantFrom(...ACTIONS),
        server,
        serverType: fc.constantFrom(...SERVER_TYPES),
        serverSource: source,
        transport: fc.constantFrom(...TRANSPORTS),
        tools: fc.array(tool, { minLength: 1, maxLength: LIMITS.maxTools }),
        reason: fc.oneof(piece, fc.string({ unit: 'grapheme', maxLength: 8 })),
      },
      { requiredKeys: [] },
    )
    .chain((rule) =>
      fc
        .record({ allowed: fc.boolean(), spelling: fc.constantFrom('allow', 'deny', 'both') })
        .map(({ allowed, spelling }) => {
          const decision =
            spelling === 'allow'
              ? { allow: allowed }
              : spelling === 'deny'
                ? { deny: !allowed }
                : { allow: allowed, deny: !allowed };
          return { ...rule, ...decision };
        }),
    );
}

/** Patterns with a star at each end (`*x*`, `*a*b*`, `*`): no rule index can look them up by prefix or suffix. */
export const infixPattern: fc.Arbitrary<string> = fc
  .array(piece, { minLength: 0, maxLength: 2 })
  .map((pieces) => `*${pieces.map((p) => `${p}*`).join('')}`);

/**
 * A rule only an exhaustive check can find: no action, type or transport and
 * only `*x*` patterns, so a rule index must keep it in its always-checked list.
 */
const unindexableRule: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      server: infixPattern,
      serverSource: infixPattern,
      tools: fc.array(infixPattern, { minLength: 1, maxLength: 2 }),
      reason: piece,
    },
    { requiredKeys: [] },
  )
  .chain((rule) => fc.boolean().map((allow) => ({ ...rule, allow })));

/** A rule with patterns of its own; now and then one no index can narrow. */
export const rawRule: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 6, arbitrary: ruleFrom(pattern, sourcePattern, pattern) },
  { weight: 1, arbitrary: unindexableRule },
);

/**
 * Rules that draw from a few shared patterns, so several rules match the
 * same request and the order of rules decides: first match must win.
 */
const overlappingRules: fc.Arbitrary<Record<string, unknown>[]> = fc
  .record({
    servers: fc.array(pattern, { minLength: 1, maxLength: 2 }),
    sources: fc.array(sourcePattern, { minLength: 1, maxLength: 2 }),
    tools: fc.array(pattern, { minLength: 1, maxLength: 2 }),
  })
  .chain(({ servers, sources, tools }) =>
    fc.array(ruleFrom(fc.constantFrom(...servers), fc.constantFrom(...sources), fc.constantFrom(...tools)), {
      minLength: 2,
      maxLength: LIMITS.maxRules,
    }),
  );

/**
 * Patterns for large policies: numbered names, prefixes and suffixes that
 * share characters (`team-1*`, `team-12*`, `*.svc-1`), so index keys of
 * different lengths land on the same requests and candidate sets overlap;
 * with some generic patterns, which include `*x*` shapes no index can narrow.
 */
function numberedPattern(stem: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .record({ stem, n: fc.nat(40), shape: fc.nat(5) })
    .map(
      ({ stem, n, shape }) =>
        [`${stem}${n}`, `${stem}${n}*`, `*${stem}${n}`, `${stem}*${n}`, `*${stem}${n}*`, `${stem}${n}-*-x`][shape] ??
        stem,
    );
}

/**
 * A large policy's rules: hundreds, drawn from a shared pool of numbered and
 * generic patterns, so many rules compete for the same requests and the rule
 * index (not a walk over every rule) decides which are checked.
 */
export const largeRules: fc.Arbitrary<Record<string, unknown>[]> = fc
  .record({
    servers: fc.array(
      fc.oneof({ weight: 4, arbitrary: numberedPattern(fc.constantFrom('team-', 'srv', 'a')) }, pattern),
      {
        minLength: 5,
        maxLength: 40,
      },
    ),
    sources: fc.array(fc.oneof(numberedPattern(fc.constantFrom('ghcr.io/org', 'mcp/')), sourcePattern), {
      minLength: 2,
      maxLength: 20,
    }),
    tools: fc.array(fc.oneof({ weight: 3, arbitrary: numberedPattern(fc.constantFrom('get_', 'x')) }, pattern), {
      minLength: 2,
      maxLength: 30,
    }),
  })
  .chain(({ servers, sources, tools }) =>
    fc.array(ruleFrom(fc.constantFrom(...servers), fc.constantFrom(...sources), fc.constantFrom(...tools)), {
      minLength: LIMITS.minLargeRules,
      maxLength: LIMITS.maxLargeRules,
    }),
  );

/** A policy document as written, before validation; now and then a large one. */
export const rawPolicy: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    version: fc.constant(1),
    default: fc.constantFrom('allow', 'deny'),
    rules: fc.oneof(
      { weight: 10, arbitrary: fc.array(rawRule, { maxLength: LIMITS.maxRules }) },
      { weight: 10, arbitrary: overlappingRules },
      { weight: 1, arbitrary: largeRules },
    ),
  },
  { requiredKeys: ['default', 'rules'] },
);

/** Policy text: mostly bare, sometimes wrapped in Docker's admin-settings.json. */
export const policyText: fc.Arbitrary<string> = fc
  .record({ policy: rawPolicy, wrap: fc.boolean(), locked: fc.boolean() })
  .map(({ policy, wrap, locked }) =>
    wrap
      ? JSON.stringify({ configurationFileVersion: 2, mcpPolicy: { locked, value: JSON.stringify(policy) } })
      : JSON.stringify(policy, null, 2),
  );

/** A string that matches `p`: each star filled with a few characters, `/` and newline among them. */
export function witness(p: string): fc.Arbitrary<string> {
  const stars = p.split('*').length - 1;
  const fill = fc.array(fc.oneof(anyChar, fc.constantFrom('/', '\n', '.', ':')), { maxLength: LIMITS.maxStarFill });
  return fc.array(fill, { minLength: stars, maxLength: stars }).map((fills) => {
    let k = 0;
    return p.replace(/\*/g, () => (fills[k++] ?? []).join(''));
  });
}

/** Strings close to matching `p`: a character short or extra, another case, the pattern taken literally. */
export function nearMiss(p: string): fc.Arbitrary<string> {
  return witness(p).chain((w) =>
    fc.oneof(
      fc.constant(w.slice(1)),
      fc.constant(w.slice(0, -1)),
      fc.constant(`${w}\n`),
      fc.constant(`${w}a`),
      fc.constant(`a${w}`),
      fc.constant(w.toUpperCase()),
      fc.constant(w.toLowerCase()),
      fc.constant(p),
      fc.constant(p.replaceAll('*', '')),
    ),
  );
}

/**
 * Other spellings Docker reads as the same Docker Hub reference (short forms,
 * the legacy domain, `library/` left out), so canonicalisation is exercised
 * from every side.
 */
function spellings(s: string): string[] {
  const out = [s];
  if (s.startsWith('docker.io/library/')) {
    const name = s.slice('docker.io/library/'.length);
    out.push(name, `docker.io/${name}`, `index.docker.io/${name}`);
  }
  if (s.startsWith('docker.io/')) {
    const path = s.slice('docker.io/'.length);
    out.push(path, `index.docker.io/${path}`);
  }
  return out;
}

/** A value for a field some rules constrain with `patterns`: witnesses, near misses and random text. */
export function valueFor(patterns: readonly string[], extra: fc.Arbitrary<string>[] = []): fc.Arbitrary<string> {
  const fromPatterns = patterns.flatMap((p) => [witness(p), nearMiss(p)]);
  return fc.oneof(...fromPatterns, fc.string({ unit: 'grapheme', maxLength: 6 }), piece, ...extra);
}

/** A wrong-typed value for a known field: the request must be rejected with an error. */
const wrongType: fc.Arbitrary<unknown> = fc.constantFrom(null, 0, 1.5, true, false, [], ['load'], {}, { a: 1 });

/** The request fields of version 1, in the order the generators draw them. */
export const KNOWN_FIELDS = ['action', 'server', 'serverType', 'serverSource', 'transport', 'tool'] as const;

/** A generator for each request field of version 1. */
export type FieldArbitraries = Record<(typeof KNOWN_FIELDS)[number], fc.Arbitrary<string>>;

/** The fields hosts send that no rule reads, and a target that is now and then invalid. */
export const extras = fc.record(
  {
    catalog: fc.constantFrom('docker-mcp', 'x'),
    workingSet: fc.constant('default'),
    // Mostly the types Docker's gateway sends; now and then one that makes the request invalid.
    target: fc.record({
      type: fc.oneof(
        { arbitrary: fc.constantFrom('server', 'tool', 'catalog', 'workingSet'), weight: 9 },
        { arbitrary: fc.constantFrom('prompt', 'resource'), weight: 1 },
      ),
      name: piece,
    }),
  },
  { requiredKeys: [] },
);

/** A request that satisfies every constraint of `rule`; fields it leaves open come and go at random. */
export function aimedAt(rule: Policy['rules'][number], any: FieldArbitraries): fc.Arbitrary<Record<string, unknown>> {
  const required: Partial<Record<(typeof KNOWN_FIELDS)[number], fc.Arbitrary<string>>> = {};
  if (rule.action !== undefined) required.action = fc.constant(rule.action);
  if (rule.server !== undefined) required.server = witness(rule.server);
  if (rule.serverType !== undefined) required.serverType = fc.constant(rule.serverType);
  if (rule.serverSource !== undefined) {
    required.serverSource = witness(rule.serverSource).chain((s) => fc.constantFrom(...spellings(s)));
  }
  if (rule.transport !== undefined) required.transport = fc.constant(rule.transport);
  if (rule.tools !== undefined) required.tool = fc.constantFrom(...rule.tools).chain(witness);
  const optional = Object.fromEntries(KNOWN_FIELDS.filter((f) => !(f in required)).map((f) => [f, any[f]]));
  return fc
    .tuple(fc.record(required), fc.record(optional, { requiredKeys: [] }))
    .map(([req, opt]) => ({ ...opt, ...req }));
}

/** Values for each request field of version 1, drawn from the policy's own patterns (witnesses and near misses) and random text. */
export function fieldArbitraries(policy: Policy): FieldArbitraries {
  const servers = policy.rules.flatMap((r) => (r.server !== undefined ? [r.server] : []));
  const sources = policy.rules.flatMap((r) => (r.serverSource !== undefined ? [r.serverSource] : []));
  const tools = policy.rules.flatMap((r) => r.tools ?? []);
  return {
    action: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...ACTIONS) }, { weight: 1, arbitrary: fc.constant('') }),
    server: valueFor(servers),
    serverType: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...SERVER_TYPES) },
      { weight: 1, arbitrary: fc.constantFrom('server', 'Registry', '') },
    ),
    serverSource: valueFor(sources, [imageReference]).chain((s) => fc.constantFrom(...spellings(s))),
    transport: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...TRANSPORTS) },
      { weight: 1, arbitrary: fc.constantFrom('http', '') },
    ),
    tool: valueFor(tools),
  };
}

/**
 * Requests aimed at a policy: most satisfy one of its rules, then often get
 * one field nudged (a near miss, a deletion, another value), so they land
 * on rule boundaries; the rest are random, carry a wrong-typed field or an
 * unknown action, or are not objects at all.
 */
export function requestFor(policy: Policy): fc.Arbitrary<unknown> {
  const any = fieldArbitraries(policy);
  const random = fc.record(any, { requiredKeys: [] });
  const aimed =
    policy.rules.length === 0 ? random : fc.constantFrom(...policy.rules).chain((rule) => aimedAt(rule, any));
  const nudged = fc
    .record({ base: aimed, field: fc.constantFrom(...KNOWN_FIELDS), how: fc.nat(3) })
    .chain(({ base, field, how }) => {
      const current = base[field];
      if (how === 0 || current === undefined) {
        const { [field]: _dropped, ...rest } = base;
        return fc.constant(rest);
      }
      const near = typeof current === 'string' && field !== 'action' ? nearMiss(current) : any[field];
      return (how === 1 ? near : any[field]).map((v) => ({ ...base, [field]: v }));
    });
  const broken = fc
    .record({
      base: aimed,
      field: fc.constantFrom(...KNOWN_FIELDS),
      value: fc.oneof(wrongType, fc.constantFrom('execute', 'LOAD', 'tools/call', ' load', 'a\ud800')),
    })
    .map(({ base, field, value }) => ({
      ...base,
      [field]: field === 'action' || typeof value !== 'string' ? value : `${String(base[field] ?? '')}${value}`,
    }));
  // Fields at and just past the length limit, counted in code points: a
  // two-unit emoji counts once.
  const long = fc
    .record({
      base: aimed,
      field: fc.constantFrom(...KNOWN_FIELDS),
      unit: fc.constantFrom('a', 'é', '😀'),
      over: fc.nat(1),
    })
    .map(({ base, field, unit, over }) => ({ ...base, [field]: unit.repeat(MAX_FIELD_LENGTH + over) }));
  const withExtras = (arb: fc.Arbitrary<Record<string, unknown>>) =>
    fc.tuple(arb, extras).map(([r, x]) => ({ ...x, ...r }));
  return fc.oneof(
    { weight: 8, arbitrary: withExtras(aimed) },
    { weight: 8, arbitrary: withExtras(nudged) },
    { weight: 3, arbitrary: withExtras(random) },
    { weight: 2, arbitrary: fc.oneof({ weight: 12, arbitrary: withExtras(broken) }, { weight: 1, arbitrary: long }) },
    { weight: 1, arbitrary: fc.constantFrom(null, 5, 'load', [], [{ action: 'load' }], true) },
  );
}

const bool = fc.boolean();
const enforcement = fc.constantFrom('enforced', 'default');
const directive = <T>(value: fc.Arbitrary<T>) => fc.record({ value, enforcement });

/** Directive values of the right shape for each known key, plus an unknown directive. */
const directiveValues = {
  non_registry_servers: bool,
  playground: bool,
  help_menu: bool,
  assistant: bool,
  registry: fc.record(
    { api_url: fc.constantFrom('https://registry.example.com/api', 'http://10.0.0.1:8080'), allow_private_ip: bool },
    { requiredKeys: ['api_url'] },
  ),
  telemetry: fc.record(
    {
      otel_endpoint: fc.constantFrom('https://otel.example.com:4318', 'collector:4317'),
      sampling_rate: fc.constantFrom(0, 0.1, 0.5, 1),
      tracing_enabled: bool,
      headers: fc.dictionary(fc.constantFrom('X-Team', 'X-Env'), fc.constantFrom('a', 'b"c', 'é', '')),
    },
    { requiredKeys: ['otel_endpoint'] },
  ),
  build_env: fc.dictionary(
    fc.constantFrom('GOPROXY', 'NPM_REGISTRY', 'MY_VAR_1'),
    fc.constantFrom('x', 'https://p.example.com', ''),
  ),
  ca_certificate: fc.record({ url: fc.constant('https://pki.example.com/ca.pem') }),
  llm_gateway: fc.record({ url: fc.constant('https://llm.example.com'), models: fc.array(fc.constantFrom('a', 'b')) }),
  // Unknown directives whose keys sort one way by UTF-16 units and the other by code point (UTF-8 bytes).
  '\uFF61_x': bool,
  '\u{1F600}_x': bool,
};

/** Enterprise config text in every shape admins keep it in, with degraded mode settings. */
export const enterpriseText: fc.Arbitrary<string> = fc
  .record({
    directives: fc.record(
      Object.fromEntries(Object.entries(directiveValues).map(([k, v]) => [k, directive(v as fc.Arbitrary<unknown>)])),
      { requiredKeys: [] },
    ),
    degraded: fc.option(
      fc.record(
        {
          policy: fc.constantFrom('warn', 'block_new'),
          grace_period: fc.constantFrom('30m', '24h', '1h30m', '90s', '0s'),
          message: fc.constantFrom('Manager unreachable', 'ok "quoted" \\ text'),
        },
        { requiredKeys: ['policy'] },
      ),
      { nil: undefined },
    ),
    shape: fc.constantFrom('helm', 'enterpriseConfig', 'bare'),
  })
  .map(({ directives, degraded, shape }) => {
    const config = { ...directives, ...(degraded && { degraded_mode: degraded }) };
    const doc =
      shape === 'helm'
        ? { 'enterprise-manager': { enterpriseConfig: config } }
        : shape === 'enterpriseConfig'
          ? { enterpriseConfig: config }
          : config;
    return JSON.stringify(doc);
  });

/** A client's local settings: valid values for some known keys, and an unknown key now and then. */
export const localSettings: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    non_registry_servers: bool,
    playground: bool,
    assistant: bool,
    registry: directiveValues.registry,
    build_env: directiveValues.build_env,
    custom: fc.constantFrom(1, 'x', null, ''),
    '\uFF61_x': bool,
    '\u{1F600}_x': bool,
  },
  { requiredKeys: [] },
);

/** Adds the request fields hosts send when directives apply: local settings, time since contact, new installs. */
export function withEnterpriseFields(requests: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const fields = fc.record(
    {
      local: fc.oneof(
        { weight: 8, arbitrary: localSettings },
        { weight: 1, arbitrary: fc.constantFrom(5, null, { non_registry_servers: 'no' }) },
      ),
      unreachableSeconds: fc.oneof(
        { weight: 8, arbitrary: fc.constantFrom(0, 1, 90, 1800, 1801, 5399, 5400, 5401, 86400, 86401, 1e9) },
        { weight: 1, arbitrary: fc.constantFrom(-1, '24h', null, '', Infinity, -Infinity, NaN, 1e308) },
      ),
      newInstall: fc.oneof({ weight: 8, arbitrary: bool }, { weight: 1, arbitrary: fc.constantFrom('yes', 1) }),
    },
    { requiredKeys: [] },
  );
  return fc
    .tuple(requests, fields)
    .map(([r, f]) => (typeof r === 'object' && r !== null && !Array.isArray(r) ? { ...r, ...f } : r));
}

/** Nested objects `depth` levels deep (the outer object is level 1). */
function nestedValue(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let k = 0; k < depth; k++) v = { x: v };
  return v;
}

/**
 * JavaScript values a host can pass that are not plain JSON, each as a way
 * to spoil one field of a request: engines used to read them differently
 * (property access in TypeScript, JSON.stringify on the way to WebAssembly
 * and opa). `depth` nesting straddles the request boundary's depth limit.
 */
const hostileSpoilers: readonly ((request: Record<string, unknown>, field: string) => unknown)[] = [
  (r, f) => ({ ...r, [f]: undefined }),
  (r, f) => {
    const { [f]: inherited, ...rest } = r;
    return Object.assign(Object.create({ [f]: inherited ?? 'x' }) as object, rest);
  },
  (r, f) => Object.defineProperty({ ...r }, f, { get: () => r[f] ?? 'x', enumerable: true, configurable: true }),
  (r, f) =>
    Object.defineProperty({ ...r }, f, {
      get: () => {
        throw new Error('getter called');
      },
      enumerable: true,
      configurable: true,
    }),
  (r) => ({ ...r, target: { type: 'tool', toJSON: () => 'flattened' } }),
  (r, f) => ({ ...r, [f]: new String(typeof r[f] === 'string' ? r[f] : 'x') }),
  (r) => ({ ...r, workingSet: 10n }),
  (r) => {
    const out: Record<string, unknown> = { ...r, catalog: {} };
    (out.catalog as Record<string, unknown>).parent = out;
    return out;
  },
  // eslint-disable-next-line no-sparse-arrays -- the hole is the point
  (r) => ({ ...r, list: ['a', , 'c'] }),
  (r) => ({ ...r, weight: Number.POSITIVE_INFINITY }),
  (r) => ({ ...r, when: new Date(0) }),
  (r) => ({ ...r, deep: nestedValue(31) }),
  (r) => ({ ...r, deep: nestedValue(32) }),
  (r) => Object.assign(Object.create(null) as object, r),
  (r) => Object.defineProperty({ ...r, [Symbol('s')]: 1 }, 'hidden', { value: 10n, enumerable: false }),
];

/** A request (when it is an object) with one field spoiled by a JavaScript value that is not plain JSON. */
export function hostileRequest(
  requests: fc.Arbitrary<unknown>,
  fields: readonly string[] = [...KNOWN_FIELDS, 'catalog', 'workingSet', 'target'],
): fc.Arbitrary<unknown> {
  return fc
    .tuple(requests, fc.nat(hostileSpoilers.length - 1), fc.constantFrom(...fields))
    .map(([r, k, field]) =>
      typeof r === 'object' && r !== null && !Array.isArray(r)
        ? hostileSpoilers[k]!(r as Record<string, unknown>, field)
        : r,
    );
}

/**
 * Mixes hostile requests into generated ones (one in `every`). Apply it last:
 * spreading a hostile request would call its getters.
 */
export function withHostileValues(
  requests: fc.Arbitrary<unknown>,
  every = 20,
  fields?: readonly string[],
): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: every - 1, arbitrary: requests },
    { weight: 1, arbitrary: hostileRequest(requests, fields) },
  );
}

/** `count` hostile requests from `seed`, for tests that feed them straight to engines. */
export function hostileRequests(seed: number, count: number): unknown[] {
  const base = fc.record(
    { action: fc.constantFrom(...ACTIONS), tool: fc.constantFrom('read', 'delete_all'), server: fc.constant('s') },
    { requiredKeys: [] },
  );
  return fc.sample(hostileRequest(base), { seed, numRuns: count });
}
