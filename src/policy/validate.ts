/**
 * Stage 1: parse and validate. Turns policy text (a bare MCP policy or
 * Docker's admin-settings.json) into the validated model, reporting every
 * problem at once, each with a stable code and a JSON pointer.
 */
import { z } from 'zod';
import { type Issue, PolicyValidationError, toPointer } from '../core/errors.js';
import { SCHEMA_KEY } from '../core/contracts.js';
import { type Validation, validation } from '../core/validation.js';
import { readDocument, type ReadDocument } from '../diagnostics/document.js';
import { readJson } from '../diagnostics/json.js';
import { article, choices, describeValue, isObject, locate, suggest } from '../diagnostics/report.js';
import { documentKind } from '../enterprise/kind.js';
import {
  ACTIONS,
  ACTIONS_V2,
  ANNOTATION_HINTS,
  type AnnotationHint,
  type ArgumentCondition,
  MAX_ARGUMENT_CONDITIONS,
  MAX_CLAIMS_PER_RULE,
  MAX_PATTERNS_PER_KEY,
  MAX_POINTER_SEGMENTS,
  type Policy,
  type PolicySource,
  pointerSegments,
  type Rule,
  SERVER_TYPES,
  TRANSPORTS,
} from './model.js';

// Moved to the diagnostics module; kept here for existing importers.
export { article, describeValue, isObject, locate, suggest } from '../diagnostics/report.js';

/** A valid policy document: the policy in it and what kind of file held it. */
export interface PolicyDocument {
  readonly policy: Policy;
  readonly source: PolicySource;
}

/** The outcome of validating a policy document (the one {@link Validation} shape). */
export type ValidationResult = Validation<PolicyDocument>;

const RULE_FIELDS = [
  'action',
  'server',
  'serverType',
  'serverSource',
  'transport',
  'tools',
  'allow',
  'deny',
  'reason',
] as const;
const POLICY_FIELDS = ['version', 'default', 'rules'] as const;

/** The rule keys version 2 adds to Docker's format; a version 1 policy that uses one gets `needs_version_2`. */
export const VERSION_2_RULE_KEYS = ['resources', 'users', 'groups', 'claims', 'annotations', 'arguments'] as const;

/** Every rule key of version 2, which is also what "did you mean" picks from in either version. */
const RULE_FIELDS_V2 = [...RULE_FIELDS.slice(0, 6), ...VERSION_2_RULE_KEYS, ...RULE_FIELDS.slice(6)] as const;

/** The keys of an argument condition. */
export const CONDITION_FIELDS = ['path', 'match', 'equals', 'in', 'min', 'max', 'present', 'not', 'normalize'] as const;

/** The tests of an argument condition; `min` and `max` together are one test. */
const CONDITION_TESTS = ['match', 'equals', 'in', 'min', 'max', 'present'] as const;

/** The shape of one rule; {@link checkRuleSemantics} adds what zod cannot say. The editors' JSON Schema is made from it. */
export const ruleSchema = z.strictObject({
  action: z.enum(ACTIONS).optional(),
  server: z.string().optional(),
  serverType: z.enum(SERVER_TYPES).optional(),
  serverSource: z.string().optional(),
  transport: z.enum(TRANSPORTS).optional(),
  tools: z.array(z.string()).min(1).optional(),
  allow: z.boolean().optional(),
  deny: z.boolean().optional(),
  reason: z.string().optional(),
});

/** The shape of a version 1 policy; the editors' JSON Schema is made from it. */
export const policySchema = z.strictObject({
  [SCHEMA_KEY]: z.string().optional(),
  version: z.literal(1).optional(),
  default: z.enum(['allow', 'deny']),
  rules: z.array(ruleSchema),
});

/** A non-empty list of `*` patterns, as `resources`, `users`, `groups`, each claim and `match` take. */
export const patternListSchema = z.array(z.string()).min(1).max(MAX_PATTERNS_PER_KEY);

