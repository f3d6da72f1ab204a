/**
 * The native evaluator: interprets the validated policy directly in
 * TypeScript. It shares no lowered form with the Rego generator, so a bug in
 * lowering shows up as a disagreement instead of hiding in both engines.
 */
import { defaultReason, INVALID_REQUEST_REASON, ruleReason } from '../core/contracts.js';
import {
  ACTIONS,
  ACTIONS_V2,
  type Action,
  ANNOTATION_DEFAULTS,
  ANNOTATION_HINTS,
  type AnnotationHint,
  type Decision,
  MAX_CLAIM_VALUES,
  MAX_CLAIMS,
  MAX_FIELD_LENGTH,
  MAX_GROUPS,
  type Policy,
  REQUEST_FIELDS,
  REQUEST_FIELDS_V2,
  type RequestField,
  type Rule,
  TARGET_TYPES,
} from '../policy/model.js';
import { degradedWarning, directiveDenial, readEnterpriseFields } from '../enterprise/effective.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { planOf } from './plan.js';

/** The request after validation: only non-empty string fields, action defaulted. */
export interface Facts {
  action: Action;
  server: string | undefined;
  serverType: string | undefined;
  serverSource: string | undefined;
  transport: string | undefined;
  tool: string | undefined;
}

/**
 * The facts of a request to a version 2 policy: version 1's, and who asks,
 * the resource, the tool's effective annotations and the arguments. Empty
 * strings count as absent, here as in version 1.
 */
export interface FactsV2 extends Facts {
  resource: string | undefined;
  /** Whether the request names a principal at all (`principal` present and not null). */
  principal: boolean;
  sub: string | undefined;
  /** The principal's non-empty groups, made well-formed; empty without any. */
  groups: readonly string[];
  /** The principal's claims as sent (checked: each a string or an array of strings); undefined without any. */
  claims: Readonly<Record<string, string | readonly string[]>> | undefined;
  /** Each hint's effective value: as declared, else MCP's default (with the read-only exception). */
  annotations: Readonly<Record<AnnotationHint, boolean>>;
  /** The request's `arguments` object; undefined when absent or null (nothing is found in it). */
  arguments: Readonly<Record<string, unknown>> | undefined;
}

/** Length in code points (the unit Rego counts in); only called on strings already longer in UTF-16 units. */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** The text a field is matched on: absent and empty are the same, and unpaired surrogates become U+FFFD. */
function text(v: string | undefined): string | undefined {
  // Go's JSON decoder turns unpaired surrogates into U+FFFD; do the same so
  // every engine sees the same text.
  return v === undefined || v === '' ? undefined : v.isWellFormed() ? v : v.toWellFormed();
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The request fields' own values, in {@link REQUEST_FIELDS} order (inherited
 * ones read as absent, so a polluted Object.prototype cannot supply a field).
 * When nothing up the prototype chain has a request field, named reads see
 * only own properties, and they are several times faster than keyed reads or
 * hasOwnProperty, which is most of what reading a request costs.
 */
function ownFieldValues(r: Partial<Record<RequestField, unknown>>): unknown[] {
  const p = Object.getPrototypeOf(r) as object | null;
  const inherits =
    p !== null &&
    ('action' in p || 'server' in p || 'serverType' in p || 'serverSource' in p || 'transport' in p || 'tool' in p);
  if (!inherits) return [r.action, r.server, r.serverType, r.serverSource, r.transport, r.tool];
  return REQUEST_FIELDS.map((field) => (hasOwn.call(r, field) ? r[field] : undefined));
}

/** Why a request's `target` names nothing a policy answers; undefined when it is absent, null or known. */
function targetError(request: object): string | undefined {
  const target: unknown = hasOwn.call(request, 'target') ? (request as { target?: unknown }).target : undefined;
  if (target === undefined || target === null) return undefined;
  if (typeof target !== 'object' || Array.isArray(target)) return 'field "target" must be an object';
  const type: unknown = hasOwn.call(target, 'type') ? (target as { type?: unknown }).type : undefined;
  if (typeof type !== 'string') return 'field "target.type" must be a string';
  if (type.length > MAX_FIELD_LENGTH && codePoints(type) > MAX_FIELD_LENGTH) {
    return `field "target.type" is longer than ${MAX_FIELD_LENGTH} characters`;
  }
  // Quoted raw, as an unknown action is.
  return (TARGET_TYPES as readonly string[]).includes(type) ? undefined : `unknown target type "${type}"`;
}

/**
 * Checks a request's shape for a policy of the given version (1 when not
 * given); returns the error text, or the facts to match on. Version 1 ignores
 * the fields version 2 adds, like any other extra field.
 */
