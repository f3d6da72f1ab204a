/**
 * `mcp-policy completion bash|zsh|fish`: a completion script for the shell,
 * generated from the commands and options the program registers, so it
 * lists exactly what the CLI accepts.
 */
import { Argument, type Command, type Option } from 'commander';
import { type CliIo } from './io.js';
import { allCommands, commandPath } from './usage.js';

/** What a script needs to know about one command. */
interface CommandShape {
  /** Space-separated path below the program, e.g. `bundles serve`. */
  readonly path: string;
  readonly description: string;
  readonly subcommands: readonly string[];
  readonly options: readonly OptionShape[];
}

interface OptionShape {
  readonly long?: string;
  readonly short?: string;
  readonly description: string;
  readonly takesValue: boolean;
  readonly choices?: readonly string[];
}

const SHELLS = ['bash', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

function optionShape(o: Option): OptionShape {
  return {
    ...(o.long !== undefined && { long: o.long }),
    ...(o.short !== undefined && { short: o.short }),
    description: o.description,
    takesValue: o.required || o.optional,
    ...(o.argChoices !== undefined && { choices: o.argChoices }),
  };
}

const HELP: OptionShape = { long: '--help', short: '-h', description: 'show help', takesValue: false };

function visibleOptions(c: Command): OptionShape[] {
  // Hidden options are kept spellings of earlier releases: accepted, not offered.
  const options = c.options.filter((o) => !(o as Option & { hidden?: boolean }).hidden).map(optionShape);
  return [...options, HELP];
}

/** The program's commands as the scripts see them; the program itself has path "". */
export function commandShapes(program: Command): CommandShape[] {
  return [program, ...allCommands(program)].map((c) => ({
    path: c === program ? '' : commandPath(c),
    description: c.description(),
    subcommands: c.commands.map((s) => s.name()),
    options: visibleOptions(c),
  }));
}

function flags(o: OptionShape): string[] {
  return [o.long, o.short].filter((f): f is string => f !== undefined);
}

/** Text safe inside single quotes in every shell the scripts target. */
function quoted(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function bash(shapes: readonly CommandShape[]): string {
  const cases = shapes.map((s) => {
    const words = [...s.subcommands, ...s.options.flatMap(flags)].join(' ');
    const valued = s.options.filter((o) => o.takesValue);
    const choices = valued
      .filter((o) => o.choices !== undefined)
      .map(
        (o) =>
          `        ${flags(o).join('|')}) COMPREPLY=($(compgen -W ${quoted(o.choices!.join(' '))} -- "$cur")); return ;;`,
      );
    const files = valued
      .filter((o) => o.choices === undefined)
      .map((o) => `        ${flags(o).join('|')}) COMPREPLY=($(compgen -f -- "$cur")); return ;;`);
    return [
      `    ${quoted(s.path)})`,
      `      words=${quoted(words)}`,
      ...(choices.length + files.length > 0 ? ['      case "$prev" in', ...choices, ...files, '      esac'] : []),
      '      ;;',
    ].join('\n');
  });
  return `# mcp-policy completion for bash: eval "$(mcp-policy completion bash)", e.g. in ~/.bashrc
_mcp_policy() {
  local cur prev path words i w
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  path=""
  # The command path is the leading words that name commands, e.g. "bundles serve".
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) break ;; esac
    case " $(_mcp_policy_subcommands "$path") " in
      *" $w "*) path="\${path:+$path }$w" ;;
      *) break ;;
    esac
  done
  case "$path" in
${cases.join('\n')}
  esac
  if [[ "$cur" == -* || -z "$path" || -n "$(_mcp_policy_subcommands "$path")" ]]; then
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
_mcp_policy_subcommands() {
  case "$1" in
${shapes.map((s) => `    ${quoted(s.path)}) echo ${quoted(s.subcommands.join(' '))} ;;`).join('\n')}
  esac
}
complete -o default -F _mcp_policy mcp-policy
`;
}

/** Text safe inside a zsh `_arguments` spec's brackets and descriptions. */
function zshText(text: string): string {
  return text.replace(/[[\]:\\]/g, ' ').replace(/'/g, `'\\''`);
}

function zsh(shapes: readonly CommandShape[]): string {
  const functionName = (path: string): string => `_mcp_policy${path === '' ? '' : `_${path.replace(/[ -]/g, '_')}`}`;
  const bodies = shapes.map((s) => {
    const specs = s.options.map((o) => {
      const names = flags(o);
      const spec = names.length > 1 ? `{${names.join(',')}}` : names[0]!;
      const value = o.takesValue ? `:value:${o.choices ? `(${o.choices.join(' ')})` : '_files'}` : '';
      return `    ${names.length > 1 ? `'(${names.join(' ')})'${spec}` : spec}'[${zshText(o.description)}]${value}'`;
    });
    const subs = s.subcommands.map((n) => {
      const sub = shapes.find((x) => x.path === (s.path === '' ? n : `${s.path} ${n}`));
      // _describe splits each entry at its first colon: the name never has one, the description may.
      return `    ${quoted(`${n}:${sub?.description ?? ''}`)}`;
    });
    const tail =
      s.subcommands.length > 0 ? [`    '1:command:->command'`, `    '*::arg:->sub'`] : [`    '*:file:_files'`];
    const dispatch =
      s.subcommands.length > 0
        ? `
  case $state in
    command)
      _describe -t commands 'command' subcommands
      ;;
    sub)
      case $words[1] in
${s.subcommands.map((n) => `        ${n}) ${functionName(s.path === '' ? n : `${s.path} ${n}`)} ;;`).join('\n')}
      esac
      ;;
  esac`
        : '';
    const locals = s.subcommands.length > 0 ? `  local -a subcommands\n  subcommands=(\n${subs.join('\n')}\n  )\n` : '';
    return `${functionName(s.path)}() {
  local state
${locals}  _arguments -s \\
${[...specs, ...tail].join(' \\\n')}${dispatch}
}`;
  });
  return `#compdef mcp-policy
# mcp-policy completion for zsh: mcp-policy completion zsh > "\${fpath[1]}/_mcp-policy", or eval it after compinit
${bodies.join('\n\n')}

if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _mcp_policy "$@"
else
  compdef _mcp_policy mcp-policy
fi
`;
}

function fish(shapes: readonly CommandShape[]): string {
  const lines = ['# mcp-policy completion for fish: mcp-policy completion fish | source', 'complete -c mcp-policy -f'];
  for (const s of shapes) {
    const words = s.path === '' ? [] : s.path.split(' ');
    // A command's own words are all seen, and none of its subcommands yet.
    const seen = words.map((w) => `__fish_seen_subcommand_from ${w}`);
    const condition = (extra: string[]): string => {
      const parts = [...(s.path === '' ? ['__fish_use_subcommand'] : seen), ...extra];
      return quoted(parts.join('; and '));
    };
    const notSub = s.subcommands.length > 0 ? [`not __fish_seen_subcommand_from ${s.subcommands.join(' ')}`] : [];
    for (const n of s.subcommands) {
      const sub = shapes.find((x) => x.path === (s.path === '' ? n : `${s.path} ${n}`));
      const cond = s.path === '' ? condition([]) : condition(notSub);
      lines.push(`complete -c mcp-policy -n ${cond} -a ${quoted(n)} -d ${quoted(sub?.description ?? '')}`);
    }
    for (const o of s.options) {
      const parts = ['complete -c mcp-policy', `-n ${condition(notSub)}`];
      if (o.long !== undefined) parts.push(`-l ${o.long.slice(2)}`);
      if (o.short !== undefined) parts.push(`-s ${o.short.slice(1)}`);
      if (o.choices) parts.push(`-x -a ${quoted(o.choices.join(' '))}`);
      else if (o.takesValue) parts.push('-r -F');
      parts.push(`-d ${quoted(o.description)}`);
      lines.push(parts.join(' '));
    }
    if (s.subcommands.length === 0 && s.path !== '') lines.push(`complete -c mcp-policy -n ${condition([])} -F`);
  }
  return `${lines.join('\n')}\n`;
}

/** The completion script for `shell`. */
export function completionScript(program: Command, shell: Shell): string {
  const shapes = commandShapes(program);
  return { bash, zsh, fish }[shell](shapes);
}

/** Registers `completion`; call it after every other command, so the scripts list them all. */
export function registerCompletion(program: Command, io: CliIo): void {
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .action((shell: Shell) => {
      io.stdout(completionScript(program, shell));
    });
}