/** A JSON scalar, as `equals` and `in` take. */
export const scalarSchema = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** The shape of one argument condition; {@link checkCondition} adds the one-test rule, the pointer and the bounds. */
export const argumentConditionSchema = z.strictObject({
  path: z.string(),
  match: patternListSchema.optional(),
  equals: scalarSchema.optional(),
  in: z.array(scalarSchema).min(1).max(MAX_PATTERNS_PER_KEY).optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  present: z.boolean().optional(),
  not: z.boolean().optional(),
  normalize: z.literal('path').optional(),
});

/** The shape of one version 2 rule: version 1's keys, action `resource`, and the conditions version 2 adds. */
export const ruleSchemaV2 = z.strictObject({
  action: z.enum(ACTIONS_V2).optional(),
  server: z.string().optional(),
  serverType: z.enum(SERVER_TYPES).optional(),
  serverSource: z.string().optional(),
  transport: z.enum(TRANSPORTS).optional(),
  tools: z.array(z.string()).min(1).optional(),
  resources: patternListSchema.optional(),
  users: patternListSchema.optional(),
  groups: patternListSchema.optional(),
  claims: z.record(z.string().min(1), patternListSchema).optional(),
  annotations: z
    .strictObject(
      Object.fromEntries(ANNOTATION_HINTS.map((h) => [h, z.boolean().optional()])) as Record<
        AnnotationHint,
        z.ZodOptional<z.ZodBoolean>
      >,
    )
    .optional(),
  arguments: z.array(argumentConditionSchema).min(1).max(MAX_ARGUMENT_CONDITIONS).optional(),
  allow: z.boolean().optional(),
  deny: z.boolean().optional(),
  reason: z.string().optional(),
});

/** The shape of a version 2 policy; the editors' JSON Schema is made from it. */
export const policySchemaV2 = z.strictObject({
  [SCHEMA_KEY]: z.string().optional(),
  version: z.literal(2),
  default: z.enum(['allow', 'deny']),
  rules: z.array(ruleSchemaV2),
});

/** The shape of Docker's admin-settings.json as far as policies go; other keys are Docker's. */
export const adminSettingsSchema = z.looseObject({
  configurationFileVersion: z.number().optional(),
  mcpPolicy: z.strictObject({
    locked: z.boolean().optional(),
    value: z.string(),
  }),
});

type RuleInput = z.infer<typeof ruleSchemaV2>;
type PolicyInput = z.infer<typeof policySchema> | z.infer<typeof policySchemaV2>;

/**
 * Parses and validates policy text: a bare policy or admin settings, in JSON
 * or YAML (JSON when it starts like JSON, see `readDocument`); an enterprise
 * config or a mix of kinds is an error (`documentKind`). Never throws for bad
 * input.
 */
export function parsePolicy(text: string): ValidationResult {
  return validatePolicyDocument(readDocument(text));
}

/** Validates a policy document already read with its positions (see {@link parsePolicy}). */
export function validatePolicyDocument(doc: ReadDocument): ValidationResult {
  if (doc.value === undefined) return result(undefined, undefined, doc.issues, []);
  if (doc.value === null && doc.syntax === 'yaml') {
    // YAML reads a file of comments, `~` or `null` as null: as empty as a blank JSON file.
    const empty: Issue = {
      code: 'empty_document',
      path: '',
      message: 'the document is empty (null); expected a policy',
    };
    return result(undefined, undefined, locate([empty], doc), []);
  }
  const validated = validatePolicyValue(doc.value);
  return result(
    validated.value?.policy,
    validated.value?.source,
    [...locate(doc.issues, doc), ...locate(validated.errors, doc)],
    locate(validated.warnings, doc),
  );
}

/**
 * Validates an already-parsed policy value (a bare policy or admin-settings
 * object). Duplicate keys cannot be seen here: prefer {@link parsePolicy}.
 */
