/**
 * The `mcp-policy` command line: a thin layer over the library. Exit codes:
 * 0 success; 1 the policy is invalid, a test case failed or engines disagree
 * (difftest);
 * 2 usage, file or tool problems (missing opa, unreadable file, bad bundle).
 */
import { randomInt } from 'node:crypto';
import { basename, extname, join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { parseCaseFile, readEmbeddableCases, runCaseTable } from '../testing/cases.js';
import { compilePolicy, writeOutput } from '../pipeline/build.js';
import { type CompileExtras } from '../core/contracts.js';
import { type EnterpriseConfig } from '../enterprise/model.js';
import { isEnterpriseConfigText, parseEnterpriseConfig, validateLocalSettings } from '../enterprise/validate.js';
import { readJson, sortKeysDeep } from '../diagnostics/json.js';
import { NO_POLICY, type PolicyLayer, resolveBundleSources } from '../policy/layers.js';
import { DIFF_ENGINES } from '../difftest/engines.js';
import { writeRegression } from '../difftest/regression.js';
import { runDifftest } from '../difftest/run.js';
import { ENGINE_NAMES, type Engine, type EngineName, parseEngineList } from '../engines/engine.js';
import { openBundleFile } from '../engines/file.js';
import { OpaEngine } from '../engines/opa.js';
import { openEngine } from '../engines/open.js';
import { type Issue, McpPolicyError, PolicyValidationError } from '../core/errors.js';
import { decideStream, type DecisionSink, openRequestFile } from '../engines/stream.js';
import { readTextFile } from '../policy/file.js';
import { type Policy } from '../policy/model.js';
import { parsePolicy } from '../policy/validate.js';
import { registerBundles } from './bundles.js';
import {
  addSigningOptions,
  addVerificationOptions,
  opaConfigFrom,
  type SigningFlags,
  signingFrom,
  verificationFrom,
} from './fleet-options.js';
import { renderCoverage } from './coverage.js';
import { registerDiff } from './diff.js';
import { ExitError } from './exit.js';
import { registerExplain } from './explain.js';
import { registerLint } from './lint.js';
import { proxyCommand } from './proxy.js';
import { serveCommand } from './serve.js';

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  /** Standard input as a stream, so `eval` can decide requests as they arrive (else readStdin). */
  stdinStream?(): AsyncIterable<string | Uint8Array>;
  /** Standard output with back-pressure, so `eval` writes no faster than it is read (else stdout). */
  readonly sink?: DecisionSink;
  /** True when stderr is a terminal (progress bars are drawn only then). */
  readonly isTerminal?: boolean;
}

const processIo: CliIo = {
  isTerminal: process.stderr.isTTY === true,
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  stdinStream: () => process.stdin,
  sink: {
    write: (t) => process.stdout.write(t),
    drain: () => new Promise((resolve) => process.stdout.once('drain', () => resolve())),
  },
};

/** Renders an issue like a compiler: `file:line:col: /pointer: message (code)`. */
export function formatIssue(file: string, issue: Issue, severity: 'error' | 'warning' = 'error'): string {
  const where = issue.line !== undefined ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
  const inner = issue.within !== undefined ? `${issue.within}: ` : '';
  const label = severity === 'warning' ? 'warning: ' : '';
  return `${where}: ${label}${inner}${issue.path || '/'}: ${issue.message} (${issue.code})`;
}

/** Decision JSON with a stable key order; reading request text. */
export { decisionLine as formatDecision, parseRequests } from '../engines/stream.js';

/** Options that name the sources of one bundle, shared by compile and eval. */
interface SourceOptions {
  enterprise?: string;
  adminConsole?: string;
  userPolicy?: string;
}

function addSourceOptions(command: Command): Command {
  return command
    .option('--enterprise <file>', 'Stacklok enterprise config (YAML or JSON) whose directives apply before the rules')
    .option('--admin-console <file>', "policy set in Docker's Admin Console; takes precedence over admin-settings.json")
    .option('--user-policy <file>', "the user's own policy; replaces an admin policy that is not locked");
}

async function loadLayer(file: string, io: CliIo): Promise<PolicyLayer> {
  const result = parsePolicy(await readTextFile(file));
  for (const w of result.warnings) io.stderr(`${formatIssue(file, w, 'warning')}\n`);
  if (!result.policy || !result.source) {
    for (const e of result.errors) io.stderr(`${formatIssue(file, e)}\n`);
    throw new ExitError(1);
  }
  return { policy: result.policy, source: result.source, file };
}