export function readRequest(request: unknown, version?: 1): { error: string } | { facts: Facts };
export function readRequest(request: unknown, version: 2): { error: string } | { facts: FactsV2 };
export function readRequest(request: unknown, version: 1 | 2): { error: string } | { facts: Facts | FactsV2 };
export function readRequest(request: unknown, version: 1 | 2 = 1): { error: string } | { facts: Facts | FactsV2 } {
  return version === 2 ? readRequestV2(request) : readRequestV1(request);
}

/** Version 1's reading, on the hot path of every version 1 decision. */
function readRequestV1(request: unknown): { error: string } | { facts: Facts } {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    return { error: 'request must be a JSON object' };
  }
  const values = ownFieldValues(request);
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    // An own property set to undefined is present and not a string.
    if (v === undefined ? hasOwn.call(request, REQUEST_FIELDS[k] as RequestField) : typeof v !== 'string') {
      return { error: `field "${REQUEST_FIELDS[k] as RequestField}" must be a string` };
    }
  }
  for (let k = 0; k < values.length; k++) {
    const v = values[k] as string | undefined;
    if (v !== undefined && v.length > MAX_FIELD_LENGTH && codePoints(v) > MAX_FIELD_LENGTH) {
      return { error: `field "${REQUEST_FIELDS[k] as RequestField}" is longer than ${MAX_FIELD_LENGTH} characters` };
    }
  }
  const [action, server, serverType, serverSource, transport, tool] = values as (string | undefined)[];
  const act = text(action) ?? 'invoke';
  if (!(ACTIONS as readonly string[]).includes(act)) {
    // Quoted raw, not JSON-escaped: Rego builds the same text with concat.
    return { error: `unknown action "${act}"` };
  }
  const target = targetError(request);
  if (target !== undefined) return { error: target };
  // Every field is an own property (undefined when absent), and the object
  // keeps one shape, which the engine reads fast.
  const facts: Facts = {
    action: act as Action,
    server: text(server),
    serverType: text(serverType),
    serverSource: text(serverSource),
    transport: text(transport),
    tool: text(tool),
  };
  return { facts };
}

/** Whether `s` is longer than the request field limit, in code points. */
const tooLong = (s: string): boolean => s.length > MAX_FIELD_LENGTH && codePoints(s) > MAX_FIELD_LENGTH;

/** An own member of a request object; absent (undefined) when only inherited. */
const own = (o: object, key: string): unknown =>
  hasOwn.call(o, key) ? (o as Record<string, unknown>)[key] : undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Why a request's `principal` is malformed, in the order of the checks; undefined when it is fine. */
function principalError(principal: Record<string, unknown>): string | undefined {
  if (hasOwn.call(principal, 'sub')) {
    const sub = principal.sub;
    if (typeof sub !== 'string') return 'field "principal.sub" must be a string';
    if (tooLong(sub)) return `field "principal.sub" is longer than ${MAX_FIELD_LENGTH} characters`;
  }
  if (hasOwn.call(principal, 'groups')) {
    const groups = principal.groups;
    if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) {
      return 'field "principal.groups" must be an array of strings';
    }
    if (groups.length > MAX_GROUPS) return `field "principal.groups" has more than ${MAX_GROUPS} entries`;
    if ((groups as string[]).some(tooLong)) {
      return `field "principal.groups" has an entry longer than ${MAX_FIELD_LENGTH} characters`;
    }
  }
  if (hasOwn.call(principal, 'claims')) {
    const claims = principal.claims;
    if (!isObject(claims)) return 'field "principal.claims" must be an object';
    const names = Object.keys(claims);
    if (names.length > MAX_CLAIMS) return `field "principal.claims" has more than ${MAX_CLAIMS} claims`;
    const values = names.map((name) => claims[name]);
    const stringsOnly = (v: unknown): boolean =>
      typeof v === 'string' || (Array.isArray(v) && v.every((e) => typeof e === 'string'));
    if (!values.every(stringsOnly)) {
      return 'field "principal.claims" must map each claim to a string or an array of strings';
    }
    if (values.some((v) => Array.isArray(v) && v.length > MAX_CLAIM_VALUES)) {
      return `field "principal.claims" has a claim with more than ${MAX_CLAIM_VALUES} values`;
    }
    if (values.some((v) => (typeof v === 'string' ? tooLong(v) : (v as string[]).some(tooLong)))) {
      return `field "principal.claims" has a value longer than ${MAX_FIELD_LENGTH} characters`;
    }
  }
  return undefined;
}

/** Each hint's effective value for a request's (checked) annotations, or the defaults without any. */
function effectiveAnnotations(declared: Record<string, unknown> | undefined): Record<AnnotationHint, boolean> {
  if (declared === undefined) return ANNOTATION_DEFAULTS;
  const value = (hint: AnnotationHint): boolean | undefined => own(declared, hint) as boolean | undefined;
  const readOnly = value('readOnlyHint');
  const destructive = value('destructiveHint');
  return {
    readOnlyHint: readOnly ?? ANNOTATION_DEFAULTS.readOnlyHint,
    // MCP: destructiveHint means something only for a tool that is not read-only.
    destructiveHint: destructive ?? (readOnly === true ? false : ANNOTATION_DEFAULTS.destructiveHint),
    idempotentHint: value('idempotentHint') ?? ANNOTATION_DEFAULTS.idempotentHint,
    openWorldHint: value('openWorldHint') ?? ANNOTATION_DEFAULTS.openWorldHint,
  };
}

