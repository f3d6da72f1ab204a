/**
 * `mcp-policy lint <policy>`: findings with codes, pointers and witnesses;
 * exit 1 on an error-level one, or with `--deny-warnings` on any warning.
 * `--ignore` drops findings by code, as Cedar's and linters' own flags do.
 */
import { type Command } from 'commander';
import { LINT_CODES, type LintCode, lintPolicy } from '../analysis/lint.js';
import { McpPolicyError } from '../core/errors.js';
import { suggest } from '../diagnostics/report.js';
import { ExitError } from './exit.js';
import { addFormatOptions, type CliIo, type FormatFlags, formatOf, loadPolicy } from './io.js';

/** Checks an `--ignore` value: every code must be one lint reports, so a typo cannot silence nothing. */
function lintCode(value: string, previous: LintCode[] = []): LintCode[] {
  const codes = value.split(',').filter((c) => c !== '');
  for (const code of codes) {
    if (!(LINT_CODES as readonly string[]).includes(code)) {
      const close = suggest(code, LINT_CODES);
      throw new McpPolicyError(
        'usage',
        `--ignore: unknown lint code "${code}"; ${close !== undefined ? `did you mean "${close}"?` : `expected one of ${LINT_CODES.join(', ')}`}`,
      );
    }
  }
  return [...previous, ...(codes as LintCode[])];
}

/** Registers `lint`. */
export function registerLint(program: Command, io: CliIo): void {
  const command = program
    .command('lint')
    .description('find rules that never decide, change nothing or block tools (exit 1 on an error-level finding)')
    .argument('<policy>', 'policy or Docker admin-settings.json (JSON or YAML)')
    // Repeated or comma-separated rather than variadic, so a following policy file is never read as a code.
    .option('--ignore <codes>', 'leave out findings with these codes (comma-separated; may be repeated)', lintCode)
    .option('--deny-warnings', 'exit 1 on any warning that is not ignored, too');
  addFormatOptions(command).action(
    async (file: string, opts: FormatFlags & { ignore?: LintCode[]; denyWarnings?: boolean }) => {
      const all = lintPolicy(await loadPolicy(file, io));
      const ignored = new Set(opts.ignore ?? []);
      const findings = all.findings.filter((f) => !ignored.has(f.code));
      const errors = findings.filter((f) => f.severity === 'error').length;
      const warnings = findings.length - errors;
      const left = all.findings.length - findings.length;
      if (formatOf(opts) === 'json') {
        io.stdout(`${JSON.stringify({ findings, errors, warnings, ignored: left }, null, 2)}\n`);
      } else {
        for (const f of findings) {
          const witness = f.witness ? `\n  e.g. ${JSON.stringify(f.witness)}` : '';
          io.stdout(`${file}: ${f.severity}: ${f.path}: ${f.message} (${f.code})${witness}\n`);
        }
        const note = left > 0 ? `, ${left} ignored` : '';
        io.stdout(`${file}: ${errors} errors, ${warnings} warnings${note}\n`);
      }
      if (errors > 0 || (opts.denyWarnings && warnings > 0)) throw new ExitError(1);
    },
  );
}
