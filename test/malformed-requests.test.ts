/**
 * Malformed requests, generated: tens of thousands of arbitrary JavaScript
 * values (BigInt, boxed values, null prototypes, sparse arrays, dates, maps,
 * typed arrays, deep nesting, hostile getters and cycles) through the host
 * API of the native and wasm engines, and a few hundred malformed JSON Lines
 * through `eval`: nothing throws, every answer is a well-formed decision that
 * never allows with an error, and the engines give the same answers.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { hostileRequests } from '../src/difftest/generators.js';
import { NativeEngine } from '../src/engines/native.js';
import { WasmEngine } from '../src/engines/wasm.js';
import { type Decision } from '../src/policy/model.js';
import { cli, compiledFor, mustParse, tempFile } from './helpers.js';

const SEED = Number(process.env.MALFORMED_SEED ?? Date.now() % 2 ** 31);
// Printed so a failure can be replayed with MALFORMED_SEED.
console.log(`malformed-requests.test.ts seed ${SEED}`);

const POLICY_TEXT = JSON.stringify({
  version: 1,
  default: 'allow',
  rules: [
    { action: 'invoke', tools: ['delete_*'], deny: true },
    { action: 'load', serverType: 'remote', deny: true },
  ],
});
const POLICY = mustParse(POLICY_TEXT);

const anyValue = fc.anything({
  maxDepth: 40,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

/** Requests that are mostly right: known fields set to arbitrary values, extra fields of any kind. */
const malformedRequest = fc.oneof(
  anyValue,
  fc.record(
    {
      action: fc.oneof(fc.constantFrom('load', 'invoke', 'prompt'), anyValue),
      tool: fc.oneof(fc.constantFrom('delete_x', 'read'), anyValue),
      serverType: fc.oneof(fc.constant('remote'), anyValue),
      extra: anyValue,
    },
    { requiredKeys: [] },
  ),
);

function wellFormed(d: Decision, where: string): void {
  expect(typeof d.allowed, where).toBe('boolean');
  expect(typeof d.reason, where).toBe('string');
  expect(d.rule === null || Number.isInteger(d.rule), where).toBe(true);
  if (d.error !== undefined) expect(d.allowed, `${where}: allowed with an error`).toBe(false);
}

let native: NativeEngine;
let wasm: WasmEngine;

beforeAll(async () => {
  native = new NativeEngine(POLICY);
  wasm = await WasmEngine.load((await compiledFor(POLICY)).bundle);
});

describe('malformed requests through the host API', () => {
  it('20,000 generated values: no throw, well-formed decisions, native and wasm agree', () => {
    const values = [...fc.sample(malformedRequest, { seed: SEED, numRuns: 18_000 }), ...hostileRequests(SEED, 2_000)];
    let invalid = 0;
    for (let k = 0; k < values.length; k += 500) {
      const chunk = values.slice(k, k + 500);
      const batch = wasm.decideBatchSync(chunk);
      expect(batch.length, `seed ${SEED}`).toBe(chunk.length);
      chunk.forEach((value, j) => {
        const where = `seed ${SEED}, value ${k + j}`;
        const n = native.decideSync(value);
        const w = wasm.decideSync(value);
        wellFormed(n, where);
        expect(w, where).toEqual(n);
        expect(batch[j], where).toEqual(n);
        if (n.error !== undefined) invalid++;
      });
    }
    // The generators reach both sides of the boundary.
    expect(invalid).toBeGreaterThan(values.length / 4);
    expect(invalid).toBeLessThan(values.length);
  });
});

/** Lines of JSON Lines input that are not JSON, or JSON no request should be. */
function malformedLines(seed: number, count: number): string[] {
  const json = fc.sample(fc.json({ maxDepth: 6 }), { seed, numRuns: count });
  const broken = (line: string, k: number) => {
    switch (k % 8) {
      case 0:
        return line.slice(0, Math.max(1, line.length >> 1));
      case 1:
        return `{"tool":"delete_x","tool":"read"}`;
      case 2:
        return `{"tool":"read","n":1e400}`;
      case 3:
        return `${'['.repeat(2000 + k)}`;
      case 4:
        return `{"tool":"read","deep":${'['.repeat(40)}${']'.repeat(40)}}`;
      case 5:
        return `{"tool":"\\ud800x","\\udc00":1}`;
      case 6:
        return `{"__proto__":{"tool":"delete_x"},"action":"invoke"}`;
      default:
        return line;
    }
  };
  return json.map((line, k) => broken(line.replace(/\n/g, ' '), k)).filter((l) => l.trim() !== '');
}

describe('malformed requests through the CLI', () => {
  it('300 lines: one decision per line, in order, the same from native and wasm', async () => {
    const lines = malformedLines(SEED, 300);
    const input = tempFile('requests.jsonl', `${lines.join('\n')}\n`);
    const policy = tempFile('policy.json', POLICY_TEXT);
    const outputs: string[][] = [];
    for (const engine of ['native', 'wasm']) {
      const r = await cli(['eval', policy, '--input', input, '--engine', engine]);
      expect(r.stderr, `seed ${SEED}`).toBe('');
      expect(r.code, `seed ${SEED}`).toBe(0);
      const out = r.stdout.trimEnd().split('\n');
      expect(out.length, `seed ${SEED}`).toBe(lines.length);
      out.forEach((line, k) => wellFormed(JSON.parse(line) as Decision, `seed ${SEED}, line ${k + 1}`));
      outputs.push(out);
    }
    expect(outputs[1]).toEqual(outputs[0]);
  });
});
