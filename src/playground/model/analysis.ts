/** The analysis panels: lint with witnesses, explain, coverage of the saved requests, diff against a baseline. */
import { tableCoverage } from '../../analysis/coverage.js';
import { diffPolicies, diffReport, type DiffResult } from '../../analysis/diff.js';
import { explainDecision, type Explanation } from '../../analysis/explain.js';
import { type LintFinding, lintPolicy } from '../../analysis/lint.js';
import { type Decision, type Policy } from '../../policy/model.js';
import { decideNative, type SavedRequest } from './requests.js';

/** Lint findings, each with the request that shows it (`witnessRequest`, the finding's `witness`). */
export interface LintView {
  findings: Array<LintFinding & { witnessRequest?: unknown }>;
  errors: number;
  warnings: number;
}

/** `mcp-policy lint`'s findings for the panel. */
export function lintView(policy: Policy): LintView {
  const r = lintPolicy(policy);
  return {
    findings: r.findings.map((f) => ({ ...f, ...(f.witness !== undefined && { witnessRequest: f.witness }) })),
    errors: r.errors,
    warnings: r.warnings,
  };
}

/** `mcp-policy explain --format json` for one request: every rule, matched or not, and the decision. */
export function explainView(policy: Policy, request: unknown): Explanation {
  return explainDecision(policy, request);
}

/** One saved request in the coverage table. */
export interface CoverageRequest {
  index: number;
  note?: string;
  decision: Decision;
  /** The deciding rule, `default`, or `invalid` for a request refused before any rule. */
  decidedBy: number | 'default' | 'invalid';
}

/** One rule's row in the coverage table. */
export interface CoverageRule {
  rule: number;
  /** Indexes of the saved requests this rule decided. */
  requests: number[];
  /** `exercised`, `not exercised` (reachable but no saved request reached it) or `unreachable` (shadowed). */
  status: 'exercised' | 'not exercised' | 'unreachable';
  /** Set when the rule has argument conditions not analysed exactly, so "not exercised" may mean unreachable. */
  inexact?: true;
}

/** Rules against saved requests, as `mcp-policy test --coverage` counts them. */
export interface CoverageView {
  requests: CoverageRequest[];
  rules: CoverageRule[];
  /** Saved requests the default decided. */
  byDefault: number[];
  /** Outcomes no saved request produced: `allow`, `deny`, `default`, `invalid request`. */
  unseen: string[];
}

/** Which rule decided each saved request, the rules none reached, the outcomes never seen. */
export function coverageView(policy: Policy, saved: readonly SavedRequest[]): CoverageView {
  const c = tableCoverage(
    policy,
    saved.map((s) => s.request),
  );
  const requests = saved.map((s, index): CoverageRequest => {
    const decision = decideNative(policy, s.request);
    const decidedBy = decision.error !== undefined ? 'invalid' : (decision.rule ?? 'default');
    return { index, ...(s.note !== undefined && { note: s.note }), decision, decidedBy };
  });
  const rules = policy.rules.map((_, rule): CoverageRule => {
    const status = c.unreachable.includes(rule)
      ? 'unreachable'
      : c.notExercised.includes(rule)
        ? 'not exercised'
        : 'exercised';
    return {
      rule,
      requests: requests.filter((r) => r.decidedBy === rule).map((r) => r.index),
      status,
      ...(c.inexact.includes(rule) && { inexact: true as const }),
    };
  });
  return {
    requests,
    rules,
    byDefault: requests.filter((r) => r.decidedBy === 'default').map((r) => r.index),
    unseen: [...c.unseen],
  };
}

/** What `mcp-policy diff --format json` prints for the two policies (without `--requests`). */
export function diffView(baseline: Policy, current: Policy): { diff: DiffResult } {
  return diffReport(diffPolicies(baseline, current));
}
