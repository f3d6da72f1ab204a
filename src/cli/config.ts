/** `mcp-policy config <enterprise> [--local <file>]`: the effective enterprise configuration, each value with its source. */
import { type Command } from 'commander';
import { readJson, sortKeysDeep } from '../diagnostics/json.js';
import { type EngineName } from '../engines/engine.js';
import { validateLocalSettings } from '../enterprise/validate.js';
import { openResolved, readSources } from '../host/sources.js';
import { readTextFile } from '../policy/file.js';
import { ExitError } from './exit.js';
import { type CliIo, engineOption, formatIssue, validOrExit } from './io.js';

async function readLocal(file: string, io: CliIo): Promise<Readonly<Record<string, unknown>>> {
  const doc = readJson(await readTextFile(file));
  const checked = doc.value === undefined ? undefined : validateLocalSettings(doc.value);
  const errors = [...doc.issues, ...(checked?.errors ?? [])];
  if (checked?.value === undefined || errors.length > 0) {
    for (const e of errors) io.stderr(`${formatIssue(file, e)}\n`);
    throw new ExitError(1);
  }
  return checked.value;
}

/** Registers `config`. */
export function registerConfig(program: Command, io: CliIo): void {
  program
    .command('config')
    .description('print the effective enterprise configuration, each value with its source')
    .argument('<enterprise>', 'Stacklok enterprise config (YAML or JSON)')
    .option('-l, --local <file>', "the client's local settings (JSON: directive key to value)")
    .addOption(engineOption())
    .action(async (file: string, opts: { local?: string; engine: EngineName }) => {
      const resolved = validOrExit(await readSources({ enterprise: file }), io);
      const local = opts.local === undefined ? {} : await readLocal(opts.local, io);
      // The directives alone: no policy is in force, so there is no provenance to show.
      const { provenance: _none, ...extras } = resolved.kind === 'policy' ? resolved.extras : {};
      const engine = await openResolved(resolved.kind === 'policy' ? { ...resolved, extras } : resolved, {
        engine: opts.engine,
      });
      try {
        io.stdout(`${JSON.stringify(sortKeysDeep(await engine.config(local)), null, 2)}\n`);
      } finally {
        await engine.close();
      }
    });
}
