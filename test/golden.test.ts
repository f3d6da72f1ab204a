/**
 * Golden files: the Rego generated for each example, byte for byte. A change
 * to the emitter shows up here as a readable diff; regenerate deliberately
 * with `UPDATE_GOLDEN=1 npm test`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateRego } from '../src/compile.js';
import { examplePolicies, mustParse, ROOT } from './helpers.js';

const update = process.env.UPDATE_GOLDEN === '1';

describe('golden Rego', () => {
  for (const example of examplePolicies()) {
    it(example.name, () => {
      const rego = generateRego(mustParse(readFileSync(example.policyFile, 'utf8')));
      const golden = join(ROOT, 'test', 'golden', `${example.name}.rego`);
      if (update || !existsSync(golden)) {
        if (!update) throw new Error(`missing ${golden}: run UPDATE_GOLDEN=1 npm test`);
        writeFileSync(golden, rego);
      }
      expect(rego).toBe(readFileSync(golden, 'utf8'));
    });
  }
});
