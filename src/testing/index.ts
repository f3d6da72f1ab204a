/**
 * mcp-policy/testing: the test machinery, kept out of the host API so that
 * hosts do not load fast-check. The differential campaign and its engines,
 * the case-table runner, and the generators behind both.
 */

/** Differential testing: the campaign behind `mcp-policy difftest`, and its engines. */
export { DIFF_ENGINES, type DiffEngine } from '../difftest/engines.js';
export { type DifftestOptions, type DifftestResult, type Mismatch, runDifftest } from '../difftest/run.js';
export { writeRegression } from '../difftest/regression.js';

/** Generators (fast-check arbitraries) of policies, enterprise configs, local settings and requests. */
export {
  enterpriseText,
  localSettings,
  policyText,
  rawPolicy,
  requestFor,
  withEnterpriseFields,
} from '../difftest/generators.js';

/** The case-table format used by `mcp-policy test`, and the one runner for it. */
export {
  type CaseFailure,
  type CaseFile,
  type CaseTableOptions,
  type CaseTableResult,
  checkDecision,
  parseCaseFile,
  runCaseTable,
} from './cases.js';
