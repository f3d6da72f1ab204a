/** `mcp-policy test <policy> <cases> [--engine …] [--coverage]`: a case table on every engine. */
import { type Command } from 'commander';
import { parseEngineList } from '../engines/engine.js';
import { readPolicyText } from '../host/sources.js';
import { readTextFile } from '../policy/file.js';
import { parseCaseFile, runCaseTable } from '../testing/cases.js';
import { renderCoverage } from './coverage.js';
import { ExitError } from './exit.js';
import { type CliIo, enginesOption, formatIssue } from './io.js';

/** Registers `test`. */
export function registerTest(program: Command, io: CliIo): void {
  program
    .command('test')
    .description('run a table of requests and expected decisions against a policy on every engine')
    .argument('<policy>', 'policy JSON or Docker admin-settings.json')
    .argument('<cases>', 'case table (see docs/cases.md)')
    .addOption(enginesOption('comma-separated engines, or "all" (adds go-wasm)', 'native,wasm,opa'))
    .option('--coverage', 'also report rules no case exercised and outcomes the table never saw')
    .action(async (policyFile: string, casesFile: string, opts: { engine: string; coverage?: boolean }) => {
      const engines = parseEngineList(opts.engine);
      const table = parseCaseFile(await readTextFile(casesFile), casesFile);
      const policyText = await readPolicyText(policyFile);
      const result = await runCaseTable(table, { engines, agree: true, policyText });
      if (result.invalid) {
        const file = result.invalid.source === 'policy' ? policyFile : casesFile;
        for (const e of result.invalid.errors) io.stderr(`${formatIssue(file, e)}\n`);
        throw new ExitError(1);
      }
      for (const f of result.failures) {
        const note = f.note !== undefined ? ` (${f.note})` : '';
        const engine = f.engine !== undefined ? ` [${f.engine}]` : '';
        io.stdout(`FAIL ${casesFile}: ${f.where}${note}${engine}: ${f.problems.join('; ')}\n`);
      }
      io.stdout(`${result.summary}\n`);
      if (opts.coverage) renderCoverage(table, policyText, io);
      if (result.failures.length > 0) throw new ExitError(1);
    });
}
