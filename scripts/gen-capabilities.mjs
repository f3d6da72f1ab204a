#!/usr/bin/env node
// Writes wasm/capabilities.json: the capabilities of the pinned opa release,
// cut down to the builtins that the WebAssembly target compiles natively
// (so no policy needs JavaScript builtins from the SDK) minus the RE2-based
// ones (glob.match, regex.*), whose newline handling differs from OPA's
// interpreter. `opa check` and `opa build` use it, so generated or helper Rego
// that strays outside this set fails to compile instead of misbehaving.
// Usage: node scripts/gen-capabilities.mjs [--check] [path-to-opa]
// --check exits 1 when the committed file differs from what would be written.
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const version = /^require github\.com\/open-policy-agent\/opa v(\S+)$/m.exec(
  readFileSync(join(root, 'tools', 'opa', 'go.mod'), 'utf8'),
)[1];
const args = process.argv.slice(2);
const check = args.includes('--check');
const opa = args.find((a) => a !== '--check') ?? process.env.OPA_BIN ?? join(root, '.tools', 'opa', version, 'opa');

// Builtins implemented inside the wasm runtime (opa's internal/compiler/wasm),
// without RE2. Operators such as `=` and `:=` are builtins too.
const WASM_NATIVE = new Set([
  'eq',
  'assign',
  'equal',
  'neq',
  'gt',
  'gte',
  'lt',
  'lte',
  'plus',
  'minus',
  'mul',
  'div',
  'abs',
  'round',
  'ceil',
  'floor',
  'rem',
  'array.concat',
  'array.flatten',
  'array.reverse',
  'array.slice',
  'and',
  'or',
  'intersection',
  'union',
  'is_number',
  'is_string',
  'is_boolean',
  'is_array',
  'is_set',
  'is_object',
  'is_null',
  'type_name',
  'bits.or',
  'bits.and',
  'bits.negate',
  'bits.xor',
  'bits.lsh',
  'bits.rsh',
  'count',
  'sum',
  'product',
  'max',
  'min',
  'sort',
  'all',
  'any',
  'object.filter',
  'object.get',
  'object.keys',
  'object.remove',
  'object.union',
  'object.union_n',
  'concat',
  'format_int',
  'indexof',
  'substring',
  'lower',
  'upper',
  'contains',
  'startswith',
  'endswith',
  'strings.reverse',
  'split',
  'replace',
  'strings.replace_n',
  'trim',
  'trim_left',
  'trim_prefix',
  'trim_right',
  'trim_suffix',
  'trim_space',
  'numbers.range',
  'to_number',
  'walk',
  'graph.reachable',
  'json.remove',
  'json.filter',
  'json.unmarshal',
  'internal.member_2',
  'internal.member_3',
]);

const current = JSON.parse(execFileSync(opa, ['capabilities', '--current'], { encoding: 'utf8' }));
const builtins = current.builtins.filter((b) => WASM_NATIVE.has(b.name));
const missing = [...WASM_NATIVE].filter((name) => !builtins.some((b) => b.name === name));
if (missing.length > 0) {
  console.error(`opa ${version} does not declare: ${missing.join(', ')}`);
  process.exit(1);
}
const capabilities = {
  builtins: builtins.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  features: current.features,
  future_keywords: current.future_keywords,
  wasm_abi_versions: current.wasm_abi_versions,
};
const target = join(root, 'wasm', 'capabilities.json');
const text = `${JSON.stringify(capabilities, null, 2)}\n`;
if (check) {
  const same = readFileSync(target, 'utf8') === text;
  console.log(same ? `${target} is up to date` : `${target} is stale: run node scripts/gen-capabilities.mjs`);
  process.exit(same ? 0 : 1);
}
writeFileSync(`${target}.tmp`, text);
renameSync(`${target}.tmp`, target);
console.log(`wrote ${target}: ${builtins.length} builtins of opa ${version}`);
