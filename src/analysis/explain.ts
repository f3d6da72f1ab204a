/**
 * `explainDecision`: a request walked through a policy rule by rule, with the
 * field that failed for each rule that did not match (and the canonical image
 * forms a `serverSource` pattern was tried on; for version 2, the principal's
 * values, each hint's effective value and whether it was the default, and
 * what each argument condition found), then the decision.
 */
import { evaluatePolicy, readRequest } from '../native/evaluate.js';
import { sourceForms, wildcardMatch } from '../native/match.js';
import {
  ANNOTATION_HINTS,
  type AnnotationHint,
  type ArgumentCondition,
  type Decision,
  type Policy,
  type Rule,
} from '../policy/model.js';
import { cleanPath, conditionHolds, effectiveAnnotations, field, principalFacts } from './conditions.js';
import { argumentConditionText } from './region.js';

/** Why one field (or one version 2 condition) of a rule did not match. */
export interface FieldMismatch {
  readonly field:
    | 'action'
    | 'server'
    | 'serverType'
    | 'serverSource'
    | 'transport'
    | 'tool'
    | 'resource'
    | 'users'
    | 'groups'
    | 'claims'
    | 'annotations'
    | 'arguments';
  /** What the rule asks for: a value, a pattern, a list of patterns, a hint's value or an argument condition. */
  readonly expected: string | readonly string[] | boolean | ArgumentCondition;
  /** The request's value (for `groups` and `claims`, the values); absent when the request has no such field. */
  readonly actual?: string | readonly string[] | boolean;
  /** For `serverSource`: the forms of the request value the pattern was tried on. */
  readonly tried?: readonly string[];
  /** For `claims`: the claim's name. */
  readonly claim?: string;
  /** For `annotations`: the hint, and whether the request declared it (else `actual` is the default). */
  readonly hint?: AnnotationHint;
  readonly declared?: boolean;
  /** For `arguments`: the condition's index in the rule, and every value found at its path (none: nothing found). */
  readonly condition?: number;
  readonly found?: readonly unknown[];
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

function v2Mismatches(rule: Rule, request: unknown): FieldMismatch[] {
  const out: FieldMismatch[] = [];
  const quote = (v: string | undefined) => (v === undefined ? 'absent' : JSON.stringify(v));
  const some = (patterns: readonly string[], values: readonly string[]) =>
    values.some((v) => patterns.some((p) => wildcardMatch(p, v)));
  if (rule.resources !== undefined) {
    const actual = field(request, 'resource');
    if (actual === undefined || !some(rule.resources, [actual])) {
      out.push({
        field: 'resource',
        expected: rule.resources,
        ...(actual !== undefined && { actual }),
        message: `resource ${quote(actual)} matches none of ${JSON.stringify(rule.resources)}`,
      });
    }
  }
  const who = principalFacts(request);
  if (rule.users !== undefined && (who.sub === undefined || !some(rule.users, [who.sub]))) {
    out.push({
      field: 'users',
      expected: rule.users,
      ...(who.sub !== undefined && { actual: who.sub }),
      message: `principal.sub ${quote(who.sub)} matches none of ${JSON.stringify(rule.users)}`,
    });
  }
  if (rule.groups !== undefined && !some(rule.groups, who.groups)) {
    const what = who.groups.length === 0 ? 'the principal has no groups' : `no group of ${JSON.stringify(who.groups)}`;
    out.push({
      field: 'groups',
      expected: rule.groups,
      actual: who.groups,
      message: `${what} ${who.groups.length === 0 ? 'to match' : 'matches'} ${JSON.stringify(rule.groups)}`,
    });
  }
  for (const name of Object.keys(rule.claims ?? {})) {
    const patterns = rule.claims![name]!;
    const values = who.claims.get(name) ?? [];
    if (some(patterns, values)) continue;
    const what = values.length === 0 ? 'is absent' : `${JSON.stringify(values)} matches none of`;
    out.push({
      field: 'claims',
      claim: name,
      expected: patterns,
      actual: values,
      message: `claim ${JSON.stringify(name)} ${what}${values.length === 0 ? `, rule needs one of ${JSON.stringify(patterns)}` : ` ${JSON.stringify(patterns)}`}`,
    });
  }
  if (rule.annotations !== undefined) {
    const eff = effectiveAnnotations((request as { annotations?: unknown }).annotations);
    for (const h of ANNOTATION_HINTS) {
      const want = rule.annotations[h];
      if (want === undefined || eff[h].value === want) continue;
      const how = eff[h].declared
        ? 'declared'
        : h === 'destructiveHint' && !eff[h].value
          ? 'not declared; false because readOnlyHint is true'
          : "not declared: MCP's default";
      out.push({
        field: 'annotations',
        hint: h,
        expected: want,
        actual: eff[h].value,
        declared: eff[h].declared,
        message: `${h} is ${eff[h].value} (${how}), rule needs ${want}`,
      });
    }
  }
  const args = (request as { arguments?: unknown }).arguments;
  (rule.arguments ?? []).forEach((c, k) => {
    const { holds, found } = conditionHolds(c, args);
    if (holds) return;
    let seen: string;
    if (found.length === 0) seen = `nothing found at ${JSON.stringify(c.path)}`;
    else {
      const shown = found.slice(0, 5).map((v) => {
        const cleaned = c.normalize === 'path' && typeof v === 'string' ? cleanPath(v) : undefined;
        const text = JSON.stringify(v);
        return cleaned !== undefined && cleaned !== v ? `${text} (cleaned: ${JSON.stringify(cleaned)})` : text;
      });
      seen = `found ${shown.join(', ')}${found.length > 5 ? ` and ${found.length - 5} more` : ''}`;
    }
    out.push({
      field: 'arguments',
      condition: k,
      expected: c,
      found,
      message: `argument condition ${k} (${argumentConditionText(c)}) fails: ${seen}`,
    });
  });
  return out;
}

/** Explains how a validated policy decides one request (native semantics, as every engine decides). */
export function explainDecision(policy: Policy, request: unknown): Explanation {
  const decision = evaluatePolicy(policy, request);
  const read = readRequest(request, policy.version);
  if ('error' in read) return { error: read.error, rules: [], decision };
  const facts = read.facts as unknown as Record<string, string | undefined>;
  let decided = false;
  const rules = policy.rules.map((rule, i) => {
    const failed =
      policy.version === 2 ? [...mismatches(rule, facts), ...v2Mismatches(rule, request)] : mismatches(rule, facts);
    const matched = failed.length === 0;
    const first = matched && !decided;
    if (first) decided = true;
    return { rule: i, matched, failed, decided: first };
  });
  return { rules, decision };
}
