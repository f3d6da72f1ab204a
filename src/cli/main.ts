/**
 * The `mcp-policy` command line: a thin layer over the library, one file per
 * command; this module only wires them. Exit codes: 0 success; 1 the policy
 * is invalid, a test case failed or engines disagree (difftest); 2 usage,
 * file or tool problems (missing opa, unreadable file, bad bundle); 3 a
 * request was denied under `eval --fail-on-deny`.
 */
import { Command, CommanderError } from 'commander';
import { McpPolicyError, PolicyValidationError } from '../core/errors.js';
import { registerBundles } from './bundles.js';
import { registerCheck } from './check.js';
import { registerCompletion } from './completion.js';
import { registerCompile } from './compile.js';
import { registerConfig } from './config.js';
import { registerDiff } from './diff.js';
import { registerDifftest } from './difftest.js';
import { registerEval } from './eval.js';
import { ExitError } from './exit.js';
import { registerExplain } from './explain.js';
import { type CliIo, formatIssue, processIo } from './io.js';
import { addExamples, PACKAGE_VERSION, usageMessage } from './usage.js';
import { registerLint } from './lint.js';
import { registerPlayground } from './playground.js';
import { proxyCommand } from './proxy.js';
import { serveCommand } from './serve.js';
import { registerSetupOpa } from './setup-opa.js';
import { registerTest } from './test.js';

function buildProgram(io: CliIo): Command {
  const program = new Command('mcp-policy')
    .description('Validate, compile and evaluate MCP governance policies (a JSON or YAML policy → Rego → WebAssembly)')
    .version(PACKAGE_VERSION, '-V, --version', 'print the version')
    // Commander's own errors are printed once, in the house format, by runCli.
    .configureOutput({ writeOut: (t) => io.stdout(t), writeErr: (t) => io.stderr(t), outputError: () => undefined })
    .showSuggestionAfterError(true)
    .exitOverride();
  registerCheck(program, io);
  registerCompile(program, io);
  registerEval(program, io);
  registerConfig(program, io);
  registerTest(program, io);
  registerDifftest(program, io);
  registerBundles(program, io);
  registerLint(program, io);
  registerDiff(program, io);
  registerExplain(program, io);
  registerSetupOpa(program, io);
  registerPlayground(program, io);
  program.addCommand(proxyCommand(io).copyInheritedSettings(program));
  program.addCommand(serveCommand((t) => io.stderr(t)).copyInheritedSettings(program));
  registerCompletion(program, io);
  addExamples(program);
  return program;
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof ExitError) return e.exitCode;
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0;
      // Help shown for a missing command has already said what is wrong.
      if (e.code !== 'commander.help') io.stderr(`mcp-policy: ${usageMessage(e.message)} (usage)\n`);
      return 2;
    }
    if (e instanceof PolicyValidationError) {
      for (const issue of e.issues) io.stderr(`${formatIssue(e.file ?? 'policy', issue)}\n`);
      return 1;
    }
    if (e instanceof McpPolicyError) {
      io.stderr(`mcp-policy: ${e.message} (${e.code})\n`);
      return 2;
    }
    io.stderr(`mcp-policy: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
}
