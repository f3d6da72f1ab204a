/** `mcp-policy config <enterprise> [--local <file>]`: the effective enterprise configuration, each value with its source. */
import { type Command } from 'commander';
import { readJson, sortKeysDeep } from '../diagnostics/json.js';
import { type EngineName } from '../engines/engine.js';
import { type EffectiveConfig } from '../enterprise/model.js';
import { validateLocalSettings } from '../enterprise/validate.js';
import { openResolved, readSources } from '../host/sources.js';
import { readTextFile } from '../policy/file.js';
import { ExitError } from './exit.js';
import {
  addFormatOptions,
  type CliIo,
  engineOption,
  type FormatFlags,
  formatIssue,
  formatOf,
  validOrExit,
} from './io.js';

/** The effective configuration for people: one line per directive with its source, then what was overridden. */
export function configText(config: unknown): string {
  const c = sortKeysDeep(config) as Partial<EffectiveConfig>;
  const lines = Object.entries(c.directives ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, entry]) => `${key} = ${JSON.stringify(entry.value)} (${entry.source})`);
  for (const r of c.rejected ?? []) {
    lines.push(`rejected: ${r.key} = ${JSON.stringify(r.local)} locally; enforced ${JSON.stringify(r.value)}`);
  }
  const dm = c.degraded_mode;
  if (dm !== undefined) {
    const grace = dm.grace_period !== null ? `, grace period ${dm.grace_period}` : '';
    const message = dm.message !== null ? `, message ${JSON.stringify(dm.message)}` : '';
    lines.push(`degraded mode: ${dm.policy}${grace}${message}`);
  }
  return `${lines.join('\n')}\n`;
}

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
  const command = program
    .command('config')
    .description('print the effective enterprise configuration, each value with its source')
    .argument('<enterprise>', 'Stacklok enterprise config (YAML or JSON)')
    .option('-l, --local <file>', "the client's local settings (JSON: directive key to value)")
    .addOption(engineOption());
  addFormatOptions(command, 'json').action(
    async (file: string, opts: FormatFlags & { local?: string; engine: EngineName }) => {
      const resolved = validOrExit(await readSources({ enterprise: file }), io);
      const local = opts.local === undefined ? {} : await readLocal(opts.local, io);
      // The directives alone: no policy is in force, so there is no provenance to show.
      const { provenance: _none, ...extras } = resolved.kind === 'policy' ? resolved.extras : {};
      const engine = await openResolved(resolved.kind === 'policy' ? { ...resolved, extras } : resolved, {
        engine: opts.engine,
      });
      try {
        const config = await engine.config(local);
        io.stdout(
          formatOf(opts, 'json') === 'json' ? `${JSON.stringify(sortKeysDeep(config), null, 2)}\n` : configText(config),
        );
      } finally {
        await engine.close();
      }
    },
  );
}
