/** The native matcher and canonicalisation against independent references. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalImageReference, sourceForms, wildcardMatch } from '../src/native/match.js';

function referenceMatch(pattern: string, value: string): boolean {
  const body = pattern
    .split('*')
    .map((piece) => piece.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'))
    .join('[\\s\\S]*');
  return new RegExp(`^${body}$`, 'u').test(value);
}

// A small alphabet makes matches likely; astral and combining characters test code units against code points.
const char = fc.constantFrom('a', 'b', '*', '/', '.', '\n', '?', '[', '\\', 'é', 'e\u0301', '😀', '中');
const text = fc.array(char, { maxLength: 10 }).map((cs) => cs.join(''));

describe('wildcardMatch', () => {
  it('agrees with a regular expression built with [\\s\\S]*', () => {
    fc.assert(
      fc.property(text, text, (pattern, value) => {
        const v = value.replaceAll('*', 'a');
        expect(wildcardMatch(pattern, v)).toBe(referenceMatch(pattern, v));
      }),
      { numRuns: 20_000 },
    );
  });

  it('matches a pattern against the pattern text itself and every star-filling', () => {
    fc.assert(
      fc.property(text, fc.array(text, { minLength: 5, maxLength: 5 }), (pattern, fills) => {
        let k = 0;
        const witness = pattern.replace(/\*/g, () => fills[k++ % fills.length]!);
        expect(wildcardMatch(pattern, witness)).toBe(true);
      }),
    );
  });

  it('handles the documented examples', () => {
    expect(wildcardMatch('a*b*c', 'a\nb\nc')).toBe(true);
    expect(wildcardMatch('a*b*c', 'acb')).toBe(false);
    expect(wildcardMatch('file?', 'files')).toBe(false);
    expect(wildcardMatch('*', '')).toBe(true);
    expect(wildcardMatch('ab*b', 'ab')).toBe(false);
  });
});

describe('canonicalImageReference', () => {
  it('expands short references like Docker and leaves registries alone', () => {
    expect(canonicalImageReference('alpine')).toBe('docker.io/library/alpine');
    expect(canonicalImageReference('mcp/x@sha256:00')).toBe('docker.io/mcp/x@sha256:00');
    expect(canonicalImageReference('ghcr.io/o/x')).toBe('ghcr.io/o/x');
    expect(canonicalImageReference('localhost/x')).toBe('localhost/x');
    expect(canonicalImageReference('host:5000/x')).toBe('host:5000/x');
    expect(sourceForms('https://mcp.example.com/sse')).toEqual(['https://mcp.example.com/sse']);
    expect(sourceForms('ghcr.io/o/x')).toEqual(['ghcr.io/o/x']);
  });
});
