/** The table-driven cases under test/cases: validation errors and decisions on every engine. */
import { describe, expect, it } from 'vitest';
import { caseEnterpriseText, casePolicyText, checkConfig, runCaseTable } from '../src/cases.js';
import { parseEnterpriseConfig } from '../src/enterprise/validate.js';
import { parsePolicy } from '../src/policy/validate.js';
import {
  caseTables,
  configEverywhere,
  decideEverywhere,
  ENGINE_NAMES,
  expectTable,
  tableEnterprise,
  tablePolicy,
} from './helpers.js';

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
        const policy = tablePolicy(table);
        const enterprise = tableEnterprise(table);
        const extras = enterprise ? { enterprise } : {};
        const cases = table.requests ?? [];
        const byEngine = await decideEverywhere(
          policy,
          cases.map((c) => c.request),
          extras,
        );
        expectTable(byEngine, cases);
        const configs = table.configs ?? [];
        if (configs.length === 0) return;
        const byEngineConfig = await configEverywhere(
          policy,
          extras,
          configs.map((c) => c.local ?? {}),
        );
        for (const engine of ENGINE_NAMES) {
          const failures = configs.flatMap((c, k) => {
            const problems = checkConfig(byEngineConfig[engine][k], c.expect);
            return problems.length > 0 ? [`/configs/${k} ${c.note ?? ''}: ${problems.join('; ')}`] : [];
          });
          expect(failures, engine).toEqual([]);
          expect(byEngineConfig[engine]).toEqual(byEngineConfig.native);
        }
      });
    }
  }
});
