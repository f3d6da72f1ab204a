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

/**
 * What Docker's canonical form puts before a short image reference:
 * `alpine` → `docker.io/library/`; `mcp/x` → `docker.io/`; `""` for references
 * whose first component names a registry (has `.` or `:`, or is `localhost`),
 * which stay as they are. Kept apart from the reference so the rule index can
 * look the canonical form up without building it.
 */
export function canonicalImageHead(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash < 0) return 'docker.io/library/';
  const first = ref.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return '';
  return 'docker.io/';
}

/** Docker's canonical form of a short image reference; see {@link canonicalImageHead}. */
export function canonicalImageReference(ref: string): string {
  return canonicalImageHead(ref) + ref;
}

/** What the canonical form of a serverSource adds before it: `""` for URLs and for references that stay. */
export function sourceHead(source: string): string {
  return source.includes('://') ? '' : canonicalImageHead(source);
}

/** The forms of a request's serverSource that a `serverSource` pattern is tried against. */
export function sourceForms(source: string): string[] {
  const head = sourceHead(source);
  return head === '' ? [source] : [source, head + source];
}