export function validatePolicyValue(value: unknown): ValidationResult {
  const kind = documentKind(value, ['policy', 'admin-settings'], 'policy');
  if (kind.issue) return result(undefined, undefined, [kind.issue], []);
  if (kind.kind === 'admin-settings' && isObject(value)) return validateAdminSettings(value);
  const { value: policy, errors, warnings } = validateBarePolicy(value);
  return result(policy, { kind: 'policy' }, errors, warnings);
}

/**
 * What Docker Desktop would refuse in a valid policy document: it reads
 * version 1 only, so a version 2 policy cannot be given to it.
 */
export function dockerWarnings(document: PolicyDocument): Issue[] {
  if (document.policy.version === 1) return [];
  return [
    {
      code: 'docker_version_1_only',
      path: '/version',
      message:
        'this is a version 2 policy: mcp-policy decides it, but Docker Desktop accepts version 1 policies only and would refuse it',
      ...(document.source.kind === 'admin-settings' && { within: '/mcpPolicy/value' }),
    },
  ];
}

/** Policies this module produced, so that {@link ensureValidPolicy} need not check them again. */
const validated = new WeakSet<Policy>();

/**
 * The policy itself when this module validated it, else the validated form of
 * what was given (a hand-built object, say with `deny: true` and no `allow`);
 * throws {@link PolicyValidationError} when it is not a valid policy. Entry
 * points that take a `Policy` call this, so generated Rego and the native
 * engine only ever see validated policies.
 */
export function ensureValidPolicy(policy: Policy): Policy {
  if (validated.has(policy)) return policy;
  const r = validatePolicyValue(policy);
  if (!r.value) throw new PolicyValidationError(r.errors, 'policy object');
  return r.value.policy;
}

/** Parses and validates, throwing {@link PolicyValidationError} on any error. */
export function loadPolicyText(text: string, file?: string): PolicyDocument & { warnings: readonly Issue[] } {
  const r = parsePolicy(text);
  if (!r.value) throw new PolicyValidationError(r.errors, file);
  return { ...r.value, warnings: r.warnings };
}

function validateAdminSettings(value: Record<string, unknown>): ValidationResult {
  const parsed = adminSettingsSchema.safeParse(value, { reportInput: true });
  if (!parsed.success) return result(undefined, undefined, zodIssues(parsed.error, ['locked', 'value']), []);
  const settings = parsed.data;
  const warnings: Issue[] = [];
  if (settings.configurationFileVersion !== undefined && settings.configurationFileVersion !== 2) {
    warnings.push({
      code: 'unexpected_configuration_version',
      path: '/configurationFileVersion',
      message: `configurationFileVersion ${settings.configurationFileVersion} is not 2, the version that defines mcpPolicy`,
    });
  }
  const within = '/mcpPolicy/value';
  const inner = readJson(settings.mcpPolicy.value);
  const embed = (issues: readonly Issue[]): Issue[] =>
    issues.map(({ line: _line, column: _column, ...issue }) => ({ ...issue, within }));
  if (inner.value === undefined) return result(undefined, undefined, embed(inner.issues), warnings);
  const bare = validateBarePolicy(inner.value);
  const source: PolicySource = { kind: 'admin-settings', locked: settings.mcpPolicy.locked ?? false };
  return result(bare.value, source, embed([...inner.issues, ...bare.errors]), [...warnings, ...embed(bare.warnings)]);
}

