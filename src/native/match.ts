/**
 * The native engine's string semantics: `*` wildcard matching and Docker image
 * reference canonicalisation. Written independently of the Rego lowering (which
 * splits patterns into literal segments and searches with string builtins), so
 * that the two implementations check each other.
 */

/**
 * Whole-string wildcard match: `*` matches any run of characters, including
 * none, `/` and newline; every other character is literal. Compares UTF-16
 * code units, which for well-formed strings (policies are validated, requests
 * made well-formed) gives the same answer as comparing code points: a literal
 * piece cannot start on the second half of a surrogate pair.
 */
export function wildcardMatch(pattern: string, value: string): boolean {
  // Classic two-pointer matching with backtracking to the last star: linear
  // in practice, quadratic at worst, never exponential.
  const STAR = 42;
  let pi = 0;
  let vi = 0;
  let starP = -1;
  let starV = 0;
  while (vi < value.length) {
    const pc = pi < pattern.length ? pattern.charCodeAt(pi) : -1;
    if (pc === STAR) {
      starP = pi++;
      starV = vi;
    } else if (pc === value.charCodeAt(vi)) {
      pi++;
      vi++;
    } else if (starP >= 0) {
      pi = starP + 1;
      vi = ++starV;
    } else {
      return false;
    }
  }
  while (pi < pattern.length && pattern.charCodeAt(pi) === STAR) pi++;
  return pi === pattern.length;
}

/**
 * Docker's canonical form of a short image reference: `alpine` →
 * `docker.io/library/alpine`; `mcp/x` → `docker.io/mcp/x`; references whose
 * first component names a registry (has `.` or `:`, or is `localhost`) stay.
 */
export function canonicalImageReference(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash < 0) return `docker.io/library/${ref}`;
  const first = ref.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return ref;
  return `docker.io/${ref}`;
}

/** The forms of a request's serverSource that a `serverSource` pattern is tried against. */
export function sourceForms(source: string): string[] {
  if (source.includes('://')) return [source];
  const canonical = canonicalImageReference(source);
  return canonical === source ? [source] : [source, canonical];
}
