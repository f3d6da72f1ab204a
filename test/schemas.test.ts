/**
 * The editors' JSON Schemas: the committed files are what the generator
 * writes, a real 2020-12 validator (ajv) compiles them, and on every example,
 * every document in the case tables and a generated set of valid and broken
 * documents it agrees with `check` on validity. The only exceptions are the
 * named gaps of SCHEMA_GAPS, and then only in one direction: the schema may
 * accept what `check` rejects, never reject what `check` accepts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schemaFiles, SCHEMAS_DIR } from '../scripts/schemas.js';
import { type Issue } from '../src/core/errors.js';
import { readDocument } from '../src/diagnostics/document.js';
import { readJson } from '../src/diagnostics/json.js';
import { enterpriseText, policyText } from '../src/difftest/generators.js';
import { parseGoDuration } from '../src/enterprise/duration.js';
import { HOST_PORT } from '../src/enterprise/urls.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { parsePolicy } from '../src/policy/validate.js';
import { buildSchemas, EMBEDDED_POLICY_GAP, SCHEMA_GAPS, SCHEMA_NAMES, type SchemaName } from '../src/schema/index.js';
import { type CaseFile, parseCaseFile } from '../src/testing/cases.js';

const ROOT = resolve(__dirname, '..');
const SEED = process.env.SCHEMA_SEED !== undefined ? Number(process.env.SCHEMA_SEED) : 24_2020;

const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true });
const validators = Object.fromEntries(SCHEMA_NAMES.map((name) => [name, ajv.compile(buildSchemas()[name])])) as Record<
  SchemaName,
  ValidateFunction
>;
/** What an editor leaves unchecked (EMBEDDED_POLICY_GAP), applied here as `check` applies it. */
const embeddedPolicy = ajv.compile({
  $defs: (buildSchemas()['admin-settings'].$defs as object) ?? {},
  ...((
    buildSchemas()['admin-settings'].properties as { mcpPolicy: { properties: { value: { contentSchema: object } } } }
  ).mcpPolicy.properties.value.contentSchema as object),
});

/** Whether a schema accepts a value (a plain boolean: ajv's type guard would narrow the value away). */
const accepts = (name: SchemaName, value: unknown): boolean => validators[name](value);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Verdict {
  /** Whether the schema accepts the document; undefined when the text is not JSON or YAML at all. */
  readonly schema?: boolean;
  readonly check: boolean;
  readonly errors: readonly Issue[];
  readonly schemaErrors: unknown;
  /** The parsed document. */
  readonly document?: unknown;
}

function policyVerdict(text: string): Verdict {
  const checked = parsePolicy(text);
  const doc = readDocument(text);
  const base = { check: checked.value !== undefined, errors: checked.errors, schemaErrors: undefined };
  if (doc.value === undefined) return base;
  // check reads either kind: the text is valid when one of the two schemas accepts it.
  const value = doc.value;
  if (accepts('policy', value)) return { ...base, document: value, schema: true };
  let schema = accepts('admin-settings', value);
  let schemaErrors: unknown = [validators.policy.errors, validators['admin-settings'].errors];
  if (schema && isObject(value) && isObject(value.mcpPolicy)) {
    const inner = readJson(value.mcpPolicy.value as string).value;
    schema = inner !== undefined && embeddedPolicy(inner);
    schemaErrors = inner === undefined ? 'embedded policy is not JSON' : embeddedPolicy.errors;
  }
  return { ...base, document: value, schema, schemaErrors };
}

function enterpriseVerdict(text: string): Verdict {
  const checked = parseEnterpriseConfig(text);
  const doc = readDocument(text);
  const base = { check: checked.value !== undefined, errors: checked.errors, schemaErrors: undefined };
  if (doc.value === undefined) return base;
  const schema = accepts('enterprise-config', doc.value);
  return { ...base, document: doc.value, schema, schemaErrors: validators['enterprise-config'].errors };
}

/**
 * When an error of a gap's code is one the schema cannot see, decided
 * without the schema: the value at the error's path is well-formed as far as
 * JSON Schema can tell, so only what the gap names can be wrong with it.
 */
