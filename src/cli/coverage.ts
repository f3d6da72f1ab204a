/** `mcp-policy test --coverage`: which rules the table never exercised and which outcomes it never saw. */
import { tableCoverage } from '../analysis/coverage.js';
import { type CaseFile, casePolicyText } from '../testing/cases.js';
import { parsePolicy } from '../policy/validate.js';
import { type CliIo } from './io.js';

export function renderCoverage(table: CaseFile, policyText: string, io: CliIo): void {
  const policy = parsePolicy(casePolicyText(table) ?? policyText).value?.policy;
  if (!policy || table.requests === undefined) return;
  const c = tableCoverage(
    policy,
    table.requests.map((r) => r.request),
  );
  const exercised = policy.rules.length - c.notExercised.length - c.unreachable.length;
  io.stdout(
    `coverage: ${exercised}/${policy.rules.length - c.unreachable.length} reachable rules exercised, ${c.byDefault} requests decided by the default\n`,
  );
  for (const i of c.notExercised) io.stdout(`coverage: rule ${i} was not exercised by any case\n`);
  for (const i of c.unreachable)
    io.stdout(`coverage: rule ${i} can never decide (shadowed), so no case can exercise it\n`);
  if (c.unseen.length > 0) io.stdout(`coverage: the table never saw: ${c.unseen.join(', ')}\n`);
}
