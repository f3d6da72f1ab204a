/** The table-driven cases under test/cases: validation errors and decisions on every engine. */
import { describe, expect, it } from 'vitest';
import { casePolicyText } from '../src/cases.js';
import { parsePolicy } from '../src/policy/validate.js';
import { caseTables, decideEverywhere, ENGINE_NAMES, expectTable, tablePolicy } from './helpers.js';

const tables = caseTables();

describe('case tables', () => {
  it('exist', () => {
    expect(tables.length).toBeGreaterThan(10);
  });

  for (const { name, table } of tables) {
    if (table.errors !== undefined) {
      it(`${name}: reports exactly the expected errors`, () => {
        const text = casePolicyText(table);
        expect(text, 'validation tables carry their policy').toBeDefined();
        const result = parsePolicy(text!);
        expect(result.policy).toBeUndefined();
        const key = (e: { code: string; path: string; within?: string | undefined }) =>
          `${e.code} ${e.within ?? ''}${e.path}`;
        expect(result.errors.map(key).sort()).toEqual(table.errors!.map(key).sort());
        for (const e of result.errors) {
          expect(e.message, 'messages are lowercase').toMatch(/^[^A-Z]/);
        }
      });
    } else {
      it(`${name}: expected decisions on ${ENGINE_NAMES.join(', ')}`, async () => {
        const policy = tablePolicy(table);
        const cases = table.requests ?? [];
        const byEngine = await decideEverywhere(
          policy,
          cases.map((c) => c.request),
        );
        expectTable(byEngine, cases);
      });
    }
  }
});
