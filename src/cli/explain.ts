/** `mcp-policy explain <policy> [--input <file>]`: every rule, whether it matched and why not, then the decision. */
import { type Command } from 'commander';
import { explainDecision, type Explanation } from '../analysis/explain.js';
import { McpPolicyError } from '../core/errors.js';
import { readTextFile } from '../policy/file.js';
import { addFormatOptions, type CliIo, type FormatFlags, formatDecision, formatOf, loadPolicy } from './io.js';

function render(x: Explanation): string {
  const lines: string[] = [];
  if (x.error !== undefined) lines.push(`invalid request: ${x.error}; no rule is consulted`);
  for (const r of x.rules) {
    if (r.matched)
      lines.push(`rule ${r.rule}: matched${r.decided ? ' (decides)' : ' (not consulted: an earlier rule decided)'}`);
    else lines.push(`rule ${r.rule}: no match: ${r.failed.map((f) => f.message).join('; ')}`);
  }
  lines.push(`decision: ${formatDecision(x.decision)}`);
  return `${lines.join('\n')}\n`;
}

/** Registers `explain`. */
export function registerExplain(program: Command, io: CliIo): void {
  const command = program
    .command('explain')
    .description('show, rule by rule, why a request gets its decision')
    .argument('<policy>', 'policy or Docker admin-settings.json (JSON or YAML)')
    .option('-i, --input <file>', 'the request, as JSON (default: standard input)');
  addFormatOptions(command).action(async (file: string, opts: FormatFlags & { input?: string }) => {
    const policy = await loadPolicy(
      file,
      io,
      'explain needs the policy file (JSON or YAML), since a bundle keeps no rule conditions',
    );
    const text = opts.input === undefined || opts.input === '-' ? await io.readStdin() : await readTextFile(opts.input);
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch (e) {
      throw new McpPolicyError(
        'invalid_requests',
        `${opts.input ?? 'standard input'}: invalid json: ${(e as Error).message.toLowerCase()}`,
      );
    }
    const x = explainDecision(policy, request);
    io.stdout(formatOf(opts) === 'json' ? `${JSON.stringify(x, null, 2)}\n` : render(x));
  });
}
