/**
 * Generated malformed documents through every reader: deep, large and
 * alias-heavy documents, duplicate keys, wrong types, invalid UTF-8, BOMs,
 * truncations and random edits of valid policies and enterprise configs.
 * Thousands go through every library reader in `npm test` (set
 * MALFORMED_RUNS=50000 for a longer campaign) and a few hundred through the
 * CLI; none may throw or hang, and every rejection has a documented code and
 * a location. Seeded; the seed is printed (replay with MALFORMED_SEED).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readJson } from '../src/diagnostics/json.js';
import { decodeUtf8 } from '../src/diagnostics/text.js';
import { parseEnterpriseConfig, validateLocalSettings } from '../src/enterprise/validate.js';
import { ERROR_CODES, type Issue } from '../src/core/errors.js';
import { parseAnyDocument } from '../src/policy/any-document.js';
import { parsePolicy } from '../src/policy/validate.js';
import { cli, EXAMPLES, tempFile } from './helpers.js';

const SEED = Number(process.env.MALFORMED_SEED ?? Date.now() % 2 ** 31);
console.log(`malformed-input.test.ts seed ${SEED} (replay with MALFORMED_SEED=${SEED})`);
const LIBRARY_RUNS = Number(process.env.MALFORMED_RUNS ?? 5_000);
const CLI_RUNS = 300;

const valid: string[] = [
  ...readdirSync(EXAMPLES)
    .filter((f) => f.endsWith('.json') && !f.endsWith('.cases.json'))
    .map((f) => readFileSync(join(EXAMPLES, f), 'utf8')),
  ...readdirSync(join(EXAMPLES, 'enterprise')).map((f) => readFileSync(join(EXAMPLES, 'enterprise', f), 'utf8')),
];

const codes = new Set<string>(ERROR_CODES);

/** What must hold for every issue: a documented code, a pointer, a lowercase message, a place in the text. */
function problems(issue: Issue, where: string): string[] {
  const out: string[] = [];
  if (!codes.has(issue.code)) out.push(`${where}: undocumented code ${issue.code}`);
  if (typeof issue.path !== 'string' || !(issue.path === '' || issue.path.startsWith('/'))) {
    out.push(`${where}: bad pointer ${JSON.stringify(issue.path)}`);
  }
  if (issue.path === '' && !issue.message.includes('document') && issue.within === undefined) {
    out.push(`${where}: a root issue whose message does not say so: ${issue.message}`);
  }
  if (!/^[^A-Z]/.test(issue.message)) out.push(`${where}: message not lowercase: ${issue.message}`);
  if (issue.within === undefined && (issue.line === undefined || issue.column === undefined)) {
    out.push(`${where}: no line and column for ${issue.code} at ${issue.path}`);
  }
  return out;
}

// Around the depth limit mostly; now and then far beyond it. Indented YAML grows quadratically, so it stays near the limit.
const deep = fc
  .tuple(
    fc.oneof(
      { weight: 9, arbitrary: fc.integer({ min: 95, max: 105 }) },
      { weight: 1, arbitrary: fc.integer({ min: 1000, max: 6000 }) },
    ),
    fc.constantFrom('[', '{"a":', '- ', 'a:\n', '{a: ', '[{"b":'),
  )
  .map(([n, open]) =>
    open === 'a:\n'
      ? Array.from({ length: Math.min(n, 110) }, (_, k) => `${' '.repeat(k)}a:`).join('\n')
      : open.repeat(n),
  );
// Doubling chains, mostly small; a few past the value limit (2^17 values), and single chains past the alias limit.
const aliases = fc
  .oneof(
    { weight: 20, arbitrary: fc.integer({ min: 2, max: 10 }) },
    { weight: 1, arbitrary: fc.integer({ min: 17, max: 18 }) },
    { weight: 1, arbitrary: fc.integer({ min: 999, max: 1002 }).map((n) => -n) },
  )
  .map((n) => {
    let text = 'a0: &a0 [x, y]\n';
    for (let i = 1; i < Math.abs(n); i++) {
      text += n > 0 ? `a${i}: &a${i} [*a${i - 1}, *a${i - 1}]\n` : `a${i}: &a${i} [*a${i - 1}]\n`;
    }
    return text;
  });
const manyKeys = fc
  .integer({ min: 1, max: 3000 })
  .map((n) => Array.from({ length: n }, (_, i) => `k${i % 97}: ${i}`).join('\n'));
const wrongTypes = fc
  .record({
    default: fc.jsonValue({ maxDepth: 2 }),
    rules: fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.array(
        fc.dictionary(
          fc.constantFrom('allow', 'deny', 'server', 'tools', 'action', 'x'),
          fc.jsonValue({ maxDepth: 2 }),
        ),
      ),
    ),
  })
  .map((v) => JSON.stringify(v));
const yamlScalars = fc
  .tuple(
    fc.constantFrom('playground', 'degraded_mode', 'telemetry', 'build_env'),
    fc.constantFrom('.nan', '.inf', '-.inf', '~', "''", '0x1F', '1e400', '!!binary aGk=', '[1, {a: *x}]', '"\\ud800"'),
  )
  .map(([key, v]) => `${key}:\n  value: ${v}\n  enforcement: ${v}\n`);