function validateBarePolicy(value: unknown): Validation<Policy> {
  const raw = isObject(value) ? value : {};
  // A policy without a version is Docker's version 1. One with a version
  // this module does not know is checked as version 2, the superset, so that
  // the version is its only complaint about keys.
  const version: 1 | 2 = raw.version === undefined || raw.version === 1 ? 1 : 2;
  const schema = version === 1 ? policySchema : policySchemaV2;
  const parsed = schema.safeParse(value, { reportInput: true });
  const errors: Issue[] = [];
  const warnings: Issue[] = [];
  // Rules are checked one by one too, so a schema error in one rule does not
  // hide the semantic errors of the others.
  const rawRules = Array.isArray(raw.rules) ? raw.rules : [];
  const rules: Rule[] = [];
  const replaced = new Set<string>();
  rawRules.forEach((rule, index) => {
    if (!isObject(rule)) return;
    const before = errors.length;
    if (version === 1) {
      neededVersion2(rule, index, errors);
      for (const e of errors.slice(before)) replaced.add(e.path);
    } else {
      checkVersion2Rule(rule, index, errors, warnings);
    }
    checkRuleSemantics(rule, index, errors);
    const r = (version === 1 ? ruleSchema : ruleSchemaV2).safeParse(rule);
    if (r.success && errors.length === before) rules.push(toRule(r.data, rule));
  });
  const structural = parsed.success ? [] : zodIssues(parsed.error, POLICY_FIELDS, RULE_FIELDS_V2);
  // A version 2 key in a version 1 policy is one problem, told once: it needs version 2.
  errors.unshift(...structural.filter((e) => !replaced.has(e.path)));
  if (errors.length > 0 || !parsed.success) return validation<Policy>(undefined, errors);
  const policy = toPolicy(parsed.data, rules);
  return validation(policy, errors, [...warnings, ...lint(policy)]);
}

function toPolicy(input: PolicyInput, rules: Rule[]): Policy {
  return { version: input.version ?? 1, default: input.default, rules };
}

/** `needs_version_2` for each version 2 key of a rule in a version 1 policy (and for action `resource`). */
function neededVersion2(raw: Record<string, unknown>, index: number, errors: Issue[]): void {
  const at = (key: string): string => toPointer(['rules', index, key]);
  if (raw.action === 'resource') {
    errors.push({
      code: 'needs_version_2',
      path: at('action'),
      message: `"action": "resource" needs "version": 2 (Docker's version 1 format has no resource action)`,
    });
  }
  for (const key of VERSION_2_RULE_KEYS) {
    if (!Object.hasOwn(raw, key)) continue;
    errors.push({
      code: 'needs_version_2',
      path: at(key),
      message: `${JSON.stringify(key)} needs "version": 2 (Docker's version 1 format has no ${key})`,
    });
  }
}

/**
 * Checks what the schema cannot: the decision, patterns and text. Works on the
 * raw rule and looks only at fields of the right type, so a rule with a
 * schema error still gets these checks. Returns false when it found a problem.
 */
/** The most `*` one pattern may hold: the generated Rego unrolls its search for that many pieces. */
export const MAX_PATTERN_STARS = 512;

const EMPTY_FIELD_PATTERN =
  'pattern is empty and could never match: a request field matches only when it is a non-empty string';

/** Reports an empty pattern, too many stars or a lone surrogate in `text` when it is a string. */
function checkText(errors: Issue[], text: unknown, path: string, emptyPattern?: string): void {
  if (typeof text !== 'string') return;
  if (emptyPattern !== undefined && text === '') {
    errors.push({ code: 'empty_pattern', path, message: emptyPattern });
  }
  const stars = emptyPattern !== undefined ? text.split('*').length - 1 : 0;
  if (stars > MAX_PATTERN_STARS) {
    errors.push({
      code: 'too_many_stars',
      path,
      message: `pattern has ${stars} "*"; at most ${MAX_PATTERN_STARS} are supported`,
    });
  }
  if (!text.isWellFormed()) {
    errors.push({
      code: 'invalid_unicode',
      path,
      message: `${JSON.stringify(text)} contains an unpaired UTF-16 surrogate`,
    });
  }
}

function checkRuleSemantics(raw: Record<string, unknown>, index: number, errors: Issue[]): boolean {
  const at = (...path: (string | number)[]): string => toPointer(['rules', index, ...path]);
  const before = errors.length;
  if (raw.allow === undefined && raw.deny === undefined) {
    errors.push({ code: 'missing_decision', path: at(), message: 'rule needs "allow" or "deny"' });
  } else if (typeof raw.allow === 'boolean' && typeof raw.deny === 'boolean' && raw.deny === raw.allow) {
    errors.push({
      code: 'conflicting_decision',
      path: at('deny'),
      message: `"allow": ${raw.allow} and "deny": ${raw.deny} contradict each other`,
    });
  }
  checkText(errors, raw.server, at('server'), EMPTY_FIELD_PATTERN);
  checkText(errors, raw.serverSource, at('serverSource'), EMPTY_FIELD_PATTERN);
  if (Array.isArray(raw.tools)) raw.tools.forEach((t, k) => checkText(errors, t, at('tools', k), EMPTY_FIELD_PATTERN));
  checkText(errors, raw.reason, at('reason'));
  return errors.length === before;
}