const GAP_EXCUSES: Readonly<Record<keyof typeof SCHEMA_GAPS, (value: unknown, issue: Issue) => boolean>> = {
  duplicate_key: () => true,
  invalid_unicode: () => true,
  invalid_number: () => true,
  invalid_url: (v, issue) =>
    typeof v === 'string' && (HOST_PORT.test(v) || / (?:has no host|is not a valid URL);/.test(issue.message)),
  invalid_certificate: (v) =>
    typeof v === 'string' && /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.test(v),
  // Every number made 1: a duration that parses then failed only for its size.
  invalid_duration: (v) => typeof v === 'string' && parseGoDuration(v.replace(/\d+/g, '1')) !== undefined,
  invalid_value: (v, issue) => typeof v === 'number' && /^max \S+ is less than min /.test(issue.message),
};

function at(document: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>(
      (v, key) => (isObject(v) || Array.isArray(v) ? (v as Record<string, unknown>)[key] : undefined),
      document,
    );
}

/** Why the schema and `check` disagree, or undefined when they agree or a named gap explains it. */
function disagreement(v: Verdict): string | undefined {
  if (v.schema === undefined || v.schema === v.check) return undefined;
  if (!v.schema) return `the schema rejects what check accepts: ${JSON.stringify(v.schemaErrors)}`;
  const unexplained = v.errors.filter((e) => {
    if (!Object.hasOwn(GAP_EXCUSES, e.code)) return true;
    const excuse = GAP_EXCUSES[e.code as keyof typeof SCHEMA_GAPS];
    const document = e.within === undefined ? v.document : at(v.document, e.within);
    const inner = typeof document === 'string' ? readJson(document).value : document;
    return !excuse(at(inner, e.path), e);
  });
  if (unexplained.length === 0) return undefined;
  return `the schema accepts what check rejects: ${JSON.stringify(unexplained)}`;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const EXAMPLES = filesUnder(join(ROOT, 'examples'));
const CASE_TABLES = [
  ...EXAMPLES.filter((f) => f.endsWith('.cases.json')),
  ...filesUnder(join(ROOT, 'test/cases')).filter((f) => f.endsWith('.json')),
];

/**
 * Random damage to a document: a key dropped, renamed or added, a value
 * replaced by another type or by a value one check or another is about.
 * For admin-settings, the embedded policy text is damaged half the time.
 */
const REPLACEMENTS: readonly unknown[] = [
  null,
  0,
  2,
  -1,
  0.5,
  true,
  false,
  '',
  'x',
  [],
  [''],
  {},
  { value: true, enforcement: 'enforced' },
  'deny',
  'allow',
  'load',
  'remote',
  'sse',
  'enforced',
  'default',
  'block_new',
  '*'.repeat(512),
  '*'.repeat(513),
  'a\ud800',
  'http://',
  'ftp://example.com',
  'https://example.com/x',
  'collector:4317',
  'collector:0',
  '24h',
  '-1h',
  '1hm',
  '1e400h',
  'PATH',
  'lower_case',
  'A;B',
  'A$(B)',
  'Bad Header',
  'a\nb',
  '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
  '-----BEGIN PRIVATE KEY-----',
  'resource',
  '/a~2',
  { path: '/a' },
];
/** A valid policy with every field. */
const EVERY_FIELD = {
  $schema: 'policy.schema.json',
  version: 1,
  default: 'deny',
  rules: [
    {
      action: 'load',
      server: 'git*',
      serverType: 'image',
      serverSource: 'docker.io/mcp/*',
      transport: 'stdio',
      tools: ['a*'],
      allow: true,
      deny: false,
      reason: 'r',
    },
    { deny: true },
  ],
};

/** A valid version 2 policy with every field, every test of an argument condition and every hint. */
const EVERY_FIELD_V2 = {
  $schema: 'policy.schema.json',
  version: 2,
  default: 'deny',
  rules: [
    {
      action: 'resource',
      server: 'git*',
      serverType: 'image',
      serverSource: 'docker.io/mcp/*',
      transport: 'stdio',
      tools: ['a*'],
      resources: ['file:///srv/*'],
      users: ['alice*'],
      groups: ['platform'],
      claims: { org: ['acme', 'a*'], ['__proto__']: ['x'] },
      allow: true,
      deny: false,
      reason: 'r',
    },
    {
      action: 'invoke',
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
      arguments: [
        { path: '/path', match: ['/srv/*'], normalize: 'path', not: true },
        { path: '/a/*/b~0~1', equals: 'x' },
        { path: '', in: [1, 'a', true, null] },
        { path: '/n', min: 0, max: 10 },
        { path: '/p', present: false },
      ],
      deny: true,
    },
    { deny: true },
  ],
};

/** A valid bare directive map with every directive and field. */
const EVERY_DIRECTIVE = {
  registry: {
    value: { api_url: 'https://r.example.com/api', allow_private_ip: false, server_api_url: 'http://s.example.com' },
    enforcement: 'enforced',
  },
  non_registry_servers: { value: false, enforcement: 'default' },
  telemetry: {
    value: {
      otel_endpoint: 'collector:4317',
      sampling_rate: 0.25,
      tracing_enabled: true,
      metrics_enabled: false,
      insecure: false,
      headers: { 'X-Team': 'a' },
    },
    enforcement: 'enforced',
  },
  ca_certificate: { value: { url: 'https://pki.example.com/ca.pem' }, enforcement: 'enforced' },
  build_env: { value: { GOPROXY: 'https://proxy.example.com' }, enforcement: 'default' },
  playground: { value: true, enforcement: 'default' },
  help_menu: { value: true, enforcement: 'default' },
  assistant: { value: false, enforcement: 'enforced' },
  custom_directive: { value: [1, 'x'], enforcement: 'default' },
  degraded_mode: { policy: 'warn', grace_period: '1h30m', message: 'unreachable' },
};
const NEW_KEYS = [
  'allow',
  'deny',
  'tools',
  'version',
  'rules',
  '$schema',
  'unknown',
  'Allow',
  'enforcement',
  'value',
  'mcpPolicy',
  'registry',
  'PATH',
  'lower_case',
  'Bad Header',
  'policyText',
  'requests',
  'errors',
  '',
  'users',
  'resources',
  'readOnlyHint',
  'path',
  'match',
  'not',
  'present',
  'normalize',
];

type Step = { at: number; kind: 'drop' | 'rename' | 'add' | 'replace'; pick: number; inner: boolean };
const step: fc.Arbitrary<Step> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('drop', 'rename', 'add', 'replace'),
  pick: fc.nat(),
  inner: fc.boolean(),
});

