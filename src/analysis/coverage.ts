/**
 * Coverage of a case table: which rules no request exercised, and which
 * outcomes (allow, deny, the default) the table never saw. Rules that can
 * never decide (shadowed) are told apart, since no table can exercise them.
 */
import { evaluatePolicy } from '../native/evaluate.js';
import { type Policy } from '../policy/model.js';
import { ruleRegions } from './first-match.js';
import { RequestSpace } from './region.js';

/** The result of {@link tableCoverage}. */
export interface Coverage {
  readonly requests: number;
  /** How many requests each rule decided, by rule index. */
  readonly decidedBy: readonly number[];
  /** Rules that decide some request but decided none of the table's. */
  readonly notExercised: readonly number[];
  /** Rules that can never decide (shadowed); no table can exercise them. */
  readonly unreachable: readonly number[];
  /**
   * Rules with argument conditions the analysis does not model exactly (a `*`
   * path, `normalize`, a path containing another's): when such a rule is not
   * exercised, it may still be one no request can reach.
   */
  readonly inexact: readonly number[];
  /** Requests the default decided. */
  readonly byDefault: number;
  /** Outcomes the table never saw: `allow`, `deny`, `default`, `invalid request`. */
  readonly unseen: readonly string[];
}

/** Decides a table's requests (native semantics) and reports what they covered. */
export function tableCoverage(policy: Policy, requests: readonly unknown[]): Coverage {
  const decidedBy = new Array<number>(policy.rules.length).fill(0);
  let byDefault = 0;
  let allowed = 0;
  let invalid = 0;
  for (const r of requests) {
    const d = evaluatePolicy(policy, r);
    if (d.allowed) allowed++;
    if (d.error !== undefined) invalid++;
    else if (d.rule === null) byDefault++;
    else decidedBy[d.rule]!++;
  }
  const space = new RequestSpace([policy]);
  const regions = ruleRegions(space, policy);
  const unreachable = regions.flatMap((r, i) => (r.decides.length === 0 ? [i] : []));
  const inexact = policy.rules.flatMap((rule, i) =>
    (rule.arguments ?? []).some((c) => space.opaqueOf(c) !== undefined) ? [i] : [],
  );
  const notExercised = decidedBy.flatMap((n, i) => (n === 0 && !unreachable.includes(i) ? [i] : []));
  const unseen: string[] = [];
  if (allowed === 0) unseen.push('allow');
  if (allowed === requests.length) unseen.push('deny');
  if (byDefault === 0) unseen.push('default');
  if (invalid === 0) unseen.push('invalid request');
  return { requests: requests.length, decidedBy, notExercised, unreachable, inexact, byDefault, unseen };
}