const edited = fc
  .tuple(
    fc.constantFrom(...valid),
    fc.nat(),
    fc.nat(),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.constantFrom('cut', 'insert', 'duplicate', 'bom', 'swap'),
  )
  .map(([text, a, b, noise, how]) => {
    const i = a % (text.length + 1);
    const j = b % (text.length + 1);
    switch (how) {
      case 'cut':
        return text.slice(0, i);
      case 'insert':
        return text.slice(0, i) + noise + text.slice(i);
      case 'duplicate': {
        const lines = text.split('\n');
        const k = a % lines.length;
        lines.splice(k, 0, lines[k]!);
        return lines.join('\n');
      }
      case 'bom':
        return `\uFEFF${text}`;
      default:
        return text.slice(0, Math.min(i, j)) + text.slice(Math.max(i, j)) + text.slice(Math.min(i, j), Math.max(i, j));
    }
  });
const invalidUtf8 = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => {
  const decoded = decodeUtf8(bytes);
  return 'text' in decoded ? decoded.text : new TextDecoder().decode(bytes);
});
const loneSurrogates = fc
  .string({ unit: 'binary', maxLength: 40 })
  .map((s) =>
    `{"default": "allow", "rules": [{"server": ${JSON.stringify(s)}, "allow": true}]}`.replace(
      '"allow", "rules"',
      '"allow", "rules"',
    ),
  );

const document = fc.oneof(
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: aliases },
  { weight: 1, arbitrary: manyKeys },
  { weight: 2, arbitrary: wrongTypes },
  { weight: 2, arbitrary: yamlScalars },
  { weight: 6, arbitrary: edited },
  { weight: 1, arbitrary: invalidUtf8 },
  { weight: 1, arbitrary: loneSurrogates },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }) },
);

describe('malformed documents', () => {
  it(
    `through the library: ${LIBRARY_RUNS} documents, every reader, no throw, every issue coded and located`,
    { timeout: 600_000 },
    () => {
      let rejected = 0;
      fc.assert(
        fc.property(document, (text) => {
          const found: string[] = [];
          const policy = parsePolicy(text);
          policy.errors.forEach((e, k) => found.push(...problems(e, `policy error ${k}`)));
          policy.warnings.forEach((e, k) => found.push(...problems(e, `policy warning ${k}`)));
          if (!policy.value?.policy) {
            rejected++;
            if (policy.errors.length === 0) found.push('policy rejected without an error');
          }
          const config = parseEnterpriseConfig(text);
          config.errors.forEach((e, k) => found.push(...problems(e, `enterprise error ${k}`)));
          config.warnings.forEach((e, k) => found.push(...problems(e, `enterprise warning ${k}`)));
          if (!config.value && config.errors.length === 0) found.push('config rejected without an error');
          const doc = readJson(text);
          if (doc.value !== undefined) validateLocalSettings(doc.value);
          const any = parseAnyDocument(text);
          any.errors.forEach((e, k) => found.push(...problems(e, `document error ${k}`)));
          if (!any.value && any.errors.length === 0) found.push('document rejected without an error');
          if (found.length > 0) throw new Error(`${found.join('\n')}\ninput: ${JSON.stringify(text.slice(0, 300))}`);
        }),
        { seed: SEED, numRuns: LIBRARY_RUNS },
      );
      expect(rejected).toBeGreaterThan(LIBRARY_RUNS / 2);
    },
  );

  it(
    `through the CLI: ${CLI_RUNS} files, check --json always answers in JSON with exit 0 or 1`,
    { timeout: 600_000 },
    async () => {
      const bytes = fc.oneof(
        document.map((t) => new TextEncoder().encode(t)),
        fc.uint8Array({ maxLength: 200 }),
        fc
          .tuple(fc.constantFrom(...valid), fc.uint8Array({ minLength: 1, maxLength: 4 }))
          .map(([t, b]) => new Uint8Array([...new TextEncoder().encode(t.slice(0, 40)), 0xff, ...b])),
      );
      const samples = fc.sample(fc.tuple(bytes, fc.constantFrom('doc.json', 'doc.yaml', 'doc')), {
        seed: SEED,
        numRuns: CLI_RUNS,
      });
      const file = tempFile('placeholder', '');
      for (const [content, name] of samples) {
        const path = `${file}-${name}`;
        writeFileSync(path, content);
        const r = await cli(['check', '--json', path]);
        const label = `${name} ${JSON.stringify(new TextDecoder().decode(content).slice(0, 120))}`;
        expect([0, 1], label).toContain(r.code);
        const out = JSON.parse(r.stdout) as { valid: boolean; errors: Issue[]; warnings: Issue[] };
        expect(out.valid, label).toBe(r.code === 0);
        if (!out.valid) expect(out.errors.length, label).toBeGreaterThan(0);
        expect([...out.errors, ...out.warnings].flatMap((e) => problems(e, label))).toEqual([]);
      }
    },
  );
});
