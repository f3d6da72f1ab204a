/**
 * Stage 2: lowering. Turns a validated policy into the shape the Rego emitter
 * prints: each rule as a list of conditions, `*` patterns split into literal
 * segments, rules grouped into short `else` chains. Nothing here is shared with
 * the native evaluator.
 */
import { defaultReason, ruleReason } from './contracts.js';
import { type Policy, type Rule } from './policy/model.js';

/** How many rules share one `else` chain. OPA's compiler is quadratic in chain length; short chains keep 10,000-rule policies compiling in seconds. */
export const RULES_PER_GROUP = 64;

/** A `*` pattern: a literal, or a prefix, ordered middle pieces and a suffix around stars. */
export type Pattern =
  | { readonly kind: 'literal'; readonly text: string }
  | {
      readonly kind: 'wildcard';
      readonly text: string;
      readonly prefix: string;
      /** Non-empty pieces between stars, to be found in order. */
      readonly middles: readonly string[];
      readonly suffix: string;
    };

/** One condition of a rule; all must hold. */
export type Condition =
  | { readonly kind: 'equals'; readonly field: 'action' | 'serverType' | 'transport'; readonly value: string }
  | { readonly kind: 'server'; readonly pattern: Pattern }
  | { readonly kind: 'source'; readonly pattern: Pattern }
  | { readonly kind: 'tools'; readonly patterns: readonly Pattern[] };

export interface LoweredRule {
  readonly index: number;
  readonly allowed: boolean;
  /** The reason the decision will carry. */
  readonly reason: string;
  /** The rule's own reason, for the comment; undefined when it has none. */
  readonly comment: string | undefined;
  readonly conditions: readonly Condition[];
}

export interface LoweredPolicy {
  /** Rules split into consecutive groups of at most {@link RULES_PER_GROUP}. */
  readonly groups: readonly (readonly LoweredRule[])[];
  readonly defaultDecision: { readonly allowed: boolean; readonly reason: string; readonly name: 'allow' | 'deny' };
  /** Patterns with two or more stars, which need a helper function, in first-use order. */
  readonly multiWildcards: readonly Pattern[];
}

/** Splits a `*` pattern into literal pieces. `**` is the same as `*`. */
export function parsePattern(text: string): Pattern {
  const pieces = text.split('*');
  if (pieces.length === 1) return { kind: 'literal', text };
  return {
    kind: 'wildcard',
    text,
    prefix: pieces[0] ?? '',
    middles: pieces.slice(1, -1).filter((p) => p !== ''),
    suffix: pieces[pieces.length - 1] ?? '',
  };
}

function lowerRule(rule: Rule, index: number): LoweredRule {
  const conditions: Condition[] = [];
  if (rule.action !== undefined) conditions.push({ kind: 'equals', field: 'action', value: rule.action });
  if (rule.serverType !== undefined) conditions.push({ kind: 'equals', field: 'serverType', value: rule.serverType });
  if (rule.transport !== undefined) conditions.push({ kind: 'equals', field: 'transport', value: rule.transport });
  if (rule.server !== undefined) conditions.push({ kind: 'server', pattern: parsePattern(rule.server) });
  if (rule.serverSource !== undefined) conditions.push({ kind: 'source', pattern: parsePattern(rule.serverSource) });
  if (rule.tools !== undefined) conditions.push({ kind: 'tools', patterns: rule.tools.map(parsePattern) });
  return {
    index,
    allowed: rule.allow,
    reason: rule.reason ?? ruleReason(index, rule.allow),
    comment: rule.reason,
    conditions,
  };
}

/** Lowers a validated policy. Pure: the same policy always lowers the same way. */
export function lower(policy: Policy): LoweredPolicy {
  const rules = policy.rules.map(lowerRule);
  const groups: LoweredRule[][] = [];
  for (let k = 0; k < rules.length; k += RULES_PER_GROUP) groups.push(rules.slice(k, k + RULES_PER_GROUP));
  const multi = new Map<string, Pattern>();
  const note = (p: Pattern): void => {
    if (p.kind === 'wildcard' && p.middles.length > 0 && !multi.has(p.text)) multi.set(p.text, p);
  };
  for (const rule of rules) {
    for (const c of rule.conditions) {
      if (c.kind === 'server' || c.kind === 'source') note(c.pattern);
      if (c.kind === 'tools') c.patterns.forEach(note);
    }
  }
  return {
    groups,
    defaultDecision: {
      allowed: policy.default === 'allow',
      reason: defaultReason(policy.default),
      name: policy.default,
    },
    multiWildcards: [...multi.values()],
  };
}
