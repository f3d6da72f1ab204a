/**
 * mcp-policy/analysis: exact answers about a policy's decisions. Patterns are
 * regular languages, so every finding and difference is exact and comes with a
 * witness request that every engine decides as claimed (docs/analysis.md).
 */

/** Lint: shadowed and redundant rules, blocked tools, impossible combinations, one-decision policies. */
export { LINT_CODES, LINT_SEVERITY, type LintCode, type LintFinding, lintPolicy, type LintResult } from './lint.js';

/** Diff: the regions of requests two policy versions decide differently, and replay of recorded requests. */
export {
  type DiffChange,
  type DiffKind,
  diffPolicies,
  type DiffResult,
  type DiffSide,
  readRecordedRequests,
  type ReplayChange,
  replayRequests,
  type ReplayResult,
} from './diff.js';

/** Explain: a request walked through a policy rule by rule, with the failing field of each rule that did not match. */
export { explainDecision, type Explanation, type FieldMismatch, type RuleTrace } from './explain.js';

/** Coverage of a case table: rules no request exercised, outcomes never seen. */
export { type Coverage, tableCoverage } from './coverage.js';

/** Field constraints of a region of requests, as findings and differences describe them. */
export { type BoxDescription, type Condition, renderBox, renderCondition } from './region.js';
