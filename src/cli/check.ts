/** `mcp-policy check <file> [--json]`: validates a policy, admin-settings.json or enterprise config. */
import { type Command } from 'commander';
import { PolicyValidationError } from '../core/errors.js';
import { type Validation, validation } from '../core/validation.js';
import { readTextFile } from '../policy/file.js';
import { type AnyDocument, parseAnyDocument } from '../policy/any-document.js';
import { ExitError } from './exit.js';
import { addFormatOptions, type CliIo, type FormatFlags, formatIssue, formatOf } from './io.js';

/** What `check` reports: the issues, and a one-line summary as the value when the file is valid. */
type CheckResult = Validation<string>;

/** What a file is is decided by its shape (`documentKind`), never by its name. */
function checkText(text: string): CheckResult {
  const { value, errors, warnings } = parseAnyDocument(text, { dockerWarnings: true });
  return validation(value && summary(value), errors, warnings);
}

function summary(doc: AnyDocument): string {
  if (doc.kind === 'enterprise-config') {
    const { config } = doc;
    const dm = config.degradedMode ? `, degraded mode ${config.degradedMode.policy}` : '';
    return `valid enterprise config: ${Object.keys(config.directives).length} directives${dm}`;
  }
  const { policy } = doc.document;
  const kind = doc.kind === 'admin-settings' ? ' (admin-settings.json)' : '';
  return `valid${kind}: ${policy.rules.length} rules, default ${policy.default}`;
}

/** Registers `check`. */
export function registerCheck(program: Command, io: CliIo): void {
  const command = program
    .command('check')
    .description('validate a policy, admin-settings.json or enterprise config (exit 0 when valid, 1 when not)')
    .argument(
      '<file>',
      'policy or Docker admin-settings (JSON or YAML), or Stacklok enterprise config (YAML or JSON); told apart by their keys',
    );
  addFormatOptions(command).action(async (file: string, opts: FormatFlags) => {
    let result: CheckResult;
    try {
      const text = await readTextFile(file);
      result = checkText(text);
    } catch (e) {
      // A file that is not text is reported like any other invalid document.
      if (!(e instanceof PolicyValidationError)) throw e;
      result = validation<string>(undefined, e.issues);
    }
    const valid = result.value !== undefined;
    if (formatOf(opts) === 'json') {
      io.stdout(`${JSON.stringify({ valid, errors: result.errors, warnings: result.warnings }, null, 2)}\n`);
    } else {
      for (const e of result.errors) io.stderr(`${formatIssue(file, e)}\n`);
      for (const w of result.warnings) io.stderr(`${formatIssue(file, w, 'warning')}\n`);
      if (result.value !== undefined) io.stdout(`${file}: ${result.value}\n`);
    }
    if (!valid) throw new ExitError(1);
  });
}
