/** Input edges: a BOM before eval input, and hand-built Policy objects given to the library. */
import { describe, expect, it } from 'vitest';
import { compilePolicy, generateRego } from '../src/pipeline/build.js';
import { NativeEngine } from '../src/engines/native.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { PolicyValidationError } from '../src/core/errors.js';
import { type Policy } from '../src/policy/model.js';
import { cli, tempFile } from './helpers.js';

describe('eval input', () => {
  it('skips a byte-order mark before the first request, as the policy reader does', async () => {
    const policy = tempFile('p.json', JSON.stringify({ default: 'deny', rules: [{ server: 'x', allow: true }] }));
    const r = await cli(['eval', policy, '--engine', 'native'], '\uFEFF{"server": "x"}\n\n{"server": "y"}\n');
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      { allowed: true, reason: 'allowed by rule 0', rule: 0 },
      { allowed: false, reason: 'no rule matched; default deny', rule: null },
    ]);
  });
});

describe('hand-built policies', () => {
  // `deny: true` without `allow` is the file format, not the model: the library validates what it is given.
  const handBuilt = { version: 1, default: 'allow', rules: [{ server: 'x', deny: true }] } as unknown as Policy;

  it('are validated before Rego is generated, so opa accepts the module and engines agree', async () => {
    expect(generateRego(handBuilt)).toContain('"allowed": false');
    const wasm = await WasmEngine.load((await compilePolicy(handBuilt)).bundle);
    const native = new NativeEngine(handBuilt);
    for (const request of [{ server: 'x' }, { server: 'y' }]) {
      expect(await wasm.decide(request)).toEqual(await native.decide(request));
    }
    expect(await native.decide({ server: 'x' })).toMatchObject({ allowed: false, rule: 0 });
    await wasm.close();
  });

  it('are rejected with their issues when invalid', () => {
    const bad = { version: 1, default: 'allow', rules: [{ allow: 'yes' }] } as unknown as Policy;
    for (const use of [() => generateRego(bad), () => new NativeEngine(bad)]) {
      expect(use).toThrow(PolicyValidationError);
      try {
        use();
      } catch (e) {
        expect((e as PolicyValidationError).code).toBe('invalid_policy');
        expect((e as PolicyValidationError).issues).toMatchObject([{ code: 'invalid_type', path: '/rules/0/allow' }]);
      }
    }
  });
});
