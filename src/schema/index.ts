/**
 * JSON Schemas (draft 2020-12) for editors, made from the validators' own
 * model: the zod shapes of policies, admin-settings.json and case tables, and
 * the constants the enterprise checks use. What the hand-written checks add to
 * a zod shape (decisions, pattern limits, URL schemes, names) is expressed here
 * from the same constants. What JSON Schema cannot say is listed in
 * {@link SCHEMA_GAPS}: there a schema accepts a document `check` rejects,
 * never the other way round.
 */
import { z } from 'zod';
import { SCHEMA_KEY } from '../core/contracts.js';
import { type ErrorCode } from '../core/errors.js';
import {
  BUILD_ENV_NAME,
  CONFIG_KEY,
  DEGRADED_MODE_FIELDS,
  DEGRADED_MODE_KEY,
  DEGRADED_POLICIES,
  HELM_KEY,
  HTTP_TOKEN,
  REGISTRY_FIELDS,
  RESERVED_BUILD_ENV_NAMES,
  TELEMETRY_FIELDS,
  UNSAFE_HEADER_VALUE,
  UNSAFE_SEQUENCES,
  WRAPPER_FIELDS,
} from '../enterprise/directives.js';
import { DURATION_UNITS } from '../enterprise/duration.js';
import { ENFORCEMENTS, KNOWN_DIRECTIVES, type KnownDirective } from '../enterprise/model.js';
import {
  CA_CERTIFICATE_FIELDS,
  HOST_PORT,
  HTTP_SCHEMES,
  HTTPS_ONLY,
  PEM_CERTIFICATE,
  PRIVATE_KEY,
} from '../enterprise/urls.js';
import { ADMIN_SETTINGS_KEYS, ENTERPRISE_KEYS, POLICY_KEYS } from '../enterprise/validate.js';
import { MAX_CLAIMS_PER_RULE, MAX_POINTER_SEGMENTS } from '../policy/model.js';
import {
  adminSettingsSchema,
  argumentConditionSchema,
  MAX_PATTERN_STARS,
  patternListSchema,
  policySchema,
  policySchemaV2,
  ruleSchema,
  ruleSchemaV2,
} from '../policy/validate.js';
import { caseFileSchema } from '../testing/cases.js';

/** A JSON Schema as plain JSON. */
export type JsonSchema = { [keyword: string]: unknown };

/** Where the published schemas live: the `schemas/` folder of the npm package. */
export const SCHEMA_BASE_URL = 'https://unpkg.com/mcp-policy/schemas/';

const DRAFT = 'https://json-schema.org/draft/2020-12/schema';

/** The document kinds that have a schema, by file name stem (`schemas/<name>.schema.json`). */
export const SCHEMA_NAMES = ['policy', 'admin-settings', 'enterprise-config', 'cases'] as const;
export type SchemaName = (typeof SCHEMA_NAMES)[number];

/**
 * Checks `check` makes that these schemas cannot express, by the error code
 * they report. A document whose only errors carry these codes may pass its
 * schema; every other error is one the schema finds too.
 */
export const SCHEMA_GAPS = {
  duplicate_key: 'a schema sees the parsed document, in which a repeated key has already replaced the first',
  invalid_unicode:
    'an unpaired UTF-16 surrogate: JSON Schema patterns see strings as code points in some tools and as UTF-16 units in others',
  invalid_number: 'YAML .inf and .nan are numbers to a schema',
  invalid_url: 'only the scheme, whitespace and control characters are checked, not the host or the port range',
  invalid_certificate: 'a PEM block is required and a private key refused, but the certificate is not decoded',
  invalid_duration: "a Go duration's syntax is checked, not its limit of about 292 years",
  invalid_value: 'an argument condition whose "max" is less than its "min": a schema cannot compare two values',
} as const satisfies Partial<Record<ErrorCode, string>>;

/**
 * The policy text inside admin-settings.json is a string: its schema is given
 * as `contentSchema`, which editors and validators treat as an annotation.
 */
export const EMBEDDED_POLICY_GAP = 'the policy text in mcpPolicy.value is described by contentSchema, not checked';