async function loadEnterprise(file: string, io: CliIo): Promise<EnterpriseConfig> {
  const result = parseEnterpriseConfig(await readTextFile(file));
  for (const w of result.warnings) io.stderr(`${formatIssue(file, w, 'warning')}\n`);
  if (!result.config) {
    for (const e of result.errors) io.stderr(`${formatIssue(file, e)}\n`);
    throw new ExitError(1);
  }
  return result.config;
}

/**
 * The policy in force and what else goes in the bundle, from a positional
 * policy file (bare or admin-settings.json) and the source options.
 */
async function loadSources(
  file: string | undefined,
  opts: SourceOptions,
  io: CliIo,
): Promise<{ policy: Policy; extras: CompileExtras }> {
  if (
    file === undefined &&
    opts.enterprise === undefined &&
    opts.adminConsole === undefined &&
    opts.userPolicy === undefined
  ) {
    throw new McpPolicyError('usage', 'give a policy file, --enterprise, --admin-console or --user-policy');
  }
  const policy = file === undefined ? undefined : await loadLayer(file, io);
  const adminConsole = opts.adminConsole === undefined ? undefined : await loadLayer(opts.adminConsole, io);
  const user = opts.userPolicy === undefined ? undefined : await loadLayer(opts.userPolicy, io);
  const enterprise = opts.enterprise === undefined ? undefined : await loadEnterprise(opts.enterprise, io);
  return resolveBundleSources({
    ...(policy && { policy }),
    ...(adminConsole && { adminConsole }),
    ...(user && { user }),
    ...(enterprise && { enterprise }),
  });
}

async function openForFile(
  file: string | undefined,
  opts: SourceOptions & { verificationKey?: string; verificationKeyId?: string },
  engine: EngineName,
  io: CliIo,
): Promise<Engine> {
  const verification = verificationFrom(opts);
  const bundled = file === undefined ? undefined : await openBundleFile(file, engine, verification ?? {});
  if (bundled) return bundled;
  if (verification) throw new McpPolicyError('usage', '--verification-key checks bundles; give a bundle.tar.gz');
  const { policy, extras } = await loadSources(file, opts, io);
  return openEngine(engine, policy, extras);
}

/** What `check` reports: issues, and a one-line summary when the file is valid. */
interface CheckResult {
  readonly errors: readonly Issue[];
  readonly warnings: readonly Issue[];
  readonly summary: string | undefined;
}

function checkEnterprise(text: string): CheckResult {
  const { config, errors, warnings } = parseEnterpriseConfig(text);
  const dm = config?.degradedMode ? `, degraded mode ${config.degradedMode.policy}` : '';
  const summary = config && `valid enterprise config: ${Object.keys(config.directives).length} directives${dm}`;
  return { errors, warnings, summary };
}

function checkPolicy(text: string): CheckResult {
  const { policy, source, errors, warnings } = parsePolicy(text);
  const kind = source?.kind === 'admin-settings' ? ' (admin-settings.json)' : '';
  const summary = policy && `valid${kind}: ${policy.rules.length} rules, default ${policy.default}`;
  return { errors, warnings, summary };
}

function defaultOutDir(policyFile: string): string {
  return join('out', basename(policyFile, extname(policyFile)));
}

function engineOption(): Option {
  return new Option('-e, --engine <engine>', 'evaluator').choices([...ENGINE_NAMES]).default('wasm');
}

