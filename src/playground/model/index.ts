/**
 * The playground's model, shared by the browser app and the local server:
 * checking documents, admin-settings, trying requests and the analysis
 * panels. Imports no Node built-in (a test bundles it for the browser).
 */
export { type CheckedDocument, checkDocument, type DocumentKind, type PlaygroundDiagnostic } from './documents.js';
export { innerPolicyText, toAdminSettings } from './admin-settings.js';
export { decideNative, requestTemplate, type SavedRequest, toCaseTable } from './requests.js';
export {
  type CoverageRequest,
  type CoverageRule,
  type CoverageView,
  coverageView,
  diffView,
  explainView,
  type LintView,
  lintView,
} from './analysis.js';
export { type Decision, type Policy } from '../../policy/model.js';
export { type Explanation } from '../../analysis/explain.js';
