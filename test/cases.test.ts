/** The table-driven cases under test/cases: validation errors and decisions on every engine. */
import { describe, expect, it } from 'vitest';
import { caseEnterpriseText, casePolicyText, runCaseTable } from '../src/testing/cases.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { parsePolicy } from '../src/policy/validate.js';
import { caseTables, ENGINE_NAMES, engineFor } from './helpers.js';

const tables = caseTables();

describe('case tables', () => {
  it('exist', () => {
    expect(tables.length).toBeGreaterThan(10);
  });

  for (const { name, table } of tables) {
    if (table.errors !== undefined) {
      it(`${name}: reports exactly the expected errors and warnings`, async () => {
        const result = await runCaseTable(table, { engines: [] });
        expect(result.failures).toEqual([]);
        const text = caseEnterpriseText(table) ?? casePolicyText(table);
        expect(text, 'validation tables carry their document').toBeDefined();
        const errors =
          caseEnterpriseText(table) !== undefined ? parseEnterpriseConfig(text!).errors : parsePolicy(text!).errors;
        for (const e of errors) expect(e.message, 'messages are lowercase').toMatch(/^[^A-Z]/);
      });
    } else {
      it(`${name}: expected decisions on ${ENGINE_NAMES.join(', ')}`, async () => {
        const result = await runCaseTable(table, { engines: ENGINE_NAMES, agree: true, open: engineFor });
        expect(result.invalid).toBeUndefined();
        expect(result.failures).toEqual([]);
      });
    }
  }
});