/** Every container and key/index in a value, depth first. */
function slots(value: unknown): [Record<string, unknown> | unknown[], string | number][] {
  const out: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown): void => {
    const entries: [string | number, unknown][] = Array.isArray(v)
      ? [...v.entries()]
      : isObject(v)
        ? Object.entries(v)
        : [];
    for (const [key, item] of entries) {
      out.push([v as Record<string, unknown> | unknown[], key]);
      walk(item);
    }
  };
  walk(value);
  return out;
}

function mutate(value: unknown, s: Step): unknown {
  const copy = structuredClone(value);
  const all = slots(copy);
  if (all.length === 0) return REPLACEMENTS[s.pick % REPLACEMENTS.length];
  const [parent, key] = all[s.at % all.length]!;
  const replacement = structuredClone(REPLACEMENTS[s.pick % REPLACEMENTS.length]);
  if (Array.isArray(parent)) {
    if (s.kind === 'drop') parent.splice(key as number, 1);
    else parent[key as number] = replacement;
    return copy;
  }
  const k = key as string;
  if (s.kind === 'drop') delete parent[k];
  else if (s.kind === 'rename') {
    // Misspelt, or renamed to a key that means something elsewhere.
    const name = s.pick === 0 ? `${k}x` : NEW_KEYS[(s.pick - 1) % NEW_KEYS.length]!;
    const moved = parent[k];
    delete parent[k];
    parent[name] = moved;
  } else if (s.kind === 'add') parent[NEW_KEYS[s.pick % NEW_KEYS.length]!] = replacement;
  else parent[k] = replacement;
  return copy;
}

/**
 * Every document one fault away from `value`: each key dropped and
 * misspelt, each value replaced by each of {@link REPLACEMENTS}, each
 * object given each of {@link NEW_KEYS}.
 */
function singleFaults(value: unknown): unknown[] {
  const out: unknown[] = [];
  const count = slots(value).length;
  for (let k = 0; k < count; k++) {
    out.push(mutate(value, { at: k, kind: 'drop', pick: 0, inner: false }));
    for (let r = 0; r <= NEW_KEYS.length; r++)
      out.push(mutate(value, { at: k, kind: 'rename', pick: r, inner: false }));
    for (let r = 0; r < REPLACEMENTS.length; r++)
      out.push(mutate(value, { at: k, kind: 'replace', pick: r, inner: false }));
    out.push(mutate(value, { at: k, kind: 'add', pick: k, inner: false }));
  }
  return out;
}

