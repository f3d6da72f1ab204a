/** The messages between the page and its analysis worker. */
import type { DiffResult } from '../../src/analysis/diff.js';
import type { CheckedDocument, PlaygroundDiagnostic } from '../../src/playground/model/documents.js';
import type { CoverageView, LintView } from '../../src/playground/model/analysis.js';

/** Everything one analysis needs: the editor text, the baseline text and the saved requests. */
export interface AnalysisJob {
  id: number;
  text: string;
  baseline: string;
  requests: unknown[];
}

/** The diff panel's content for a job. */
export type DiffOutcome =
  | { kind: 'no-baseline' }
  | { kind: 'baseline-errors'; errors: PlaygroundDiagnostic[] }
  | { kind: 'no-policy' }
  | { kind: 'result'; diff: DiffResult };

/** The worker's answer to the job with the same `id`; `lint` and `coverage` only for a valid policy. */
export type AnalysisResult =
  | { id: number; checked: CheckedDocument; lint?: LintView; coverage?: CoverageView; diff: DiffOutcome }
  | { id: number; failure: string };
