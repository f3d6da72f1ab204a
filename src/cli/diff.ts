/**
 * `mcp-policy diff <old> <new> [--json] [--requests <file>]`: the requests
 * whose decision changes, as regions with witnesses, and with `--requests` the
 * recorded requests that would flip. Exit 1 when some decision differs.
 */
import { type Command } from 'commander';
import {
  type DiffChange,
  diffPolicies,
  diffReport,
  readRecordedRequests,
  replayRequests,
  type ReplayResult,
} from '../analysis/diff.js';
import { renderBox } from '../analysis/region.js';
import { readTextFile } from '../policy/file.js';
import { ExitError } from './exit.js';
import { addFormatOptions, type CliIo, type FormatFlags, formatOf, loadPolicy } from './io.js';

function who(side: DiffChange['old']): string {
  if (side.invalid) return 'invalid request (deny)';
  const what = side.allowed ? 'allow' : 'deny';
  const reason = side.reason !== undefined ? ` "${side.reason}"` : '';
  return side.rule === null ? `default ${what}` : `rule ${side.rule} (${what}${reason})`;
}

function renderChange(c: DiffChange): string {
  const head = { now_denied: 'now denied', now_allowed: 'now allowed', rule_changed: 'decided by another rule' }[
    c.kind
  ];
  const regions = c.regions.map((r) => `  where ${renderBox(r)}`);
  if (c.boxes > c.regions.length) regions.push(`  … and ${c.boxes - c.regions.length} more regions`);
  const example =
    c.witness !== undefined
      ? `e.g. ${JSON.stringify(c.witness)}`
      : 'possibly: no request could be built for it (argument conditions not analysed exactly)';
  return `${head}: ${who(c.old)} → ${who(c.new)}\n${regions.join('\n')}\n  ${example}`;
}

function renderReplay(r: ReplayResult, file: string): string {
  const lines = [
    `${file}: ${r.total} requests replayed: ${r.nowDenied} would now be denied, ${r.nowAllowed} would now be allowed, ${r.ruleChanged} decided by another rule, ${r.unchanged} unchanged`,
  ];
  for (const c of r.changes.slice(0, 20)) {
    lines.push(
      `  line ${c.line}: ${c.old.allowed ? 'allow' : 'deny'} → ${c.new.allowed ? 'allow' : 'deny'} (${c.new.reason}) ${JSON.stringify(c.request)}`,
    );
  }
  if (r.changes.length > 20) lines.push(`  … and ${r.changes.length - 20} more`);
  return `${lines.join('\n')}\n`;
}

/** Registers `diff`. */
export function registerDiff(program: Command, io: CliIo): void {
  const command = program
    .command('diff')
    .description('show which requests two policy versions decide differently (exit 1 when a decision differs)')
    .argument('<old>', 'policy or Docker admin-settings.json (JSON or YAML)')
    .argument('<new>', 'policy or Docker admin-settings.json (JSON or YAML)')
    .option('-r, --requests <file>', 'replay recorded requests (JSON Lines, or a decision log) and count what flips');
  addFormatOptions(command).action(
    async (oldFile: string, newFile: string, opts: FormatFlags & { requests?: string }) => {
      const oldPolicy = await loadPolicy(oldFile, io);
      const newPolicy = await loadPolicy(newFile, io);
      const diff = diffPolicies(oldPolicy, newPolicy);
      const replay =
        opts.requests === undefined
          ? undefined
          : replayRequests(oldPolicy, newPolicy, readRecordedRequests(await readTextFile(opts.requests)));
      if (formatOf(opts) === 'json') {
        io.stdout(`${JSON.stringify(diffReport(diff, replay), null, 2)}\n`);
      } else {
        for (const c of diff.changes) io.stdout(`${renderChange(c)}\n`);
        const denied = diff.changes.filter((c) => c.kind === 'now_denied').length;
        const allowed = diff.changes.filter((c) => c.kind === 'now_allowed').length;
        const moved = diff.changes.length - denied - allowed;
        io.stdout(
          diff.same
            ? `${oldFile} → ${newFile}: no request is decided differently\n`
            : `${oldFile} → ${newFile}: ${denied} regions now denied, ${allowed} now allowed, ${moved} decided by another rule\n`,
        );
        for (const x of diff.inexact) {
          io.stdout(
            `${x.policy === 'old' ? oldFile : newFile}: ${x.path}: not analysed exactly (${x.why}); changes that depend on it may be only possible\n`,
          );
        }
        if (replay && opts.requests !== undefined) io.stdout(renderReplay(replay, opts.requests));
      }
      if (diff.decisionsDiffer) throw new ExitError(1);
    },
  );
}