function mutatePolicyText(text: string, s: Step): string {
  const value = JSON.parse(text) as unknown;
  if (s.inner && isObject(value) && isObject(value.mcpPolicy) && typeof value.mcpPolicy.value === 'string') {
    const inner = readJson(value.mcpPolicy.value).value;
    if (inner !== undefined) {
      value.mcpPolicy.value = JSON.stringify(mutate(inner, s));
      return JSON.stringify(value);
    }
  }
  return JSON.stringify(mutate(value, s));
}

function expectAgreement(kind: string, verdicts: readonly [string, Verdict][]): { valid: number; invalid: number } {
  const problems = verdicts.flatMap(([what, v]) => {
    const d = disagreement(v);
    return d === undefined ? [] : [`${kind}: ${d.slice(0, 1500)}; in ${what.slice(0, 3000)}`];
  });
  expect(problems).toEqual([]);
  return {
    valid: verdicts.filter(([, v]) => v.check).length,
    invalid: verdicts.filter(([, v]) => !v.check && v.schema !== undefined).length,
  };
}

describe('JSON Schemas', () => {
  it('the committed schemas are what npm run schemas writes', async () => {
    const generated = await schemaFiles();
    const committed = readdirSync(SCHEMAS_DIR).filter((f) => f.endsWith('.schema.json'));
    expect(committed.sort()).toEqual([...generated.keys()].sort());
    for (const [name, text] of generated) {
      expect(readFileSync(join(SCHEMAS_DIR, name), 'utf8'), `schemas/${name} is stale: run npm run schemas`).toBe(text);
    }
  });

  it('are 2020-12 schemas with an $id each, that ajv compiles in strict mode', () => {
    for (const [name, schema] of Object.entries(buildSchemas())) {
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(schema.$id).toBe(`https://unpkg.com/mcp-policy/schemas/${name}.schema.json`);
    }
    expect(Object.keys(validators).sort()).toEqual([...SCHEMA_NAMES].sort());
  });

  it('the package ships them', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('schemas');
  });

  it('every known gap is documented for editors', () => {
    const doc = readFileSync(join(ROOT, 'docs/editors.md'), 'utf8');
    for (const code of Object.keys(SCHEMA_GAPS)) expect(doc).toContain(`\`${code}\``);
    expect(doc).toContain('contentSchema');
    expect(EMBEDDED_POLICY_GAP).toContain('contentSchema');
  });
});

describe('version 2 in the policy schema', () => {
  it('accepts a version 2 policy with every key, bare and inside admin-settings', () => {
    expect(parsePolicy(JSON.stringify(EVERY_FIELD_V2)).errors).toEqual([]);
    expect(accepts('policy', EVERY_FIELD_V2)).toBe(true);
    expect(embeddedPolicy(EVERY_FIELD_V2)).toBe(true);
  });

  it('rejects version 2 keys in a version 1 policy, and version 2 errors check reports', () => {
    const v1 = { default: 'deny', rules: [{ users: ['alice'], allow: true }] };
    expect(parsePolicy(JSON.stringify(v1)).errors).toMatchObject([{ code: 'needs_version_2' }]);
    expect(accepts('policy', v1)).toBe(false);
    expect(accepts('policy', { ...v1, version: 1 })).toBe(false);
    expect(accepts('policy', { ...v1, version: 2 })).toBe(true);
    const rule = (extra: object): unknown => ({ version: 2, default: 'deny', rules: [{ allow: true, ...extra }] });
    for (const bad of [
      { resources: ['file:///*'] },
      { arguments: [{ path: '/a' }] },
      { arguments: [{ path: '/a', match: ['x'], equals: 1 }] },
      { arguments: [{ path: '/a', present: true, not: true }] },
      { arguments: [{ path: '/a', equals: 1, normalize: 'path' }] },
      { arguments: [{ path: 'a', present: true }] },
      { arguments: [{ path: '/~2', present: true }] },
      { arguments: [{ path: '/a'.repeat(33), present: true }] },
      { claims: {} },
      { claims: { '': ['x'] } },
      { annotations: {} },
      { annotations: { readonlyHint: true } },
      { users: [''] },
    ]) {
      expect(parsePolicy(JSON.stringify(rule(bad))).value, JSON.stringify(bad)).toBeUndefined();
      expect(accepts('policy', rule(bad)), JSON.stringify(bad)).toBe(false);
    }
    expect(accepts('policy', rule({ arguments: [{ path: '/a'.repeat(32), min: 1, max: 2 }] }))).toBe(true);
  });
});