/**
 * The checks of version 2's keys that zod's shape cannot make: patterns,
 * claim names and counts, non-empty objects, argument conditions, and keys
 * that do not belong together. Looks only at values of the right type.
 */
function checkVersion2Rule(raw: Record<string, unknown>, index: number, errors: Issue[], warnings: Issue[]): void {
  const at = (...path: (string | number)[]): string => toPointer(['rules', index, ...path]);
  for (const key of ['resources', 'users', 'groups'] as const) {
    const list = raw[key];
    if (Array.isArray(list)) list.forEach((p, k) => checkText(errors, p, at(key, k), EMPTY_FIELD_PATTERN));
  }
  if (Object.hasOwn(raw, 'resources') && raw.action !== 'resource') {
    const action =
      typeof raw.action === 'string'
        ? `this rule's "action" is ${JSON.stringify(raw.action)}`
        : 'this rule has no "action"';
    errors.push({
      code: 'misplaced_key',
      path: at('resources'),
      message: `"resources" applies only to rules with "action": "resource", and ${action}; add "action": "resource", or did you mean "tools"?`,
    });
  }
  if (isObject(raw.claims)) {
    const names = Object.keys(raw.claims);
    if (names.length === 0) {
      errors.push({
        code: 'invalid_value',
        path: at('claims'),
        message: 'claims must not be empty: name at least one claim and its patterns',
      });
    } else if (names.length > MAX_CLAIMS_PER_RULE) {
      errors.push({
        code: 'too_many_entries',
        path: at('claims'),
        message: `claims has ${names.length} names; at most ${MAX_CLAIMS_PER_RULE} are allowed`,
      });
    }
    for (const name of names) {
      if (!name.isWellFormed()) {
        errors.push({
          code: 'invalid_unicode',
          path: at('claims', name),
          message: `claim name ${JSON.stringify(name)} contains an unpaired UTF-16 surrogate`,
        });
      }
      const list = raw.claims[name];
      if (name === '__proto__') checkProtoClaim(list, at('claims', name), errors);
      if (Array.isArray(list)) list.forEach((p, k) => checkText(errors, p, at('claims', name, k), EMPTY_FIELD_PATTERN));
    }
  }
  if (isObject(raw.annotations) && Object.keys(raw.annotations).length === 0) {
    errors.push({
      code: 'invalid_value',
      path: at('annotations'),
      message: `annotations must not be empty: give at least one of ${choices(ANNOTATION_HINTS)}`,
    });
  }
  if (Object.hasOwn(raw, 'annotations') && raw.action !== 'invoke') {
    const action = typeof raw.action === 'string' ? `"action": ${JSON.stringify(raw.action)}` : 'no "action"';
    warnings.push({
      code: 'annotations_without_invoke',
      path: at('annotations'),
      message: `rule ${index} has "annotations" and ${action}: only tool calls carry annotations, so MCP's defaults stand in for them on every load, prompt and resource request, and the rule matches all those its other conditions match; add "action": "invoke"`,
    });
  }
  if (Array.isArray(raw.arguments)) {
    raw.arguments.forEach((condition, k) => {
      if (isObject(condition)) checkCondition(condition, (...path) => at('arguments', k, ...path), errors);
    });
  }
}

/**
 * The shape of a claim named `__proto__`, which zod's record passes over
 * unchecked: an array of 1 to {@link MAX_PATTERNS_PER_KEY} strings.
 */
