/**
 * The native evaluator: interprets the validated policy directly in
 * TypeScript. It shares no lowered form with the Rego generator, so a bug in
 * lowering shows up as a disagreement instead of hiding in both engines.
 */
import { defaultReason, INVALID_REQUEST_REASON, ruleReason } from '../contracts.js';
import {
  ACTIONS,
  type Action,
  type Decision,
  MAX_FIELD_LENGTH,
  type Policy,
  REQUEST_FIELDS,
  type Rule,
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

/** Checks a request's shape; returns the error text, or the facts to match on. */
export function readRequest(request: unknown): { error: string } | { facts: Facts } {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    return { error: 'request must be a JSON object' };
  }
  const r = request as Record<string, unknown>;
  for (const field of REQUEST_FIELDS) {
    if (Object.prototype.hasOwnProperty.call(r, field) && typeof r[field] !== 'string') {
      return { error: `field "${field}" must be a string` };
    }
  }
  for (const field of REQUEST_FIELDS) {
    const v = r[field] as string | undefined;
    if (v !== undefined && v.length > MAX_FIELD_LENGTH && codePoints(v) > MAX_FIELD_LENGTH) {
      return { error: `field "${field}" is longer than ${MAX_FIELD_LENGTH} characters` };
    }
  }
  const text = (field: (typeof REQUEST_FIELDS)[number]): string | undefined => {
    const v = r[field] as string | undefined;
    // Go's JSON decoder turns unpaired surrogates into U+FFFD; do the same so
    // every engine sees the same text.
    return v === undefined || v === '' ? undefined : v.isWellFormed() ? v : v.toWellFormed();
  };
  const action = text('action') ?? 'invoke';
  if (!(ACTIONS as readonly string[]).includes(action)) {
    // Quoted raw, not JSON-escaped: Rego builds the same text with concat.
    return { error: `unknown action "${action}"` };
  }
  // Every field is an own property (undefined when absent), so a polluted
  // Object.prototype cannot supply a missing one, and the object keeps one
  // shape, which the engine reads fast (a prototype-less object would not).
  const facts: Facts = {
    action: action as Action,
    server: text('server'),
    serverType: text('serverType'),
    serverSource: text('serverSource'),
    transport: text('transport'),
    tool: text('tool'),
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
