/** The table-driven cases under test/cases: validation errors and decisions on every engine. */
import { describe, expect, it } from 'vitest';
import { casePolicyText, checkConfig } from '../src/cases.js';
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
    if (table.errors !== undefined && table.enterpriseText !== undefined) {
      it(`${name}: reports exactly the expected enterprise config errors`, () => {
        const result = parseEnterpriseConfig(table.enterpriseText!);
        expect(result.config).toBeUndefined();
        const key = (e: { code: string; path: string }) => `${e.code} ${e.path}`;
        expect(result.errors.map(key).sort()).toEqual(table.errors!.map(key).sort());
      });
    } else if (table.errors !== undefined) {
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
