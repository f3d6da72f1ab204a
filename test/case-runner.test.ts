/** The one case-table runner: errors, warnings and decisions are all checked, through the library and the CLI. */
import { describe, expect, it } from 'vitest';
import { parseCaseFile, runCaseTable } from '../src/cases.js';
import { cli, tempFile } from './helpers.js';

const catchAllFirst = {
  default: 'deny',
  rules: [{ allow: true }, { server: 'x', deny: true }],
};

describe('case-table runner', () => {
  it('fails a table that expects a warning the policy does not produce', async () => {
    const table = parseCaseFile(
      JSON.stringify({ policy: catchAllFirst, errors: [], warnings: [{ code: 'unreachable_rule', path: '/rules/7' }] }),
    );
    const result = await runCaseTable(table, { engines: [] });
    expect(result.failures.map((f) => f.problems.join('; '))).toEqual([
      'expected warning unreachable_rule at /rules/7',
      'unexpected warning unreachable_rule at /rules/1: rule 1 can never apply: rule 0 has no conditions and matches every request',
    ]);
  });

  it('passes a table whose warnings are exactly the ones produced', async () => {
    const table = parseCaseFile(
      JSON.stringify({ policy: catchAllFirst, errors: [], warnings: [{ code: 'unreachable_rule', path: '/rules/1' }] }),
    );
    expect((await runCaseTable(table, { engines: [] })).failures).toEqual([]);
  });

  it('checks warnings next to decisions, and decisions on each engine', async () => {
    const table = parseCaseFile(
      JSON.stringify({
        policy: catchAllFirst,
        warnings: [{ code: 'unreachable_rule', path: '/rules/1' }],
        requests: [{ request: { server: 'x' }, expect: { allowed: false, rule: 1 } }],
      }),
    );
    const result = await runCaseTable(table, { engines: ['native'] });
    expect(result.failures).toEqual([
      {
        where: '/requests/0',
        engine: 'native',
        problems: ['allowed is true, expected false', 'rule is 0, expected 1'],
      },
    ]);
  });

  it('rejects expected codes that do not exist', () => {
    expect(() =>
      parseCaseFile(JSON.stringify({ policy: catchAllFirst, errors: [{ code: 'made_up', path: '' }] })),
    ).toThrow(/errors\/0\/code/);
  });

  it('is what `mcp-policy test` runs: a made-up warning fails it', async () => {
    const policy = tempFile('policy.json', JSON.stringify(catchAllFirst));
    const made = tempFile(
      'cases.json',
      JSON.stringify({ errors: [], warnings: [{ code: 'unreachable_rule', path: '/rules/9' }] }),
    );
    const r = await cli(['test', policy, made]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('FAIL');
    expect(r.stdout).toContain('expected warning unreachable_rule at /rules/9');
  });
});