describe('a $schema key is accepted and ignored', () => {
  const ref = 'https://unpkg.com/mcp-policy/schemas/policy.schema.json';

  it('in a policy, and in the policy text of admin-settings', () => {
    const policy = { $schema: ref, default: 'deny', rules: [{ server: 'github', allow: true }] };
    const bare = parsePolicy(JSON.stringify(policy));
    expect(bare.errors).toEqual([]);
    expect(bare.value?.policy).toEqual({ version: 1, default: 'deny', rules: [{ server: 'github', allow: true }] });
    const settings = { $schema: 'admin.json', mcpPolicy: { value: JSON.stringify(policy) } };
    expect(parsePolicy(JSON.stringify(settings)).errors).toEqual([]);
    expect(validators.policy(policy)).toBe(true);
    expect(validators['admin-settings'](settings)).toBe(true);
  });

  it('in a bare enterprise directive map, where it is not a directive', () => {
    const text = JSON.stringify({ $schema: ref, playground: { value: false, enforcement: 'enforced' } });
    const r = parseEnterpriseConfig(text);
    expect(r.errors).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(Object.keys(r.value?.directives ?? {})).toEqual(['playground']);
    expect(validators['enterprise-config'](JSON.parse(text))).toBe(true);
    const yaml = parseEnterpriseConfig(`$schema: ${ref}\nhelp_menu: {value: true, enforcement: default}\n`);
    expect(Object.keys(yaml.value?.directives ?? {})).toEqual(['help_menu']);
  });

  it('in a case table', () => {
    const table = { $schema: ref, policy: { default: 'allow', rules: [] }, requests: [] };
    expect(parseCaseFile(JSON.stringify(table)).requests).toEqual([]);
    expect(validators.cases(table)).toBe(true);
  });

  it('only as a string', () => {
    expect(parsePolicy('{"$schema": 5, "default": "deny", "rules": []}').errors).toMatchObject([
      { code: 'invalid_type', path: '/$schema' },
    ]);
    expect(parseEnterpriseConfig('{"$schema": 5}').errors).toMatchObject([{ code: 'invalid_type', path: '/$schema' }]);
    expect(validators.policy({ $schema: 5, default: 'deny', rules: [] })).toBe(false);
    expect(validators['enterprise-config']({ $schema: 5 })).toBe(false);
  });
});

