/**
 * Escaping for everything that reaches generated Rego. A policy's strings are
 * untrusted: they are only ever printed through {@link regoString}, so a
 * quote, backslash or newline cannot end a literal or a comment early.
 */

const SIMPLE: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

// Printed as they are: letters, marks, numbers, punctuation, symbols and the
// ASCII space. Everything else (controls, format characters such as bidi
// overrides and zero-width joiners, other separators, private use,
// unassigned code points) is escaped so generated files show it plainly.
const VISIBLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

function escapeCodeUnits(ch: string): string {
  let out = '';
  for (let k = 0; k < ch.length; k++) out += `\\u${ch.charCodeAt(k).toString(16).padStart(4, '0')}`;
  return out;
}

/** A Rego string literal (with quotes) denoting exactly `value`. */
export function regoString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const simple = SIMPLE[ch];
    if (simple !== undefined) out += simple;
    else if (VISIBLE.test(ch)) out += ch;
    else out += escapeCodeUnits(ch);
  }
  return `${out}"`;
}