function zodSchema(schema: z.ZodType, override?: (schema: z.ZodType, json: JsonSchema) => void): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    unrepresentable: 'throw',
    ...(override && {
      override: (ctx: { zodSchema: unknown; jsonSchema: JsonSchema }) =>
        override(ctx.zodSchema as z.ZodType, ctx.jsonSchema),
    }),
  }) as JsonSchema;
  delete json.$schema;
  return json;
}

/** A regular expression's source as a JSON Schema pattern (ECMA-262, as ajv and editors run it with `u`). */
function escapeForPattern(text: string): string {
  return text
    .replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

/** A `*` pattern: non-empty, with at most {@link MAX_PATTERN_STARS} stars. */
const PATTERN_STRING: JsonSchema = {
  minLength: 1,
  pattern: `^[^*]*(?:\\*[^*]*){0,${MAX_PATTERN_STARS}}$`,
};

/** The decision checks of a rule that zod's shape leaves to hand-written code. */
const RULE_DECISION: JsonSchema = {
  anyOf: [{ required: ['allow'] }, { required: ['deny'] }],
  not: {
    anyOf: [true, false].map((same) => ({
      properties: { allow: { const: same }, deny: { const: same } },
      required: ['allow', 'deny'],
    })),
  },
};

/** What editors show on hover; semantics.md has the whole story. */
const POLICY_HELP: Readonly<Record<string, string>> = {
  [SCHEMA_KEY]: 'The JSON Schema an editor checks this document with; ignored by mcp-policy.',
  version: 'The policy format version; 1 when absent.',
  default: 'The decision when no rule matches.',
  rules: 'Tried in order; the first rule whose every given field matches decides.',
};
const POLICY_HELP_V2: Readonly<Record<string, string>> = {
  ...POLICY_HELP,
  version:
    "The policy format version: 2 adds conditions on who asks, the tool's arguments and annotations, and resources (Docker Desktop reads version 1 only).",
};
const RULE_HELP: Readonly<Record<string, string>> = {
  action: 'What the request asks: load a server, invoke a tool, or get a prompt (a request without one is invoke).',
  server: 'The server name; "*" matches any text.',
  serverType: 'How the server is distributed.',
  serverSource:
    'The registry entry, image reference or URL; "*" matches any text; short image names match their docker.io form.',
  transport: 'How the client talks to the server.',
  tools: 'Tool (or prompt) names; the rule matches when any of them does.',
  allow: 'The decision when the rule matches (give allow or deny).',
  deny: 'The opposite of allow (give allow or deny).',
  reason: 'Shown with the decision.',
};
const RULE_HELP_V2: Readonly<Record<string, string>> = {
  ...RULE_HELP,
  action:
    'What the request asks: load a server, invoke a tool, get a prompt, or read a resource (a request without one is invoke).',
  resources:
    'Resource URI patterns (only with "action": "resource"); the rule matches when the request\'s resource matches one.',
  users: "Patterns of the principal's subject (sub); a request without a principal never matches.",
  groups: "Patterns; the rule matches when one of the principal's groups matches one of them.",
  claims: 'Claim name → patterns; every listed claim of the principal needs a value that matches one of its patterns.',
  annotations:
    "Hint → required value; a hint the tool does not declare takes MCP's default (readOnly false, destructive true, idempotent false, openWorld true).",
  arguments: 'Conditions on the arguments of the tool call or prompt, all of which must hold.',
};
const CONDITION_HELP: Readonly<Record<string, string>> = {
  path: 'A JSON pointer into the arguments ("" is the arguments themselves); a segment "*" is every element or member.',
  match: 'Test: a string value that matches one of these "*" patterns.',
  equals: 'Test: a value equal to this scalar (same JSON type; numbers as doubles).',
  in: 'Test: a value equal to one of these scalars.',
  min: 'Test (with or without max): a number at least this.',
  max: 'Test (with or without min): a number at most this.',
  present: 'Test: whether any value is found at path.',
  not: 'Negates the test (not with present); when nothing is found the condition fails all the same.',
  normalize: '"path": clean the string as a POSIX path (//, . and .. resolved) before match.',
};
const DIRECTIVE_HELP: Readonly<Record<string, string>> = {
  registry: 'The one registry clients use.',
  non_registry_servers: 'Whether servers from outside the registry (local images, packages, URLs) may run.',
  telemetry: 'Where clients send OpenTelemetry data.',
  ca_certificate: 'A CA certificate clients trust: an inline PEM or an https URL.',
  build_env: 'Environment variables for building servers from source.',
  playground: 'Whether the playground is available.',
  help_menu: 'Whether the help menu is shown.',
  assistant: 'Whether the assistant is available.',
  [DEGRADED_MODE_KEY]: 'What clients do while the Enterprise Manager is unreachable.',
};

function describe(properties: Record<string, JsonSchema>, help: Readonly<Record<string, string>>): void {
  for (const [key, schema] of Object.entries(properties)) {
    if (help[key] !== undefined) schema.description = help[key];
  }
}

function policyV1(): JsonSchema {
  return zodSchema(policySchema, (schema, json) => {
    if (schema === policySchema) describe(json.properties as Record<string, JsonSchema>, POLICY_HELP);
    if (schema !== ruleSchema) return;
    const props = json.properties as Record<string, JsonSchema>;
    for (const field of ['server', 'serverSource'] as const) Object.assign(props[field]!, PATTERN_STRING);
    Object.assign(props.tools!.items as JsonSchema, PATTERN_STRING);
    Object.assign(json, RULE_DECISION);
    describe(props, RULE_HELP);
  });
}

/** One test per argument condition (`min` and `max` together are one), `not` never with `present`. */
const CONDITION_RULES: JsonSchema = {
  oneOf: [
    { required: ['match'] },
    { required: ['equals'] },
    { required: ['in'] },
    { anyOf: [{ required: ['min'] }, { required: ['max'] }] },
    { required: ['present'] },
  ],
  not: { required: ['present', 'not'] },
  dependentRequired: { normalize: ['match'] },
};

/** An RFC 6901 pointer of at most {@link MAX_POINTER_SEGMENTS} segments (`~` only in `~0` and `~1`). */
const POINTER: JsonSchema = { pattern: `^(?:/(?:[^/~]|~[01])*){0,${MAX_POINTER_SEGMENTS}}$` };

function policyV2(): JsonSchema {
  return zodSchema(policySchemaV2, (schema, json) => {
    if (schema === policySchemaV2) describe(json.properties as Record<string, JsonSchema>, POLICY_HELP_V2);
    if (schema === patternListSchema) Object.assign(json.items as JsonSchema, PATTERN_STRING);
    if (schema === argumentConditionSchema) {
      const props = json.properties as Record<string, JsonSchema>;
      Object.assign(props.path!, POINTER);
      Object.assign(json, CONDITION_RULES);
      describe(props, CONDITION_HELP);
    }
    if (schema !== ruleSchemaV2) return;
    const props = json.properties as Record<string, JsonSchema>;
    for (const field of ['server', 'serverSource'] as const) Object.assign(props[field]!, PATTERN_STRING);
    Object.assign(props.tools!.items as JsonSchema, PATTERN_STRING);
    Object.assign(props.claims!, { minProperties: 1, maxProperties: MAX_CLAIMS_PER_RULE });
    Object.assign(props.annotations!, { minProperties: 1 });
    Object.assign(json, RULE_DECISION, {
      dependentSchemas: { resources: { required: ['action'], properties: { action: { const: 'resource' } } } },
    });
    describe(props, RULE_HELP_V2);
  });
}

/**
 * Each policy version's schema, by version. A document without `version` is
 * version 1; a later version is told apart by its `version`.
 */
function policyVersions(): ReadonlyMap<number, JsonSchema> {
  return new Map([
    [1, policyV1()],
    [2, policyV2()],
  ]);
}

function versionDispatch(versions: ReadonlyMap<number, JsonSchema>): JsonSchema {
  const [first, ...later] = [...versions.keys()];
  return later.reduceRight<JsonSchema>(
    (otherwise, version) => ({
      if: { type: 'object', properties: { version: { const: version } }, required: ['version'] },
      then: { $ref: `#/$defs/policy-v${version}` },
      else: otherwise,
    }),
    { $ref: `#/$defs/policy-v${first}` },
  );
}

function policyDefs(): Record<string, JsonSchema> {
  return Object.fromEntries([...policyVersions()].map(([v, schema]) => [`policy-v${v}`, schema]));
}

function header(name: SchemaName, title: string, description: string): JsonSchema {
  return { $schema: DRAFT, $id: `${SCHEMA_BASE_URL}${name}.schema.json`, title, description };
}

function policyDocument(): JsonSchema {
  return {
    ...header(
      'policy',
      'MCP governance policy',
      'A bare MCP governance policy: the default decision and ordered rules, first match wins.',
    ),
    ...versionDispatch(policyVersions()),
    $defs: policyDefs(),
  };
}

/**
 * A directive this version does not know is still recognised by its wrapper:
 * a top-level entry holding `enforcement` makes a document an enterprise config.
 */
const DIRECTIVE_LIKE: JsonSchema = {
  type: 'object',
  required: ['enforcement' satisfies (typeof WRAPPER_FIELDS)[number]],
};

function adminSettingsDocument(): JsonSchema {
  const json = zodSchema(adminSettingsSchema);
  // Keys of a policy or an enterprise config beside mcpPolicy make the document ambiguous.
  json.propertyNames = { not: { enum: [...POLICY_KEYS, ...ENTERPRISE_KEYS] } };
  json.additionalProperties = { not: DIRECTIVE_LIKE };
  const value = (json.properties as Record<string, JsonSchema>).mcpPolicy!.properties as Record<string, JsonSchema>;
  Object.assign(value.value!, {
    description: 'The policy, as JSON text.',
    contentMediaType: 'application/json',
    contentSchema: versionDispatch(policyVersions()),
  });
  return {
    ...header(
      'admin-settings',
      'Docker admin-settings.json',
      "Docker's admin settings; mcpPolicy.value holds an MCP governance policy as JSON text.",
    ),
    ...json,
    $defs: policyDefs(),
  };
}

const HTTP_URL = urlSchema(HTTP_SCHEMES);
const HTTPS_URL = urlSchema(HTTPS_ONLY);

function urlSchema(schemes: readonly string[]): JsonSchema {
  const caseless = (s: string): string =>
    [...s].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : escapeForPattern(c))).join('');
  return {
    type: 'string',
    pattern: `^(?:${schemes.map(caseless).join('|')})://[^\\s\\u0000-\\u001f\\u007f]+$`,
  };
}

