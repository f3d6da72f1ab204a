/** `mcp-policy compile [<policy>] [-o <dir>]`: Rego and a WebAssembly bundle from the sources. */
import { basename, extname, join } from 'node:path';
import { type Command } from 'commander';
import { McpPolicyError } from '../core/errors.js';
import { readSources } from '../host/sources.js';
import { compilePolicy, writeOutput } from '../pipeline/build.js';
import { readEmbeddableCases } from '../testing/cases.js';
import { addSigningOptions, opaConfigFrom, type SigningFlags, signingFrom } from './fleet-options.js';
import {
  addFormatOptions,
  addSourceOptions,
  type CliIo,
  type FormatFlags,
  formatOf,
  type SourceFlags,
  sourcesFrom,
  validOrExit,
} from './io.js';

const OUTPUT_FILES = ['policy.rego', 'lib.rego', 'data.json', 'bundle.tar.gz', 'policy.wasm'];

function defaultOutDir(policyFile: string): string {
  return join('out', basename(policyFile, extname(policyFile)));
}

/** Registers `compile`. */
export function registerCompile(program: Command, io: CliIo): void {
  const command = program
    .command('compile')
    .description('compile a policy (and enterprise directives) to Rego and a WebAssembly bundle')
    .argument('[policy]', 'policy or Docker admin-settings.json (JSON or YAML)')
    .option('-o, --out <dir>', 'output folder (default: out/<policy name>)')
    .option('--cases <tables...>', 'embed case tables as the self-test `serve` runs before using the bundle');
  addFormatOptions(addSigningOptions(addSourceOptions(command))).action(
    async (
      file: string | undefined,
      opts: SourceFlags & SigningFlags & FormatFlags & { out?: string; cases?: string[] },
    ) => {
      const resolved = validOrExit(await readSources(sourcesFrom(file, opts)), io);
      if (resolved.kind === 'bundle') {
        throw new McpPolicyError(
          'usage',
          `${resolved.file} is a compiled bundle; compile needs the policy file (JSON or YAML)`,
        );
      }
      const { policy, extras } = resolved;
      const cases = opts.cases === undefined ? [] : await readEmbeddableCases(opts.cases);
      const compiled = await compilePolicy(policy, cases.length > 0 ? { ...extras, cases } : extras, signingFrom(opts));
      const outDir =
        opts.out ?? defaultOutDir(file ?? opts.userPolicy ?? opts.adminConsole ?? opts.enterprise ?? 'policy');
      const config = opaConfigFrom(opts, outDir);
      await writeOutput(compiled, outDir);
      // A version 2 policy's folder also holds the helpers its module imports, as does one whose index uses n-grams.
      const files = [
        ...OUTPUT_FILES,
        ...(compiled.v2 === undefined ? [] : ['v2.rego']),
        ...(compiled.ngram === undefined ? [] : ['ngram.rego']),
      ];
      if (formatOf(opts) === 'json') {
        const summary = {
          out: outDir,
          files,
          revision: compiled.revision,
          ...(extras.provenance && { provenance: extras.provenance }),
          ...(config !== undefined && { opaConfig: config }),
        };
        io.stdout(`${JSON.stringify(summary, null, 2)}\n`);
        return;
      }
      // With --opa-config, stdout is the configuration alone, so it can be redirected to a file.
      const say = config === undefined ? io.stdout : io.stderr;
      say(`${outDir}: ${files.join(', ')} (revision ${compiled.revision.slice(0, 12)})\n`);
      if (config !== undefined) io.stdout(config);
      if (extras.provenance) say(`policy in force: ${extras.provenance.policy} (${extras.provenance.why})\n`);
    },
  );
}
