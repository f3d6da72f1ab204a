/** `mcp-policy lint <policy> [--json]`: findings with codes, pointers and witnesses; exit 1 on an error-level one. */
import { type Command } from 'commander';
import { lintPolicy } from '../analysis/lint.js';
import { ExitError } from './exit.js';
import { type CliIo, loadPolicy } from './io.js';

/** Registers `lint`. */
export function registerLint(program: Command, io: CliIo): void {
  program
    .command('lint')
    .description('find rules that never decide, change nothing or block tools (exit 1 on an error-level finding)')
    .argument('<policy>', 'policy JSON or Docker admin-settings.json')
    .option('--json', 'print {"findings", "errors", "warnings"} as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const result = lintPolicy(await loadPolicy(file, io));
      if (opts.json) {
        io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        for (const f of result.findings) {
          const witness = f.witness ? `\n  e.g. ${JSON.stringify(f.witness)}` : '';
          io.stdout(`${file}: ${f.severity}: ${f.path}: ${f.message} (${f.code})${witness}\n`);
        }
        io.stdout(`${file}: ${result.errors} errors, ${result.warnings} warnings\n`);
      }
      if (result.errors > 0) throw new ExitError(1);
    });
}
