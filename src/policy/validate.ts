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
import { article, describeValue, isObject, locate, suggest } from '../diagnostics/report.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { documentKind, validateEnterpriseDocument } from '../enterprise/validate.js';
import { ACTIONS, type Policy, type PolicySource, type Rule, SERVER_TYPES, TRANSPORTS } from './model.js';

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

/** The shape of Docker's admin-settings.json as far as policies go; other keys are Docker's. */
export const adminSettingsSchema = z.looseObject({
  configurationFileVersion: z.number().optional(),
  mcpPolicy: z.strictObject({
    locked: z.boolean().optional(),
    value: z.string(),
  }),
});

type RuleInput = z.infer<typeof ruleSchema>;
type PolicyInput = z.infer<typeof policySchema>;

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

/** Any document `check` reads: a policy or admin settings, or an enterprise config. */
export type AnyDocument =
  | { readonly kind: 'policy' | 'admin-settings'; readonly document: PolicyDocument }
  | { readonly kind: 'enterprise-config'; readonly config: EnterpriseConfig };

/**
 * Parses and validates a document of any kind, JSON or YAML, deciding what it
 * is by its shape (`documentKind`): one whose keys fit no kind, or several,
 * is an error naming the kinds. Never throws.
 */
export function parseAnyDocument(text: string): Validation<AnyDocument> {
  const doc = readDocument(text);
  if (doc.value === undefined) return validation<AnyDocument>(undefined, doc.issues);
  const kind = documentKind(doc.value);
  if (kind.issue) return validation<AnyDocument>(undefined, [...locate(doc.issues, doc), ...locate([kind.issue], doc)]);
  if (kind.kind === 'enterprise-config') {
    const r = validateEnterpriseDocument(doc);
    return validation<AnyDocument>(r.value && { kind: kind.kind, config: r.value }, r.errors, r.warnings);
  }
  const r = validatePolicyDocument(doc);
  return validation<AnyDocument>(r.value && { kind: r.value.source.kind, document: r.value }, r.errors, r.warnings);
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
  const parsed = policySchema.safeParse(value, { reportInput: true });
  const errors: Issue[] = parsed.success ? [] : zodIssues(parsed.error, POLICY_FIELDS, RULE_FIELDS);
  // Rules are checked one by one too, so a schema error in one rule does not
  // hide the semantic errors of the others.
  const rawRules = isObject(value) && Array.isArray(value.rules) ? value.rules : [];
  const rules: Rule[] = [];
  rawRules.forEach((raw, index) => {
    if (!isObject(raw)) return;
    const semanticOk = checkRuleSemantics(raw, index, errors);
    const r = ruleSchema.safeParse(raw);
    if (r.success && semanticOk) rules.push(toRule(r.data));
  });
  if (errors.length > 0 || !parsed.success) return validation<Policy>(undefined, errors);
  const policy = toPolicy(parsed.data, rules);
  return validation(policy, errors, lint(policy));
}

function toPolicy(input: PolicyInput, rules: Rule[]): Policy {
  return { version: 1, default: input.default, rules };
}

/**
 * Checks what the schema cannot: the decision, patterns and text. Works on the
 * raw rule and looks only at fields of the right type, so a rule with a
 * schema error still gets these checks. Returns false when it found a problem.
 */
/** The most `*` one pattern may hold: the generated Rego unrolls its search for that many pieces. */
export const MAX_PATTERN_STARS = 512;

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
  const checkText = (text: unknown, path: string, isPattern: boolean): void => {
    if (typeof text !== 'string') return;
    if (isPattern && text === '') {
      errors.push({
        code: 'empty_pattern',
        path,
        message: 'pattern is empty and could never match: a request field matches only when it is a non-empty string',
      });
    }
    const stars = isPattern ? text.split('*').length - 1 : 0;
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
  };
  checkText(raw.server, at('server'), true);
  checkText(raw.serverSource, at('serverSource'), true);
  if (Array.isArray(raw.tools)) raw.tools.forEach((t, k) => checkText(t, at('tools', k), true));
  checkText(raw.reason, at('reason'), false);
  return errors.length === before;
}

function toRule(input: RuleInput): Rule {
  return {
    ...(input.action !== undefined && { action: input.action }),
    ...(input.server !== undefined && { server: input.server }),
    ...(input.serverType !== undefined && { serverType: input.serverType }),
    ...(input.serverSource !== undefined && { serverSource: input.serverSource }),
    ...(input.transport !== undefined && { transport: input.transport }),
    ...(input.tools !== undefined && { tools: [...input.tools] }),
    allow: input.allow ?? !input.deny,
    ...(input.reason !== undefined && { reason: input.reason }),
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

function constraintCount(rule: Rule): number {
  return ['action', 'server', 'serverType', 'serverSource', 'transport', 'tools'].filter(
    (k) => rule[k as keyof Rule] !== undefined,
  ).length;
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
        const known = path.length === 0 ? topFields : path[0] === 'rules' ? ruleFields : topFields;
        for (const key of issue.keys) {
          const hint = suggest(key, known);
          out.push({
            code: 'unknown_field',
            path: toPointer([...path, key]),
            message: `unknown field ${JSON.stringify(key)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''}`,
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
            message: `unsupported version ${JSON.stringify(input)}; the only version is 1`,
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
          const subject =
            path.length === 0
              ? 'the document'
              : typeof path[path.length - 1] === 'number'
                ? `${String(path[path.length - 2])} entry`
                : field;
          out.push({
            code: 'invalid_type',
            path: pointer,
            message: `${subject} must be ${article(issue.expected)}, not ${describeValue(input)}`,
          });
        }
        break;
      case 'too_small':
        out.push({ code: 'empty_array', path: pointer, message: `${field} must not be empty` });
        break;
      default:
        out.push({ code: 'invalid_value', path: pointer, message: issue.message.toLowerCase() });
    }
  }
  return out;
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
