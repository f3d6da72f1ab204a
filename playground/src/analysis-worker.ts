/**
 * The playground's analysis off the page's main thread: check, lint,
 * coverage of the saved requests and diff against the baseline. Lint of a
 * policy of a thousand rules takes seconds; here it never delays a keystroke.
 */
import { checkDocument, type CheckedDocument } from '../../src/playground/model/documents.js';
import { coverageView, diffView, lintView, type LintView } from '../../src/playground/model/analysis.js';
import type { AnalysisJob, AnalysisResult, DiffOutcome } from './analysis-protocol.js';

// Saving a request or editing the baseline reanalyses an unchanged policy, so the costly parts are kept by text.
let lastText: { text: string; checked: CheckedDocument; lint?: LintView } | undefined;
let lastBaseline: { text: string; checked: CheckedDocument } | undefined;
let lastDiff: { baseline: string; text: string; diff: DiffOutcome } | undefined;

function analyse(job: AnalysisJob): AnalysisResult {
  if (lastText?.text !== job.text) {
    const checked = checkDocument(job.text);
    lastText = { text: job.text, checked, ...(checked.policy && { lint: lintView(checked.policy) }) };
  }
  const { checked, lint } = lastText;
  const coverage = checked.policy
    ? coverageView(
        checked.policy,
        job.requests.map((request) => ({ request })),
      )
    : undefined;
  return { id: job.id, checked, ...(lint && { lint }), ...(coverage && { coverage }), diff: diffOf(job, checked) };
}

function diffOf(job: AnalysisJob, checked: CheckedDocument): DiffOutcome {
  if (job.baseline.trim() === '') return { kind: 'no-baseline' };
  if (lastDiff?.baseline === job.baseline && lastDiff.text === job.text) return lastDiff.diff;
  if (lastBaseline?.text !== job.baseline) lastBaseline = { text: job.baseline, checked: checkDocument(job.baseline) };
  const base = lastBaseline.checked;
  const diff: DiffOutcome = !base.policy
    ? { kind: 'baseline-errors', errors: base.diagnostics.filter((d) => d.severity === 'error') }
    : !checked.policy
      ? { kind: 'no-policy' }
      : { kind: 'result', diff: diffView(base.policy, checked.policy).diff };
  lastDiff = { baseline: job.baseline, text: job.text, diff };
  return diff;
}

self.onmessage = (event: MessageEvent<AnalysisJob>) => {
  let result: AnalysisResult;
  try {
    result = analyse(event.data);
  } catch (e) {
    // The page shows the failure instead of waiting for an answer that never comes.
    result = { id: event.data.id, failure: e instanceof Error ? e.message : String(e) };
  }
  self.postMessage(result);
};
