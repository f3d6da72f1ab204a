/**
 * What the commands share: where they write, how issues and decisions are
 * rendered, the source and engine options, and reading policies through the
 * host layer. Commands import this, never main.ts, so the CLI has no circle.
 */
import { type Command, Option } from 'commander';
import { type Issue } from '../core/errors.js';
import { type Validation } from '../core/validation.js';
import { ENGINE_NAMES, type EngineName } from '../engines/engine.js';
import { type DecisionSink } from '../engines/stream.js';
import { type PolicySources, readPolicyFile, type SourceIssue } from '../host/sources.js';
import { type Policy } from '../policy/model.js';
import { ExitError } from './exit.js';
import { verificationFrom } from './fleet-options.js';

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

/** The process's own streams. */
export const processIo: CliIo = {
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

/**
 * Prints a validation's warnings, and its errors when it has no value; then
 * returns the value, or ends the command with exit 1.
 */
export function validOrExit<T>(result: Validation<T, SourceIssue>, io: CliIo): T {
  for (const e of result.errors) io.stderr(`${formatIssue(e.file, e)}\n`);
  for (const w of result.warnings) io.stderr(`${formatIssue(w.file, w, 'warning')}\n`);
  if (result.value === undefined) throw new ExitError(1);
  return result.value;
}

/**
 * Reads a policy file (bare or admin-settings.json); prints its issues, exit 1
 * when it is invalid. A compiled bundle is a usage error; `needs` says why.
 */
export async function loadPolicy(file: string, io: CliIo, needs?: string): Promise<Policy> {
  return validOrExit(await readPolicyFile(file, needs), io).policy;
}

/** The options that name the sources of one bundle, besides the positional file. */
export interface SourceFlags {
  enterprise?: string;
  adminConsole?: string;
  userPolicy?: string;
  verificationKey?: string;
  verificationKeyId?: string;
}

/** Adds `--enterprise`, `--admin-console` and `--user-policy`. */
export function addSourceOptions(command: Command): Command {
  return command
    .option('--enterprise <file>', 'Stacklok enterprise config (YAML or JSON) whose directives apply before the rules')
    .option('--admin-console <file>', "policy set in Docker's Admin Console; takes precedence over admin-settings.json")
    .option('--user-policy <file>', "the user's own policy; replaces an admin policy that is not locked");
}

/** The host's sources for a positional file and the source, verification and engine flags. */
export function sourcesFrom(file: string | undefined, opts: SourceFlags & { engine?: EngineName }): PolicySources {
  const verification = verificationFrom(opts);
  return {
    ...(file !== undefined && { file }),
    ...(opts.enterprise !== undefined && { enterprise: opts.enterprise }),
    ...(opts.adminConsole !== undefined && { adminConsole: opts.adminConsole }),
    ...(opts.userPolicy !== undefined && { userPolicy: opts.userPolicy }),
    ...(verification !== undefined && { verification }),
    ...(opts.engine !== undefined && { engine: opts.engine }),
  };
}

/** `-e, --engine <engine>`: one engine (commands that decide with one). */
export function engineOption(description = 'evaluator'): Option {
  return new Option('-e, --engine <engine>', description).choices([...ENGINE_NAMES]).default('wasm');
}

/** `-e, --engine <engines>`: a comma list or `all` (commands that compare engines). */
export function enginesOption(description: string, defaultValue: string): Option {
  return new Option('-e, --engine <engines>', description).default(defaultValue);
}

/** What a command prints: text for people, or one JSON document (JSON Lines for `eval`). */
export type OutputFormat = 'text' | 'json';

/** The output flags as commander parses them. */
export interface FormatFlags {
  format?: OutputFormat;
  json?: boolean;
}

/**
 * Adds `--format text|json` and its alias `--json` (the older spelling, kept
 * so existing scripts keep working). `fallback` is the format without either.
 */
export function addFormatOptions(command: Command, fallback: OutputFormat = 'text'): Command {
  return command
    .addOption(
      new Option('--format <format>', `output format (default: ${fallback})`).choices(['text', 'json'] as const),
    )
    .addOption(new Option('--json', 'same as --format json').conflicts('format'));
}

/** The format the flags ask for. */
export function formatOf(opts: FormatFlags, fallback: OutputFormat = 'text'): OutputFormat {
  return opts.json ? 'json' : (opts.format ?? fallback);
}
