/** The one case-table runner: errors, warnings and decisions are all checked, through the library and the CLI. */
import { describe, expect, it } from 'vitest';
import { parseCaseFile, runCaseTable } from '../src/testing/cases.js';
import { type Engine, type EngineName } from '../src/engines/engine.js';
import { NativeEngine } from '../src/engines/native.js';
import { type Policy } from '../src/policy/model.js';
import { cli, engineFor, tempFile } from './helpers.js';

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
        engines: ['native'],
        problems: ['allowed is true, expected false', 'rule is 0, expected 1'],
        expected: { allowed: false, rule: 1 },
        actual: expect.objectContaining({ allowed: true, rule: 0 }),
      },
    ]);
  });

  it('with agree, fails an engine whose answer differs from the first engine in a field the table leaves open', async () => {
    const table = parseCaseFile(
      JSON.stringify({ policy: catchAllFirst, requests: [{ request: { server: 'y' }, expect: { allowed: true } }] }),
    );
    // Native twice, the second with its reasons changed: only the comparison between engines can see it.
    const open = (name: EngineName, policy: Policy): Promise<Engine> => {
      const engine = new NativeEngine(policy);
      if (name === 'native') return Promise.resolve(engine);
      const decideBatch = engine.decideBatch.bind(engine);
      return Promise.resolve(
        Object.assign(engine, {
          decideBatch: async (r: readonly unknown[]) => (await decideBatch(r)).map((d) => ({ ...d, reason: 'other' })),
        }),
      );
    };
    const alone = await runCaseTable(table, { engines: ['native', 'wasm'], open });
    expect(alone.failures).toEqual([]);
    const agreeing = await runCaseTable(table, { engines: ['native', 'wasm'], agree: true, open });
    expect(agreeing.failures).toHaveLength(1);
    expect(agreeing.failures[0]).toMatchObject({ where: '/requests/0', engines: ['wasm'] });
    expect(agreeing.failures[0]!.problems[0]).toMatch(/^differs from native: /);
  });

  it("skips go-wasm's documented limitation only on requests it explains", async () => {
    const table = parseCaseFile(
      JSON.stringify({
        policy: catchAllFirst,
        requests: [
          { request: { server: 'a\u0001b' }, expect: { allowed: true, rule: 0 } },
          { request: { server: 'plain' }, expect: { allowed: true, rule: 0 } },
        ],
      }),
    );
    const result = await runCaseTable(table, { engines: ['native', 'go-wasm'], agree: true, open: engineFor });
    expect(result.failures).toEqual([]);
    expect(result.skipped).toBe(1);
    expect(result.summary).toMatch(/1 skipped \(go-wasm cannot read them\)$/);
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