function buildProgram(io: CliIo): Command {
  const program = new Command('mcp-policy')
    .description('Validate, compile and evaluate MCP governance policies (JSON policy → Rego → WebAssembly)')
    .configureOutput({ writeOut: (t) => io.stdout(t), writeErr: (t) => io.stderr(t) })
    .exitOverride();

  program
    .command('check')
    .description('validate a policy, admin-settings.json or enterprise config (exit 0 when valid, 1 when not)')
    .argument('<file>', 'policy JSON, Docker admin-settings.json, or Stacklok enterprise config (YAML or JSON)')
    .option('--json', 'print {"valid", "errors", "warnings"} as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      let result: CheckResult;
      try {
        const text = await readTextFile(file);
        result = isEnterpriseConfigText(file, text) ? checkEnterprise(text) : checkPolicy(text);
      } catch (e) {
        // A file that is not text is reported like any other invalid document.
        if (!(e instanceof PolicyValidationError)) throw e;
        result = { errors: e.issues, warnings: [], summary: undefined };
      }
      const valid = result.summary !== undefined;
      if (opts.json) {
        io.stdout(`${JSON.stringify({ valid, errors: result.errors, warnings: result.warnings }, null, 2)}\n`);
      } else {
        for (const e of result.errors) io.stderr(`${formatIssue(file, e)}\n`);
        for (const w of result.warnings) io.stderr(`${formatIssue(file, w, 'warning')}\n`);
        if (result.summary !== undefined) io.stdout(`${file}: ${result.summary}\n`);
      }
      if (!valid) throw new ExitError(1);
    });

  program
    .command('compile')
    .description('compile a policy (and enterprise directives) to Rego and a WebAssembly bundle')
    .argument('[policy]', 'policy JSON or Docker admin-settings.json')
    .option('-o, --out <dir>', 'output folder (default: out/<policy name>)')
    .option('--cases <tables...>', 'embed case tables as the self-test `serve` runs before using the bundle');
  addSigningOptions(addSourceOptions(program.commands.at(-1)!)).action(
    async (file: string | undefined, opts: SourceOptions & SigningFlags & { out?: string; cases?: string[] }) => {
      const { policy, extras } = await loadSources(file, opts, io);
      const cases = opts.cases === undefined ? [] : await readEmbeddableCases(opts.cases);
      const compiled = await compilePolicy(policy, cases.length > 0 ? { ...extras, cases } : extras, signingFrom(opts));
      const outDir =
        opts.out ?? defaultOutDir(file ?? opts.userPolicy ?? opts.adminConsole ?? opts.enterprise ?? 'policy');
      const config = opaConfigFrom(opts, outDir);
      await writeOutput(compiled, outDir);
      // With --opa-config, stdout is the configuration alone, so it can be redirected to a file.
      const say = config === undefined ? io.stdout : io.stderr;
      say(
        `${outDir}: policy.rego, lib.rego, data.json, bundle.tar.gz, policy.wasm (revision ${compiled.revision.slice(0, 12)})\n`,
      );
      if (config !== undefined) io.stdout(config);
      if (extras.provenance) say(`policy in force: ${extras.provenance.policy} (${extras.provenance.why})\n`);
    },
  );

  program
    .command('eval')
    .description('decide requests (one JSON request, or JSON Lines) and print one decision per line')
    .argument('[policy-or-bundle]', 'policy JSON, admin-settings.json, bundle.tar.gz or policy.wasm')
    .option('-i, --input <file>', 'requests file (default: standard input)')
    .addOption(engineOption());
  addVerificationOptions(addSourceOptions(program.commands.at(-1)!)).action(
    async (
      file: string | undefined,
      opts: SourceOptions & { input?: string; engine: EngineName; verificationKey?: string },
    ) => {
      const fromStdin = opts.input === undefined || opts.input === '-';
      const fileInput = fromStdin ? undefined : await openRequestFile(opts.input as string);
      const engine = await openForFile(file, opts, opts.engine, io);
      try {
        const input = fileInput ?? io.stdinStream?.() ?? [await io.readStdin()];
        await decideStream(engine, input, io.sink ?? { write: (t) => io.stdout(t) }, {
          // A broken opa is a tool problem (exit 2), as it is for --engine wasm, not a batch of denials.
          check: () => {
            if (engine instanceof OpaEngine && engine.toolError) throw engine.toolError;
          },
        });
      } finally {
        await engine.close();
      }
    },
  );

  program
    .command('config')
    .description('print the effective enterprise configuration, each value with its source')
    .argument('<enterprise>', 'Stacklok enterprise config (YAML or JSON)')
    .option('-l, --local <file>', "the client's local settings (JSON: directive key to value)")
    .addOption(engineOption())
    .action(async (file: string, opts: { local?: string; engine: EngineName }) => {
      const enterprise = await loadEnterprise(file, io);
      let local: Record<string, unknown> = {};
      if (opts.local !== undefined) {
        const doc = readJson(await readTextFile(opts.local));
        const errors =
          doc.value === undefined ? doc.issues : [...doc.issues, ...validateLocalSettings(doc.value).errors];
        if (errors.length > 0) {
          for (const e of errors) io.stderr(`${formatIssue(opts.local, e)}\n`);
          throw new ExitError(1);
        }
        local = doc.value as Record<string, unknown>;
      }
      const engine = await openEngine(opts.engine, NO_POLICY, { enterprise });
      try {
        io.stdout(`${JSON.stringify(sortKeysDeep(await engine.config(local)), null, 2)}\n`);
      } finally {
        await engine.close();
      }
    });

  program
    .command('test')
    .description('run a table of requests and expected decisions against a policy on every engine')
    .argument('<policy>', 'policy JSON or Docker admin-settings.json')
    .argument('<cases>', 'case table (see docs/cases.md)')
    .addOption(
      new Option('-e, --engine <engines>', 'comma-separated engines, or "all" (adds go-wasm)').default(
        'native,wasm,opa',
      ),
    )
    .option('--coverage', 'also report rules no case exercised and outcomes the table never saw')
    .action(async (policyFile: string, casesFile: string, opts: { engine: string; coverage?: boolean }) => {
      const engines = parseEngineList(opts.engine);
      const table = parseCaseFile(await readTextFile(casesFile), casesFile);
      const result = await runCaseTable(table, {
        engines,
        agree: true,
        policyText: await readTextFile(policyFile),
      });
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
      if (opts.coverage) renderCoverage(table, await readTextFile(policyFile), io);
      if (result.failures.length > 0) throw new ExitError(1);
    });

  program
    .command('difftest')
    .description('generate policies and requests and check that the engines agree on every decision')
    .option('-n, --cases <n>', 'request cases to run', (v) => positiveInt(v, '--cases'), 2000)
    .option('-s, --seed <seed>', 'random seed (default: a fresh one, printed)', (v) => integer(v, '--seed'))
    .option('-e, --engines <engines>', 'comma-separated engines to compare', 'native,wasm,opa,go-wasm')
    .option('-p, --policy <file>', 'test this policy with generated requests instead of generated policies')
    .option('--save-regressions <dir>', 'write each shrunk mismatch there as a case table')
    .action(
      async (opts: { cases: number; seed?: number; engines: string; policy?: string; saveRegressions?: string }) => {
        const seed = opts.seed ?? randomSeed();
        const engines = opts.engines.split(',').map((name) => {
          const engine = DIFF_ENGINES[name.trim()];
          if (!engine) {
            throw new McpPolicyError(
              'usage',
              `unknown engine "${name}"; expected ${Object.keys(DIFF_ENGINES).join(', ')}`,
            );
          }
          return engine;
        });
        if (engines.length < 2) throw new McpPolicyError('usage', 'difftest needs at least two engines');
        const policy = opts.policy === undefined ? undefined : (await loadLayer(opts.policy, io)).policy;
        io.stderr(`difftest: seed ${seed}, engines ${engines.map((e) => e.name).join(', ')}\n`);
        const progress = io.isTerminal ? progressBar(io) : undefined;
        const started = Date.now();
        const result = await runDifftest({
          cases: opts.cases,
          seed,
          engines,
          ...(policy !== undefined && { policy }),
          ...(progress !== undefined && { onProgress: progress }),
        });
        if (progress) io.stderr('\n');
        for (const m of result.mismatches) {
          io.stdout(
            `MISMATCH ${JSON.stringify({ policy: m.policy, enterprise: m.enterprise, request: m.request, decisions: m.decisions, configs: m.configs })}\n`,
          );
          if (opts.saveRegressions !== undefined) {
            io.stdout(`saved ${await writeRegression(opts.saveRegressions, m, seed)}\n`);
          }
        }
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        io.stdout(
          `difftest: ${result.policies} policies, ${result.skipped} comparisons skipped by documented engine limits, ${seconds} s\n`,
        );
        io.stdout(`difftest: ${result.cases} cases, ${result.mismatches.length} mismatches, seed ${seed}\n`);
        if (result.mismatches.length > 0) throw new ExitError(1);
      },
    );

  registerBundles(program, io);
  const loadPolicy = async (file: string) => (await loadLayer(file, io)).policy;
  registerLint(program, io, loadPolicy);
  registerDiff(program, io, loadPolicy);
  registerExplain(program, io, loadPolicy);

  program.addCommand(proxyCommand((t) => io.stderr(t)).copyInheritedSettings(program));
  program.addCommand(serveCommand((t) => io.stderr(t)).copyInheritedSettings(program));
  return program;
}

function positiveInt(v: string, flag: string): number {
  const n = integer(v, flag);
  if (n < 1) throw new McpPolicyError('usage', `${flag} must be a positive whole number, not "${v}"`);
  return n;
}

function integer(v: string, flag: string): number {
  if (!/^-?\d+$/.test(v)) throw new McpPolicyError('usage', `${flag} must be a whole number, not "${v}"`);
  return Number(v) | 0;
}

function randomSeed(): number {
  return randomInt(0, 2 ** 31 - 1);
}

function progressBar(io: CliIo): (done: number, total: number) => void {
  return (done, total) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    io.stderr(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} cases`);
  };
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof ExitError) return e.exitCode;
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
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