describe('the schemas agree with check', () => {
  it('on every example and every document in the case tables', () => {
    const policies: [string, Verdict][] = [];
    const enterprises: [string, Verdict][] = [];
    const tables: [string, CaseFile][] = [];
    for (const file of EXAMPLES) {
      const name = relative(ROOT, file);
      const text = readFileSync(file, 'utf8');
      if (file.includes('/enterprise/')) enterprises.push([name, enterpriseVerdict(text)]);
      else if (file.endsWith('.json') && !file.endsWith('.cases.json')) policies.push([name, policyVerdict(text)]);
    }
    for (const file of CASE_TABLES) {
      const name = relative(ROOT, file);
      const text = readFileSync(file, 'utf8');
      const table = parseCaseFile(text, name);
      expect(validators.cases(JSON.parse(text)), `${name}: ${JSON.stringify(validators.cases.errors)}`).toBe(true);
      tables.push([name, table]);
      const policy = table.policyText ?? (table.policy === undefined ? undefined : JSON.stringify(table.policy));
      if (policy !== undefined) policies.push([`${name} policy`, policyVerdict(policy)]);
      const enterprise =
        table.enterpriseText ?? (table.enterprise === undefined ? undefined : JSON.stringify(table.enterprise));
      if (enterprise !== undefined) enterprises.push([`${name} enterprise`, enterpriseVerdict(enterprise)]);
    }
    expect(tables.length).toBeGreaterThan(60);
    const p = expectAgreement('policy', policies);
    const e = expectAgreement('enterprise config', enterprises);
    // Both sides of validity are exercised, not just valid documents.
    expect(p.valid).toBeGreaterThan(20);
    expect(p.invalid).toBeGreaterThan(15);
    expect(e.valid).toBeGreaterThan(5);
    expect(e.invalid).toBeGreaterThan(10);
  });

  it('on every document one fault away from a valid one', () => {
    const policies: [string, Verdict][] = [
      ...singleFaults(EVERY_FIELD).map((d) => JSON.stringify(d)),
      ...singleFaults(EVERY_FIELD_V2).map((d) => JSON.stringify(d)),
      ...singleFaults(EVERY_FIELD_V2).map((d) => JSON.stringify({ mcpPolicy: { value: JSON.stringify(d) } })),
      ...singleFaults({ $schema: 'x', mcpPolicy: { locked: true, value: '{}' } }).map((d) => JSON.stringify(d)),
      ...singleFaults(EVERY_FIELD).map((d) => JSON.stringify({ mcpPolicy: { value: JSON.stringify(d) } })),
    ].map((text) => [text, policyVerdict(text)]);
    expect(expectAgreement('policy', policies).invalid).toBeGreaterThan(1000);
    const enterprises: [string, Verdict][] = [
      ...singleFaults(EVERY_DIRECTIVE),
      ...singleFaults({ 'enterprise-manager': { enterpriseConfig: { playground: EVERY_DIRECTIVE.playground } } }),
    ]
      .map((d) => JSON.stringify(d))
      .map((text) => [text, enterpriseVerdict(text)]);
    expect(expectAgreement('enterprise config', enterprises).invalid).toBeGreaterThan(1000);
  });

  it('on case tables one fault away from a valid one', () => {
    const tables = [
      {
        $schema: 'cases.schema.json',
        note: 'n',
        policy: { default: 'deny', rules: [] },
        enterprise: { playground: { value: true, enforcement: 'default' } },
        requests: [
          {
            note: 'n',
            request: { server: 'x' },
            expect: { allowed: true, rule: 0, reason: 'r', error: false, directive: null, warning: null },
          },
        ],
        configs: [
          {
            note: 'n',
            local: { a: 1 },
            expect: {
              directives: { playground: { value: true, source: 'builtin' } },
              rejected: [{ key: 'k', local: 1, value: 2 }],
            },
          },
        ],
        warnings: [{ code: 'unknown_field', path: '/x', within: '/y' }],
      },
      { policyText: '{}', enterpriseText: 'x: 1', errors: [{ code: 'missing_field', path: '' }] },
    ];
    const problems: string[] = [];
    let invalid = 0;
    for (const table of tables.flatMap((t) => [t, ...singleFaults(t)])) {
      const text = JSON.stringify(table);
      let check = true;
      try {
        parseCaseFile(text);
      } catch {
        check = false;
      }
      if (!check) invalid++;
      const schema = accepts('cases', table);
      if (schema !== check) problems.push(`schema ${schema}, check ${check}: ${text}`);
    }
    expect(problems).toEqual([]);
    expect(invalid).toBeGreaterThan(300);
  });

  it(`on generated policies and admin-settings, and damaged copies of them (seed ${SEED})`, () => {
    const texts = fc.sample(policyText, { seed: SEED, numRuns: 150 });
    const steps = fc.sample(fc.array(step, { minLength: 1, maxLength: 3 }), { seed: SEED + 1, numRuns: 600 });
    const verdicts: [string, Verdict][] = texts.map((t, k) => [`generated ${k}`, policyVerdict(t)]);
    steps.forEach((s, k) => {
      const text = s.reduce((t, one) => mutatePolicyText(t, one), texts[k % texts.length]!);
      verdicts.push([`damaged ${k}: ${text.slice(0, 2000)}`, policyVerdict(text)]);
    });
    const { valid, invalid } = expectAgreement('policy', verdicts);
    expect(valid).toBeGreaterThan(200);
    expect(invalid).toBeGreaterThan(200);
  });

  it(`on generated enterprise configs, and damaged copies of them (seed ${SEED})`, () => {
    const texts = fc.sample(enterpriseText, { seed: SEED, numRuns: 150 });
    const steps = fc.sample(fc.array(step, { minLength: 1, maxLength: 3 }), { seed: SEED + 2, numRuns: 600 });
    const verdicts: [string, Verdict][] = texts.map((t, k) => [`generated ${k}`, enterpriseVerdict(t)]);
    steps.forEach((s, k) => {
      const text = JSON.stringify(s.reduce((v, one) => mutate(v, one), JSON.parse(texts[k % texts.length]!)));
      verdicts.push([`damaged ${k}: ${text}`, enterpriseVerdict(text)]);
    });
    const { valid, invalid } = expectAgreement('enterprise config', verdicts);
    expect(valid).toBeGreaterThan(150);
    expect(invalid).toBeGreaterThan(150);
  });
});
