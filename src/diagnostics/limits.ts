/**
 * The limits every document reader enforces, in one place so that JSON and
 * YAML agree and docs/semantics.md can state them once. They are far beyond
 * anything a real policy or enterprise config needs, and low enough that a
 * hostile document is rejected in milliseconds instead of exhausting the
 * stack, the CPU or the heap.
 */

/** Collections nested deeper than this are rejected (`too_deep`) by every reader. */
export const MAX_DEPTH = 100;

/** A YAML document longer than this many characters is rejected before parsing (`too_large`). */
export const MAX_YAML_CHARS = 1024 * 1024;

/** A YAML document with more values than this, counting each alias expansion, is rejected (`too_large`). */
export const MAX_YAML_VALUES = 100_000;

/** A YAML document with more aliases than this is rejected before composing (`too_many_aliases`). */
export const MAX_YAML_ALIASES = 1_000;