function checkProtoClaim(list: unknown, path: string, errors: Issue[]): void {
  const subject = 'claim "__proto__"';
  if (!Array.isArray(list)) {
    errors.push({ code: 'invalid_type', path, message: `${subject} must be an array, not ${describeValue(list)}` });
  } else if (list.length === 0) {
    errors.push({ code: 'empty_array', path, message: `${subject} must not be empty` });
  } else if (list.length > MAX_PATTERNS_PER_KEY) {
    errors.push({
      code: 'too_many_entries',
      path,
      message: `${subject} has ${list.length} entries; at most ${MAX_PATTERNS_PER_KEY} are allowed`,
    });
  } else {
    list.forEach((p, k) => {
      if (typeof p !== 'string') {
        errors.push({
          code: 'invalid_type',
          path: `${path}/${k}`,
          message: `${subject} entry must be a string, not ${describeValue(p)}`,
        });
      }
    });
  }
}

/** An argument condition's pointer, one test, the keys that go with it, and its values. */
function checkCondition(
  raw: Record<string, unknown>,
  at: (...path: (string | number)[]) => string,
  errors: Issue[],
): void {
  if (typeof raw.path === 'string') checkPointer(raw.path, at('path'), errors);
  const has = (key: string): boolean => Object.hasOwn(raw, key) && raw[key] !== undefined;
  const tests = CONDITION_TESTS.filter(has);
  // min and max bound one number: together they are one test.
  const distinct = tests.filter((t) => !(t === 'max' && tests.includes('min')));
  if (distinct.length === 0) {
    errors.push({
      code: 'missing_test',
      path: at(),
      message: 'condition needs a test: one of "match", "equals", "in", "min"/"max" or "present"',
    });
  } else if (distinct.length > 1) {
    const [first, second] = distinct as [string, string];
    errors.push({
      code: 'conflicting_fields',
      path: at(second),
      message: `${JSON.stringify(first)} and ${JSON.stringify(second)} are two tests, and a condition has exactly one; write two conditions`,
    });
  }
  if (has('not') && has('present')) {
    errors.push({
      code: 'misplaced_key',
      path: at('not'),
      message: '"not" does not go with "present": write "present": false to require that nothing is found',
    });
  }
  if (has('normalize') && !has('match')) {
    errors.push({
      code: 'misplaced_key',
      path: at('normalize'),
      message: '"normalize" applies only to "match": it cleans the string before the patterns are matched',
    });
  }
  if (Array.isArray(raw.match)) {
    raw.match.forEach((p, k) =>
      checkText(
        errors,
        p,
        at('match', k),
        'pattern is empty and could match only the empty string; write "equals": "" for that',
      ),
    );
  }
  checkText(errors, raw.equals, at('equals'));
  if (Array.isArray(raw.in)) raw.in.forEach((v, k) => checkText(errors, v, at('in', k)));
  if (typeof raw.min === 'number' && typeof raw.max === 'number' && raw.min > raw.max) {
    errors.push({
      code: 'invalid_value',
      path: at('max'),
      message: `max ${raw.max} is less than min ${raw.min}, so no number could satisfy the condition`,
    });
  }
}

/** An RFC 6901 pointer of at most {@link MAX_POINTER_SEGMENTS} segments, in well-formed Unicode. */
function checkPointer(path: string, pointer: string, errors: Issue[]): void {
  const quoted = JSON.stringify(path);
  if (path !== '' && !path.startsWith('/')) {
    errors.push({
      code: 'invalid_pointer',
      path: pointer,
      message: `path ${quoted} is not a JSON pointer: it is "" (the arguments themselves) or starts with "/", as in "/path"`,
    });
  } else if (/~(?![01])/.test(path)) {
    errors.push({
      code: 'invalid_pointer',
      path: pointer,
      message: `path ${quoted} has a "~" that is not "~0" or "~1": write "~0" for "~" and "~1" for "/" in a name`,
    });
  } else if (pointerSegments(path).length > MAX_POINTER_SEGMENTS) {
    errors.push({
      code: 'invalid_pointer',
      path: pointer,
      message: `path ${quoted} has ${pointerSegments(path).length} segments; at most ${MAX_POINTER_SEGMENTS} are supported`,
    });
  }
  checkText(errors, path, pointer);
}

