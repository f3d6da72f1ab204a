/** `mcp-policy eval [<policy-or-bundle>]`: decides requests from a file or standard input, one line each. */
import { type Command } from 'commander';
import { type EngineName } from '../engines/engine.js';
import { decideStream, openRequestFile } from '../engines/stream.js';
import { openSources } from '../host/sources.js';
import { addVerificationOptions } from './fleet-options.js';
import { addSourceOptions, type CliIo, engineOption, type SourceFlags, sourcesFrom, validOrExit } from './io.js';

/** Registers `eval`. */
export function registerEval(program: Command, io: CliIo): void {
  const command = program
    .command('eval')
    .description('decide requests (one JSON request, or JSON Lines) and print one decision per line')
    .argument('[policy-or-bundle]', 'policy JSON, admin-settings.json, bundle.tar.gz or policy.wasm')
    .option('-i, --input <file>', 'requests file (default: standard input)')
    .addOption(engineOption());
  addVerificationOptions(addSourceOptions(command)).action(
    async (file: string | undefined, opts: SourceFlags & { input?: string; engine: EngineName }) => {
      const fromStdin = opts.input === undefined || opts.input === '-';
      const fileInput = fromStdin ? undefined : await openRequestFile(opts.input as string);
      const engine = validOrExit(await openSources(sourcesFrom(file, opts)), io);
      try {
        const input = fileInput ?? io.stdinStream?.() ?? [await io.readStdin()];
        await decideStream(engine, input, io.sink ?? { write: (t) => io.stdout(t) }, {
          // A broken tool is a tool problem (exit 2), as a broken wasm module is, not a run of denials.
          check: () => {
            if (engine.toolError) throw engine.toolError;
          },
        });
      } finally {
        await engine.close();
      }
    },
  );
}
