/**
 * `explainDecision`: a request walked through a policy rule by rule, with the
 * field that failed for each rule that did not match (and the canonical image
 * forms a `serverSource` pattern was tried on), then the decision.
 */
import { evaluatePolicy, readRequest } from '../native/evaluate.js';
import { sourceForms, wildcardMatch } from '../native/match.js';
import { type Decision, type Policy, type Rule } from '../policy/model.js';

/** Why one field of a rule did not match. */
export interface FieldMismatch {
  readonly field: 'action' | 'server' | 'serverType' | 'serverSource' | 'transport' | 'tool';
  /** What the rule asks for: a value, a pattern, or the list of tool patterns. */
  readonly expected: string | readonly string[];
  /** The request's value; absent when the request has no such field. */
  readonly actual?: string;
  /** For `serverSource`: the forms of the request value the pattern was tried on. */
  readonly tried?: readonly string[];
  readonly message: string;
}

/** One rule, as the request met it. */
export interface RuleTrace {
  readonly rule: number;
  readonly matched: boolean;
  /** Every field that failed (empty when the rule matched). */
  readonly failed: readonly FieldMismatch[];
  /** True for the rule that decided; rules after it are shown but not consulted. */
  readonly decided: boolean;
}

/** The result of {@link explainDecision}. */
export interface Explanation {
  /** Set when the request is invalid: no rule is consulted. */
  readonly error?: string;
  readonly rules: readonly RuleTrace[];
  readonly decision: Decision;
}

function mismatches(rule: Rule, facts: Record<string, string | undefined>): FieldMismatch[] {
  const out: FieldMismatch[] = [];
  const quote = (v: string | undefined) => (v === undefined ? 'absent' : JSON.stringify(v));
  for (const field of ['action', 'serverType', 'transport'] as const) {
    const want = rule[field];
    if (want !== undefined && want !== facts[field]) {
      const actual = facts[field];
      out.push({
        field,
        expected: want,
        ...(actual !== undefined && { actual }),
        message: `${field} is ${quote(actual)}, rule needs ${JSON.stringify(want)}`,
      });
    }
  }
  if (rule.server !== undefined) {
    const actual = facts.server;
    if (actual === undefined || !wildcardMatch(rule.server, actual)) {
      out.push({
        field: 'server',
        expected: rule.server,
        ...(actual !== undefined && { actual }),
        message: `server ${quote(actual)} does not match ${JSON.stringify(rule.server)}`,
      });
    }
  }
  if (rule.serverSource !== undefined) {
    const actual = facts.serverSource;
    const tried = actual === undefined ? [] : sourceForms(actual);
    if (!tried.some((form) => wildcardMatch(rule.serverSource!, form))) {
      const forms = tried.length > 1 ? ` (nor its canonical image form ${JSON.stringify(tried[1])})` : '';
      out.push({
        field: 'serverSource',
        expected: rule.serverSource,
        ...(actual !== undefined && { actual, tried }),
        message: `serverSource ${quote(actual)}${forms} does not match ${JSON.stringify(rule.serverSource)}`,
      });
    }
  }
  if (rule.tools !== undefined) {
    const actual = facts.tool;
    if (actual === undefined || !rule.tools.some((t) => wildcardMatch(t, actual))) {
      out.push({
        field: 'tool',
        expected: rule.tools,
        ...(actual !== undefined && { actual }),
        message: `tool ${quote(actual)} matches none of ${JSON.stringify(rule.tools)}`,
      });
    }
  }
  return out;
}

/** Explains how a validated policy decides one request (native semantics, as every engine decides). */
export function explainDecision(policy: Policy, request: unknown): Explanation {
  const decision = evaluatePolicy(policy, request);
  const read = readRequest(request);
  if ('error' in read) return { error: read.error, rules: [], decision };
  const facts = read.facts as unknown as Record<string, string | undefined>;
  let decided = false;
  const rules = policy.rules.map((rule, i) => {
    const failed = mismatches(rule, facts);
    const matched = failed.length === 0;
    const first = matched && !decided;
    if (first) decided = true;
    return { rule: i, matched, failed, decided: first };
  });
  return { rules, decision };
}