function object(
  properties: Record<string, JsonSchema>,
  required: readonly string[] = [],
  extra: JsonSchema = {},
): JsonSchema {
  return {
    type: 'object',
    properties,
    ...(required.length > 0 && { required }),
    additionalProperties: false,
    ...extra,
  };
}

/** Every field of `fields` described, so a field added to a check's list without a schema does not compile. */
function fieldsOf<F extends string>(fields: readonly F[], schemas: Record<F, JsonSchema>): Record<string, JsonSchema> {
  return Object.fromEntries(fields.map((f) => [f, schemas[f]]));
}

const BOOLEAN: JsonSchema = { type: 'boolean' };

function describedObject(description: string, ...args: Parameters<typeof object>): JsonSchema {
  return { description, ...object(...args) };
}

function durationPattern(): string {
  const units = Object.keys(DURATION_UNITS)
    .sort((a, b) => b.length - a.length)
    .map(escapeForPattern)
    .join('|');
  return `^\\+?(?:0|(?:(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:${units}))+)$`;
}

function directiveValues(): Record<KnownDirective, JsonSchema> {
  const unsafe = UNSAFE_SEQUENCES.map(escapeForPattern).join('|');
  return {
    registry: object(
      fieldsOf(REGISTRY_FIELDS, { api_url: HTTP_URL, allow_private_ip: BOOLEAN, server_api_url: HTTP_URL }),
      ['api_url'],
    ),
    non_registry_servers: BOOLEAN,
    telemetry: object(
      fieldsOf(TELEMETRY_FIELDS, {
        otel_endpoint: { anyOf: [HTTP_URL, { type: 'string', pattern: HOST_PORT.source }] },
        sampling_rate: { type: 'number', minimum: 0, maximum: 1 },
        tracing_enabled: BOOLEAN,
        metrics_enabled: BOOLEAN,
        insecure: BOOLEAN,
        headers: {
          type: 'object',
          propertyNames: { pattern: HTTP_TOKEN.source },
          additionalProperties: { type: 'string', not: { pattern: UNSAFE_HEADER_VALUE.source } },
        },
      }),
      ['otel_endpoint'],
    ),
    ca_certificate: object(
      fieldsOf(CA_CERTIFICATE_FIELDS, {
        pem: { type: 'string', pattern: PEM_CERTIFICATE.source, not: { pattern: PRIVATE_KEY.source } },
        url: HTTPS_URL,
      }),
      [],
      { oneOf: CA_CERTIFICATE_FIELDS.map((f) => ({ required: [f] })) },
    ),
    build_env: {
      type: 'object',
      propertyNames: { pattern: BUILD_ENV_NAME.source, not: { enum: RESERVED_BUILD_ENV_NAMES } },
      additionalProperties: { type: 'string', pattern: `^(?:(?!${unsafe})[\\s\\S])*$` },
    },
    playground: BOOLEAN,
    help_menu: BOOLEAN,
    assistant: BOOLEAN,
  };
}