/** Version 2's reading: version 1's checks with `resource` and action `resource`, then principal, arguments, annotations. */
function readRequestV2(request: unknown): { error: string } | { facts: FactsV2 } {
  if (!isObject(request)) return { error: 'request must be a JSON object' };
  const values = REQUEST_FIELDS_V2.map((field) => own(request, field));
  for (let k = 0; k < values.length; k++) {
    // An own property set to undefined is present and not a string.
    if (hasOwn.call(request, REQUEST_FIELDS_V2[k] as string) && typeof values[k] !== 'string') {
      return { error: `field "${REQUEST_FIELDS_V2[k] as string}" must be a string` };
    }
  }
  for (let k = 0; k < values.length; k++) {
    const v = values[k] as string | undefined;
    if (v !== undefined && tooLong(v)) {
      return { error: `field "${REQUEST_FIELDS_V2[k] as string}" is longer than ${MAX_FIELD_LENGTH} characters` };
    }
  }
  const [action, server, serverType, serverSource, transport, tool, resource] = values as (string | undefined)[];
  const act = text(action) ?? 'invoke';
  if (!(ACTIONS_V2 as readonly string[]).includes(act)) return { error: `unknown action "${act}"` };
  const target = targetError(request);
  if (target !== undefined) return { error: target };

  const principal = own(request, 'principal');
  const hasPrincipal = principal !== null && hasOwn.call(request, 'principal');
  if (hasPrincipal) {
    if (!isObject(principal)) return { error: 'field "principal" must be an object' };
    const error = principalError(principal);
    if (error !== undefined) return { error };
  }
  const args = own(request, 'arguments');
  if (hasOwn.call(request, 'arguments') && args !== null && !isObject(args)) {
    return { error: 'field "arguments" must be an object' };
  }
  const annotations = own(request, 'annotations');
  if (hasOwn.call(request, 'annotations') && annotations !== null) {
    if (!isObject(annotations)) return { error: 'field "annotations" must be an object' };
    for (const hint of ANNOTATION_HINTS) {
      if (hasOwn.call(annotations, hint) && typeof annotations[hint] !== 'boolean') {
        return { error: `field "annotations.${hint}" must be a boolean` };
      }
    }
  }

  const who = hasPrincipal ? (principal as Record<string, unknown>) : undefined;
  const groups: string[] = [];
  const sentGroups = who === undefined ? undefined : (own(who, 'groups') as string[] | undefined);
  if (sentGroups !== undefined) {
    for (const g of sentGroups) {
      const t = text(g);
      if (t !== undefined) groups.push(t);
    }
  }
  const facts: FactsV2 = {
    action: act as Action,
    server: text(server),
    serverType: text(serverType),
    serverSource: text(serverSource),
    transport: text(transport),
    tool: text(tool),
    resource: text(resource),
    principal: who !== undefined,
    sub: who === undefined ? undefined : text(own(who, 'sub') as string | undefined),
    groups,
    claims: who === undefined ? undefined : (own(who, 'claims') as FactsV2['claims']),
    annotations: effectiveAnnotations(isObject(annotations) ? annotations : undefined),
    arguments: isObject(args) ? args : undefined,
  };
  return { facts };
}

function firstMatch(policy: Policy, facts: Facts): Decision {
  const index = planOf(policy).firstMatch(facts);
  if (index < 0) {
    return { allowed: policy.default === 'allow', reason: defaultReason(policy.default), rule: null };
  }
  const rule = policy.rules[index] as Rule;
  return { allowed: rule.allow, reason: rule.reason ?? ruleReason(index, rule.allow), rule: index };
}

/**
 * Decides one request against a validated policy and, when given, enterprise
 * directives (checked before any rule). Never throws.
 */
export function evaluatePolicy(policy: Policy, request: unknown, enterprise?: EnterpriseConfig): Decision {
  const read = policy.version === 2 ? readRequestV2(request) : readRequestV1(request);
  if ('error' in read) {
    return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: read.error };
  }
  if (!enterprise) return firstMatch(policy, read.facts);
  const fields = readEnterpriseFields(request as Record<string, unknown>);
  if ('error' in fields) {
    return { allowed: false, reason: INVALID_REQUEST_REASON, rule: null, error: fields.error };
  }
  const decision =
    directiveDenial(enterprise, fields.facts, read.facts.action, read.facts.serverType) ??
    firstMatch(policy, read.facts);
  const warning = degradedWarning(enterprise, fields.facts);
  return warning === undefined ? decision : { ...decision, warning };
}
