/**
 * The native engine's string semantics: `*` wildcard matching and Docker image
 * reference canonicalisation. Written independently of the Rego lowering (which
 * keeps patterns as data and searches with string builtins), so that the two
 * implementations check each other.
 */

/** A compiled `*` pattern: whole-string match of one value. */
export type Matcher = (value: string) => boolean;

/**
 * Compiles a pattern: `*` matches any run of characters, including none, `/`
 * and newline; every other character is literal. Pieces between stars are
 * found leftmost-first, each search starting where the previous piece ended:
 * a pattern has a match exactly when this finds one, and the cost is one
 * `indexOf` per piece, linear in the value, never backtracking. Compares
 * UTF-16 code units, which for well-formed strings (policies are validated,
 * requests made well-formed) gives the same answer as comparing code points:
 * a literal piece cannot start on the second half of a surrogate pair.
 */
export function compilePattern(pattern: string): Matcher {
  if (!pattern.includes('*')) return (value) => value === pattern;
  const pieces = pattern.split('*');
  const prefix = pieces[0] ?? '';
  const suffix = pieces[pieces.length - 1] ?? '';
  const middles = pieces.slice(1, -1).filter((p) => p !== '');
  const ends = prefix.length + suffix.length;
  if (middles.length === 0) {
    if (ends === 0) return () => true;
    return (value) => value.length >= ends && value.startsWith(prefix) && value.endsWith(suffix);
  }
  return (value) => {
    if (value.length < ends || !value.startsWith(prefix) || !value.endsWith(suffix)) return false;
    const end = value.length - suffix.length;
    let pos = prefix.length;
    for (const piece of middles) {
      const at = value.indexOf(piece, pos);
      // A leftmost occurrence that runs into the suffix means every later one does too.
      if (at < 0 || at + piece.length > end) return false;
      pos = at + piece.length;
    }
    return true;
  };
}

/** Whole-string wildcard match of one value; see {@link compilePattern}. */
export function wildcardMatch(pattern: string, value: string): boolean {
  return compilePattern(pattern)(value);
}

/** Docker Hub's domain, which canonical references name. */
const HUB = 'docker.io/';
/** What a Docker Hub repository of one component (an official image) is filed under. */
const OFFICIAL = 'docker.io/library/';
/** Docker Hub's legacy domain, which Docker rewrites to {@link HUB}. */
const LEGACY_HUB = 'index.docker.io/';

/**
 * Whether the first component of `ref` (its code units before `end`) names a registry, as Docker's
 * `splitDockerDomain` decides: it contains `.` or `:`, is exactly
 * `localhost`, or has a capital letter (repository names are lowercase, so
 * Docker takes such a component for a host name). Only ASCII capitals count:
 * every character of a valid reference is ASCII, and Unicode case tables
 * differ between the engines.
 */
function namesRegistry(ref: string, end: number): boolean {
  // Read in place, not cut out: this runs on every decision with a source.
  if (end === 9 && ref.startsWith('localhost')) return true;
  for (let i = 0; i < end; i++) {
    const c = ref.charCodeAt(i);
    if (c === 0x2e || c === 0x3a || (c >= 0x41 && c <= 0x5a)) return true;
  }
  return false;
}

/**
 * Docker's canonical form of an image reference, as a constant head and the
 * part of the reference that follows it, or undefined when the reference is
 * canonical already (Docker's `ParseNormalizedNamed`, without its validation):
 *
 * - `alpine` → `docker.io/library/` + `alpine`;
 * - `mcp/x` → `docker.io/` + `mcp/x`;
 * - `index.docker.io/mcp/x` → `docker.io/` + `mcp/x`;
 * - `docker.io/alpine`, `index.docker.io/alpine` → `docker.io/library/` + `alpine`;
 * - `docker.io/mcp/x`, `ghcr.io/o/x`, `localhost/x`, `Host/x` → undefined.
 *
 * Kept apart so the rule index can look the canonical form up without building it.
 */
export function canonicalImageParts(ref: string): readonly [head: string, tail: string] | undefined {
  const slash = ref.indexOf('/');
  if (slash < 0) return [OFFICIAL, ref];
  let rest: string;
  if (ref.startsWith(HUB)) rest = ref.slice(HUB.length);
  else if (ref.startsWith(LEGACY_HUB)) rest = ref.slice(LEGACY_HUB.length);
  else return namesRegistry(ref, slash) ? undefined : [HUB, ref];
  if (!rest.includes('/')) return [OFFICIAL, rest];
  return ref.startsWith(HUB) ? undefined : [HUB, rest];
}

/** Docker's canonical form of an image reference; see {@link canonicalImageParts}. */
export function canonicalImageReference(ref: string): string {
  const parts = canonicalImageParts(ref);
  return parts === undefined ? ref : parts[0] + parts[1];
}

/** The canonical form of a serverSource as head and tail; undefined for URLs and for references that stay. */
export function sourceParts(source: string): readonly [head: string, tail: string] | undefined {
  return source.includes('://') ? undefined : canonicalImageParts(source);
}

/** The forms of a request's serverSource that a `serverSource` pattern is tried against. */
export function sourceForms(source: string): string[] {
  const parts = sourceParts(source);
  return parts === undefined ? [source] : [source, parts[0] + parts[1]];
}