function wrapper(value: JsonSchema, description?: string): JsonSchema {
  return {
    ...(description !== undefined && { description }),
    ...object(
      fieldsOf(WRAPPER_FIELDS, {
        value,
        enforcement: {
          type: 'string',
          enum: ENFORCEMENTS,
          description: 'enforced: clients cannot change the value; default: a local setting may.',
        },
      }),
      WRAPPER_FIELDS,
    ),
  };
}

function directiveMap(extra: Record<string, JsonSchema> = {}): JsonSchema {
  return {
    type: 'object',
    properties: {
      ...extra,
      ...Object.fromEntries(KNOWN_DIRECTIVES.map((key) => [key, { $ref: `#/$defs/directive-${key}` }])),
      [DEGRADED_MODE_KEY]: { $ref: '#/$defs/degraded_mode' },
    },
    // Unknown directives are passed through to clients (with a warning), in the same wrapper.
    additionalProperties: wrapper({}),
  };
}

function enterpriseDocument(): JsonSchema {
  const values = directiveValues();
  return {
    ...header(
      'enterprise-config',
      'Stacklok Enterprise Manager configuration',
      `Enterprise directives: Helm values ({"${HELM_KEY}": {"${CONFIG_KEY}": {...}}}), {"${CONFIG_KEY}": {...}}, or the bare directive map.`,
    ),
    type: 'object',
    // Keys of a policy or admin settings make the document ambiguous.
    propertyNames: { not: { enum: [...POLICY_KEYS, ...ADMIN_SETTINGS_KEYS] } },
    if: { required: [HELM_KEY] },
    then: {
      properties: {
        [HELM_KEY]: {
          type: 'object',
          required: [CONFIG_KEY],
          properties: { [CONFIG_KEY]: { $ref: '#/$defs/directives' } },
        },
      },
    },
    else: {
      if: { required: [CONFIG_KEY] },
      then: { properties: { [CONFIG_KEY]: { $ref: '#/$defs/directives' } } },
      else: directiveMap({ [SCHEMA_KEY]: { type: 'string' } }),
    },
    $defs: {
      directives: directiveMap(),
      ...Object.fromEntries(
        KNOWN_DIRECTIVES.map((key) => [`directive-${key}`, wrapper(values[key], DIRECTIVE_HELP[key])]),
      ),
      [DEGRADED_MODE_KEY]: describedObject(
        DIRECTIVE_HELP[DEGRADED_MODE_KEY]!,
        fieldsOf(DEGRADED_MODE_FIELDS, {
          policy: { type: 'string', enum: DEGRADED_POLICIES },
          grace_period: { type: 'string', pattern: durationPattern() },
          message: { type: 'string', minLength: 1 },
        }),
        ['policy'],
      ),
    },
  };
}

function casesDocument(): JsonSchema {
  return {
    ...header(
      'cases',
      'mcp-policy case table',
      'Requests and their expected decisions, or the validation errors a policy must produce (mcp-policy test).',
    ),
    ...zodSchema(caseFileSchema),
    // The table's own refinements, which zod cannot emit.
    allOf: [{ not: { required: ['policy', 'policyText'] } }, { not: { required: ['errors', 'requests'] } }],
  };
}

/** Every schema, by name, as JSON. Deterministic: the same model gives the same schemas. */
export function buildSchemas(): Record<SchemaName, JsonSchema> {
  return {
    policy: policyDocument(),
    'admin-settings': adminSettingsDocument(),
    'enterprise-config': enterpriseDocument(),
    cases: casesDocument(),
  };
}
