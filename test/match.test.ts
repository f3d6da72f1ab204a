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

  it("follows Docker's ParseNormalizedNamed for the Docker Hub domains and capitals", () => {
    // Pairs as distribution/reference normalises them.
    const docker: [string, string][] = [
      ['docker.io/alpine', 'docker.io/library/alpine'],
      ['docker.io/alpine:3.20', 'docker.io/library/alpine:3.20'],
      ['docker.io/alpine@sha256:00', 'docker.io/library/alpine@sha256:00'],
      ['docker.io/library/alpine', 'docker.io/library/alpine'],
      ['docker.io/mcp/x', 'docker.io/mcp/x'],
      ['index.docker.io/mcp/evil', 'docker.io/mcp/evil'],
      ['index.docker.io/mcp/evil:1@sha256:00', 'docker.io/mcp/evil:1@sha256:00'],
      ['index.docker.io/alpine', 'docker.io/library/alpine'],
      ['index.docker.io/library/alpine', 'docker.io/library/alpine'],
      ['Docker.io/alpine', 'Docker.io/alpine'],
      ['INDEX.DOCKER.IO/mcp/x', 'INDEX.DOCKER.IO/mcp/x'],
      ['docker.iox/alpine', 'docker.iox/alpine'],
      ['Mcp/x', 'Mcp/x'],
      ['Localhost/x', 'Localhost/x'],
      ['mcp/X', 'docker.io/mcp/X'],
    ];
    for (const [ref, canonical] of docker) expect(canonicalImageReference(ref), ref).toBe(canonical);
    expect(sourceForms('index.docker.io/mcp/evil')).toEqual(['index.docker.io/mcp/evil', 'docker.io/mcp/evil']);
    expect(sourceForms('docker.io/library/alpine')).toEqual(['docker.io/library/alpine']);
    // Only ASCII capitals name a registry: Unicode case tables differ between engines.
    expect(canonicalImageReference('Émcp/x')).toBe('docker.io/Émcp/x');
    expect(sourceForms('https://index.docker.io/mcp/evil')).toEqual(['https://index.docker.io/mcp/evil']);
  });
});
