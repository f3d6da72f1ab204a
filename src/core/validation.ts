/**
 * The one shape every check of a document reports in: policies, enterprise
 * configs, `check`'s summary, a case table's sources and the policy sources of
 * a host. A value only when there are no errors; warnings either way.
 */
import { type Issue } from './errors.js';

/**
 * The outcome of validating something: `value` is set exactly when `errors`
 * is empty. `I` lets callers that read several files attach each issue's
 * file (see `SourceIssue` in host/sources.ts).
 */
export interface Validation<T, I extends Issue = Issue> {
  readonly value: T | undefined;
  readonly errors: readonly I[];
  readonly warnings: readonly I[];
}

/** A validation with `value` dropped when there are errors, so the invariant holds by construction. */
export function validation<T, I extends Issue = Issue>(
  value: T | undefined,
  errors: readonly I[],
  warnings: readonly I[] = [],
): Validation<T, I> {
  return { value: errors.length === 0 ? value : undefined, errors, warnings };
}
