/**
 * `mcp-policy eval [<policy-or-bundle>]`: decides requests from a file or
 * standard input, one line each; with `--fail-on-deny`, exit 3 when any was
 * denied, so a shell can branch on the decision as with `opa eval --fail`.
 */
import { type Command } from 'commander';
import { type EngineName } from '../engines/engine.js';
import { decideStream, decisionLine, openRequestFile } from '../engines/stream.js';
import { type Decision } from '../policy/model.js';
import { ExitError } from './exit.js';
import { openSources } from '../host/sources.js';
import { addVerificationOptions } from './fleet-options.js';
import {
  addFormatOptions,
  addSourceOptions,
  type CliIo,
  engineOption,
  type FormatFlags,
  formatOf,
  type SourceFlags,
  sourcesFrom,
  validOrExit,
} from './io.js';

/** The exit code of `--fail-on-deny` when a request was denied: apart from 1 (invalid) and 2 (usage or tool). */
export const DENIED_EXIT = 3;

/** One decision for people: `allow|deny`, the deciding rule or the default, the reason, and any error. */
export function decisionText(d: Decision): string {
  const who = d.rule === null ? 'default' : `rule ${d.rule}`;
  const extra = [
    ...(d.directive !== undefined ? [`directive ${d.directive}`] : []),
    ...(d.warning !== undefined ? [`warning: ${d.warning}`] : []),
    ...(d.error !== undefined ? [`error: ${d.error}`] : []),
  ];
  return `${d.allowed ? 'allow' : 'deny'} (${who}): ${d.reason}${extra.length > 0 ? ` [${extra.join('; ')}]` : ''}`;
}

/** Registers `eval`. */
export function registerEval(program: Command, io: CliIo): void {
  const command = program
    .command('eval')
    .description('decide requests (one JSON request, or JSON Lines) and print one decision per line')
    .argument('[policy-or-bundle]', 'policy (JSON or YAML), admin-settings.json, bundle.tar.gz or policy.wasm')
    .option('-i, --input <file>', 'requests file (default: standard input)')
    .option('--fail-on-deny', `exit ${DENIED_EXIT} when any request is denied (after printing every decision)`)
    .addOption(engineOption());
  addFormatOptions(command, 'json');
  addVerificationOptions(addSourceOptions(command)).action(
    async (
      file: string | undefined,
      opts: SourceFlags & FormatFlags & { input?: string; engine: EngineName; failOnDeny?: boolean },
    ) => {
      const render = formatOf(opts, 'json') === 'json' ? decisionLine : decisionText;
      let denied = false;
      const fromStdin = opts.input === undefined || opts.input === '-';
      const fileInput = fromStdin ? undefined : await openRequestFile(opts.input as string);
      const engine = validOrExit(await openSources(sourcesFrom(file, opts)), io);
      try {
        const input = fileInput ?? io.stdinStream?.() ?? [await io.readStdin()];
        await decideStream(engine, input, io.sink ?? { write: (t) => io.stdout(t) }, {
          format: (d) => {
            if (!d.allowed) denied = true;
            return render(d);
          },
          // A broken tool is a tool problem (exit 2), as a broken wasm module is, not a run of denials.
          check: () => {
            if (engine.toolError) throw engine.toolError;
          },
        });
      } finally {
        await engine.close();
      }
      if (opts.failOnDeny && denied) throw new ExitError(DENIED_EXIT);
    },
  );
}
