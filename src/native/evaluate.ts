/**
 * The native evaluator: interprets the validated policy directly in
 * TypeScript. It shares no lowered form with the Rego generator, so a bug in
 * lowering shows up as a disagreement instead of hiding in both engines.
 */
import { defaultReason, INVALID_REQUEST_REASON, ruleReason } from '../core/contracts.js';
import {
  ACTIONS,
  type Action,
  type Decision,
  MAX_FIELD_LENGTH,
  type Policy,
  REQUEST_FIELDS,
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

/** Checks a request's shape; returns the error text, or the facts to match on. */
export function readRequest(request: unknown): { error: string } | { facts: Facts } {
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
  const read = readRequest(request);
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
