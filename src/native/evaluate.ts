/**
 * The native evaluator: interprets the validated policy directly in
 * TypeScript. It shares no lowered form with the Rego generator, so a bug in
 * lowering shows up as a disagreement instead of hiding in both engines.
 */
import { defaultReason, INVALID_REQUEST_REASON, ruleReason } from '../contracts.js';
import { ACTIONS, type Action, type Decision, type Policy, REQUEST_FIELDS, type Rule } from '../policy/model.js';
import { degradedWarning, directiveDenial, readEnterpriseFields } from '../enterprise/effective.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { sourceForms, wildcardMatch } from './match.js';

/** The request after validation: only non-empty string fields, action defaulted. */
export interface Facts {
  action: Action;
  server?: string;
  serverType?: string;
  serverSource?: string;
  transport?: string;
  tool?: string;
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
  const text = (field: (typeof REQUEST_FIELDS)[number]): string | undefined => {
    const v = r[field] as string | undefined;
    // Go's JSON decoder turns unpaired surrogates into U+FFFD; do the same so
    // every engine sees the same text.
    return v === undefined || v === '' ? undefined : v.toWellFormed();
  };
  const action = text('action') ?? 'invoke';
  if (!(ACTIONS as readonly string[]).includes(action)) {
    // Quoted raw, not JSON-escaped: Rego builds the same text with concat.
    return { error: `unknown action "${action}"` };
  }
  // No prototype: a polluted Object.prototype must not supply a missing field.
  const facts = Object.assign(Object.create(null) as Facts, { action: action as Action });
  for (const field of ['server', 'serverType', 'serverSource', 'transport', 'tool'] as const) {
    const v = text(field);
    if (v !== undefined) facts[field] = v;
  }
  return { facts };
}

function ruleMatches(rule: Rule, facts: Facts): boolean {
  if (rule.action !== undefined && rule.action !== facts.action) return false;
  if (rule.serverType !== undefined && rule.serverType !== facts.serverType) return false;
  if (rule.transport !== undefined && rule.transport !== facts.transport) return false;
  if (rule.server !== undefined && (facts.server === undefined || !wildcardMatch(rule.server, facts.server))) {
    return false;
  }
  if (rule.serverSource !== undefined) {
    const source = facts.serverSource;
    const pattern = rule.serverSource;
    if (source === undefined || !sourceForms(source).some((form) => wildcardMatch(pattern, form))) return false;
  }
  if (rule.tools !== undefined) {
    const tool = facts.tool;
    if (tool === undefined || !rule.tools.some((pattern) => wildcardMatch(pattern, tool))) return false;
  }
  return true;
}

function firstMatch(policy: Policy, facts: Facts): Decision {
  const index = policy.rules.findIndex((rule) => ruleMatches(rule, facts));
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
