/**
 * `mcp-policy difftest`: generated policies and requests on several engines,
 * every disagreement shrunk. The generators (fast-check) are loaded only
 * when this command runs, so no other command pays for them.
 */
import { randomInt } from 'node:crypto';
import { type Command, Option } from 'commander';
import { McpPolicyError } from '../core/errors.js';
import { ENGINE_NAMES, parseEngineList } from '../engines/engine.js';
import { ExitError } from './exit.js';
import { addFormatOptions, type CliIo, type FormatFlags, formatOf, loadPolicy } from './io.js';

interface DifftestFlags extends FormatFlags {
  cases: number;
  seed?: number;
  engine?: string;
  engines?: string;
  policy?: string;
  saveRegressions?: string;
  policyVersion: '1' | '2' | 'both';
  requestsPerPolicy?: number;
  policyShape: 'mixed' | 'patterns';
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

function progressBar(io: CliIo): (done: number, total: number) => void {
  return (done, total) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    io.stderr(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} cases`);
  };
}

/** Registers `difftest`. */
export function registerDifftest(program: Command, io: CliIo): void {
  const command = program
    .command('difftest')
    .description('generate policies and requests and check that the engines agree on every decision')
    .option('-n, --cases <n>', 'request cases to run', (v) => positiveInt(v, '--cases'), 2000)
    .option('-s, --seed <seed>', 'random seed (default: a fresh one, printed)', (v) => integer(v, '--seed'))
    .addOption(
      new Option(
        '-e, --engine <engines>',
        `comma-separated engines to compare, or "all" (default: ${ENGINE_NAMES.join(',')})`,
      ),
    )
    // The spelling of earlier releases, kept so existing scripts keep working.
    .addOption(new Option('--engines <engines>').hideHelp())
    .option('-p, --policy <file>', 'test this policy with generated requests instead of generated policies')
    .option('--save-regressions <dir>', 'write each shrunk mismatch there as a case table')
    .addOption(
      new Option('--policy-version <version>', 'versions of generated policies ("both": one in three is version 2)')
        .choices(['1', '2', 'both'])
        .default('both'),
    )
    .addOption(
      new Option(
        '--policy-shape <shape>',
        'generated policies ("mixed": one in 16 dominated by patterns like *x* and long pieces; "patterns": all of them)',
      )
        .choices(['mixed', 'patterns'])
        .default('mixed'),
    )
    .option('--requests-per-policy <n>', 'requests generated per policy (default: 40)', (v) =>
      positiveInt(v, '--requests-per-policy'),
    );
  addFormatOptions(command).action(async (opts: DifftestFlags) => {
    const json = formatOf(opts) === 'json';
    const names = parseEngineList(opts.engine ?? opts.engines ?? 'all');
    if (names.length < 2) throw new McpPolicyError('usage', 'difftest needs at least two engines');
    const policy = opts.policy === undefined ? undefined : await loadPolicy(opts.policy, io);
    const [{ DIFF_ENGINES }, { runDifftest }, { writeRegression }] = await Promise.all([
      import('../difftest/engines.js'),
      import('../difftest/run.js'),
      import('../difftest/regression.js'),
    ]);
    const engines = names.map((name) => DIFF_ENGINES[name]!);
    const seed = opts.seed ?? randomInt(0, 2 ** 31 - 1);
    io.stderr(`difftest: seed ${seed}, engines ${engines.map((e) => e.name).join(', ')}\n`);
    const progress = io.isTerminal ? progressBar(io) : undefined;
    const started = Date.now();
    const result = await runDifftest({
      cases: opts.cases,
      seed,
      engines,
      version: opts.policyVersion === 'both' ? 'both' : opts.policyVersion === '2' ? 2 : 1,
      shape: opts.policyShape,
      ...(opts.requestsPerPolicy !== undefined && { requestsPerPolicy: opts.requestsPerPolicy }),
      ...(policy !== undefined && { policy }),
      ...(progress !== undefined && { onProgress: progress }),
    });
    if (progress) io.stderr('\n');
    const mismatches = [];
    for (const m of result.mismatches) {
      const shown = {
        policy: m.policy,
        enterprise: m.enterprise,
        request: m.request,
        ...(m.raw !== undefined && { raw: m.raw }),
        decisions: m.decisions,
        configs: m.configs,
      };
      const saved =
        opts.saveRegressions === undefined ? undefined : await writeRegression(opts.saveRegressions, m, seed);
      mismatches.push({ ...shown, ...(saved !== undefined && { saved }) });
      if (json) continue;
      io.stdout(`MISMATCH ${JSON.stringify(shown)}\n`);
      if (saved !== undefined) io.stdout(`saved ${saved}\n`);
    }
    if (json) {
      const { cases, policies, rawCases, skipped } = result;
      io.stdout(`${JSON.stringify({ seed, cases, policies, rawCases, skipped, mismatches }, null, 2)}\n`);
      if (result.mismatches.length > 0) throw new ExitError(1);
      return;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    io.stdout(
      `difftest: ${result.policies} policies, ${result.rawCases} raw inputs, ${result.skipped} comparisons skipped by documented engine limits, ${seconds} s\n`,
    );
    io.stdout(`difftest: ${result.cases} cases, ${result.mismatches.length} mismatches, seed ${seed}\n`);
    if (result.mismatches.length > 0) throw new ExitError(1);
  });
}
