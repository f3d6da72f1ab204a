/** `mcp-policy test --coverage`: which rules the table never exercised and which outcomes it never saw. */
import { type Coverage, tableCoverage } from '../analysis/coverage.js';
import { type CaseFile, casePolicyText } from '../testing/cases.js';
import { parsePolicy } from '../policy/validate.js';
import { type CliIo } from './io.js';

/** What a table covers of its policy, with the policy's rule count; undefined when there is nothing to cover. */
export function coverageOf(table: CaseFile, policyText: string): (Coverage & { rules: number }) | undefined {
  const policy = parsePolicy(casePolicyText(table) ?? policyText).value?.policy;
  if (!policy || table.requests === undefined) return undefined;
  const c = tableCoverage(
    policy,
    table.requests.map((r) => r.request),
  );
  return { ...c, rules: policy.rules.length };
}

/** Prints {@link coverageOf} for people. */
export function renderCoverage(table: CaseFile, policyText: string, io: CliIo): void {
  const c = coverageOf(table, policyText);
  if (c === undefined) return;
  const exercised = c.rules - c.notExercised.length - c.unreachable.length;
  io.stdout(
    `coverage: ${exercised}/${c.rules - c.unreachable.length} reachable rules exercised, ${c.byDefault} requests decided by the default\n`,
  );
  for (const i of c.notExercised) {
    const maybe = c.inexact.includes(i)
      ? ' (it has argument conditions not analysed exactly, so it may also be one no request reaches)'
      : '';
    io.stdout(`coverage: rule ${i} was not exercised by any case${maybe}\n`);
  }
  for (const i of c.unreachable)
    io.stdout(`coverage: rule ${i} can never decide (shadowed), so no case can exercise it\n`);
  if (c.unseen.length > 0) io.stdout(`coverage: the table never saw: ${c.unseen.join(', ')}\n`);
}
