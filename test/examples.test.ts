/** Every example policy, with its table of expected decisions, on every engine. */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCaseFile, runCaseTable } from '../src/testing/cases.js';
import { ENGINE_NAMES, engineFor, examplePolicies } from './helpers.js';

const examples = examplePolicies();

describe('examples', () => {
  it('are all there, each with a case table', () => {
    expect(examples.map((e) => e.name)).toEqual([
      'admin-settings',
      'block-registries',
      'block-server',
      'block-tools',
      'default-deny-allowlist',
      'default-deny-load-invoke',
      'production',
      'transport',
    ]);
    for (const e of examples) expect(existsSync(e.casesFile), e.casesFile).toBe(true);
  });

  for (const example of examples) {
    it(`${example.name}: expected decisions on ${ENGINE_NAMES.join(', ')}`, async () => {
      const table = parseCaseFile(readFileSync(example.casesFile, 'utf8'), example.casesFile);
      expect(table.requests?.length).toBeGreaterThanOrEqual(5);
      const result = await runCaseTable(table, {
        engines: ENGINE_NAMES,
        agree: true,
        open: engineFor,
        policyText: readFileSync(example.policyFile, 'utf8'),
      });
      expect(result.invalid).toBeUndefined();
      expect(result.failures).toEqual([]);
    });
  }
});
