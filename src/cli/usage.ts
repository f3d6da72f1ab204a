/**
 * What every command shares in how it is used: the version, an example in
 * each `--help`, and commander's own usage errors in the house format.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command } from 'commander';
import { PACKAGE_ROOT } from '../opa/cli.js';

/** The version in the package's own package.json, so `--version` cannot disagree with npm. */
export const PACKAGE_VERSION = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

/**
 * One or two typical invocations per command, by command path. `--help`
 * shows them; a test checks that every registered command has some.
 */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  check: ['mcp-policy check policy.json', 'mcp-policy check --format json values.yaml'],
  compile: ['mcp-policy compile policy.json -o out/policy', 'mcp-policy compile --enterprise values.yaml policy.json'],
  eval: [
    'mcp-policy eval out/policy/bundle.tar.gz --input requests.jsonl',
    `echo '{"action":"load","server":"github"}' | mcp-policy eval policy.json --fail-on-deny`,
  ],
  config: ['mcp-policy config values.yaml', 'mcp-policy config values.yaml --local settings.json --format json'],
  test: ['mcp-policy test policy.json policy.cases.json', 'mcp-policy test policy.json cases.json --format json'],
  difftest: [
    'mcp-policy difftest --cases 500 --seed 42',
    'mcp-policy difftest --policy policy.json --engine native,wasm',
  ],
  bundles: ['mcp-policy bundles serve out/ --addr 127.0.0.1:8282'],
  'bundles serve': ['mcp-policy bundles serve out/ --addr 127.0.0.1:8282'],
  lint: ['mcp-policy lint policy.json', 'mcp-policy lint policy.json --ignore deny_only --deny-warnings'],
  diff: ['mcp-policy diff old.json new.json', 'mcp-policy diff old.json new.json --requests decisions.jsonl'],
  explain: [`echo '{"action":"load","server":"github"}' | mcp-policy explain policy.json`],
  'setup-opa': ['npx mcp-policy setup-opa'],
  proxy: [
    'mcp-policy proxy policy.json -- npx @modelcontextprotocol/server-filesystem /tmp',
    'mcp-policy proxy bundle.tar.gz --upstream-url https://mcp.example.com/mcp --listen http://127.0.0.1:8808/mcp',
  ],
  serve: [
    'mcp-policy serve policy.json --socket /tmp/mcp-policy.sock',
    'mcp-policy serve bundle.tar.gz --addr 127.0.0.1:8181 --decision-log decisions.jsonl',
  ],
  playground: ['mcp-policy playground policy.json', 'mcp-policy playground --addr 127.0.0.1:0'],
  completion: ['mcp-policy completion bash > ~/.local/share/bash-completion/completions/mcp-policy'],
};

/** The space-separated names from the program down to `command`, without the program's own. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command under `program`, depth first. */
export function allCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Adds each command's examples to its `--help`. */
export function addExamples(program: Command): void {
  for (const command of allCommands(program)) {
    const examples = EXAMPLES[commandPath(command)];
    if (examples === undefined) continue;
    command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n`);
  }
}

/**
 * Commander's error text in the house style: no `error:` prefix, its
 * suggestion on the same line, user input in double quotes, lowercase, no
 * final full stop.
 */
export function usageMessage(text: string): string {
  return text
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (one of )?(.+)\?\)\s*$/, (_, many: string | undefined, names: string) =>
      many ? `; did you mean one of ${names}?` : `; did you mean "${names}"?`,
    )
    .replace(/'([^']*)'/g, '"$1"')
    .replace(/\. (\w)/g, (_, c: string) => `; ${c.toLowerCase()}`)
    .replace(/\.$/, '')
    .replace(/^\w/, (c) => c.toLowerCase())
    .trim();
}
