/** Same policy, same bytes: Rego text, bundle and wasm; and the input is never mutated. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compilePolicy, generateRego } from '../src/pipeline/build.js';
import { parsePolicy } from '../src/policy/validate.js';
import { examplePolicies, mustParse } from './helpers.js';

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const child of Object.values(v)) deepFreeze(child);
    Object.freeze(v);
  }
  return v;
}

describe('determinism', () => {
  const example = examplePolicies().find((e) => e.name === 'production')!;
  const text = readFileSync(example.policyFile, 'utf8');

  it('generates byte-identical Rego from separately parsed copies of a policy', () => {
    expect(generateRego(mustParse(text))).toBe(generateRego(mustParse(text)));
  });

  it('does not mutate the policy it compiles', () => {
    const policy = deepFreeze(mustParse(text));
    const before = JSON.stringify(policy);
    expect(() => generateRego(policy)).not.toThrow();
    expect(JSON.stringify(policy)).toBe(before);
  });

  it('builds byte-identical bundles and wasm twice in a row', async () => {
    const a = await compilePolicy(mustParse(text));
    const b = await compilePolicy(mustParse(text));
    expect(Buffer.from(a.bundle).equals(Buffer.from(b.bundle))).toBe(true);
    expect(Buffer.from(a.wasm).equals(Buffer.from(b.wasm))).toBe(true);
    expect(a.revision).toMatch(/^[0-9a-f]{64}$/);
    expect(a.revision).toBe(b.revision);
  });

  it('changes the revision when the policy changes', async () => {
    const other = parsePolicy(text.replace('"default": "deny"', '"default": "allow"')).value!.policy;
    const a = await compilePolicy(mustParse(text));
    const b = await compilePolicy(other);
    expect(a.revision).not.toBe(b.revision);
  });
});