/** The validated rule, in the source's shape (see the model), with only the keys given. */
function toRule(input: RuleInput, raw: Record<string, unknown>): Rule {
  return {
    ...(input.action !== undefined && { action: input.action }),
    ...(input.server !== undefined && { server: input.server }),
    ...(input.serverType !== undefined && { serverType: input.serverType }),
    ...(input.serverSource !== undefined && { serverSource: input.serverSource }),
    ...(input.transport !== undefined && { transport: input.transport }),
    ...(input.tools !== undefined && { tools: [...input.tools] }),
    ...(input.resources !== undefined && { resources: [...input.resources] }),
    ...(input.users !== undefined && { users: [...input.users] }),
    ...(input.groups !== undefined && { groups: [...input.groups] }),
    ...(input.claims !== undefined && { claims: copyClaims(raw.claims as Record<string, string[]>) }),
    ...(input.annotations !== undefined && { annotations: definedOnly(input.annotations) }),
    ...(input.arguments !== undefined && { arguments: input.arguments.map(toCondition) }),
    allow: input.allow ?? !input.deny,
    ...(input.reason !== undefined && { reason: input.reason }),
  };
}

/**
 * The claims as written, in a null-prototype object: a claim may be named
 * `__proto__`, which zod's output drops and a plain object would take as its
 * prototype.
 */
function copyClaims(claims: Record<string, string[]>): Record<string, string[]> {
  const out = Object.create(null) as Record<string, string[]>;
  for (const [name, patterns] of Object.entries(claims)) out[name] = [...patterns];
  return out;
}

function definedOnly<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function toCondition(input: z.infer<typeof argumentConditionSchema>): ArgumentCondition {
  const condition = definedOnly(input);
  return {
    ...condition,
    ...(condition.match !== undefined && { match: [...condition.match] }),
    ...(condition.in !== undefined && { in: [...condition.in] }),
  };
}

/** Warnings: valid policies that probably do not do what their author meant. */
function lint(policy: Policy): Issue[] {
  const warnings: Issue[] = [];
  const catchAll = policy.rules.findIndex((r) => constraintCount(r) === 0);
  if (catchAll >= 0) {
    for (let k = catchAll + 1; k < policy.rules.length; k++) {
      warnings.push({
        code: 'unreachable_rule',
        path: toPointer(['rules', k]),
        message: `rule ${k} can never apply: rule ${catchAll} has no conditions and matches every request`,
      });
    }
  }
  return warnings;
}

/** The keys of a rule that constrain which requests it matches. */
const CONSTRAINT_KEYS = [
  'action',
  'server',
  'serverType',
  'serverSource',
  'transport',
  'tools',
  ...VERSION_2_RULE_KEYS,
] as const satisfies readonly (keyof Rule)[];

function constraintCount(rule: Rule): number {
  return CONSTRAINT_KEYS.filter((k) => rule[k] !== undefined).length;
}

