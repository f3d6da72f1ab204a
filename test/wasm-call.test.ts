/**
 * The direct `opa_eval` call the wasm engine makes instead of the SDK's
 * `evaluate`: same answers as the SDK, lone surrogates made well-formed as
 * Go's decoder does, and inputs larger than the module's memory (which must
 * grow, detaching earlier views of it).
 */
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { describe, expect, it } from 'vitest';
import { DirectCall } from '../src/engines/wasm-call.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { DECISION_ENTRYPOINT } from '../src/pipeline/emit.js';
import { compiledFor, mustParse } from './helpers.js';

const policy = mustParse(
  JSON.stringify({
    version: 1,
    default: 'deny',
    rules: [
      { server: 'a\ufffd', allow: true, reason: 'replacement character' },
      { server: 'big-*', tools: ['*x*'], allow: true },
    ],
  }),
);

describe('direct wasm call', () => {
  it('answers exactly as the SDK evaluate does', async () => {
    const c = await compiledFor(policy);
    const sdk = await loadPolicy(c.wasm);
    sdk.setData(JSON.parse(c.data) as object);
    const direct = DirectCall.of(sdk);
    expect(direct).toBeDefined();
    const id = (sdk.entrypoints as Record<string, number>)[DECISION_ENTRYPOINT]!;
    for (const input of [{}, { server: 'a\ufffd' }, { server: 'big-1', tool: 'axb' }, { tool: 5 }, { server: 'é😀' }]) {
      expect(direct!.evaluate(JSON.stringify(input), id)).toEqual(sdk.evaluate(input, DECISION_ENTRYPOINT));
    }
  });

  it('makes lone surrogates well-formed before they reach the module', async () => {
    const engine = await WasmEngine.load((await compiledFor(policy)).bundle);
    expect(engine.decideSync({ server: 'a\ud800' })).toEqual({
      allowed: true,
      reason: 'replacement character',
      rule: 0,
    });
    expect(engine.decideSync({ server: 'a\udfff', note: '\\ud800' })).toMatchObject({ rule: 0 });
    expect(engine.decideSync({ server: 'a\\ud800' })).toMatchObject({ rule: null });
  });

  it('grows memory for inputs larger than it and keeps deciding', async () => {
    const engine = await WasmEngine.load((await compiledFor(policy)).bundle);
    const requests = Array.from({ length: 3000 }, (_, k) => ({
      server: `big-${k}`,
      tool: `${'y'.repeat(2000)}${k % 2 ? 'x' : ''}`,
    }));
    const decisions = engine.decideBatchSync(requests);
    expect(decisions.map((d) => d.rule)).toEqual(requests.map((_, k) => (k % 2 ? 1 : null)));
    expect(engine.decideSync({ server: 'a\ufffd' }).rule).toBe(0);
  });
});
