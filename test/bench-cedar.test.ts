/**
 * The Cedar policy sets the Speed II bench writes decide as the mcp-policy
 * lists they stand for: each shape's allowlist and denylist, on every rule's
 * own value, on values near it, and on values no rule matches. The bench
 * checks its measured requests again before timing; this checks many more.
 */
import { describe, expect, it } from 'vitest';
import { cedarEngine, cedarPolicies, type List, policyOf, SHAPES } from '../scripts/bench-cedar.js';
import { NativeEngine } from '../src/engines/native.js';
import { loadPolicyText, type PolicyRequest } from '../src/index.js';

const SIZE = 60;

/** Every rule's value, and values around it: cut, extended, another case, two run together. */
function values(shape: (typeof SHAPES)[number]): string[] {
  const out = [shape.none, '', '*', 'team-*', '\\', '"'];
  for (let i = 0; i < SIZE; i++) {
    const v = shape.value(i);
    out.push(v, v.slice(1), v.slice(0, -1), `${v}x`, `x${v}`, v.toUpperCase(), `${v}${shape.value((i + 7) % SIZE)}`);
  }
  return out;
}

describe('the Speed II bench: Cedar equivalents of the lists', () => {
  for (const shape of SHAPES) {
    for (const list of ['allowlist', 'denylist'] as List[]) {
      it(`decide the ${shape.name} ${list} as the native engine does`, () => {
        const native = new NativeEngine(loadPolicyText(JSON.stringify(policyOf(shape, list, SIZE))).policy);
        const cedar = cedarEngine(cedarPolicies(shape, list, SIZE));
        let allowed = 0;
        for (const server of values(shape)) {
          const request: PolicyRequest = { action: 'invoke', server };
          const expected = native.decideSync(request);
          expect(expected.error).toBeUndefined();
          expect(cedar(request), JSON.stringify(server)).toBe(expected.allowed);
          if (expected.allowed) allowed++;
        }
        // Both decisions occur, so agreeing is not agreeing on a constant.
        expect(allowed).toBeGreaterThan(SIZE / 2);
        expect(allowed).toBeLessThan(values(shape).length - SIZE / 2);
      });
    }
  }
});