/** Maps zod's issues onto our codes and lowercase messages. */
function zodIssues(error: z.ZodError, topFields: readonly string[], ruleFields: readonly string[] = []): Issue[] {
  const out: Issue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    const pointer = toPointer(path);
    const field = String(path[path.length - 1] ?? 'document');
    const input = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeys(path, topFields, ruleFields);
        for (const key of issue.keys) {
          const hint = suggest(key, known);
          out.push({
            code: 'unknown_field',
            path: toPointer([...path, key]),
            message: `unknown field ${JSON.stringify(key)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : misplacedHint(path, key)}`,
          });
        }
        break;
      }
      case 'invalid_value':
        if (input === undefined) {
          out.push({
            code: 'missing_field',
            path: pointer,
            message: `missing required field ${JSON.stringify(field)}`,
          });
        } else if (field === 'version') {
          out.push({
            code: 'unsupported_version',
            path: pointer,
            message: `unsupported version ${JSON.stringify(input)}; the versions are 1 and 2`,
          });
        } else if (typeof input === 'string') {
          const choices = issue.values.map((v) => JSON.stringify(v)).join(', ');
          out.push({
            code: 'invalid_value',
            path: pointer,
            message: `unknown ${field} ${JSON.stringify(input)}; expected one of ${choices}`,
          });
        } else {
          out.push({
            code: 'invalid_type',
            path: pointer,
            message: `${field} must be a string, not ${describeValue(input)}`,
          });
        }
        break;
      case 'invalid_type':
        if (input === undefined) {
          out.push({
            code: 'missing_field',
            path: pointer,
            message: `missing required field ${JSON.stringify(field)}`,
          });
        } else {
          out.push({
            code: 'invalid_type',
            path: pointer,
            // zod calls the object of a record (claims) a record.
            message: `${subjectOf(path)} must be ${article(issue.expected === 'record' ? 'object' : issue.expected)}, not ${describeValue(input)}`,
          });
        }
        break;
      case 'invalid_union':
        // Only `equals` and `in` take a union: a JSON scalar.
        out.push({
          code: 'invalid_type',
          path: pointer,
          message: `${subjectOf(path)} must be a string, a number, a boolean or null, not ${describeValue(input)}`,
        });
        break;
      case 'invalid_key':
        // Only claims have keys zod checks: a claim name must not be empty.
        out.push({
          code: 'invalid_name',
          path: pointer,
          message: 'claim name is empty; name the claim of the principal the patterns are for',
        });
        break;
      case 'too_small':
        out.push({ code: 'empty_array', path: pointer, message: `${field} must not be empty` });
        break;
      case 'too_big':
        out.push({
          code: 'too_many_entries',
          path: pointer,
          message: `${subjectOf(path)} has ${Array.isArray(input) ? input.length : 'too many'} entries; at most ${String(issue.maximum)} are allowed`,
        });
        break;
      default:
        out.push({ code: 'invalid_value', path: pointer, message: issue.message.toLowerCase() });
    }
  }
  return out;
}

/** What a message calls the value at `path`: the field, an entry of a list, or a claim. */
function subjectOf(path: readonly (string | number)[]): string {
  const last = path[path.length - 1];
  const parent = path[path.length - 2];
  if (path.length === 0) return 'the document';
  if (typeof last === 'number' && path[path.length - 3] === 'claims') return `claim ${JSON.stringify(parent)} entry`;
  if (typeof last === 'number') return `${String(parent)} entry`;
  if (parent === 'claims') return `claim ${JSON.stringify(last)}`;
  return String(last);
}

/** Where a key that a rule does not have belongs, when it is a key of a rule's parts. */
function misplacedHint(path: readonly (string | number)[], key: string): string {
  if (path[0] !== 'rules' || path.length !== 2) return '';
  if ((CONDITION_FIELDS as readonly string[]).includes(key)) {
    return `; ${JSON.stringify(key)} belongs in a condition of "arguments" (version 2)`;
  }
  if ((ANNOTATION_HINTS as readonly string[]).includes(key)) {
    return `; ${JSON.stringify(key)} belongs in "annotations" (version 2)`;
  }
  return '';
}

/** The keys the object at `path` may have, for "did you mean" hints. */
function knownKeys(
  path: readonly (string | number)[],
  topFields: readonly string[],
  ruleFields: readonly string[],
): readonly string[] {
  if (path[0] !== 'rules' || path.length < 2) return topFields;
  if (path.length === 2) return ruleFields;
  if (path[2] === 'annotations') return ANNOTATION_HINTS;
  if (path[2] === 'arguments') return CONDITION_FIELDS;
  return [];
}

function result(
  policy: Policy | undefined,
  source: PolicySource | undefined,
  errors: readonly Issue[],
  warnings: readonly Issue[],
): ValidationResult {
  if (policy && errors.length === 0) validated.add(policy);
  return validation(policy && source && { policy, source }, errors, warnings);
}
