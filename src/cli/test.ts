/** `mcp-policy test <policy> <cases> [--engine …] [--coverage]`: a case table on every engine. */
import { type Command } from 'commander';
import { McpPolicyError } from '../core/errors.js';
import { parseEngineList } from '../engines/engine.js';
import { decisionLine } from '../engines/stream.js';
import { openResolved, readPolicyText, readSources, type ResolvedSources } from '../host/sources.js';
import { type Decision } from '../policy/model.js';
import { readTextFile } from '../policy/file.js';
import {
  type CaseFailure,
  type CaseFile,
  caseEnterpriseText,
  casePolicyText,
  parseCaseFile,
  runCaseTable,
} from '../testing/cases.js';
import { coverageOf, renderCoverage } from './coverage.js';
import { ExitError } from './exit.js';
import { addFormatOptions, type CliIo, enginesOption, type FormatFlags, formatIssue, formatOf } from './io.js';

/** An answer as one line: a decision in `eval`'s key order, anything else (a configuration) as JSON. */
function answer(value: unknown): string {
  const d = value as Decision | undefined;
  return typeof d?.allowed === 'boolean' && 'rule' in d ? decisionLine(d) : JSON.stringify(value);
}

/** One failure for people: where, which engines, what differed, then the expected and the actual answer. */
export function failureText(file: string, f: CaseFailure): string {
  const note = f.note !== undefined ? ` (${f.note})` : '';
  const engines = f.engines !== undefined ? ` [${f.engines.join(', ')}]` : '';
  const lines = [`FAIL ${file}: ${f.where}${note}${engines}: ${f.problems.join('; ')}`];
  if (f.expected !== undefined) lines.push(`  expected: ${JSON.stringify(f.expected)}`);
  if (f.actual !== undefined) lines.push(`  actual:   ${answer(f.actual)}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The compiled bundle `file` is, or undefined for a policy file. A bundle
 * needs no opa; it takes a table without a policy or enterprise config of its
 * own, and no `--coverage`, which reads the policy's rules.
 */
async function compiledSource(file: string, table: CaseFile, coverage: boolean): Promise<ResolvedSources | undefined> {
  const read = await readSources({ file });
  if (read.value?.kind !== 'bundle') return undefined;
  if (casePolicyText(table) !== undefined || caseEnterpriseText(table) !== undefined) {
    throw new McpPolicyError(
      'usage',
      `${file} is a compiled bundle, but the case table carries its own policy or enterprise config; give one or the other`,
    );
  }
  if (coverage) {
    throw new McpPolicyError('usage', `--coverage reads the policy's rules; give its JSON file, not ${file}`);
  }
  return read.value;
}

/** Registers `test`. */
export function registerTest(program: Command, io: CliIo): void {
  const command = program
    .command('test')
    .description('run a table of requests and expected decisions against a policy on every engine')
    .argument('<policy>', 'policy JSON, Docker admin-settings.json, or a compiled bundle (decided by wasm)')
    .argument('<cases>', 'case table (see docs/cases.md)')
    .addOption(enginesOption('comma-separated engines, or "all" (adds go-wasm)', 'native,wasm,opa'))
    .option('--coverage', 'also report rules no case exercised and outcomes the table never saw');
  addFormatOptions(command).action(
    async (policyFile: string, casesFile: string, opts: FormatFlags & { engine: string; coverage?: boolean }) => {
      const json = formatOf(opts) === 'json';
      const table = parseCaseFile(await readTextFile(casesFile), casesFile);
      const bundle = await compiledSource(policyFile, table, opts.coverage === true);
      // A bundle runs on wasm only, so unless engines are named the default list becomes that one.
      const engines =
        bundle !== undefined && command.getOptionValueSource('engine') === 'default'
          ? (['wasm'] as const)
          : parseEngineList(opts.engine);
      const policyText = bundle === undefined ? await readPolicyText(policyFile) : undefined;
      const result = await runCaseTable(table, {
        engines,
        agree: true,
        ...(bundle === undefined ? { policyText } : { compiled: (name) => openResolved(bundle, { engine: name }) }),
      });
      if (result.invalid) {
        const file = result.invalid.source === 'policy' ? policyFile : casesFile;
        const errors = result.invalid.errors.map((e) => ({ file, ...e }));
        if (json) io.stdout(`${JSON.stringify({ passed: false, summary: result.summary, errors }, null, 2)}\n`);
        else for (const e of errors) io.stderr(`${formatIssue(file, e)}\n`);
        throw new ExitError(1);
      }
      const coverage = opts.coverage && policyText !== undefined ? coverageOf(table, policyText) : undefined;
      if (json) {
        const { failures, skipped, summary } = result;
        const passed = failures.length === 0;
        const out = { passed, summary, engines, skipped, failures, ...(coverage !== undefined && { coverage }) };
        io.stdout(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        for (const f of result.failures) io.stdout(failureText(casesFile, f));
        io.stdout(`${result.summary}\n`);
        if (opts.coverage && policyText !== undefined) renderCoverage(table, policyText, io);
      }
      if (result.failures.length > 0) throw new ExitError(1);
    },
  );
}
